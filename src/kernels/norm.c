/* norm.c: LayerNorm and RMSNorm, forward and backward (see norm.h). */
#include "kernels/norm.h"

#include <math.h>
#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* The row statistics both passes use: mean and 1/sqrt(biased var + eps). */
static void layernorm_stats(const float *x, int64_t dim, float eps, float *mean_out, float *rstd_out) {
    double sum = 0.0;
    for (int64_t i = 0; i < dim; i++) sum += x[i];
    float mean = (float)(sum / (double)dim);
    double var = 0.0;
    for (int64_t i = 0; i < dim; i++) {
        double d = (double)x[i] - mean;
        var += d * d;
    }
    /* biased variance, as torch.nn.LayerNorm */
    *mean_out = mean;
    *rstd_out = (float)(1.0 / sqrt(var / (double)dim + (double)eps));
}

void ml_layernorm_forward(float *out, const float *inp, const float *weight, const float *bias, int64_t rows,
                          int64_t dim, float eps) {
#pragma omp parallel for schedule(static) if (rows > 16)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * dim;
        float *y = out + (size_t)r * dim;
        float mean, rstd;
        layernorm_stats(x, dim, eps, &mean, &rstd);
        for (int64_t i = 0; i < dim; i++) {
            float v = (x[i] - mean) * rstd * weight[i];
            y[i] = bias ? v + bias[i] : v;
        }
    }
}

/* HF LlamaRMSNorm: x * rsqrt(mean(x^2) + eps), then weight * that. */
static float rmsnorm_inv(const float *x, int64_t dim, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < dim; i++) ss += (double)x[i] * x[i];
    float var = (float)(ss / (double)dim);
    return 1.0f / sqrtf(var + eps);
}

void ml_rmsnorm_forward(float *out, const float *inp, const float *weight, int64_t rows, int64_t dim, float eps) {
#pragma omp parallel for schedule(static) if (rows > 16)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * dim;
        float *y = out + (size_t)r * dim;
        float inv = rmsnorm_inv(x, dim, eps);
        for (int64_t i = 0; i < dim; i++) y[i] = weight[i] * (x[i] * inv);
    }
}

/* Backwards: the input gradient row by row (rows are independent); the
   weight and bias gradients by column ranges, one per thread, each column
   summed over the rows in order, so no two threads write one value and no
   sum depends on the thread count.  Each thread recomputes the row
   statistics it needs rather than sharing a buffer. */

static void column_range(int64_t dim, int64_t *c0, int64_t *c1) {
#ifdef _OPENMP
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
#else
    int nt = 1, t = 0;
#endif
    *c0 = dim * t / nt;
    *c1 = dim * (t + 1) / nt;
}

void ml_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                           const float *weight, int64_t rows, int64_t dim, float eps) {
#pragma omp parallel for schedule(static) if (rows > 16)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * dim, *dy = dout + (size_t)r * dim;
        float *dx = dinp + (size_t)r * dim;
        float mean, rstd;
        layernorm_stats(x, dim, eps, &mean, &rstd);
        /* dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy * w */
        double sum_g = 0.0, sum_gx = 0.0;
        for (int64_t i = 0; i < dim; i++) {
            float g = dy[i] * weight[i], xhat = (x[i] - mean) * rstd;
            sum_g += g;
            sum_gx += (double)g * xhat;
        }
        float mean_g = (float)(sum_g / (double)dim), mean_gx = (float)(sum_gx / (double)dim);
        for (int64_t i = 0; i < dim; i++) {
            float g = dy[i] * weight[i], xhat = (x[i] - mean) * rstd;
            dx[i] += rstd * (g - mean_g - xhat * mean_gx);
        }
    }
    if (!dweight && !dbias) return;
#pragma omp parallel if (rows * dim > 65536)
    {
        int64_t c0, c1;
        column_range(dim, &c0, &c1);
        for (int64_t r = 0; r < rows && c1 > c0; r++) {
            const float *x = inp + (size_t)r * dim, *dy = dout + (size_t)r * dim;
            float mean, rstd;
            layernorm_stats(x, dim, eps, &mean, &rstd);
            for (int64_t i = c0; i < c1; i++) {
                if (dweight) dweight[i] += dy[i] * ((x[i] - mean) * rstd);
                if (dbias) dbias[i] += dy[i];
            }
        }
    }
}

void ml_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                         int64_t rows, int64_t dim, float eps) {
#pragma omp parallel for schedule(static) if (rows > 16)
    for (int64_t r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * dim, *dy = dout + (size_t)r * dim;
        float *dx = dinp + (size_t)r * dim;
        float inv = rmsnorm_inv(x, dim, eps);
        /* dx = inv g - x inv^3 mean(g x), g = dy * w */
        double sum_gx = 0.0;
        for (int64_t i = 0; i < dim; i++) sum_gx += (double)(dy[i] * weight[i]) * x[i];
        float k = inv * inv * inv * (float)(sum_gx / (double)dim);
        for (int64_t i = 0; i < dim; i++) dx[i] += inv * (dy[i] * weight[i]) - x[i] * k;
    }
    if (!dweight) return;
#pragma omp parallel if (rows * dim > 65536)
    {
        int64_t c0, c1;
        column_range(dim, &c0, &c1);
        for (int64_t r = 0; r < rows && c1 > c0; r++) {
            const float *x = inp + (size_t)r * dim, *dy = dout + (size_t)r * dim;
            float inv = rmsnorm_inv(x, dim, eps);
            for (int64_t i = c0; i < c1; i++) dweight[i] += dy[i] * (x[i] * inv);
        }
    }
}
