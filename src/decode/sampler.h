/*
** sampler.h: picks the next token from logits.  Greedy (argmax, lowest id on
** ties) when temperature is 0, the default.  Otherwise as Hugging Face's
** generate(do_sample=True): logits / temperature, then top-k (keep every
** token scoring at least the k-th best), then top-p (keep, best first, each
** token while the probability mass before it is below p), then one draw from
** the renormalised distribution with the sampler's own PRNG, so a seed gives
** the same tokens on every machine.
**
**     MlSampler s;
**     MlSamplerConfig cfg = {.temperature = 0.7f, .top_p = 0.9f, .top_k = 0, .seed = 42};
**     if (ml_sampler_init(&s, &cfg, vocab, &err)) ...
**     int32_t id = ml_sampler_sample(&s, logits);
**     ml_sampler_free(&s);
*/
#ifndef ML_DECODE_SAMPLER_H
#define ML_DECODE_SAMPLER_H

#include <stdint.h>

#include "core/error.h"

typedef struct MlSamplerConfig {
    float temperature; /* 0 = greedy */
    float top_p;       /* (0, 1]; 1 = off (0 is read as off too) */
    int top_k;         /* 0 = off */
    uint64_t seed;
} MlSamplerConfig;

typedef struct MlSamplerCandidate {
    float prob;
    int32_t id;
} MlSamplerCandidate;

typedef struct MlSampler {
    MlSamplerConfig cfg;
    int vocab;
    uint64_t rng;
    MlSamplerCandidate *cand; /* (vocab) scratch, owned */
} MlSampler;

/* Fails with ML_ERR_ARG on a negative or non-finite temperature, top_p
   outside [0, 1] or a negative top_k. */
int ml_sampler_init(MlSampler *s, const MlSamplerConfig *cfg, int vocab, MlError *err);
void ml_sampler_free(MlSampler *s);

int32_t ml_sampler_sample(MlSampler *s, const float *logits);

/* Index of the largest logit (the first on ties; NaN never wins). */
int32_t ml_sampler_argmax(const float *logits, int n);

/* The distribution sampling draws from, probs (vocab), zeros for the tokens
   top-k / top-p remove.  With temperature 0: 1 at the argmax. */
void ml_sampler_probs(MlSampler *s, const float *logits, float *probs);

/* Next uniform number in [0, 1) of the sampler's PRNG (xorshift64*). */
float ml_sampler_uniform(MlSampler *s);

#endif
