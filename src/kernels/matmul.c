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

/* The dot of input rows with weight rows, tile by tile: nr input rows (1..4)
   times nw weight rows (1..4), one 8-lane accumulator per pair over
   8-element steps, then scalars.  The accumulation pattern of a pair does
   not depend on the tile shape, the row count or the thread split, which
   keeps the dot path row-independent (a row's bits never depend on the other
   rows).  Always inlined with constant nr, nw and dt, so the (up to 12)
   accumulators stay in registers; each weight vector is converted once and
   used for all nr rows, each input vector loaded once for all nw weight rows.
   res is [nr][nw]. */
static inline __attribute__((always_inline)) void dot_tile(float *res, const float *const *x, const int nr,
                                                           const char *w, size_t wstride, const int nw, int64_t k,
                                                           const MlDType dt) {
    /* Software prefetch of the weight rows after this tile (w + nw rows),
       spread evenly over this tile's steps: the hardware prefetchers restart
       on every short row, software keeps one tile of reads in flight.  A
       prefetch never faults, so running past the matrix end is harmless. */
    const size_t esz = dt == ML_F32 ? 4 : 2, pf_step = esz * (size_t)nw;
    const char *pf = w + (size_t)nw * wstride;
    __m256 acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int j = 0; j < nw; j++) acc[r][j] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        _mm_prefetch(pf + (size_t)i * pf_step, _MM_HINT_T0);
        if (pf_step * 8 > 64) _mm_prefetch(pf + (size_t)i * pf_step + 64, _MM_HINT_T0);
        __m256 wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < nw; j++) {
            const void *wj = w + (size_t)j * wstride;
            wv[j] = dt == ML_F32 ? load8_f32(wj, i) : dt == ML_F16 ? load8_f16(wj, i) : load8_bf16(wj, i);
        }
#pragma GCC unroll 4
        for (int r = 0; r < nr; r++) {
            __m256 xv = _mm256_loadu_ps(x[r] + i);
#pragma GCC unroll 4
            for (int j = 0; j < nw; j++) acc[r][j] = _mm256_fmadd_ps(xv, wv[j], acc[r][j]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 4
        for (int j = 0; j < nw; j++) {
            const void *wj = w + (size_t)j * wstride;
            float s = hsum8(acc[r][j]);
            for (int64_t t = i; t < k; t++)
                s += x[r][t] *
                     (dt == ML_F32 ? load1_f32(wj, t) : dt == ML_F16 ? load1_f16(wj, t) : load1_bf16(wj, t));
            res[r * nw + j] = s;
        }
}

/* One compiled loop per (dtype, tile shape): 1..3 rows take 4 weight rows at
   a time, 4 rows take 3 (12 accumulators + 3 weight vectors: 15 of the 16
   AVX2 registers). */
#define TILE_FN(DT, NR, NW)                                                                                  \
    static void tile_##DT##_##NR##x##NW(float *res, const float *const *x, const char *w, size_t ws, int64_t k) { \
        dot_tile(res, x, NR, w, ws, NW, k, DT);                                                              \
    }
#define TILE_ROWS(DT, NR) TILE_FN(DT, NR, 1) TILE_FN(DT, NR, 2) TILE_FN(DT, NR, 3) TILE_FN(DT, NR, 4)
#define TILE_CASES(DT, NR)                                                                                   \
    case NR * 8 + 1: tile_##DT##_##NR##x1(res, x, w, ws, k); break;                                          \
    case NR * 8 + 2: tile_##DT##_##NR##x2(res, x, w, ws, k); break;                                          \
    case NR * 8 + 3: tile_##DT##_##NR##x3(res, x, w, ws, k); break;                                          \
    case NR * 8 + 4: tile_##DT##_##NR##x4(res, x, w, ws, k); break;
#define TILE_FNS(DT)                                                                                         \
    TILE_ROWS(DT, 1) TILE_ROWS(DT, 2) TILE_ROWS(DT, 3) TILE_FN(DT, 4, 1) TILE_FN(DT, 4, 2) TILE_FN(DT, 4, 3) \
    static void tile_##DT(float *res, const float *const *x, int nr, const char *w, size_t ws, int nw, int64_t k) { \
        switch (nr * 8 + nw) {                                                                               \
            TILE_CASES(DT, 1)                                                                                \
            TILE_CASES(DT, 2)                                                                                \
            TILE_CASES(DT, 3)                                                                                \
        case 4 * 8 + 1: tile_##DT##_4x1(res, x, w, ws, k); break;                                            \
        case 4 * 8 + 2: tile_##DT##_4x2(res, x, w, ws, k); break;                                            \
        default: tile_##DT##_4x3(res, x, w, ws, k); break;                                                   \
        }                                                                                                    \
    }
TILE_FNS(ML_F32)
TILE_FNS(ML_F16)
TILE_FNS(ML_BF16)

/* Weight rows per block: a block (12 rows, 66 KB of f16 for a 2816-wide row)
   is read from memory once and stays in L1/L2 while every input row is
   dotted with it.  A multiple of both tile widths (3 and 4). */
#define DOT_BLOCK 12

/* Output columns [o0, o1) for all rows: weight block outer, input rows inner. */
static void dot_range(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                      int64_t n_in, int64_t n_out, int64_t o0, int64_t o1) {
    const size_t ws = (size_t)n_in * ml_dtype_size(w->dtype);
    const MlDType dt = w->dtype;
    for (int64_t ob = o0; ob < o1; ob += DOT_BLOCK) {
        const int nb = o1 - ob < DOT_BLOCK ? (int)(o1 - ob) : DOT_BLOCK;
        for (int64_t r0 = 0; r0 < rows; r0 += 4) {
            const int nr = rows - r0 < 4 ? (int)(rows - r0) : 4;
            const float *x[4];
            for (int r = 0; r < 4; r++) x[r] = inp + (size_t)(r0 + (r < nr ? r : 0)) * n_in;
            const int nw_max = nr == 4 ? 3 : 4;
            for (int j0 = 0; j0 < nb; j0 += nw_max) {
                const int nw = nb - j0 < nw_max ? nb - j0 : nw_max;
                const char *wb = (const char *)w->data + (size_t)(ob + j0) * ws;
                float res[16];
                if (dt == ML_F32) tile_ML_F32(res, x, nr, wb, ws, nw, n_in);
                else if (dt == ML_F16) tile_ML_F16(res, x, nr, wb, ws, nw, n_in);
                else tile_ML_BF16(res, x, nr, wb, ws, nw, n_in);
                for (int r = 0; r < nr; r++)
                    for (int j = 0; j < nw; j++) {
                        const int64_t o = ob + j0 + j;
                        out[(size_t)(r0 + r) * n_out + o] = bias ? res[r * nw + j] + bias[o] : res[r * nw + j];
                    }
            }
        }
    }
}

/* Below this many weight elements one thread does the whole product: waking
   the others costs more than it saves. */
#define DOT_PARALLEL_MIN ((int64_t)1 << 15)

void ml_matmul_forward_dot(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                           int64_t n_in, int64_t n_out) {
    if (rows <= 0 || n_out <= 0) return;
    const int64_t n_blocks = (n_out + DOT_BLOCK - 1) / DOT_BLOCK;
    /* Contiguous block ranges per thread (static): each thread streams one
       run of weight memory.  Measured on the shared 2-core machine, guided
       and dynamic schedules were no faster for T = 1 and 16 (performance.md). */
#pragma omp parallel for schedule(static) if (n_out * n_in >= DOT_PARALLEL_MIN)
    for (int64_t b = 0; b < n_blocks; b++) {
        int64_t o0 = b * DOT_BLOCK, o1 = o0 + DOT_BLOCK < n_out ? o0 + DOT_BLOCK : n_out;
        dot_range(out, inp, w, bias, rows, n_in, n_out, o0, o1);
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

/* Rows of weights per converted panel: about 1 MB of float32 (it stays in L2
   until sgemm packs it), at least 64 rows.  Each panel costs one packing of
   the input rows inside sgemm, so smaller panels pack more often; 1 MB keeps
   that a few percent of the work, and the scratch (one panel per thread and
   run state) small next to a small checkpoint (docs/performance.md). */
static int64_t panel_rows(int64_t n_out, int64_t n_in) {
    int64_t p = ((int64_t)1 << 18) / (n_in > 0 ? n_in : 1);
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
    if (rows < ML_MATMUL_GEMM_MIN_ROWS || n_in == 0) ml_matmul_forward_dot(out, inp, w, bias, rows, n_in, n_out);
    else ml_matmul_forward_gemm(out, inp, w, bias, rows, n_in, n_out, s);
}

void ml_matmul_forward_gemm(float *out, const float *inp, const MlTensor *w, const float *bias, int64_t rows,
                            int64_t n_in, int64_t n_out, MlMatmulScratch *s) {
    if (rows <= 0 || n_out <= 0) return;
    if (n_in == 0) {
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
