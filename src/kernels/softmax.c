/* softmax.c: see softmax.h. */
#include "kernels/softmax.h"

#include <math.h>
#include <stddef.h>

void ml_softmax_forward(float *out, const float *inp, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * n;
        float *y = out + (size_t)r * n;
        float mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        if (mx == -INFINITY) {
            for (int64_t i = 0; i < n; i++) y[i] = 0.0f;
            continue;
        }
        float sum = 0.0f;
        for (int64_t i = 0; i < n; i++) {
            y[i] = expf(x[i] - mx);
            sum += y[i];
        }
        float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; i++) y[i] *= inv;
    }
}
