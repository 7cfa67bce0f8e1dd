/* attention.c: see attention.h.  One (head, query row) at a time: scores
   for every key, softmax, then the weighted sum of values. */
#include "kernels/attention.h"

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

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

int64_t ml_attention_scratch_floats(int64_t n_keys, int n_threads) { return n_keys * (n_threads > 0 ? n_threads : 1); }

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

void ml_attention_forward(float *out, const float *q, const MlKVSpan *spans, int n_spans, int64_t rows, int64_t pos0,
                          const MlAttnDims *d, const MlAttnTap *tap, float *scratch, int n_threads) {
    const int64_t n_keys = total_keys(spans, n_spans);
    const int H = d->n_heads, hd = d->head_dim, group = d->n_heads / d->n_kv_heads;
    const size_t qstride = (size_t)H * hd;
    const int tapped = tap && (tap->on_scores || tap->on_probs) && tap->row_count > 0;
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
#ifdef _OPENMP
        float *s = scratch + (size_t)omp_get_thread_num() * n_keys;
#else
        float *s = scratch;
#endif
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
