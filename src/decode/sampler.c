/* sampler.c: see sampler.h. */
#include "decode/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

int ml_sampler_init(MlSampler *s, const MlSamplerConfig *cfg, int vocab, MlError *err) {
    memset(s, 0, sizeof *s);
    if (!(cfg->temperature >= 0.0f) || !isfinite(cfg->temperature))
        return ml_error_set(err, ML_ERR_ARG, "sampler: temperature %g must be a finite number >= 0", cfg->temperature);
    if (!(cfg->top_p >= 0.0f && cfg->top_p <= 1.0f))
        return ml_error_set(err, ML_ERR_ARG, "sampler: top_p %g must be in [0, 1]", cfg->top_p);
    if (cfg->top_k < 0) return ml_error_set(err, ML_ERR_ARG, "sampler: top_k %d must be >= 0", cfg->top_k);
    if (vocab <= 0) return ml_error_set(err, ML_ERR_ARG, "sampler: empty vocabulary");
    s->cfg = *cfg;
    s->vocab = vocab;
    /* splitmix64 of the seed: any seed, 0 included, gives a non-zero state */
    uint64_t z = cfg->seed;
    s->rng = ml_splitmix64(&z) | 1u;
    s->cand = malloc(sizeof *s->cand * (size_t)vocab);
    if (!s->cand) return ml_error_set(err, ML_ERR_NOMEM, "sampler: out of memory");
    return ML_OK;
}

void ml_sampler_free(MlSampler *s) {
    free(s->cand);
    s->cand = NULL;
}

float ml_sampler_uniform(MlSampler *s) {
    return (float)(ml_xorshift64s(&s->rng) >> 40) / 16777216.0f; /* 24 random bits */
}

int32_t ml_sampler_argmax(const float *logits, int n) {
    int32_t best = 0;
    float bv = -INFINITY;
    int found = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(logits[i]) && (!found || logits[i] > bv)) {
            bv = logits[i];
            best = i;
            found = 1;
        }
    return best;
}

static int by_prob_desc(const void *a, const void *b) {
    const MlSamplerCandidate *x = a, *y = b;
    if (x->prob != y->prob) return x->prob > y->prob ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Fills s->cand with the kept tokens, best first, probabilities summing to 1;
   returns how many. */
static int candidates(MlSampler *s, const float *logits) {
    const int n = s->vocab;
    const float t = s->cfg.temperature;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (logits[i] / t > mx) mx = logits[i] / t;
    int m = 0;
    for (int i = 0; i < n; i++) {
        float z = logits[i] / t;
        if (isnan(z) || z == -INFINITY) continue;
        s->cand[m++] = (MlSamplerCandidate){expf(z - mx), i};
    }
    if (m == 0) {
        s->cand[0] = (MlSamplerCandidate){1.0f, ml_sampler_argmax(logits, n)};
        return 1;
    }
    qsort(s->cand, (size_t)m, sizeof *s->cand, by_prob_desc);
    if (s->cfg.top_k > 0 && s->cfg.top_k < m) {
        /* ties with the k-th score stay, as in HF's TopKLogitsWarper */
        float kth = s->cand[s->cfg.top_k - 1].prob;
        int keep = s->cfg.top_k;
        while (keep < m && s->cand[keep].prob == kth) keep++;
        m = keep;
    }
    double sum = 0.0;
    for (int i = 0; i < m; i++) sum += s->cand[i].prob;
    for (int i = 0; i < m; i++) s->cand[i].prob = (float)(s->cand[i].prob / sum);
    if (s->cfg.top_p > 0.0f && s->cfg.top_p < 1.0f) {
        double before = 0.0;
        int keep = 0;
        while (keep < m && before < s->cfg.top_p) before += s->cand[keep++].prob;
        m = keep;
        sum = 0.0;
        for (int i = 0; i < m; i++) sum += s->cand[i].prob;
        for (int i = 0; i < m; i++) s->cand[i].prob = (float)(s->cand[i].prob / sum);
    }
    return m;
}

void ml_sampler_probs(MlSampler *s, const float *logits, float *probs) {
    memset(probs, 0, sizeof(float) * (size_t)s->vocab);
    if (s->cfg.temperature == 0.0f) {
        probs[ml_sampler_argmax(logits, s->vocab)] = 1.0f;
        return;
    }
    int m = candidates(s, logits);
    for (int i = 0; i < m; i++) probs[s->cand[i].id] = s->cand[i].prob;
}

int32_t ml_sampler_sample(MlSampler *s, const float *logits) {
    if (s->cfg.temperature == 0.0f) return ml_sampler_argmax(logits, s->vocab);
    int m = candidates(s, logits);
    float u = ml_sampler_uniform(s);
    float acc = 0.0f;
    for (int i = 0; i < m; i++) {
        acc += s->cand[i].prob;
        if (u < acc) return s->cand[i].id;
    }
    return s->cand[m - 1].id; /* rounding left u above the last sum */
}
