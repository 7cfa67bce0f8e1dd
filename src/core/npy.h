/*
** npy.h: NumPy .npy files (format 1.0, little-endian float32, C order).
** Enough for --dump-logits / --dump-image-features and for reading the
** reference implementation's outputs in tests.
*/
#ifndef ML_CORE_NPY_H
#define ML_CORE_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ML_NPY_MAX_DIMS 8

int ml_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim, MlError *err);

/* Reads a '<f4' C-order array.  *data is malloc'd; the caller frees it. */
int ml_npy_read_f32(const char *path, float **data, int64_t shape[ML_NPY_MAX_DIMS], int *ndim, MlError *err);

#endif
