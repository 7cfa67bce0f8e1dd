/*
** backprop.h: what the training backwards of the vision tower, the
** projector and the decoder share; private to src/model/.  A record's
** memory is one block handed out in slices.
**
**     float *p = rec->memory;
**     ml_backprop_slices(&p, T * D, 2, &rec->dx, &rec->dxb);   // two (T, D) slices
**     ml_backprop_linear(dh, dw_down, NULL, dy, x, w_down, T, I, D);         // dh (T, I) overwritten
*/
#ifndef ML_MODEL_BACKPROP_H
#define ML_MODEL_BACKPROP_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/attention.h"

/* Hands out `count` slices of n floats each from *p, in order, to the float ** that follow. */
void ml_backprop_slices(float **p, size_t n, int count, ...);

/* dx (rows, n_in) = the gradient at the input of a linear layer, overwritten;
   dw and db (when not NULL) += as ml_matmul_backward. */
void ml_backprop_linear(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int64_t rows,
                        int64_t n_in, int64_t n_out);

/* dq (rows, q_cols), dk and dv (rows, kv_cols) = the attention's gradients, overwritten. */
void ml_backprop_attention(float *dq, float *dk, float *dv, const float *datt, const float *q, const float *k,
                           const float *v, int64_t rows, int64_t q_cols, int64_t kv_cols, const MlAttnDims *dims,
                           float *scratch);

#endif
