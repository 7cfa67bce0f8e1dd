/*
** train/patch_head.h: stage 1's training-only per-patch classifier on the
** ViT output (the notes' lever: vision learns shapes and colours in a few
** hundred steps instead of stalling).  One linear layer gives, per image
** token and per group g (the loop's: category, colour, size, texture, then
** the patch's column and row), logits over n[g] + 1 classes (class 0 is
** "empty").  The loss is the sum of the groups' softmax cross-entropies,
** averaged over the tokens.  Labels come from train/slots.h (lab [n_tok,
** n_groups], -1 = empty).
**
** Weights: W [C, Dv], then b [C], with C = sum over groups of n[g] + 1;
** both live in the stage's aux floats and are dropped on save.
**
**     size_t n = ml_patch_head_size(Dv, sizes, n_groups);
**     double loss = ml_patch_head_run(P, G, feats, n_tok, Dv, sizes, n_groups, lab, scale, dfeat, &correct);
*/
#ifndef ML_TRAIN_PATCH_HEAD_H
#define ML_TRAIN_PATCH_HEAD_H

#include <stddef.h>
#include <stdint.h>

enum { ML_PATCH_HEAD_MAX_CLASSES = 512 };

/* Floats of W and b; 0 when the classes exceed ML_PATCH_HEAD_MAX_CLASSES. */
size_t ml_patch_head_size(int64_t Dv, const int *sizes, int n_groups);

/* Forward and backward for one image: returns the mean over the n_tok tokens
   of the summed group cross-entropies; adds scale * d(that mean) into G (the
   head's gradients, same layout as P) and into dfeat [n_tok, Dv]; *correct
   gets the number of right argmaxes (n_groups per token). */
double ml_patch_head_run(const float *P, float *G, const float *feats, int64_t n_tok, int64_t Dv, const int *sizes,
                         int n_groups, const int *lab, float scale, float *dfeat, int64_t *correct);

#endif
