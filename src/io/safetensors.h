/*
** safetensors.h: read and write .safetensors files without copying weights.
**
** A file is an 8-byte little-endian header length N, N bytes of JSON
**   {"__metadata__": {"format": "pt"}, "<name>": {"dtype": "F16", "shape": [..],
**    "data_offsets": [begin, end]}, ...}
** and the data area; offsets are relative to the data area.  The reader maps
** the file and hands out MlTensor views into the mapping (valid until
** ml_safetensors_close).  It accepts F32, F16 and BF16 and validates like the
** reference implementation: header inside the file, well-formed JSON, rank
** <= 8, nbytes == numel * dtype size (overflow-checked), tensors tiling the
** data area exactly (no overlap, no gap, nothing after the last one), no
** duplicate names.  Every error names the file and, where there is one, the
** tensor.
**
**     MlSafetensors *st; MlError err = {0};
**     if (ml_safetensors_open(&st, "model.safetensors", &err)) { puts(err.msg); ... }
**     MlTensor t;
**     if (ml_safetensors_find(st, "lm_head.weight", &t)) ... t.data, t.shape ...
**     ml_safetensors_close(st);
**
** The writer lays tensors out as the reference does (grouped by dtype size,
** largest first, then by name, contiguous; header padded with spaces so the
** data area starts on an 8-byte boundary) with __metadata__ {"format":"pt"},
** into a temp file renamed over `path` at the end.
**
**     MlNamedTensor w[] = {{"a.weight", ta}, {"a.bias", tb}};
**     ml_safetensors_write("out.safetensors", w, 2, &err);
*/
#ifndef ML_IO_SAFETENSORS_H
#define ML_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

/* Largest header the reader accepts (the reference library's limit). */
#define ML_SAFETENSORS_MAX_HEADER 100000000u

typedef struct MlSafetensors MlSafetensors;

/* Maps and validates the file at path. */
int ml_safetensors_open(MlSafetensors **out, const char *path, MlError *err);
/* Validates a whole file image held in memory (size bytes at data); `where`
   names it in errors.  The views point into data, which must outlive *out. */
int ml_safetensors_parse(MlSafetensors **out, const void *data, size_t size, const char *where, MlError *err);
void ml_safetensors_close(MlSafetensors *st);

const char *ml_safetensors_path(const MlSafetensors *st);
int ml_safetensors_count(const MlSafetensors *st);
/* The i-th tensor in name order (0 <= i < count). */
void ml_safetensors_at(const MlSafetensors *st, int i, const char **name, MlTensor *out);
/* Returns 1 and fills *out when name exists, 0 otherwise. */
int ml_safetensors_find(const MlSafetensors *st, const char *name, MlTensor *out);
/* A __metadata__ value, or NULL. */
const char *ml_safetensors_metadata(const MlSafetensors *st, const char *key);
/* Sum of the tensors' byte sizes (the data area). */
uint64_t ml_safetensors_data_bytes(const MlSafetensors *st);

/* ---- writing ---- */

typedef struct MlNamedTensor {
    const char *name;
    MlTensor tensor; /* dtype, ndim, shape; data and nbytes unless a fill callback supplies them */
} MlNamedTensor;

/* Produces the bytes of tensors[index] into dst (nbytes = numel * dtype size).
   Lets callers stream tensors larger than they want to hold all at once. */
typedef int (*MlTensorFill)(void *ctx, int index, void *dst, size_t nbytes, MlError *err);

typedef struct MlSafetensorsWriteOpts {
    MlTensorFill fill;           /* NULL: copy from tensors[i].tensor.data */
    void *fill_ctx;
    const char *const *metadata; /* NULL, or extra __metadata__ pairs: key, value, ..., NULL */
} MlSafetensorsWriteOpts;

int ml_safetensors_write(const char *path, const MlNamedTensor *tensors, int n, MlError *err);
int ml_safetensors_write_ex(const char *path, const MlNamedTensor *tensors, int n, const MlSafetensorsWriteOpts *opts,
                            MlError *err);

#endif
