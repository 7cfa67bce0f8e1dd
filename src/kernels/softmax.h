/*
** softmax.h: row-wise softmax in float32, max-subtracted.  A row that is
** -inf everywhere (every key masked) becomes all zeros instead of NaN.
*/
#ifndef ML_KERNELS_SOFTMAX_H
#define ML_KERNELS_SOFTMAX_H

#include <stdint.h>

/* out, inp [rows, n]; out may equal inp. */
void ml_softmax_forward(float *out, const float *inp, int64_t rows, int64_t n);

#endif
