/* attention.c: see attention.h.  Decode (few rows): one (head, query row)
   at a time, scores for every key, softmax, the weighted sum of values.
   Prefill (many rows): per head, the keys and values gathered into one
   block, then sgemm for the scores and for the weighted sum. */
#include "kernels/attention.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "core/error.h"
#include "kernels/softmax.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static inline float dot(const float *a, const float *b, int n) {
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    __m128 lo = _mm256_castps256_ps128(acc), hi = _mm256_extractf128_ps(acc, 1);
    __m128 s = _mm_add_ps(lo, hi);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float r = _mm_cvtss_f32(s);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* y += p * x over n floats */
static inline void axpy(float *y, float p, const float *x, int n) {
    __m256 pv = _mm256_set1_ps(p);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += p * x[i];
}

/* Scaled, masked scores of one query row of one head over all keys. */
static void row_scores(float *s, const float *qv, const MlKVSpan *spans, int n_spans, int64_t limit, int kvh,
                       const MlAttnDims *d) {
    int64_t j = 0;
    for (int sp = 0; sp < n_spans; sp++)
        for (int64_t t = 0; t < spans[sp].n; t++, j++) {
            if (j > limit) s[j] = -INFINITY;
            else s[j] = dot(qv, spans[sp].k + (size_t)t * d->kv_stride + (size_t)kvh * d->head_dim, d->head_dim) * d->scale;
        }
}

static int64_t total_keys(const MlKVSpan *spans, int n_spans) {
    int64_t n = 0;
    for (int i = 0; i < n_spans; i++) n += spans[i].n;
    return n;
}

int64_t ml_attention_scratch_floats(int64_t n_keys, int64_t max_rows, int head_dim, int n_threads) {
    int64_t per = max_rows >= ML_ATTN_BLOCK_MIN_ROWS ? max_rows * n_keys + 2 * n_keys * head_dim : n_keys;
    return per * (n_threads > 0 ? n_threads : 1);
}

/* The keys and values of one kv head, gathered from the spans into kh, vh
   (n_keys, hd): the sgemms then see one layout whatever the span split, so a
   forked session computes exactly what one holding all rows computes. */
static void gather_head(float *kh, float *vh, const MlKVSpan *spans, int n_spans, const MlAttnDims *d, int kvh) {
    const int hd = d->head_dim;
    int64_t j = 0;
    for (int sp = 0; sp < n_spans; sp++)
        for (int64_t t = 0; t < spans[sp].n; t++, j++) {
            size_t off = (size_t)t * d->kv_stride + (size_t)kvh * hd;
            memcpy(kh + (size_t)j * hd, spans[sp].k + off, sizeof(float) * hd);
            memcpy(vh + (size_t)j * hd, spans[sp].v + off, sizeof(float) * hd);
        }
}

static inline int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Few rows (decode): one (head, query row) at a time. */
static void attention_rows(float *out, const float *q, const MlKVSpan *spans, int n_spans, int64_t rows, int64_t pos0,
                           const MlAttnDims *d, const MlAttnTap *tap, int tapped, int64_t n_keys, float *scratch,
                           int n_threads) {
    const int H = d->n_heads, hd = d->head_dim, group = d->n_heads / d->n_kv_heads;
    const size_t qstride = (size_t)H * hd;
    /* Pass A: scores of the tapped rows for every head, handed to the caller. */
    if (tapped && tap->on_scores) {
#pragma omp parallel for collapse(2) schedule(static) num_threads(n_threads)
        for (int h = 0; h < H; h++)
            for (int64_t r = 0; r < tap->row_count; r++) {
                int64_t i = tap->row_first + r;
                int64_t limit = d->causal ? pos0 + i : n_keys - 1;
                row_scores(tap->buf + ((size_t)h * tap->row_count + r) * n_keys, q + (size_t)i * qstride + (size_t)h * hd,
                           spans, n_spans, limit, h / group, d);
            }
        tap->on_scores(tap->buf, tap->ctx);
    }
    /* Pass B: softmax and the weighted sum of values, row by row. */
#pragma omp parallel num_threads(n_threads)
    {
        float *s = scratch + (size_t)thread_id() * n_keys;
#pragma omp for collapse(2) schedule(dynamic, 4)
        for (int h = 0; h < H; h++)
            for (int64_t i = 0; i < rows; i++) {
                const float *qv = q + (size_t)i * qstride + (size_t)h * hd;
                int64_t limit = d->causal ? pos0 + i : n_keys - 1;
                int64_t tr = tapped ? i - tap->row_first : -1;
                float *tbuf = NULL;
                if (tr >= 0 && tr < tap->row_count) tbuf = tap->buf + ((size_t)h * tap->row_count + tr) * n_keys;
                float *p = tbuf ? tbuf : s;
                if (!(tbuf && tap->on_scores)) row_scores(p, qv, spans, n_spans, limit, h / group, d);
                ml_softmax_forward(p, p, 1, n_keys);
                float *o = out + (size_t)i * qstride + (size_t)h * hd;
                for (int t = 0; t < hd; t++) o[t] = 0.0f;
                int64_t j = 0;
                for (int sp = 0; sp < n_spans; sp++)
                    for (int64_t t = 0; t < spans[sp].n; t++, j++)
                        if (p[j] != 0.0f)
                            axpy(o, p[j], spans[sp].v + (size_t)t * d->kv_stride + (size_t)(h / group) * hd, hd);
            }
    }
}

/* sc (rows, n_keys) = scale * q_h k_h^T, masked; kh (n_keys, hd) gathered. */
static void head_scores(float *sc, const float *q, const float *kh, int64_t rows, int64_t pos0, const MlAttnDims *d,
                        int h, int64_t n_keys) {
    const int hd = d->head_dim;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n_keys, hd, d->scale, q + (size_t)h * hd,
                d->n_heads * hd, kh, hd, 0.0f, sc, (int)n_keys);
    if (d->causal)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = pos0 + i + 1; j < n_keys; j++) sc[(size_t)i * n_keys + j] = -INFINITY;
}

/* Many rows (prefill): per head, scores and values through sgemm (OpenBLAS
   runs single-threaded inside each of our threads). */
static void attention_blocked(float *out, const float *q, const MlKVSpan *spans, int n_spans, int64_t rows,
                              int64_t pos0, const MlAttnDims *d, const MlAttnTap *tap, int tapped, int64_t n_keys,
                              float *scratch, int n_threads) {
    const int H = d->n_heads, hd = d->head_dim, kvgroup = d->n_heads / d->n_kv_heads;
    const int64_t R = tapped ? tap->row_count : 0, r0 = tapped ? tap->row_first : 0;
    const size_t per_thread = (size_t)rows * n_keys + 2 * (size_t)n_keys * hd;
    if (n_keys == 0) {
        memset(out, 0, sizeof(float) * rows * H * hd);
        return;
    }
    /* Pass A: the tapped rows' scores, computed by the very call pass B makes
       so that a hook that changes nothing changes no bit. */
    if (tapped && tap->on_scores) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
        for (int h = 0; h < H; h++) {
            float *sc = scratch + (size_t)thread_id() * per_thread, *kh = sc + (size_t)rows * n_keys,
                  *vh = kh + (size_t)n_keys * hd;
            gather_head(kh, vh, spans, n_spans, d, h / kvgroup);
            head_scores(sc, q, kh, rows, pos0, d, h, n_keys);
            memcpy(tap->buf + (size_t)h * R * n_keys, sc + (size_t)r0 * n_keys, sizeof(float) * R * n_keys);
        }
        tap->on_scores(tap->buf, tap->ctx);
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int h = 0; h < H; h++) {
        float *sc = scratch + (size_t)thread_id() * per_thread, *kh = sc + (size_t)rows * n_keys,
              *vh = kh + (size_t)n_keys * hd;
        gather_head(kh, vh, spans, n_spans, d, h / kvgroup);
        head_scores(sc, q, kh, rows, pos0, d, h, n_keys);
        if (tapped && tap->on_scores)
            memcpy(sc + (size_t)r0 * n_keys, tap->buf + (size_t)h * R * n_keys, sizeof(float) * R * n_keys);
        for (int64_t i = 0; i < rows; i++) {
            float *p = sc + (size_t)i * n_keys;
            int in_tap = tapped && i >= r0 && i < r0 + R;
            /* untapped causal rows: only keys up to the row's position can be nonzero */
            int64_t len = (d->causal && !in_tap) ? pos0 + i + 1 : n_keys;
            ml_softmax_forward(p, p, 1, len);
            for (int64_t j = len; j < n_keys; j++) p[j] = 0.0f;
        }
        if (tapped && tap->on_probs)
            memcpy(tap->buf + (size_t)h * R * n_keys, sc + (size_t)r0 * n_keys, sizeof(float) * R * n_keys);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, hd, (int)n_keys, 1.0f, sc, (int)n_keys, vh,
                    hd, 0.0f, out + (size_t)h * hd, H * hd);
    }
}

void ml_attention_forward(float *out, const float *q, const MlKVSpan *spans, int n_spans, int64_t rows, int64_t pos0,
                          const MlAttnDims *d, const MlAttnTap *tap, float *scratch, int n_threads) {
    const int64_t n_keys = total_keys(spans, n_spans);
    const int tapped = tap && (tap->on_scores || tap->on_probs) && tap->row_count > 0;
    if (rows >= ML_ATTN_BLOCK_MIN_ROWS)
        attention_blocked(out, q, spans, n_spans, rows, pos0, d, tap, tapped, n_keys, scratch, n_threads);
    else
        attention_rows(out, q, spans, n_spans, rows, pos0, d, tap, tapped, n_keys, scratch, n_threads);
    if (tapped && tap->on_probs) tap->on_probs(tap->buf, tap->ctx);
}

void ml_attention_forward_naive(float *out, const float *q, const MlKVSpan *spans, int n_spans, int64_t rows,
                                int64_t pos0, const MlAttnDims *d) {
    const int H = d->n_heads, hd = d->head_dim, group = d->n_heads / d->n_kv_heads;
    for (int h = 0; h < H; h++)
        for (int64_t i = 0; i < rows; i++) {
            const float *qv = q + ((size_t)i * H + h) * hd;
            double mx = -INFINITY, sum = 0.0;
            /* two passes over keys: max, then exp-sum and the weighted values */
            double acc[1024];
            ML_ASSERT(hd <= 1024);
            for (int t = 0; t < hd; t++) acc[t] = 0.0;
            for (int pass = 0; pass < 2; pass++) {
                int64_t j = 0;
                for (int sp = 0; sp < n_spans; sp++)
                    for (int64_t t = 0; t < spans[sp].n; t++, j++) {
                        if (d->causal && j > pos0 + i) continue;
                        const float *kv = spans[sp].k + (size_t)t * d->kv_stride + (size_t)(h / group) * hd;
                        double sc = 0.0;
                        for (int c = 0; c < hd; c++) sc += (double)qv[c] * kv[c];
                        sc *= d->scale;
                        if (pass == 0) {
                            if (sc > mx) mx = sc;
                        } else {
                            double e = exp(sc - mx);
                            sum += e;
                            const float *vv = spans[sp].v + (size_t)t * d->kv_stride + (size_t)(h / group) * hd;
                            for (int c = 0; c < hd; c++) acc[c] += e * vv[c];
                        }
                    }
            }
            for (int c = 0; c < hd; c++) out[((size_t)i * H + h) * hd + c] = sum > 0 ? (float)(acc[c] / sum) : 0.0f;
        }
}

/* ---- training: the backward of self-attention ---- */

int64_t ml_attention_backward_scratch_floats(int64_t rows, int head_dim, int n_threads) {
    return (2 * rows * rows + 2 * rows * head_dim) * (n_threads > 0 ? n_threads : 1);
}

/* Per kv head (threads never share one, so dk and dv columns have one
   writer, and the heads of a GQA group add into them in head order): the
   probabilities recomputed with the forward's own gather, scores and
   softmax, then
     dV += P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)),
     dQ += scale dS K,  dK += scale dS^T Q. */
void ml_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, int64_t rows, const MlAttnDims *d, float *scratch, int n_threads) {
    const int H = d->n_heads, hd = d->head_dim, group = d->n_heads / d->n_kv_heads;
    const size_t per_thread = 2 * (size_t)rows * rows + 2 * (size_t)rows * hd;
    const MlKVSpan span = {k, v, rows};
    if (rows == 0) return;
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads)
    for (int kvh = 0; kvh < d->n_kv_heads; kvh++) {
        float *P = scratch + (size_t)thread_id() * per_thread, *dP = P + (size_t)rows * rows,
              *kh = dP + (size_t)rows * rows, *vh = kh + (size_t)rows * hd;
        gather_head(kh, vh, &span, 1, d, kvh);
        for (int h = kvh * group; h < (kvh + 1) * group; h++) {
            head_scores(P, q, kh, rows, 0, d, h, rows);
            for (int64_t i = 0; i < rows; i++) {
                float *p = P + (size_t)i * rows;
                int64_t len = d->causal ? i + 1 : rows;
                ml_softmax_forward(p, p, 1, len);
                for (int64_t j = len; j < rows; j++) p[j] = 0.0f;
            }
            const float *dO = dout + (size_t)h * hd;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rows, hd, (int)rows, 1.0f, P, (int)rows, dO,
                        H * hd, 1.0f, dv + (size_t)kvh * hd, (int)d->kv_stride);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)rows, hd, 1.0f, dO, H * hd, vh, hd,
                        0.0f, dP, (int)rows);
            for (int64_t i = 0; i < rows; i++) {
                const float *p = P + (size_t)i * rows;
                float *g = dP + (size_t)i * rows;
                double dot = 0.0;
                for (int64_t j = 0; j < rows; j++) dot += (double)p[j] * g[j];
                for (int64_t j = 0; j < rows; j++) g[j] = p[j] * (g[j] - (float)dot);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, hd, (int)rows, d->scale, dP, (int)rows,
                        kh, hd, 1.0f, dq + (size_t)h * hd, H * hd);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rows, hd, (int)rows, d->scale, dP, (int)rows,
                        q + (size_t)h * hd, H * hd, 1.0f, dk + (size_t)kvh * hd, (int)d->kv_stride);
        }
    }
}
