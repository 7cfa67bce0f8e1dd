/* activation.c: see activation.h.  Written as torch writes them, in float32. */
#include "kernels/activation.h"

#include <math.h>
#include <stddef.h>

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

void ml_activation_forward(float *out, const float *inp, int64_t n, MlActivation act) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) out[i] = ml_activation_scalar(inp[i], act);
}

void ml_swiglu_forward(float *out, const float *gate, const float *up, int64_t n, MlActivation act) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) out[i] = ml_activation_scalar(gate[i], act) * up[i];
}
