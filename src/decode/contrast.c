/* contrast.c: see contrast.h. */
#include "decode/contrast.h"

#include <math.h>
#include <string.h>

void ml_contrast_combine(float *scores, const float *l, const float *l_contrast, int64_t n, float alpha) {
    const float a1 = 1.0f + alpha;
    for (int64_t i = 0; i < n; i++) scores[i] = a1 * l[i] - alpha * l_contrast[i];
}

int64_t ml_contrast_apc(float *scores, const float *l, int64_t n, float beta) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (l[i] > mx) mx = l[i];
    /* the reference adds log(beta) to the max in float: log(0) = -inf keeps everything */
    const float cutoff = logf(beta) + mx;
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        if (l[i] < cutoff) scores[i] = -INFINITY;
        else kept++;
    }
    return kept;
}

int ml_lockstep_run(MlSession *const *passes, int n_passes, float *const *logits, const MlLockstep *how,
                    MlSampler *sampler, int64_t max_tokens, int32_t eos_id, float *scores, int32_t *out,
                    int64_t *n_out, MlError *err) {
    *n_out = 0;
    if (n_passes < 1 || n_passes > ML_LOCKSTEP_MAX_PASSES)
        return ml_error_set(err, ML_ERR_ARG, "lockstep: %d passes (1 to %d allowed)", n_passes, ML_LOCKSTEP_MAX_PASSES);
    const int64_t vocab = sampler->vocab;
    for (int p = 0; p < n_passes; p++)
        if (ml_lvlm_vocab(ml_session_model(passes[p])) != vocab)
            return ml_error_set(err, ML_ERR_ARG, "lockstep: pass %d has a vocabulary of %lld, the sampler %lld", p,
                                (long long)ml_lvlm_vocab(ml_session_model(passes[p])), (long long)vocab);
    while (*n_out < max_tokens) {
        const float *scored = logits[0];
        if (how->combine) {
            how->combine(scores, (const float *const *)logits, n_passes, vocab, *n_out, how->combine_user);
            scored = scores;
        }
        int32_t id = ml_sampler_sample(sampler, scored);
        if (out) out[*n_out] = id;
        (*n_out)++;
        if (how->on_token && how->on_token(id, how->token_user)) break;
        if (id == eos_id || *n_out == max_tokens) break;
        int full = 0;
        for (int p = 0; p < n_passes; p++) {
            const MlSession *s = passes[p];
            full |= ml_session_length(s) >= ml_lvlm_context(ml_session_model(s));
        }
        if (full) break;
        for (int p = 0; p < n_passes; p++) {
            const MlHooks *h = how->hooks ? how->hooks(how->hooks_user, p, *n_out - 1) : NULL;
            int rc = ml_session_prefill(passes[p], &id, 1, NULL, 0, h, logits[p], err);
            if (rc) return rc;
        }
    }
    return ML_OK;
}

static const MlHooks *fixed_hooks(void *user, int pass, int64_t step) {
    (void)step;
    return ((const MlHooks *const *)user)[pass];
}

int ml_lockstep_generate(MlSession *const *passes, int n_passes, float *const *logits, MlCombineFn combine, void *user,
                         MlSampler *sampler, int64_t max_tokens, int32_t eos_id, const MlHooks *const *hooks,
                         float *scores, int32_t *out, int64_t *n_out, MlError *err) {
    MlLockstep how = {.combine = combine, .combine_user = user, .hooks = hooks ? fixed_hooks : NULL,
                      .hooks_user = (void *)hooks};
    return ml_lockstep_run(passes, n_passes, logits, &how, sampler, max_tokens, eos_id, scores, out, n_out, err);
}
