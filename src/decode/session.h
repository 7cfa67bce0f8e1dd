/*
** session.h: one conversation with a model: a KV cache plus the tokens fed
** so far.  Sessions fork: a child continues after everything its parent holds
** (typically BOS ... image tokens) and reads that prefix from the parent's
** cache without copying it, so N questions about one image encode and
** prefill the image once.  The child keeps only its own rows.
**
**     MlSession *img, *q;
**     ml_session_new(&img, m, 0, &err);                            // capacity 0: the whole context
**     ml_session_prefill(img, ids, image_end, feats, n_feats, NULL, NULL, &err);
**     for each question:
**         ml_session_fork(&q, img, 256 + n_question, &err);
**         ml_session_prefill(q, ids + image_end, n - image_end, NULL, 0, NULL, logits, &err);
**         ml_session_generate(q, &sampler, logits, 64, eos, on_token, user, NULL, out, &n_out, &err);
**         ml_session_free(q);
**     ml_session_free(img);
**
** Forks nest to any depth (a beam search forks every step): a forward
** gathers the chain of caches once and attention reads each in place.
**
** Rules: a parent must outlive its children and cannot be rewound or
** extended while it has children (it would change what they read); a
** model runs one forward at a time, so sessions of one model take turns.
** Results equal a from-scratch run of the same tokens up to the rounding of
** prefill GEMMs of different shapes (see kernels/matmul.h).
*/
#ifndef ML_DECODE_SESSION_H
#define ML_DECODE_SESSION_H

#include <stdint.h>

#include "core/error.h"
#include "decode/sampler.h"
#include "model/decoder.h"
#include "model/hooks.h"
#include "model/lvlm.h"

typedef struct MlSession MlSession;

/* capacity: tokens this session can hold (0: max_position_embeddings). */
int ml_session_new(MlSession **out, MlLvlm *m, int64_t capacity, MlError *err);
/* A child after all of parent's tokens, with room for `capacity` more
   (0: up to the context limit). */
int ml_session_fork(MlSession **out, MlSession *parent, int64_t capacity, MlError *err);
/* Fails (ML_ERR_ARG) and frees nothing while children are alive. */
int ml_session_free(MlSession *s);

/* Tokens seen, the shared prefix included. */
int64_t ml_session_length(const MlSession *s);
/* Id of token i (0 <= i < length), the parent's prefix included. */
int32_t ml_session_token(const MlSession *s, int64_t i);
MlLvlm *ml_session_model(const MlSession *s);

/* Appends n tokens.  Image tokens among ids take, in order, the rows of
   features (n_feature_rows, hidden), which must match their count; with
   features NULL they are plain tokens (as HF without pixel_values).  logits
   (vocab) gets the last position's logits if not NULL; ml_session_forward
   can give every position's (n, vocab) instead. */
int ml_session_prefill(MlSession *s, const int32_t *ids, int64_t n, const float *features, int64_t n_feature_rows,
                       const MlHooks *hooks, float *logits, MlError *err);
int ml_session_forward(MlSession *s, const int32_t *ids, int64_t n, const float *features, int64_t n_feature_rows,
                       const MlHooks *hooks, float *logits, int all_logits, MlError *err);
/* Appends n rows of ready-made input embeddings (n, hidden); their ids are
   recorded as -1. */
int ml_session_forward_embeds(MlSession *s, const float *embeds, int64_t n, const MlHooks *hooks, float *logits,
                              int all_logits, MlError *err);

/* Forgets the session's own tokens after the first `length` (>= the shared prefix). */
int ml_session_rewind(MlSession *s, int64_t length, MlError *err);

/* Called with each generated id as soon as it is chosen; return nonzero to stop. */
typedef int (*MlTokenFn)(int32_t id, void *user);

/* Generates up to max_tokens tokens: the first from `logits` (the logits
   after the last fed token, e.g. from ml_session_prefill), each next one
   after feeding the previous.  Stops after eos_id (included in out; -1: no
   EOS), at max_tokens, or at the context limit.  The last generated token is
   not fed (nothing would read its logits).  out (max_tokens) may be NULL;
   *n_out = tokens generated.  logits is overwritten. */
int ml_session_generate(MlSession *s, MlSampler *sampler, float *logits, int64_t max_tokens, int32_t eos_id,
                        MlTokenFn on_token, void *user, const MlHooks *hooks, int32_t *out, int64_t *n_out,
                        MlError *err);

#endif
