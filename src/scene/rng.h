/*
** rng.h: the scene world's own deterministic random numbers.
**
** xoshiro256** (core/rng.h) seeded through splitmix64.  Every random decision of the
** generator comes from a stream derived from (seed, split, scene index,
** purpose), never from rand() or the clock, so the same seed and world give
** byte-identical files on any machine and with any number of threads: each
** scene draws from its own streams whatever thread happens to run it.
**
**     MlRng r;
**     ml_rng_init(&r, seed, ML_SPLIT_TEST, index, ML_STREAM_LAYOUT);
**     double u = ml_rng_uniform(&r);      // [0, 1)
**     int k = ml_rng_below(&r, 12);       // 0..11, unbiased
*/
#ifndef ML_SCENE_RNG_H
#define ML_SCENE_RNG_H

#include <stdint.h>

#include "core/rng.h"

/* Purposes, so that changing how many numbers one stage draws never shifts another stage. */
enum {
    ML_STREAM_LAYOUT = 1,
    ML_STREAM_RENDER = 2,
    ML_STREAM_PROBES = 3,
    ML_STREAM_POPE = 4,
    ML_STREAM_CAPTIONS = 5,
    ML_STREAM_QA = 6,
    ML_STREAM_STEER = 7,
};

static inline void ml_rng_init(MlRng *r, uint64_t seed, uint64_t split, uint64_t index, uint64_t stream) {
    /* Each key is folded in through a full splitmix round, so nearby keys
       (index 7 and 8, seed 1 and 2) give unrelated states. */
    uint64_t x = seed;
    uint64_t h = ml_splitmix64(&x);
    x = h ^ (split * 0xD1B54A32D192ED03ull);
    h = ml_splitmix64(&x);
    x = h ^ (index * 0xAEF17502108EF2D9ull);
    h = ml_splitmix64(&x);
    x = h ^ (stream * 0xF1357AEA2E62A9C5ull);
    for (int i = 0; i < 4; i++) r->s[i] = ml_splitmix64(&x);
}

/* Index drawn with probability weights[i] / sum; returns -1 when every weight is 0. */
static inline int ml_rng_weighted(MlRng *r, const double *weights, int n) {
    double total = 0;
    for (int i = 0; i < n; i++) total += weights[i];
    if (!(total > 0)) return -1;
    double u = ml_rng_uniform(r) * total, acc = 0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (weights[i] <= 0) continue;
        acc += weights[i];
        last = i;
        if (u < acc) return i;
    }
    return last; /* rounding left u just past the end */
}

#endif
