/* loss.c: masked softmax cross-entropy and CLIP InfoNCE, forward and backward (see loss.h). */
#include "train/loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NORM_EPS 1e-12f /* as torch.nn.functional.normalize: a zero vector stays finite */

/* ---- cross-entropy ---- */

/* max and sum of exp(x - max) over one row (the sum in double). */
static void row_stats(const float *x, int64_t n, int64_t stride, float *max_out, double *sum_out) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = fmaxf(mx, x[i * stride]);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += expf(x[i * stride] - mx);
    *max_out = mx;
    *sum_out = sum;
}

int64_t ml_cross_entropy_forward(float *losses, const float *logits, const int32_t *targets, int64_t T, int64_t V) {
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T; t++) {
        if (targets[t] < 0) {
            losses[t] = 0;
            continue;
        }
        ML_ASSERT(targets[t] < V);
        const float *x = logits + t * V;
        float mx;
        double sum;
        row_stats(x, V, 1, &mx, &sum);
        losses[t] = (float)((double)mx + log(sum) - (double)x[targets[t]]);
    }
    int64_t counted = 0;
    for (int64_t t = 0; t < T; t++) counted += targets[t] >= 0;
    return counted;
}

void ml_cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, float dloss, int64_t T,
                               int64_t V) {
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T; t++) {
        if (targets[t] < 0) continue;
        ML_ASSERT(targets[t] < V);
        const float *x = logits + t * V;
        float *dx = dlogits + t * V;
        float mx;
        double sum;
        row_stats(x, V, 1, &mx, &sum);
        float inv = (float)(1.0 / sum);
        for (int64_t v = 0; v < V; v++) dx[v] += dloss * (expf(x[v] - mx) * inv);
        dx[targets[t]] -= dloss;
    }
}

/* ---- InfoNCE ---- */

int ml_infonce_acts_alloc(MlInfoNceActs *a, int64_t n, int64_t d, MlError *err) {
    memset(a, 0, sizeof *a);
    if (n < 1 || d < 1 || n > (1 << 20) || d > (1 << 20))
        return ml_error_set(err, ML_ERR_ARG, "infonce: batch %lld x %lld is out of range", (long long)n, (long long)d);
    size_t floats = (size_t)(3 * n * d + 2 * n + 2 * n * n);
    float *mem = calloc(floats, sizeof *mem);
    if (!mem) return ml_error_set(err, ML_ERR_NOMEM, "infonce: out of memory");
    a->n = n;
    a->d = d;
    a->memory = mem;
    a->img_unit = mem;
    a->txt_unit = a->img_unit + n * d;
    a->img_len = a->txt_unit + n * d;
    a->txt_len = a->img_len + n;
    a->logits = a->txt_len + n;
    a->dlogits = a->logits + n * n;
    a->dunit = a->dlogits + n * n;
    return ML_OK;
}

void ml_infonce_acts_free(MlInfoNceActs *a) {
    free(a->memory);
    memset(a, 0, sizeof *a);
}

static void normalize_rows(float *unit, float *len, const float *x, int64_t n, int64_t d) {
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t k = 0; k < d; k++) ss += (double)x[i * d + k] * x[i * d + k];
        float l = fmaxf((float)sqrt(ss), NORM_EPS);
        len[i] = l;
        for (int64_t k = 0; k < d; k++) unit[i * d + k] = x[i * d + k] / l;
    }
}

/* dx += (du - u (u . du)) / len: the backward of u = x / |x|. */
static void normalize_backward(float *dx, const float *du, const float *unit, const float *len, int64_t n, int64_t d) {
    for (int64_t i = 0; i < n; i++) {
        double dot = 0;
        for (int64_t k = 0; k < d; k++) dot += (double)unit[i * d + k] * du[i * d + k];
        for (int64_t k = 0; k < d; k++)
            dx[i * d + k] += (du[i * d + k] - unit[i * d + k] * (float)dot) / len[i];
    }
}

float ml_infonce_forward(MlInfoNceActs *a, const float *img, const float *txt, float logit_scale) {
    int64_t n = a->n, d = a->d;
    normalize_rows(a->img_unit, a->img_len, img, n, d);
    normalize_rows(a->txt_unit, a->txt_len, txt, n, d);
    a->scale = expf(logit_scale);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double dot = 0;
            for (int64_t k = 0; k < d; k++) dot += (double)a->img_unit[i * d + k] * a->txt_unit[j * d + k];
            a->logits[i * n + j] = a->scale * (float)dot;
        }
    /* Row i: image i against every text; column j: text j against every image. */
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        float mx;
        double sum;
        row_stats(a->logits + i * n, n, 1, &mx, &sum);
        total += (double)mx + log(sum) - a->logits[i * n + i];
        row_stats(a->logits + i, n, n, &mx, &sum);
        total += (double)mx + log(sum) - a->logits[i * n + i];
    }
    return (float)(total / (2.0 * (double)n));
}

void ml_infonce_backward(float *dimg, float *dtxt, float *dlogit_scale, MlInfoNceActs *a, float dloss) {
    int64_t n = a->n, d = a->d;
    float w = dloss / (2.0f * (float)n), *dl = a->dlogits;
    /* dlogits = w (softmax over rows - I) + w (softmax over columns - I). */
    for (int64_t i = 0; i < n; i++) {
        float mx;
        double sum;
        row_stats(a->logits + i * n, n, 1, &mx, &sum);
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < n; j++) dl[i * n + j] = w * (expf(a->logits[i * n + j] - mx) * inv);
        dl[i * n + i] -= w;
    }
    for (int64_t j = 0; j < n; j++) {
        float mx;
        double sum;
        row_stats(a->logits + j, n, n, &mx, &sum);
        float inv = (float)(1.0 / sum);
        for (int64_t i = 0; i < n; i++) dl[i * n + j] += w * (expf(a->logits[i * n + j] - mx) * inv);
        dl[j * n + j] -= w;
    }
    /* logits = exp(s) * S, so d/ds = sum(dlogits * logits). */
    double ds = 0;
    for (int64_t k = 0; k < n * n; k++) ds += (double)dl[k] * a->logits[k];
    *dlogit_scale += (float)ds;
    /* Gradients of the unit vectors, then through the normalization. */
    float *du = a->dunit;
    for (int side = 0; side < 2; side++) {
        const float *other = side == 0 ? a->txt_unit : a->img_unit;
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < d; k++) {
                double acc = 0;
                for (int64_t j = 0; j < n; j++) acc += (double)(side == 0 ? dl[i * n + j] : dl[j * n + i]) * other[j * d + k];
                du[i * d + k] = a->scale * (float)acc;
            }
        if (side == 0) normalize_backward(dimg, du, a->img_unit, a->img_len, n, d);
        else normalize_backward(dtxt, du, a->txt_unit, a->txt_len, n, d);
    }
}
