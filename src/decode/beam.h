/*
** beam.h: the beam search scorer, as current Hugging Face transformers'
** generate defines it (BeamSearchScorer / BeamHypotheses, the team's
** reference notes MITIGATIONS.md "Beam search and OPERA, exact rules").
** It sees logits and picks tokens; running the model is the caller's
** (mitigate/beam.h shares KV caches between beams).
**
** Each step: every beam's log_softmax plus its score (initially 0 for beam 0
** and -1e9 for the others: all beams start as one), the best 2B over beams x
** vocabulary, walked by rank: an EOS ranked >= B is skipped, one ranked < B
** becomes a finished hypothesis (score sum_logprobs / length^lp, length
** counting the generated tokens with the EOS; at most B kept), the others
** fill the B running beams.  The search is done once B hypotheses exist and
** early stopping says so.  At the end the running beams join the hypotheses
** unless done, and the best one wins (the later added on equal scores).
**
**     MlBeamConfig c = {.beams = 5, .length_penalty = 1, .early_stopping = ML_BEAM_STOP_HEURISTIC,
**                       .max_tokens = 64, .eos_id = eos};
**     MlBeam *b;
**     if (ml_beam_new(&b, &c, vocab, &err)) ...
**     for (;;) {                                   // logits[i]: beam i's logits (vocab floats, overwritten)
**         int done = ml_beam_step(b, logits);
**         if (done || ml_beam_length(b) == c.max_tokens) break;
**         ... feed ml_beam_token(b, j) after beam ml_beam_parent(b, j)'s tokens, for every j
**     }
**     ml_beam_result(b, out, &n_out, &score);      // out: up to max_tokens ids, a final EOS included
**     ml_beam_free(b);
*/
#ifndef ML_DECODE_BEAM_H
#define ML_DECODE_BEAM_H

#include <stdint.h>

#include "core/error.h"

/* Most beams a search may hold. */
#define ML_BEAM_MAX 64

/* transformers' early_stopping: False, True, "never". */
typedef enum MlBeamStop {
    ML_BEAM_STOP_HEURISTIC = 0, /* False: done when no running beam can beat the worst hypothesis at its length */
    ML_BEAM_STOP_EARLY,         /* True: done as soon as B hypotheses exist */
    ML_BEAM_STOP_NEVER,         /* "never": as False, but the bound assumes max_tokens when length_penalty > 0 */
} MlBeamStop;

typedef struct MlBeamConfig {
    int beams; /* 1 .. ML_BEAM_MAX */
    double length_penalty;
    MlBeamStop early_stopping;
    int64_t max_tokens; /* >= 1 */
    int32_t eos_id;     /* -1: none */
} MlBeamConfig;

typedef struct MlBeam MlBeam;

/* ML_ERR_ARG for beams, max_tokens or a vocabulary out of range. */
int ml_beam_new(MlBeam **out, const MlBeamConfig *c, int64_t vocab, MlError *err);
void ml_beam_free(MlBeam *b);

/* One step: logits[i] (vocab floats, turned into beam i's candidate scores)
   for every beam i.  Returns 1 when the search is done, else 0; then beam j
   continues beam ml_beam_parent(b, j) with ml_beam_token(b, j). */
int ml_beam_step(MlBeam *b, float *const *logits);

/* A copy of src's whole state into dst, made by ml_beam_new with the same
   configuration and vocabulary (a search can go back to it). */
void ml_beam_copy(MlBeam *dst, const MlBeam *src);

/* Tokens every running beam holds (steps taken). */
int64_t ml_beam_length(const MlBeam *b);
int ml_beam_parent(const MlBeam *b, int j);
int32_t ml_beam_token(const MlBeam *b, int j);
/* Running beam j's tokens (ml_beam_length of them) and summed log-probability. */
const int32_t *ml_beam_tokens(const MlBeam *b, int j);
float ml_beam_score(const MlBeam *b, int j);

/* The best hypothesis: its tokens (a final EOS included) into out (up to
   max_tokens), their count and its length-penalised score.  Adds the
   running beams first unless the search is done; call once. */
void ml_beam_result(MlBeam *b, int32_t *out, int64_t *n_out, double *score);

#endif
