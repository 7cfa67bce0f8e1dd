/*
** optim.h: AdamW, the learning-rate schedule and gradient clipping, all over
** flat float arrays (llm.c style).
**
** A model's trainable parameters live in one MlParamBlock: params, grads and
** the two AdamW moments m and v, each n floats, carved from one allocation.
** Parameter groups are ranges of that array; a group with decay = 0 (norm
** gains, biases, embeddings, ... as the recipe decides) gets no weight decay.
**
**     MlParamBlock b;
**     ml_param_block_alloc(&b, n, &err);                 // all four arrays zeroed
**     ... init b.params ...
**     for (step = 0; step < steps; step++) {
**         ml_param_block_zero_grad(&b);
**         ... forward, backward: gradients accumulate (+=) into b.grads ...
**         double norm = ml_grad_clip(b.grads, b.n, 1.0f);
**         if (!isfinite(norm)) continue;                 // skip a step that blew up
**         ml_adamw_step(&cfg, ml_lr_at(&sched, step), step + 1, groups, n_groups, &b);
**     }
**     ml_param_block_free(&b);
**
** The update is PyTorch's torch.optim.AdamW (decoupled decay, bias-corrected
** moments) in its operation order:
**     p <- p * (1 - lr * wd)                     (decay groups only)
**     m <- m + (1 - beta1) * (g - m)
**     v <- beta2 * v + (1 - beta2) * g^2
**     p <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
** Every function here is element-wise or reduces in a fixed order, so results
** are bit-identical for any thread count.
*/
#ifndef ML_TRAIN_OPTIM_H
#define ML_TRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct MlParamBlock {
    float *params, *grads, *m, *v; /* each [n], 64-byte aligned */
    size_t n;
    void *memory;                  /* the one allocation (owned) */
} MlParamBlock;

/* n >= 1 parameters; everything zeroed. */
int ml_param_block_alloc(MlParamBlock *b, size_t n, MlError *err);
void ml_param_block_free(MlParamBlock *b);
void ml_param_block_zero_grad(MlParamBlock *b);

/* Hyperparameters are doubles, and every scalar derived from them (1 - beta,
   lr / (1 - beta1^t), 1 - lr * wd) is computed in double and rounded to
   float once, as PyTorch does with Python floats. */
typedef struct MlAdamWConfig {
    double beta1, beta2, eps, weight_decay;
} MlAdamWConfig;

/* PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
MlAdamWConfig ml_adamw_defaults(void);

typedef struct MlParamGroup {
    size_t offset, count; /* range of the block */
    int decay;            /* 1: apply weight_decay to this range */
} MlParamGroup;

/* One update of every group's range (ranges outside the block abort: a
   programmer error).  step is 1 for the first update (bias correction). */
void ml_adamw_step(const MlAdamWConfig *cfg, double lr, int64_t step, const MlParamGroup *groups, int n_groups,
                   MlParamBlock *b);

/* Linear warm-up to lr_max, then a half cosine down to lr_max * min_ratio at
   total_steps, flat after (llm.c's schedule). */
typedef struct MlLrSchedule {
    double lr_max;
    double min_ratio;     /* floor as a fraction of lr_max, in [0, 1] */
    int64_t warmup_steps; /* >= 0 */
    int64_t total_steps;  /* >= warmup_steps */
} MlLrSchedule;

/* The rate of step (0-based):
     step < warmup:  lr_max * (step + 1) / warmup
     else:           floor + (lr_max - floor) * 0.5 * (1 + cos(pi * (step - warmup) / (total - warmup)))
   (the floor once step >= total). */
double ml_lr_at(const MlLrSchedule *s, int64_t step);

/* Global L2 norm of g[0..n) (accumulated in double over fixed chunks, so
   the same for any thread count). */
double ml_grad_norm(const float *g, size_t n);
/* Scales g by max_norm / (norm + 1e-6) when norm > max_norm (PyTorch's
   clip_grad_norm_); returns the norm before clipping.  A NaN or infinite
   norm leaves g untouched and is returned for the caller to act on. */
double ml_grad_clip(float *g, size_t n, float max_norm);

#endif
