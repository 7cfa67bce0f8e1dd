/*
** noise.h: reproducible randomness for methods and runs: seeds derived from
** names (an image, a question id) and seeded standard Gaussian noise.
**
** Everything is a pure function of its inputs (splitmix64 streams), so a run
** that is resumed, reordered or run with or without prefix caching draws the
** very same numbers for the same image or question.
**
**     uint64_t s = ml_seed_mix(run_seed, "test_000042.png");
**     ml_noise_gaussian(eps, n, s);        // eps[i] ~ N(0, 1)
*/
#ifndef ML_MITIGATE_NOISE_H
#define ML_MITIGATE_NOISE_H

#include <stdint.h>

/* A 64-bit seed from a seed and a text (FNV-1a of the text, then splitmix64). */
uint64_t ml_seed_mix(uint64_t seed, const char *text);

/* n standard normal floats (Box-Muller on 53-bit uniforms of a splitmix64 stream). */
void ml_noise_gaussian(float *dst, int64_t n, uint64_t seed);

#endif
