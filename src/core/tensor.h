/*
** tensor.h: a typed view over memory another object owns (a mapped
** safetensors file, a weight block).  Shapes are row-major, outermost
** first, as in safetensors and PyTorch.
*/
#ifndef ML_CORE_TENSOR_H
#define ML_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum MlDType { ML_F32 = 0, ML_F16 = 1, ML_BF16 = 2 } MlDType;

#define ML_TENSOR_MAX_DIMS 8

typedef struct MlTensor {
    MlDType dtype;
    int ndim;
    int64_t shape[ML_TENSOR_MAX_DIMS];
    const void *data; /* not owned */
    size_t nbytes;
} MlTensor;

static inline size_t ml_dtype_size(MlDType t) { return t == ML_F32 ? 4 : 2; }
const char *ml_dtype_name(MlDType t);      /* "F32", "F16", "BF16" */
int ml_dtype_parse(const char *s, MlDType *t); /* inverse of ml_dtype_name (also "f32" etc.); 0 = ok */
int64_t ml_tensor_numel(const MlTensor *t);

/* Converts n elements of any dtype to float32. */
void ml_convert_to_f32(float *dst, const void *src, MlDType t, size_t n);
/* Converts n float32 values to dtype t (round to nearest even). */
void ml_convert_from_f32(void *dst, MlDType t, const float *src, size_t n);

#endif
