#include "core/tensor.h"

#include <string.h>
#include <strings.h>

#include "core/half.h"

const char *ml_dtype_name(MlDType t) {
    switch (t) {
    case ML_F32: return "F32";
    case ML_F16: return "F16";
    case ML_BF16: return "BF16";
    }
    return "?";
}

int ml_dtype_parse(const char *s, MlDType *t) {
    if (!strcasecmp(s, "F32") || !strcasecmp(s, "float32")) *t = ML_F32;
    else if (!strcasecmp(s, "F16") || !strcasecmp(s, "float16")) *t = ML_F16;
    else if (!strcasecmp(s, "BF16") || !strcasecmp(s, "bfloat16")) *t = ML_BF16;
    else return -1;
    return 0;
}

int64_t ml_tensor_numel(const MlTensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

void ml_convert_to_f32(float *dst, const void *src, MlDType t, size_t n) {
    const uint16_t *h = src;
    switch (t) {
    case ML_F32: memcpy(dst, src, n * 4); break;
    case ML_F16:
        for (size_t i = 0; i < n; i++) dst[i] = ml_f16_to_f32(h[i]);
        break;
    case ML_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = ml_bf16_to_f32(h[i]);
        break;
    }
}

void ml_convert_from_f32(void *dst, MlDType t, const float *src, size_t n) {
    uint16_t *h = dst;
    switch (t) {
    case ML_F32: memcpy(dst, src, n * 4); break;
    case ML_F16:
        for (size_t i = 0; i < n; i++) h[i] = ml_f32_to_f16(src[i]);
        break;
    case ML_BF16:
        for (size_t i = 0; i < n; i++) h[i] = ml_f32_to_bf16(src[i]);
        break;
    }
}
