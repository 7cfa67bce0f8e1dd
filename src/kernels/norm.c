/* norm.c: LayerNorm and RMSNorm (see norm.h). */
#include "kernels/norm.h"

#include <math.h>
#include <stddef.h>

void ml_layernorm_forward(float *out, const float *inp, const float *weight, const float *bias, int64_t rows,
                          int64_t dim, float eps) {
#pragma omp parallel for schedule(static) if (rows > 16)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * dim;
        float *y = out + (size_t)r * dim;
        double sum = 0.0;
        for (int64_t i = 0; i < dim; i++) sum += x[i];
        float mean = (float)(sum / (double)dim);
        double var = 0.0;
        for (int64_t i = 0; i < dim; i++) {
            double d = (double)x[i] - mean;
            var += d * d;
        }
        /* biased variance, as torch.nn.LayerNorm */
        float rstd = (float)(1.0 / sqrt(var / (double)dim + (double)eps));
        for (int64_t i = 0; i < dim; i++) {
            float v = (x[i] - mean) * rstd * weight[i];
            y[i] = bias ? v + bias[i] : v;
        }
    }
}

void ml_rmsnorm_forward(float *out, const float *inp, const float *weight, int64_t rows, int64_t dim, float eps) {
#pragma omp parallel for schedule(static) if (rows > 16)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * dim;
        float *y = out + (size_t)r * dim;
        double ss = 0.0;
        for (int64_t i = 0; i < dim; i++) ss += (double)x[i] * x[i];
        float var = (float)(ss / (double)dim);
        /* HF LlamaRMSNorm: x * rsqrt(var + eps), then weight * that */
        float inv = 1.0f / sqrtf(var + eps);
        for (int64_t i = 0; i < dim; i++) y[i] = weight[i] * (x[i] * inv);
    }
}
