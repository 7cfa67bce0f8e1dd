/*
** loss.h: the two training losses, each forward beside its backward.
**
** Cross-entropy over next-token logits with a loss mask: a position counts
** only when its target is >= 0 (ML_LOSS_IGNORE = -1 marks the rest, as
** transformers' -100 labels do), so instruction tuning trains on the answer
** tokens alone.  The mean is left to the caller, who knows how many tokens
** the whole batch counts:
**
**     int64_t n = ml_cross_entropy_forward(losses, logits, targets, T, V);
**     ... sum losses over the batch, n_batch = sum of n ...
**     ml_cross_entropy_backward(dlogits, logits, targets, 1.0f / n_batch, T, V);
**
** CLIP's InfoNCE with a learnable temperature: image and text features are
** L2-normalized, logits = exp(logit_scale) * img_unit . txt_unit^T [N, N],
** and the loss is the mean of the row-wise (image -> text) and column-wise
** (text -> image) cross-entropies with the diagonal as the targets.  The
** forward keeps what the backward needs in an MlInfoNceActs; the backward
** gives the feature gradients and the logit_scale gradient.  (CLIP clamps
** logit_scale to ln 100 after each step: that is the training loop's job.)
**
**     MlInfoNceActs a;  ml_infonce_acts_alloc(&a, N, D, &err);
**     float loss = ml_infonce_forward(&a, img, txt, logit_scale);
**     ml_infonce_backward(dimg, dtxt, &dscale, &a, 1.0f);
**     ml_infonce_acts_free(&a);
**
** Gradients accumulate (+=) into dlogits, dimg, dtxt and *dlogit_scale, as
** every backward in this tree does.  Rows are independent and every sum
** runs in a fixed order: results do not depend on the thread count.
*/
#ifndef ML_TRAIN_LOSS_H
#define ML_TRAIN_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ML_LOSS_IGNORE (-1)

/* losses [T] = -log softmax(logits[t])[targets[t]] where targets[t] >= 0, and
   0 elsewhere; logits [T, V], targets [T] in [0, V) or negative.  Returns
   how many positions count. */
int64_t ml_cross_entropy_forward(float *losses, const float *logits, const int32_t *targets, int64_t T, int64_t V);

/* dlogits [T, V] += dloss * (softmax(logits[t]) - onehot(targets[t])) for
   the counted positions (dloss: the gradient of the caller's total loss
   with respect to each counted position's loss, e.g. 1 / n for a mean). */
void ml_cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, float dloss, int64_t T,
                               int64_t V);

typedef struct MlInfoNceActs {
    int64_t n, d;
    float *img_unit, *txt_unit; /* [n, d] normalized features */
    float *img_len, *txt_len;   /* [n] their norms before normalizing */
    float *logits;              /* [n, n] exp(logit_scale) * img_unit . txt_unit^T */
    float *dlogits;             /* [n, n] backward scratch */
    float *dunit;               /* [n, d] backward scratch */
    float scale;                /* exp(logit_scale) of the forward */
    void *memory;
} MlInfoNceActs;

int ml_infonce_acts_alloc(MlInfoNceActs *a, int64_t n, int64_t d, MlError *err);
void ml_infonce_acts_free(MlInfoNceActs *a);

/* img, txt [n, d]: row i of each is a matching pair.  Returns the loss. */
float ml_infonce_forward(MlInfoNceActs *a, const float *img, const float *txt, float logit_scale);
/* dimg, dtxt [n, d] and *dlogit_scale += the gradients of dloss * loss. */
void ml_infonce_backward(float *dimg, float *dtxt, float *dlogit_scale, MlInfoNceActs *a, float dloss);

#endif
