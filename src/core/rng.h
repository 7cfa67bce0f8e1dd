/*
** rng.h: the project's deterministic random numbers, one copy of each
** generator.  Nothing reads rand() or the clock: a stream is a pure function
** of its seed, so runs are byte-identical on any machine and thread count.
**
**   ml_splitmix64      a 64-bit state advanced by a constant; any seed works
**                      (0 included), so it seeds everything else
**   MlRng              xoshiro256** (4 words, seeded from splitmix64 outputs)
**   ml_xorshift64s     xorshift64* on one non-zero word
**   ml_box_muller      two uniforms -> two standard normals
**   ml_rng_normal      one N(0, sd^2) draw from a splitmix64 state
**   ml_rng_normals     n N(0, 1) floats from a splitmix64 seed, in pairs
**
**     uint64_t s = seed;
**     double u = ml_rng_unit53(ml_splitmix64(&s));   // [0, 1)
**     MlRng r;
**     for (int i = 0; i < 4; i++) r.s[i] = ml_splitmix64(&s);
**     int k = ml_rng_below(&r, 12);                   // 0..11, unbiased
**
** Saved models, scene worlds and VCD noise depend on these exact bits: the
** float/double types and the order of each product are part of the contract.
*/
#ifndef ML_CORE_RNG_H
#define ML_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t ml_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The top 53 bits of v as a double in [0, 1). */
static inline double ml_rng_unit53(uint64_t v) { return (double)(v >> 11) * 0x1.0p-53; }

/* xorshift64*: *x must not be 0 (it would stay 0). */
static inline uint64_t ml_xorshift64s(uint64_t *x) {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

typedef struct MlRng {
    uint64_t s[4];
} MlRng;

static inline uint64_t ml_rng_rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

/* xoshiro256**: the next 64 bits. */
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
static inline double ml_rng_uniform(MlRng *r) { return ml_rng_unit53(ml_rng_u64(r)); }

/* Uniform integer in [0, n), n >= 1, without modulo bias (rejection). */
static inline int ml_rng_below(MlRng *r, int n) {
    uint64_t un = (uint64_t)n;
    uint64_t limit = UINT64_MAX - UINT64_MAX % un;
    uint64_t v;
    do v = ml_rng_u64(r);
    while (v >= limit);
    return (int)(v % un);
}

/* Box-Muller: u1 in (0, 1] (the log stays finite), u2 in [0, 1).
   *z0 = sd * sqrt(-2 ln u1) * cos(2 pi u2), multiplied left to right;
   *z1 the same with sin, skipped when z1 is NULL. */
void ml_box_muller(double u1, double u2, double sd, double *z0, double *z1);

/* One N(0, sd^2) draw from two splitmix64 outputs of *state (the sin half is unused). */
double ml_rng_normal(uint64_t *state, double sd);

/* dst[0, n) ~ N(0, 1) as floats: Box-Muller pairs (cos, sin) on a splitmix64 stream from seed. */
void ml_rng_normals(float *dst, size_t n, uint64_t seed);

#endif
