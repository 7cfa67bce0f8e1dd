/* rng.c: the Box-Muller transforms of core/rng.h. */
#include "core/rng.h"

#include <math.h>

#define ML_TWO_PI 6.283185307179586

void ml_box_muller(double u1, double u2, double sd, double *z0, double *z1) {
    double r = sd * sqrt(-2.0 * log(u1)), a = ML_TWO_PI * u2;
    *z0 = r * cos(a);
    if (z1) *z1 = r * sin(a);
}

/* u1 in (0, 1], u2 in [0, 1) from a splitmix64 stream. */
static void uniform_pair(uint64_t *state, double *u1, double *u2) {
    *u1 = (double)((ml_splitmix64(state) >> 11) + 1) * 0x1.0p-53;
    *u2 = ml_rng_unit53(ml_splitmix64(state));
}

double ml_rng_normal(uint64_t *state, double sd) {
    double u1, u2, z;
    uniform_pair(state, &u1, &u2);
    ml_box_muller(u1, u2, sd, &z, NULL);
    return z;
}

void ml_rng_normals(float *dst, size_t n, uint64_t seed) {
    uint64_t state = seed;
    for (size_t i = 0; i < n; i += 2) {
        double u1, u2, z0, z1;
        uniform_pair(&state, &u1, &u2);
        ml_box_muller(u1, u2, 1.0, &z0, &z1);
        dst[i] = (float)z0;
        if (i + 1 < n) dst[i + 1] = (float)z1;
    }
}
