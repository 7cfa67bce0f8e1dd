/*
** matmul.h: y = x W^T (+ b), the one linear layer every model part uses.
**
** W is a weight view [out, in] in F32, F16 or BF16, consumed in place (a
** memory-mapped checkpoint is never copied); x [rows, in] and y [rows, out]
** are float32.  Two paths, chosen by the number of rows:
**   - few rows (decode, short prompts): AVX2 dot products straight from the
**     mapped weights, each thread on one contiguous run of output rows; a
**     block of weight rows is read from memory once and dotted with every
**     input row while it sits in cache, so a 20-token question costs about
**     one pass over the weights, not one f16->f32 conversion of all of them.
**   - many rows (prefill): OpenBLAS sgemm, the output columns split over the
**     OpenMP threads (OpenBLAS itself runs single-threaded, see
**     kernels/threads.h); F16/BF16 weights are converted panel by panel
**     into the caller's scratch first (about 1 MB per thread).
** The dot path is row-independent (a row's result never depends on the other
** rows); OpenBLAS gives no such promise, so a prefill and a step-by-step
** decode of the same tokens agree to rounding, not bit for bit.
**
**     MlMatmulScratch s = {0};
**     ml_matmul_scratch_reserve(&s, out, in);          // once, at build time
**     ml_matmul_forward(y, x, &w, bias, rows, in, out, &s);
**     ml_matmul_scratch_free(&s);
*/
#ifndef ML_KERNELS_MATMUL_H
#define ML_KERNELS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

/* Row counts below this take the dot-product path: measured with
   bench/bench_matmul on f16 decoder matrices, the dot path is faster up to
   24-40 rows and sgemm from 48 on (docs/performance.md). */
#define ML_MATMUL_GEMM_MIN_ROWS 32

typedef struct MlMatmulScratch {
    float *buf;    /* owned; panel of converted weight rows */
    size_t cap;    /* floats */
} MlMatmulScratch;

/* Grows s to hold one weight panel per thread (ml_threads_get() now) for an
   [out, in] matrix; 0 or -1 (no memory).  With more threads later, the
   GEMM path uses only as many as the scratch holds panels for. */
int ml_matmul_scratch_reserve(MlMatmulScratch *s, int64_t out, int64_t in);
void ml_matmul_scratch_free(MlMatmulScratch *s);

/* out [rows, n_out] = inp [rows, n_in] @ w^T (+ bias [n_out], may be NULL).
   w must be 2-D [n_out, n_in]; s must have been reserved for that shape when
   rows >= ML_MATMUL_GEMM_MIN_ROWS and w is not F32. */
void ml_matmul_forward(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                       int64_t n_in, int64_t n_out, MlMatmulScratch *s);

/* The same through the sgemm path whatever the row count (s reserved as
   above); for benchmarks that measure the crossover. */
void ml_matmul_forward_gemm(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                            int64_t n_in, int64_t n_out, MlMatmulScratch *s);

/* The same through the dot-product path whatever the row count. */
void ml_matmul_forward_dot(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                           int64_t n_in, int64_t n_out);

/* Obviously correct reference (double accumulation, one element at a time). */
void ml_matmul_forward_naive(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                             int64_t n_in, int64_t n_out);

/* Row r of a 2-D weight view, converted to float32 (embedding lookup). */
void ml_tensor_row_f32(float *dst, const MlTensor *t, int64_t r);

/* Embedding lookup: out [rows, dim] = rows ids[r] of table [vocab, dim]. */
void ml_embedding_forward(float *out, const MlTensor *table, const int32_t *ids, int64_t rows);

/* ---- backwards (training, F32 weights); gradients accumulate (+=) ----
   Backward of ml_matmul_forward: dinp [rows, n_in] += dout W; dweight
   [n_out, n_in] += dout^T inp; dbias [n_out] += the column sums of dout
   (dinp, dweight, dbias may each be NULL).  sgemm on OpenMP slices as the
   forward: the same bits for a given thread count. */
void ml_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, int64_t rows, int64_t n_in, int64_t n_out);
/* dtable [vocab, dim] rows ids[r] += dout [rows, dim] rows r. */
void ml_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int64_t rows, int64_t dim);

/* A weight vector (norm weight, bias) as float32: t->data itself when it is
   F32, else converted into scratch (numel floats).  NULL when t is NULL or
   has no data (an absent optional tensor). */
const float *ml_tensor_as_f32(const MlTensor *t, float *scratch);

#endif
