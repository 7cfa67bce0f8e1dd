/* backprop.c: the backward steps the model's parts share (see backprop.h). */
#include "model/backprop.h"

#include <stdarg.h>
#include <string.h>

#include "kernels/matmul.h"

void ml_backprop_slices(float **p, size_t n, int count, ...) {
    va_list ap;
    va_start(ap, count);
    for (int i = 0; i < count; i++) {
        *va_arg(ap, float **) = *p;
        *p += n;
    }
    va_end(ap);
}

void ml_backprop_linear(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w, int64_t rows,
                        int64_t n_in, int64_t n_out) {
    memset(dx, 0, sizeof(float) * (size_t)(rows * n_in));
    ml_matmul_backward(dx, dw, db, dy, x, w, rows, n_in, n_out);
}

void ml_backprop_attention(float *dq, float *dk, float *dv, const float *datt, const float *q, const float *k,
                           const float *v, int64_t rows, int64_t q_cols, int64_t kv_cols, const MlAttnDims *dims,
                           float *scratch) {
    memset(dq, 0, sizeof(float) * (size_t)(rows * q_cols));
    memset(dk, 0, sizeof(float) * (size_t)(rows * kv_cols));
    memset(dv, 0, sizeof(float) * (size_t)(rows * kv_cols));
    ml_attention_backward(dq, dk, dv, datt, q, k, v, rows, dims, scratch, 1);
}
