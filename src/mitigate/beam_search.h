/*
** beam_search.h: beam search over sessions (decode/beam.h scores, this runs
** the model).  Beams share their KV-cache prefixes: a beam that one new beam
** continues is extended in place; a beam that several continue is forked
** once per continuation (decode/session.h forks nest to any depth) and kept
** while a fork reads it; a beam nobody continues is freed with every
** ancestor no one else reads.  No cache row is ever copied.  Forks hold
** blocks of 16 rows (cheap to allocate); a beam that fills its block
** continues in a fork of it.
**
**     MlBeamConfig bc = {.beams = 5, .length_penalty = 1, .max_tokens = 64, .eos_id = eos};
**     MlBeamSearchHooks h = {0};                              // plain beam search
**     ml_beam_search(root, logits, &bc, &h, out, &n_out, &score, &err);
**
** root is the session after the prompt and logits its last logits; root
** is forked, never extended.  Hooks let OPERA penalise candidates, read
** attention and roll back.  Fails with ML_ERR_RANGE when the prompt leaves
** no room for max_tokens - 1 more tokens in the context.
*/
#ifndef ML_MITIGATE_BEAM_SEARCH_H
#define ML_MITIGATE_BEAM_SEARCH_H

#include <stdint.h>

#include "core/error.h"
#include "decode/beam.h"
#include "decode/session.h"
#include "model/hooks.h"

typedef struct MlBeamSearchHooks {
    /* Before each step: may rewrite the beams' logits (bc.beams of them,
       vocab floats each) given each beam's session after its tokens (OPERA's
       penalty); step = tokens generated so far.  NULL: none. */
    int (*rescore)(void *user, MlSession *const *sessions, float *const *logits, int64_t step, MlError *err);
    /* After each step's choice (beam j continues ml_beam_parent(b, j)); NULL: none. */
    void (*chosen)(void *user, const MlBeam *b);
    /* Hooks for beam j's forward (its new token, or all its tokens when a
       roll-back rebuilds it); NULL: none. */
    const MlHooks *(*beam_hooks)(void *user, int j);
    /* After rescore: a number of tokens to go back to (>= 0), or -1 to go on.
       Going back restores the search as it stood then, rebuilds every beam
       from the root with a forward of all its tokens, and takes that step
       again on its full logits shifted by -(999 + min) with -999 for each
       (beam, token) that step (re)chose before (OPERA's retrospection).
       NULL: never. */
    int64_t (*rollback)(void *user, int64_t step);
    void *user;
} MlBeamSearchHooks;

int ml_beam_search(MlSession *root, const float *logits, const MlBeamConfig *bc, const MlBeamSearchHooks *h,
                   int32_t *out, int64_t *n_out, double *score, MlError *err);

#endif
