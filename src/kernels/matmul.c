/* matmul.c: linear layers; see matmul.h for the two paths. */
#include "kernels/matmul.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"
#include "core/half.h"

/* ---- weight loads: 8 consecutive weights as float32 ---- */

static inline __m256 load8_f32(const void *p, int64_t i) { return _mm256_loadu_ps((const float *)p + i); }
static inline __m256 load8_f16(const void *p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
}
static inline __m256 load8_bf16(const void *p, int64_t i) {
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
static inline float load1_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
static inline float load1_f16(const void *p, int64_t i) { return ml_f16_to_f32(((const uint16_t *)p)[i]); }
static inline float load1_bf16(const void *p, int64_t i) { return ml_bf16_to_f32(((const uint16_t *)p)[i]); }

/* Fixed reduction order, so every path that ends in hsum8 rounds alike. */
static inline float hsum8(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* dot of nr (1..4) input rows with one weight row: two 8-lane accumulators
   per input row over 16-element steps, then one 8-step, then scalars.  The
   accumulation pattern of a row does not depend on how many rows share the
   call, which keeps the dot path row-independent.  Always inlined with
   constant nr and dt, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void dot_rows(float *res, const float *const *x, const int nr,
                                                           const void *w, int64_t k, const MlDType dt) {
    __m256 a0[4], a1[4];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) a0[r] = a1[r] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        __m256 w0 = dt == ML_F32 ? load8_f32(w, i) : dt == ML_F16 ? load8_f16(w, i) : load8_bf16(w, i);
        __m256 w1 = dt == ML_F32 ? load8_f32(w, i + 8) : dt == ML_F16 ? load8_f16(w, i + 8) : load8_bf16(w, i + 8);
    #pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
            a0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x[r] + i), w0, a0[r]);
            a1[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x[r] + i + 8), w1, a1[r]);
        }
    }
    if (i + 8 <= k) {
        __m256 w0 = dt == ML_F32 ? load8_f32(w, i) : dt == ML_F16 ? load8_f16(w, i) : load8_bf16(w, i);
    #pragma GCC unroll 4
    for (int r = 0; r < nr; r++) a0[r] = _mm256_fmadd_ps(_mm256_loadu_ps(x[r] + i), w0, a0[r]);
        i += 8;
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++) {
        float s = hsum8(_mm256_add_ps(a0[r], a1[r]));
        for (int64_t j = i; j < k; j++)
            s += x[r][j] * (dt == ML_F32 ? load1_f32(w, j) : dt == ML_F16 ? load1_f16(w, j) : load1_bf16(w, j));
        res[r] = s;
    }
}

/* One call per (dtype, row count) so each gets its own compiled loop. */
#define DOT_CASES(DT)                                                                                        \
    static void dot_##DT(float *res, const float *const *x, int nr, const void *w, int64_t k) {              \
        switch (nr) {                                                                                        \
        case 1: dot_rows(res, x, 1, w, k, DT); break;                                                        \
        case 2: dot_rows(res, x, 2, w, k, DT); break;                                                        \
        case 3: dot_rows(res, x, 3, w, k, DT); break;                                                        \
        default: dot_rows(res, x, 4, w, k, DT); break;                                                       \
        }                                                                                                    \
    }
DOT_CASES(ML_F32)
DOT_CASES(ML_F16)
DOT_CASES(ML_BF16)

void ml_matmul_forward_dot(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                           int64_t n_in, int64_t n_out) {
    const size_t wsize = ml_dtype_size(w->dtype);
    const char *wbase = w->data;
    const MlDType dt = w->dtype;
    for (int64_t r0 = 0; r0 < rows; r0 += 4) {
        int nr = rows - r0 < 4 ? (int)(rows - r0) : 4;
        const float *x[4];
        for (int r = 0; r < 4; r++) x[r] = inp + (size_t)(r0 + (r < nr ? r : 0)) * n_in;
        /* dynamic: a thread the OS delays (a shared machine) holds up less work */
#pragma omp parallel for schedule(dynamic, 32)
        for (int64_t o = 0; o < n_out; o++) {
            const void *wrow = wbase + (size_t)o * n_in * wsize;
            float res[4];
            if (dt == ML_F32) dot_ML_F32(res, x, nr, wrow, n_in);
            else if (dt == ML_F16) dot_ML_F16(res, x, nr, wrow, n_in);
            else dot_ML_BF16(res, x, nr, wrow, n_in);
            float b = bias ? bias[o] : 0.0f;
            for (int r = 0; r < nr; r++) out[(size_t)(r0 + r) * n_out + o] = bias ? res[r] + b : res[r];
        }
    }
}

/* n weights to float32, 8 at a time (ml_convert_to_f32 converts one by one). */
static void convert_row(float *dst, const void *src, MlDType dt, int64_t n) {
    if (dt == ML_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    int64_t i = 0;
    if (dt == ML_F16)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_f16(src, i));
    else if (dt == ML_BF16)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load8_bf16(src, i));
    for (; i < n; i++) dst[i] = dt == ML_F16 ? load1_f16(src, i) : load1_bf16(src, i);
}

/* Rows of weights per converted panel: about 2 MB of float32 (it stays in L2
   until sgemm packs it), at least 64 rows. */
static int64_t panel_rows(int64_t n_out, int64_t n_in) {
    int64_t p = ((int64_t)1 << 19) / (n_in > 0 ? n_in : 1);
    if (p < 64) p = 64;
    p = (p + 15) / 16 * 16;
    return p < n_out ? p : n_out;
}

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int ml_matmul_scratch_reserve(MlMatmulScratch *s, int64_t n_out, int64_t n_in) {
    size_t need = (size_t)panel_rows(n_out, n_in) * (size_t)n_in * (size_t)max_threads();
    if (need <= s->cap) return 0;
    float *b = realloc(s->buf, need * sizeof(float));
    if (!b) return -1;
    s->buf = b;
    s->cap = need;
    return 0;
}

void ml_matmul_scratch_free(MlMatmulScratch *s) {
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

/* One thread's share of the GEMM: output columns [o0, o1). */
static void gemm_slice(float *out, const float *inp, const MlTensor *w, int64_t rows, int64_t n_in, int64_t n_out,
                       int64_t o0, int64_t o1, float *panel, int64_t p) {
    if (w->dtype == ML_F32) {
        if (o1 > o0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)(o1 - o0), (int)n_in, 1.0f, inp,
                        (int)n_in, (const float *)w->data + (size_t)o0 * n_in, (int)n_in, 0.0f, out + o0, (int)n_out);
        return;
    }
    for (int64_t a = o0; a < o1; a += p) {
        int64_t np = o1 - a < p ? o1 - a : p;
        const uint16_t *src = (const uint16_t *)w->data + (size_t)a * n_in;
        for (int64_t r = 0; r < np; r++) convert_row(panel + (size_t)r * n_in, src + (size_t)r * n_in, w->dtype, n_in);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)np, (int)n_in, 1.0f, inp, (int)n_in,
                    panel, (int)n_in, 0.0f, out + a, (int)n_out);
    }
}

void ml_matmul_forward(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                       int64_t n_in, int64_t n_out, MlMatmulScratch *s) {
    if (rows < ML_MATMUL_GEMM_MIN_ROWS || n_in == 0) {
        ml_matmul_forward_dot(out, inp, w, bias, rows, n_in, n_out);
        return;
    }
    /* OpenBLAS runs single-threaded (ml_threads_set); the threads split the
       output columns, so one thread pool serves every kernel. */
    const int64_t p = panel_rows(n_out, n_in);
    int nt = max_threads();
    if (w->dtype != ML_F32) {
        int fit = (int)(s->cap / ((size_t)p * n_in));
        ML_ASSERT(fit >= 1);
        if (nt > fit) nt = fit;
    }
    /* column slices in multiples of 16 so each sgemm keeps full kernel widths */
    int64_t per = (n_out + nt - 1) / nt;
    per = (per + 15) / 16 * 16;
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        int t = omp_get_thread_num();
#else
        int t = 0;
#endif
        int64_t o0 = (int64_t)t * per, o1 = o0 + per;
        if (o1 > n_out) o1 = n_out;
        if (o0 < n_out) {
            gemm_slice(out, inp, w, rows, n_in, n_out, o0, o1, s->buf ? s->buf + (size_t)t * p * n_in : NULL, p);
            if (bias)
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t o = o0; o < o1; o++) out[(size_t)r * n_out + o] += bias[o];
        }
    }
}

void ml_matmul_forward_naive(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                             int64_t n_in, int64_t n_out) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < n_out; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int64_t i = 0; i < n_in; i++) {
                size_t idx = (size_t)o * n_in + i;
                float wv = w->dtype == ML_F32   ? ((const float *)w->data)[idx]
                           : w->dtype == ML_F16 ? ml_f16_to_f32(((const uint16_t *)w->data)[idx])
                                                : ml_bf16_to_f32(((const uint16_t *)w->data)[idx]);
                acc += (double)inp[(size_t)r * n_in + i] * wv;
            }
            out[(size_t)r * n_out + o] = (float)acc;
        }
}

void ml_tensor_row_f32(float *dst, const MlTensor *t, int64_t r) {
    int64_t n = t->shape[t->ndim - 1];
    convert_row(dst, (const char *)t->data + (size_t)r * n * ml_dtype_size(t->dtype), t->dtype, n);
}

const float *ml_tensor_as_f32(const MlTensor *t, float *scratch) {
    if (!t || !t->data) return NULL;
    if (t->dtype == ML_F32) return t->data;
    convert_row(scratch, t->data, t->dtype, ml_tensor_numel(t));
    return scratch;
}

/* ---- training: backward passes (F32 master weights) ---- */

/* Thread t's share [lo, hi) of n items, in multiples of 16 (full sgemm kernel widths). */
static void share(int64_t n, int t, int nt, int64_t *lo, int64_t *hi) {
    int64_t per = (n + nt - 1) / nt;
    per = (per + 15) / 16 * 16;
    *lo = (int64_t)t * per < n ? (int64_t)t * per : n;
    *hi = *lo + per < n ? *lo + per : n;
}

void ml_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, int64_t rows, int64_t n_in, int64_t n_out) {
    if (rows == 0 || n_in == 0 || n_out == 0) return;
    ML_ASSERT(rows < INT32_MAX && n_in < INT32_MAX && n_out < INT32_MAX);
    /* Each thread owns a slice of dinp's columns and of dweight's rows, so
       every output value is summed by one sgemm call in one order. */
#pragma omp parallel
    {
#ifdef _OPENMP
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        int t = 0, nt = 1;
#endif
        int64_t c0, c1, o0, o1;
        share(n_in, t, nt, &c0, &c1);
        share(n_out, t, nt, &o0, &o1);
        /* dinp [rows, n_in] += dout [rows, n_out] W [n_out, n_in] */
        if (dinp && c1 > c0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)(c1 - c0), (int)n_out, 1.0f, dout,
                        (int)n_out, weight + c0, (int)n_in, 1.0f, dinp + c0, (int)n_in);
        /* dweight [n_out, n_in] += dout^T [n_out, rows] inp [rows, n_in] */
        if (dweight && o1 > o0)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(o1 - o0), (int)n_in, (int)rows, 1.0f, dout + o0,
                        (int)n_out, inp, (int)n_in, 1.0f, dweight + (size_t)o0 * n_in, (int)n_in);
        if (dbias)
            for (int64_t o = o0; o < o1; o++) {
                float acc = 0.0f;
                for (int64_t r = 0; r < rows; r++) acc += dout[(size_t)r * n_out + o];
                dbias[o] += acc;
            }
    }
}

void ml_embedding_forward(float *out, const MlTensor *table, const int32_t *ids, int64_t rows) {
    int64_t dim = table->shape[table->ndim - 1];
    for (int64_t r = 0; r < rows; r++) ml_tensor_row_f32(out + (size_t)r * dim, table, ids[r]);
}

void ml_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int64_t rows, int64_t dim) {
    /* Column blocks in parallel, rows in order within each: a token seen
       twice sums in the same order whatever the thread count. */
#pragma omp parallel for schedule(static) if (rows * dim > 65536)
    for (int64_t c = 0; c < dim; c += 16) {
        int64_t n = dim - c < 16 ? dim - c : 16;
        for (int64_t r = 0; r < rows; r++) {
            float *dst = dtable + (size_t)ids[r] * dim + c;
            const float *src = dout + (size_t)r * dim + c;
            for (int64_t i = 0; i < n; i++) dst[i] += src[i];
        }
    }
}
