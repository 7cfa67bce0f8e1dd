/* softmax.c: see softmax.h. */
#include "kernels/softmax.h"

#include <math.h>
#include <stddef.h>

#include "kernels/vexp.h"

void ml_softmax_forward(float *out, const float *inp, int64_t rows, int64_t n) {
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * n;
        float *y = out + (size_t)r * n;
        /* the max is exact in any order; a NaN element is skipped, as x > mx skips it */
        __m256 mx8 = _mm256_set1_ps(-INFINITY);
        int64_t j = 0;
        for (; j + 8 <= n; j += 8) mx8 = _mm256_max_ps(_mm256_loadu_ps(x + j), mx8);
        float lanes_mx[8], mx = -INFINITY;
        _mm256_storeu_ps(lanes_mx, mx8);
        for (int k = 0; k < 8; k++) mx = lanes_mx[k] > mx ? lanes_mx[k] : mx;
        for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
        if (mx == -INFINITY) {
            for (int64_t i = 0; i < n; i++) y[i] = 0.0f;
            continue;
        }
        __m256 m8 = _mm256_set1_ps(mx), s8 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 e = ml_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m8));
            _mm256_storeu_ps(y + i, e);
            s8 = _mm256_add_ps(s8, e);
        }
        if (i < n) { /* the tail through the same vector exp, padded with -inf (exp 0) */
            float pad[8];
            for (int k = 0; k < 8; k++) pad[k] = i + k < n ? x[i + k] : -INFINITY;
            __m256 e = ml_exp8(_mm256_sub_ps(_mm256_loadu_ps(pad), m8));
            _mm256_storeu_ps(pad, e);
            for (int k = 0; i + k < n; k++) y[i + k] = pad[k];
            s8 = _mm256_add_ps(s8, e);
        }
        /* Each element's exp and lane do not depend on n, and padding adds
           exact zeros: a row cut after its last unmasked key sums exactly as
           the whole masked row does. */
        float lanes[8], sum = 0.0f;
        _mm256_storeu_ps(lanes, s8);
        for (int k = 0; k < 8; k++) sum += lanes[k];
        __m256 inv = _mm256_set1_ps(1.0f / sum);
        for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), inv));
        for (; i < n; i++) y[i] *= 1.0f / sum; /* as the vector lanes: y * (1/sum) */
    }
}
