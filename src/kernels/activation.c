/* activation.c: see activation.h.  Written as torch writes them, in float32. */
#include "kernels/activation.h"

#include <math.h>
#include <stddef.h>

#include "kernels/vexp.h"

float ml_activation_scalar(float x, MlActivation act) {
    switch (act) {
    case ML_ACT_SILU: return x / (1.0f + expf(-x));
    case ML_ACT_GELU: return x * 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
    case ML_ACT_QUICK_GELU: return x * (1.0f / (1.0f + expf(-1.702f * x)));
    case ML_ACT_GELU_TANH: {
        const float k = 0.7978845608028654f; /* sqrt(2/pi) */
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    }
    return x;
}

/* d act / dx, from the same formulas. */
float ml_activation_grad_scalar(float x, MlActivation act) {
    switch (act) {
    case ML_ACT_SILU:
    case ML_ACT_QUICK_GELU: {
        /* x s(kx): s + k x s (1 - s) */
        float k = act == ML_ACT_SILU ? 1.0f : 1.702f, s = 1.0f / (1.0f + expf(-k * x));
        return s + k * x * s * (1.0f - s);
    }
    case ML_ACT_GELU: {
        const float inv_sqrt_2pi = 0.3989422804014327f;
        return 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)) + x * inv_sqrt_2pi * expf(-0.5f * x * x);
    }
    case ML_ACT_GELU_TANH: {
        const float k = 0.7978845608028654f, c = 0.044715f;
        float t = tanhf(k * (x + c * x * x * x));
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * c * x * x);
    }
    }
    return 1.0f;
}

/* x * sigmoid(k x) for 8 values: the SiLU (k = 1) and quick_gelu (k = 1.702) forms above. */
static inline __m256 sigmoid_gate8(__m256 x, float k) {
    __m256 e = ml_exp8(_mm256_mul_ps(_mm256_set1_ps(-k), x));
    __m256 one = _mm256_set1_ps(1.0f);
    return k == 1.0f ? _mm256_div_ps(x, _mm256_add_ps(one, e))
                     : _mm256_mul_ps(x, _mm256_div_ps(one, _mm256_add_ps(one, e)));
}

/* Elements [0, n) of act(inp) (* up when up is not NULL). */
static void apply(float *out, const float *inp, const float *up, int64_t n, MlActivation act) {
    int64_t i = 0;
    if (act == ML_ACT_SILU || act == ML_ACT_QUICK_GELU) {
        float k = act == ML_ACT_SILU ? 1.0f : 1.702f;
        for (; i + 8 <= n; i += 8) {
            __m256 y = sigmoid_gate8(_mm256_loadu_ps(inp + i), k);
            if (up) y = _mm256_mul_ps(y, _mm256_loadu_ps(up + i));
            _mm256_storeu_ps(out + i, y);
        }
        if (i < n) {
            /* the tail goes through the vector path too (zero-padded), so a
               value never depends on where a call or block ends */
            float xi[8], ui[8], yo[8];
            int m = n - i < 8 ? (int)(n - i) : 8;
            for (int j = 0; j < 8; j++) xi[j] = j < m ? inp[i + j] : 0.0f, ui[j] = up && j < m ? up[i + j] : 0.0f;
            __m256 y = sigmoid_gate8(_mm256_loadu_ps(xi), k);
            if (up) y = _mm256_mul_ps(y, _mm256_loadu_ps(ui));
            _mm256_storeu_ps(yo, y);
            for (int j = 0; j < m; j++) out[i + j] = yo[j];
        }
        return;
    }
    for (; i < n; i++) out[i] = up ? ml_activation_scalar(inp[i], act) * up[i] : ml_activation_scalar(inp[i], act);
}

/* Threads take blocks of 4096 elements. */
#define BLOCK 4096

void ml_activation_forward(float *out, const float *inp, int64_t n, MlActivation act) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t b = 0; b < n; b += BLOCK) apply(out + b, inp + b, NULL, n - b < BLOCK ? n - b : BLOCK, act);
}

void ml_swiglu_forward(float *out, const float *gate, const float *up, int64_t n, MlActivation act) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t b = 0; b < n; b += BLOCK) apply(out + b, gate + b, up + b, n - b < BLOCK ? n - b : BLOCK, act);
}

/* d act / dx of 8 values, k = 1 (SiLU) or 1.702 (quick_gelu): s + k x s (1 - s), s = sigmoid(k x). */
static inline __m256 sigmoid_gate_grad8(__m256 x, float k) {
    const __m256 one = _mm256_set1_ps(1.0f), kv = _mm256_set1_ps(k);
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, ml_exp8(_mm256_mul_ps(_mm256_set1_ps(-k), x))));
    __m256 kxs = _mm256_mul_ps(_mm256_mul_ps(kv, x), s);
    return _mm256_add_ps(s, _mm256_mul_ps(kxs, _mm256_sub_ps(one, s)));
}

/* g[0, n) = d act / dx at inp, vectorised where the activation has a vector form. */
static void grad(float *g, const float *inp, int64_t n, MlActivation act) {
    int64_t i = 0;
    if (act == ML_ACT_SILU || act == ML_ACT_QUICK_GELU) {
        float k = act == ML_ACT_SILU ? 1.0f : 1.702f;
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(g + i, sigmoid_gate_grad8(_mm256_loadu_ps(inp + i), k));
        if (i < n) {
            float xi[8] = {0}, go[8];
            int m = (int)(n - i);
            for (int j = 0; j < m; j++) xi[j] = inp[i + j];
            _mm256_storeu_ps(go, sigmoid_gate_grad8(_mm256_loadu_ps(xi), k));
            for (int j = 0; j < m; j++) g[i + j] = go[j];
        }
        return;
    }
    for (; i < n; i++) g[i] = ml_activation_grad_scalar(inp[i], act);
}

void ml_activation_backward(float *dinp, const float *dout, const float *inp, int64_t n, MlActivation act) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t m = n - b < BLOCK ? n - b : BLOCK;
        float g[BLOCK];
        grad(g, inp + b, m, act);
        for (int64_t i = 0; i < m; i++) dinp[b + i] += dout[b + i] * g[i];
    }
}

void ml_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n,
                        MlActivation act) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t b = 0; b < n; b += BLOCK) {
        int64_t m = n - b < BLOCK ? n - b : BLOCK;
        float a[BLOCK], g[BLOCK]; /* act(gate) exactly as the forward computed it, and its slope */
        apply(a, gate + b, NULL, m, act);
        grad(g, gate + b, m, act);
        for (int64_t i = 0; i < m; i++) {
            float dy = dout[b + i];
            dgate[b + i] += dy * up[b + i] * g[i];
            dup[b + i] += dy * a[i];
        }
    }
}
