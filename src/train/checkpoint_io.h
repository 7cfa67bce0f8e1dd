/*
** checkpoint_io.h: saving and resuming a training run between two steps.
**
** A train state is a safetensors file (io/safetensors.h writes it atomically
** and validates it on read) holding the flat parameter block's params and
** AdamW moments as F32 tensors "params", "adam_m", "adam_v" of shape [n],
** with the rest in __metadata__:
**   "misalign.train_state"  format version (ML_TRAIN_STATE_VERSION)
**   "step"                  updates done, decimal
**   "rng"                   the run's xoshiro256 state, 4 x 16 hex digits
**   "layout"                the caller's description of what the block holds
**                           (model config, tensor order, groups): resume
**                           refuses a file whose layout differs.
** Gradients are not saved: a run is only saved between steps, where they are
** recomputed from zero.  Saving at step k and resuming gives the same bits
** at every later step as a run that never stopped (tests/test_train_state.c).
**
**     ml_train_state_save("run/state.safetensors", &block, step, rng, layout, &err);
**     ...
**     ml_param_block_alloc(&block, n, &err);
**     ml_train_state_load("run/state.safetensors", &block, &step, rng, layout, &err);
*/
#ifndef ML_TRAIN_CHECKPOINT_IO_H
#define ML_TRAIN_CHECKPOINT_IO_H

#include <stdint.h>

#include "core/error.h"
#include "train/optim.h"

#define ML_TRAIN_STATE_VERSION 1
#define ML_TRAIN_RNG_WORDS 4

int ml_train_state_save(const char *path, const MlParamBlock *b, int64_t step, const uint64_t rng[ML_TRAIN_RNG_WORDS],
                        const char *layout, MlError *err);

/* b must already hold b->n parameters: the file's tensors must have that
   size (ML_ERR_SHAPE otherwise) and its layout must equal `layout`
   (ML_ERR_FORMAT).  Fills params, m and v, zeroes grads; b is unchanged on
   failure. */
int ml_train_state_load(const char *path, MlParamBlock *b, int64_t *step, uint64_t rng[ML_TRAIN_RNG_WORDS],
                        const char *layout, MlError *err);

#endif
