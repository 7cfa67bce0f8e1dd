/*
** contrast.h: N decoding passes in lockstep, and the logit arithmetic that
** contrastive decoding methods share (the team's reference notes, MITIGATIONS.md).
**
** A contrastive method runs a normal pass (pass 0) and one or more contrast
** passes (other pixels, another prompt, no image, masked attention), each in
** its own session with its own KV cache.  Every step, each pass has the
** logits after the tokens fed so far; a combiner turns them into one score
** vector, the sampler picks a token, and that token is fed to every pass.
**
**     float *l[2] = {logits_normal, logits_noised};   // after each pass's prefill
**     MlSession *p[2] = {normal, noised};
**     ml_lockstep_generate(p, 2, l, combine, &cfg, &sampler, 8, eos, NULL, scores, out, &n_out, &err);
**
**     static void combine(float *s, const float *const *l, int n, int64_t V, int64_t step, void *u) {
**         ml_contrast_combine(s, l[0], l[1], V, 1.0f);     // s = 2 l - l'
**         ml_contrast_apc(s, l[0], V, 0.2f);               // keep what the normal pass finds plausible
**     }
**
** Shared pieces:
**   combine  s = (1 + alpha) * l - alpha * l'            (VCD, ICD, SID ...)
**   APC      keep token i only if l_i >= log(beta) + max(l) on the normal
**            pass (equivalently p_i >= beta * max p); the others get -inf.
**            beta = 0 keeps every token; beta = 1 only the best ones.
** Sampling afterwards (temperature, top-k, top-p, seed) is decode/sampler.h;
** -inf scores are never drawn.
**
** The passes may belong to one model (they take turns) or to several.  The
** caller owns sessions, logits and the sampler.
*/
#ifndef ML_DECODE_CONTRAST_H
#define ML_DECODE_CONTRAST_H

#include <stdint.h>

#include "core/error.h"
#include "decode/sampler.h"
#include "decode/session.h"

/* Passes one lockstep run may hold. */
#define ML_LOCKSTEP_MAX_PASSES 8

/* scores (n) = (1 + alpha) * l - alpha * l_contrast, in float as the
   reference code computes it.  scores may alias l. */
void ml_contrast_combine(float *scores, const float *l, const float *l_contrast, int64_t n, float alpha);

/* Adaptive plausibility constraint: scores[i] = -inf wherever
   l[i] < log(beta) + max(l).  beta in [0, 1]; scores may alias l.  Returns
   the number of tokens kept. */
int64_t ml_contrast_apc(float *scores, const float *l, int64_t n, float beta);

/* Turns the passes' logits (logits[p], vocab floats each, pass 0 first) into
   the scores the sampler draws from; step = tokens generated so far. */
typedef void (*MlCombineFn)(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                            void *user);

/* The hooks pass `pass` uses when it is fed the token chosen at `step`
   (0 = the first generated token); NULL: none. */
typedef const MlHooks *(*MlStepHooksFn)(void *user, int pass, int64_t step);

/* How a lockstep run turns logits into tokens, and whom it tells. */
typedef struct MlLockstep {
    MlCombineFn combine; /* NULL: pass 0's logits as they are */
    void *combine_user;
    MlStepHooksFn hooks; /* NULL: no hooks */
    void *hooks_user;
    MlTokenFn on_token;  /* each chosen id as soon as it is chosen; nonzero stops; NULL: none */
    void *token_user;
} MlLockstep;

/* Generates up to max_tokens tokens.  logits[p] must hold pass p's logits
   after its last fed token (from ml_session_prefill); they are overwritten as
   the chosen tokens are fed to every pass.  Stops after eos_id (included in
   out; -1: no EOS), at max_tokens, when on_token asks, or when a pass
   reaches the context limit; the last token is not fed.  scores: vocab
   floats of scratch.  out (max_tokens) may be NULL; *n_out = tokens
   generated. */
int ml_lockstep_run(MlSession *const *passes, int n_passes, float *const *logits, const MlLockstep *how,
                    MlSampler *sampler, int64_t max_tokens, int32_t eos_id, float *scores, int32_t *out,
                    int64_t *n_out, MlError *err);

/* ml_lockstep_run with a combiner and fixed hooks: NULL, or one table (or
   NULL) per pass, used whenever it is fed (attention edits, steering). */
int ml_lockstep_generate(MlSession *const *passes, int n_passes, float *const *logits, MlCombineFn combine, void *user,
                         MlSampler *sampler, int64_t max_tokens, int32_t eos_id, const MlHooks *const *hooks,
                         float *scores, int32_t *out, int64_t *n_out, MlError *err);

#endif
