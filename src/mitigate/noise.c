/* noise.c: see noise.h. */
#include "mitigate/noise.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t ml_seed_mix(uint64_t seed, const char *text) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    uint64_t state = seed ^ h;
    return splitmix64(&state);
}

void ml_noise_gaussian(float *dst, int64_t n, uint64_t seed) {
    const double two_pi = 6.283185307179586476925286766559;
    uint64_t state = seed;
    for (int64_t i = 0; i < n; i += 2) {
        /* u1 in (0, 1] keeps the log finite; u2 in [0, 1) */
        double u1 = (double)((splitmix64(&state) >> 11) + 1) * 0x1.0p-53;
        double u2 = (double)(splitmix64(&state) >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1));
        dst[i] = (float)(r * cos(two_pi * u2));
        if (i + 1 < n) dst[i + 1] = (float)(r * sin(two_pi * u2));
    }
}
