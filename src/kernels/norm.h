/*
** norm.h: LayerNorm (CLIP) and RMSNorm (LLaMA) over the last dimension, in
** float32 with the row statistics accumulated in double.  out may equal inp.
** Each forward has its _backward beside it (llm.c style) for training.
**
**     ml_layernorm_forward(y, x, w, b, rows, dim, 1e-5f);   // y = (x-mean)/sqrt(var+eps)*w + b
**     ml_rmsnorm_forward(y, x, w, rows, dim, 1e-5f);        // y = w * (x / sqrt(mean(x^2)+eps))
*/
#ifndef ML_KERNELS_NORM_H
#define ML_KERNELS_NORM_H

#include <stdint.h>

/* out, inp [rows, dim]; weight, bias [dim] (bias may be NULL). */
void ml_layernorm_forward(float *out, const float *inp, const float *weight, const float *bias, int64_t rows,
                          int64_t dim, float eps);
/* out, inp [rows, dim]; weight [dim]. */
void ml_rmsnorm_forward(float *out, const float *inp, const float *weight, int64_t rows, int64_t dim, float eps);

/* Backwards (training): dinp [rows, dim] += the input gradient of dout
   [rows, dim] at inp; dweight, dbias [dim] += their gradients (either may be
   NULL).  The row statistics are recomputed with the forward's own code. */
void ml_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, int64_t rows, int64_t dim, float eps);
void ml_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                         int64_t rows, int64_t dim, float eps);

#endif
