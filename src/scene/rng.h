/*
** rng.h: the scene world's own deterministic random numbers.
**
** xoshiro256** seeded through splitmix64.  Every random decision of the
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

typedef struct MlRng {
    uint64_t s[4];
} MlRng;

/* Purposes, so that changing how many numbers one stage draws never shifts another stage. */
enum {
    ML_STREAM_LAYOUT = 1,
    ML_STREAM_RENDER = 2,
    ML_STREAM_PROBES = 3,
    ML_STREAM_POPE = 4,
    ML_STREAM_CAPTIONS = 5,
    ML_STREAM_QA = 6,
};

static inline uint64_t ml_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

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

static inline uint64_t ml_rng_rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

static inline uint64_t ml_rng_u64(MlRng *r) {
    uint64_t *s = r->s;
    uint64_t out = ml_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ml_rng_rotl(s[3], 45);
    return out;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double ml_rng_uniform(MlRng *r) { return (double)(ml_rng_u64(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [0, n), n >= 1, without modulo bias (rejection). */
static inline int ml_rng_below(MlRng *r, int n) {
    uint64_t un = (uint64_t)n;
    uint64_t limit = UINT64_MAX - UINT64_MAX % un;
    uint64_t v;
    do v = ml_rng_u64(r);
    while (v >= limit);
    return (int)(v % un);
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
