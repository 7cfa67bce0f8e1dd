/* noise.c: see noise.h. */
#include "mitigate/noise.h"

#include <string.h>

#include "core/hash.h"
#include "core/rng.h"

uint64_t ml_seed_mix(uint64_t seed, const char *text) {
    uint64_t state = seed ^ ml_fnv1a64(text, strlen(text));
    return ml_splitmix64(&state);
}

void ml_noise_gaussian(float *dst, int64_t n, uint64_t seed) {
    if (n > 0) ml_rng_normals(dst, (size_t)n, seed);
}
