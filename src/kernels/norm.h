/*
** norm.h: LayerNorm (CLIP) and RMSNorm (LLaMA) over the last dimension, in
** float32 with the row statistics accumulated in double.  out may equal inp.
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

#endif
