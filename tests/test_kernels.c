/* test_kernels.c: each optimised kernel against its naive reference or
   hand-computed values, in every weight dtype. */
#include "test.h"

#include <float.h>
#include <stdint.h>

#include "core/half.h"
#include "core/tensor.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"
#include "kernels/threads.h"
#include "kernels/vexp.h"

static uint64_t rng_state = 0x1234567;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) / 8388608.0 - 1.0);
}

/* A weight tensor [out, in] of the given dtype with random values; returns
   the owned buffer. */
static void *make_weight(MlTensor *t, MlDType dt, int64_t out, int64_t in) {
    size_t n = (size_t)(out * in);
    void *buf = malloc(n * ml_dtype_size(dt) + 16);
    for (size_t i = 0; i < n; i++) {
        float v = frand();
        if (dt == ML_F32) ((float *)buf)[i] = v;
        else if (dt == ML_F16) ((uint16_t *)buf)[i] = ml_f32_to_f16(v);
        else ((uint16_t *)buf)[i] = ml_f32_to_bf16(v);
    }
    *t = (MlTensor){.dtype = dt, .ndim = 2, .shape = {out, in}, .data = buf, .nbytes = n * ml_dtype_size(dt)};
    return buf;
}

static float weight_at(const MlTensor *t, size_t i) {
    if (t->dtype == ML_F32) return ((const float *)t->data)[i];
    if (t->dtype == ML_F16) return ml_f16_to_f32(((const uint16_t *)t->data)[i]);
    return ml_bf16_to_f32(((const uint16_t *)t->data)[i]);
}

static void test_matmul_vs_naive(void) {
    const int64_t rows_list[] = {1, 3, 4, 5, 8, 17, 64};
    const int64_t in_list[] = {1, 7, 16, 33, 100};
    const int64_t out_list[] = {1, 5, 16, 37, 130};
    MlMatmulScratch s = {0};
    for (int dt = 0; dt < 3; dt++)
        for (size_t a = 0; a < 7; a++)
            for (size_t b = 0; b < 5; b++)
                for (size_t c = 0; c < 5; c++) {
                    int64_t R = rows_list[a], K = in_list[b], N = out_list[c];
                    MlTensor w;
                    void *wbuf = make_weight(&w, (MlDType)dt, N, K);
                    float *x = malloc(sizeof(float) * R * K), *bias = malloc(sizeof(float) * N);
                    float *y = malloc(sizeof(float) * R * N), *ref = malloc(sizeof(float) * R * N);
                    for (int64_t i = 0; i < R * K; i++) x[i] = frand();
                    for (int64_t i = 0; i < N; i++) bias[i] = frand();
                    CHECK(ml_matmul_scratch_reserve(&s, N, K) == 0);
                    for (int use_bias = 0; use_bias < 2; use_bias++) {
                        ml_matmul_forward(y, x, &w, use_bias ? bias : NULL, R, K, N, &s);
                        ml_matmul_forward_naive(ref, x, &w, use_bias ? bias : NULL, R, K, N);
                        double worst = 0;
                        for (int64_t r = 0; r < R; r++)
                            for (int64_t o = 0; o < N; o++) {
                                double mag = 1e-6 + (use_bias ? fabs(bias[o]) : 0.0);
                                for (int64_t i = 0; i < K; i++) mag += fabs(x[r * K + i] * weight_at(&w, o * K + i));
                                double e = fabs(y[r * N + o] - ref[r * N + o]) / mag;
                                if (e > worst) worst = e;
                            }
                        if (worst > 2e-6)
                            fprintf(stderr, "  dtype %d rows %lld in %lld out %lld: rel err %g\n", dt, (long long)R,
                                    (long long)K, (long long)N, worst);
                        CHECK(worst <= 2e-6);
                    }
                    free(wbuf);
                    free(x);
                    free(bias);
                    free(y);
                    free(ref);
                }
    ml_matmul_scratch_free(&s);
}

/* The dot path gives a row the same bits whatever rows share the call. */
static void test_matmul_dot_row_independent(void) {
    for (int dt = 0; dt < 3; dt++) {
        const int64_t R = 7, K = 75, N = 21;
        MlTensor w;
        void *wbuf = make_weight(&w, (MlDType)dt, N, K);
        float x[7 * 75], all[7 * 21], one[21];
        for (int i = 0; i < R * K; i++) x[i] = frand();
        ml_matmul_forward_dot(all, x, &w, NULL, R, K, N);
        for (int64_t r = 0; r < R; r++) {
            ml_matmul_forward_dot(one, x + r * K, &w, NULL, 1, K, N);
            CHECK(!memcmp(one, all + r * N, sizeof one));
        }
        free(wbuf);
    }
}

/* Each path on its own against the naive product, at row counts that use
   every dot-path tile shape (1..4 input rows x 1..4 weight rows, partial
   weight blocks) and sgemm at few rows. */
static void test_matmul_paths_vs_naive(void) {
    const int64_t rows_list[] = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 13, 31, 33};
    const int64_t in_list[] = {8, 9, 40};
    const int64_t out_list[] = {1, 11, 13, 25, 50};
    MlMatmulScratch s = {0};
    for (int dt = 0; dt < 3; dt++)
        for (size_t a = 0; a < sizeof rows_list / sizeof rows_list[0]; a++)
            for (size_t b = 0; b < 3; b++)
                for (size_t c = 0; c < 5; c++) {
                    int64_t R = rows_list[a], K = in_list[b], N = out_list[c];
                    MlTensor w;
                    void *wbuf = make_weight(&w, (MlDType)dt, N, K);
                    float *x = malloc(sizeof(float) * R * K), *bias = malloc(sizeof(float) * N);
                    float *y = malloc(sizeof(float) * R * N), *ref = malloc(sizeof(float) * R * N);
                    for (int64_t i = 0; i < R * K; i++) x[i] = frand();
                    for (int64_t i = 0; i < N; i++) bias[i] = frand();
                    CHECK(ml_matmul_scratch_reserve(&s, N, K) == 0);
                    ml_matmul_forward_naive(ref, x, &w, bias, R, K, N);
                    for (int path = 0; path < 2; path++) {
                        if (path) ml_matmul_forward_gemm(y, x, &w, bias, R, K, N, &s);
                        else ml_matmul_forward_dot(y, x, &w, bias, R, K, N);
                        double worst = 0;
                        for (int64_t r = 0; r < R; r++)
                            for (int64_t o = 0; o < N; o++) {
                                double mag = 1e-6 + fabs(bias[o]);
                                for (int64_t i = 0; i < K; i++) mag += fabs(x[r * K + i] * weight_at(&w, o * K + i));
                                worst = fmax(worst, fabs(y[r * N + o] - ref[r * N + o]) / mag);
                            }
                        if (worst > 2e-6)
                            fprintf(stderr, "  %s dtype %d rows %lld in %lld out %lld: rel err %g\n",
                                    path ? "gemm" : "dot", dt, (long long)R, (long long)K, (long long)N, worst);
                        CHECK(worst <= 2e-6);
                    }
                    free(wbuf);
                    free(x);
                    free(bias);
                    free(y);
                    free(ref);
                }
    ml_matmul_scratch_free(&s);
}

/* Large enough for several panels and both threads: 300 x 3000 weights. */
static void test_matmul_panels(void) {
    const int64_t R = 20, K = 3000, N = 1500;
    MlMatmulScratch s = {0};
    for (int dt = 1; dt < 3; dt++) {
        MlTensor w;
        void *wbuf = make_weight(&w, (MlDType)dt, N, K);
        float *x = malloc(sizeof(float) * R * K), *y = malloc(sizeof(float) * R * N), *ref = malloc(sizeof(float) * R * N);
        for (int64_t i = 0; i < R * K; i++) x[i] = frand();
        CHECK(ml_matmul_scratch_reserve(&s, N, K) == 0);
        ml_matmul_forward_gemm(y, x, &w, NULL, R, K, N, &s);
        ml_matmul_forward_naive(ref, x, &w, NULL, R, K, N);
        double worst = 0;
        for (int64_t i = 0; i < R * N; i++) worst = fmax(worst, fabs(y[i] - ref[i]));
        CHECK(worst < 1e-3); /* sums of 3000 terms of magnitude <= 1 */
        free(wbuf);
        free(x);
        free(y);
        free(ref);
    }
    ml_matmul_scratch_free(&s);
}

static void test_tensor_helpers(void) {
    uint16_t h[3] = {ml_f32_to_f16(1.5f), ml_f32_to_f16(-2.0f), ml_f32_to_f16(0.25f)};
    MlTensor t = {.dtype = ML_F16, .ndim = 1, .shape = {3}, .data = h, .nbytes = 6};
    float buf[3];
    const float *f = ml_tensor_as_f32(&t, buf);
    CHECK(f == buf && f[0] == 1.5f && f[1] == -2.0f && f[2] == 0.25f);
    float d[3] = {1, 2, 3};
    MlTensor t32 = {.dtype = ML_F32, .ndim = 1, .shape = {3}, .data = d, .nbytes = 12};
    CHECK(ml_tensor_as_f32(&t32, buf) == d);
    CHECK(ml_tensor_as_f32(NULL, buf) == NULL);
    uint16_t b[20];
    for (int i = 0; i < 20; i++) b[i] = ml_f32_to_bf16((float)i);
    MlTensor tb = {.dtype = ML_BF16, .ndim = 2, .shape = {2, 10}, .data = b, .nbytes = 40};
    float row[10];
    ml_tensor_row_f32(row, &tb, 1);
    CHECK(row[0] == 10.0f && row[9] == 19.0f);
}

static void test_layernorm(void) {
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 2, 1, 1}, b[4] = {0, 0, 1, 0}, y[4];
    ml_layernorm_forward(y, x, w, b, 1, 4, 1e-5f);
    /* mean 2.5, biased variance 1.25 */
    double rstd = 1.0 / sqrt(1.25 + 1e-5);
    CHECK_NEAR(y[0], -1.5 * rstd, 1e-6);
    CHECK_NEAR(y[1], -0.5 * rstd * 2, 1e-6);
    CHECK_NEAR(y[2], 0.5 * rstd + 1, 1e-6);
    CHECK_NEAR(y[3], 1.5 * rstd, 1e-6);
    ml_layernorm_forward(x, x, w, NULL, 1, 4, 1e-5f); /* in place, no bias */
    CHECK_NEAR(x[2], 0.5 * rstd, 1e-6);
}

static void test_rmsnorm(void) {
    float x[4] = {3, 4, 0, 0}, w[4] = {1, 0.5f, 1, 1}, y[4];
    ml_rmsnorm_forward(y, x, w, 1, 4, 1e-5f);
    double inv = 1.0 / sqrt(25.0 / 4 + 1e-5);
    CHECK_NEAR(y[0], 3 * inv, 1e-6);
    CHECK_NEAR(y[1], 4 * inv * 0.5, 1e-6);
    CHECK(y[2] == 0.0f);
}

static void test_activations(void) {
    /* reference values from the closed forms in double */
    CHECK_NEAR(ml_activation_scalar(1.0f, ML_ACT_GELU), 0.8413447460685429, 1e-6);
    CHECK_NEAR(ml_activation_scalar(-2.0f, ML_ACT_GELU), -0.04550026389635842, 1e-6);
    CHECK_NEAR(ml_activation_scalar(1.0f, ML_ACT_QUICK_GELU), 1.0 / (1.0 + exp(-1.702)), 1e-6);
    CHECK_NEAR(ml_activation_scalar(1.0f, ML_ACT_SILU), 0.7310585786300049, 1e-6);
    CHECK_NEAR(ml_activation_scalar(1.0f, ML_ACT_GELU_TANH), 0.8411919906082768, 1e-6);
    CHECK(ml_activation_scalar(-100.0f, ML_ACT_SILU) == -0.0f || fabsf(ml_activation_scalar(-100.0f, ML_ACT_SILU)) < 1e-30);
    float g[3] = {1, -1, 2}, u[3] = {2, 3, -1}, o[3];
    ml_swiglu_forward(o, g, u, 3, ML_ACT_SILU);
    CHECK_NEAR(o[0], 2 * 0.7310585786300049, 1e-6);
    CHECK_NEAR(o[1], 3 * (-1.0 / (1.0 + exp(1.0))), 1e-6);
    float v[2] = {0.5f, -0.5f};
    ml_activation_forward(v, v, 2, ML_ACT_GELU);
    CHECK_NEAR(v[0], 0.5 * 0.5 * (1 + erf(0.5 / sqrt(2.0))), 1e-6);
}

static void test_vector_exp(void) {
    double worst = 0;
    for (int k = 0; k < 20000; k++) {
        float x[8], y[8];
        for (int i = 0; i < 8; i++) x[i] = -87.0f + 175.0f * (float)(k * 8 + i) / 160000.0f;
        _mm256_storeu_ps(y, ml_exp8(_mm256_loadu_ps(x)));
        for (int i = 0; i < 8; i++) worst = fmax(worst, fabs(y[i] - exp((double)x[i])) / exp((double)x[i]));
    }
    CHECK(worst < 3e-7); /* a few ulp */
    float sp[8] = {-INFINITY, INFINITY, NAN, 0.0f, -100.0f, 100.0f, 1.0f, -1.0f}, r[8];
    _mm256_storeu_ps(r, ml_exp8(_mm256_loadu_ps(sp)));
    CHECK(r[0] == 0.0f && isinf(r[1]) && r[1] > 0 && isnan(r[2]) && r[3] == 1.0f && r[4] == 0.0f && isinf(r[5]));
    CHECK_NEAR(r[6], M_E, 1e-6);
    /* vector activations against the scalar reference, with tails */
    const MlActivation acts[4] = {ML_ACT_SILU, ML_ACT_QUICK_GELU, ML_ACT_GELU, ML_ACT_GELU_TANH};
    float in[37], up[37], out[37];
    for (int i = 0; i < 37; i++) in[i] = 12 * frand(), up[i] = frand();
    for (int a = 0; a < 4; a++) {
        ml_activation_forward(out, in, 37, acts[a]);
        for (int i = 0; i < 37; i++) CHECK_NEAR(out[i], ml_activation_scalar(in[i], acts[a]), 1e-6 * (1 + fabs(in[i])));
        ml_swiglu_forward(out, in, up, 37, acts[a]);
        for (int i = 0; i < 37; i++)
            CHECK_NEAR(out[i], ml_activation_scalar(in[i], acts[a]) * up[i], 1e-6 * (1 + fabs(in[i])));
    }
}

static void test_softmax(void) {
    float x[3] = {0.0f, (float)log(2.0), -INFINITY}, y[3];
    ml_softmax_forward(y, x, 1, 3);
    CHECK_NEAR(y[0], 1.0 / 3, 1e-7);
    CHECK_NEAR(y[1], 2.0 / 3, 1e-7);
    CHECK(y[2] == 0.0f);
    float big[2] = {1000.0f, 1000.0f};
    ml_softmax_forward(big, big, 1, 2);
    CHECK(big[0] == 0.5f && big[1] == 0.5f);
    /* a long row (vector path and tail) against double */
    float row[45], out[45];
    for (int i = 0; i < 45; i++) row[i] = 10 * frand();
    row[7] = -INFINITY;
    ml_softmax_forward(out, row, 1, 45);
    double mx = -INFINITY, z = 0;
    for (int i = 0; i < 45; i++) mx = fmax(mx, row[i]);
    for (int i = 0; i < 45; i++) z += exp(row[i] - mx);
    for (int i = 0; i < 45; i++) CHECK_NEAR(out[i], exp(row[i] - mx) / z, 1e-6);
    CHECK(out[7] == 0.0f);
    float masked[2] = {-INFINITY, -INFINITY};
    ml_softmax_forward(masked, masked, 1, 2);
    CHECK(masked[0] == 0.0f && masked[1] == 0.0f);
}

static void test_rope(void) {
    const int hd = 8, H = 2;
    const float theta = 10000.0f;
    float cos_t[3 * 4], sin_t[3 * 4];
    ml_rope_tables(cos_t, sin_t, 5, 3, hd, theta);
    float x[3 * 2 * 8], orig[3 * 2 * 8];
    for (int i = 0; i < 48; i++) orig[i] = x[i] = frand();
    ml_rope_forward(x, cos_t, sin_t, 3, H, hd);
    for (int r = 0; r < 3; r++)
        for (int h = 0; h < H; h++)
            for (int j = 0; j < hd / 2; j++) {
                double ang = (5 + r) * pow(theta, -2.0 * j / hd);
                const float *o = orig + (r * H + h) * hd;
                const float *v = x + (r * H + h) * hd;
                CHECK_NEAR(v[j], o[j] * cos(ang) - o[j + hd / 2] * sin(ang), 2e-5);
                CHECK_NEAR(v[j + hd / 2], o[j + hd / 2] * cos(ang) + o[j] * sin(ang), 2e-5);
            }
    /* position 0 is the identity */
    ml_rope_tables(cos_t, sin_t, 0, 1, hd, theta);
    memcpy(x, orig, sizeof(float) * 16);
    ml_rope_forward(x, cos_t, sin_t, 1, H, hd);
    CHECK(!memcmp(x, orig, sizeof(float) * 16));
}

typedef struct TapLog {
    int scores_calls, probs_calls;
    int64_t rows, keys;
    int heads;
    double worst_row_sum_err;
    int masked_nonzero;
    int64_t pos0;
} TapLog;

static TapLog tap_log;
static void tap_noop_scores(float *buf, void *ctx) {
    (void)buf;
    (void)ctx;
    tap_log.scores_calls++;
}
static void tap_check_probs(float *buf, void *ctx) {
    (void)ctx;
    tap_log.probs_calls++;
    for (int h = 0; h < tap_log.heads; h++)
        for (int64_t r = 0; r < tap_log.rows; r++) {
            const float *p = buf + ((size_t)h * tap_log.rows + r) * tap_log.keys;
            double s = 0;
            for (int64_t j = 0; j < tap_log.keys; j++) {
                s += p[j];
                if (j > tap_log.pos0 + r && p[j] != 0.0f) tap_log.masked_nonzero++;
            }
            tap_log.worst_row_sum_err = fmax(tap_log.worst_row_sum_err, fabs(s - 1.0));
        }
}

/* Both paths: row by row (T < ML_ATTN_BLOCK_MIN_ROWS) and per head through sgemm. */
static void check_attention(int64_t T) {
    const int H = 4, KVH = 2, hd = 12;
    const int64_t prefix = 9, S = prefix + T, kvd = KVH * hd;
    float *q = malloc(sizeof(float) * T * H * hd), *k = malloc(sizeof(float) * S * kvd),
          *v = malloc(sizeof(float) * S * kvd);
    for (int64_t i = 0; i < T * H * hd; i++) q[i] = 2 * frand();
    for (int64_t i = 0; i < S * kvd; i++) k[i] = 2 * frand(), v[i] = frand();
    float *out = malloc(sizeof(float) * T * H * hd), *ref = malloc(sizeof(float) * T * H * hd),
          *out2 = malloc(sizeof(float) * T * H * hd);
    int nt = ml_threads_get();
    float *scratch = malloc(sizeof(float) * ml_attention_scratch_floats(S, T, hd, nt));
    for (int causal = 0; causal < 2; causal++) {
        MlAttnDims d = {.n_heads = H, .n_kv_heads = KVH, .head_dim = hd, .causal = causal, .scale = 1 / sqrtf(hd),
                        .kv_stride = kvd};
        /* keys split over two buffers, as a forked session sees them */
        MlKVSpan two[2] = {{k, v, 4}, {k + 4 * kvd, v + 4 * kvd, S - 4}}, one = {k, v, S};
        ml_attention_forward(out, q, two, 2, T, prefix, &d, NULL, scratch, nt);
        ml_attention_forward_naive(ref, q, &one, 1, T, prefix, &d);
        double worst = 0;
        for (int64_t i = 0; i < T * H * hd; i++) worst = fmax(worst, fabs(out[i] - ref[i]));
        CHECK(worst < 2e-6);
        /* a tap that reads only changes nothing, and its probabilities are a distribution */
        float *tbuf = malloc(sizeof(float) * H * T * S);
        tap_log = (TapLog){.rows = T, .keys = S, .heads = H, .pos0 = causal ? prefix : S};
        MlAttnTap tap = {.row_first = 0, .row_count = T, .buf = tbuf, .on_scores = tap_noop_scores,
                         .on_probs = tap_check_probs};
        ml_attention_forward(out2, q, two, 2, T, prefix, &d, &tap, scratch, nt);
        CHECK(!memcmp(out, out2, sizeof(float) * T * H * hd));
        CHECK(tap_log.scores_calls == 1 && tap_log.probs_calls == 1);
        CHECK(tap_log.worst_row_sum_err < 1e-5);
        CHECK(tap_log.masked_nonzero == 0);
        free(tbuf);
    }
    free(q);
    free(k);
    free(v);
    free(out);
    free(out2);
    free(ref);
    free(scratch);
}

static void test_attention(void) {
    check_attention(6);
    check_attention(20);
    /* GQA: query heads 0,1 read kv head 0; head 2 reads kv head 1 */
    const int H = 4, KVH = 2, hd = 12, kvd = KVH * hd;
    float q[4 * 12], k[2 * 12], v[2 * 12], out[4 * 12];
    for (int i = 0; i < 48; i++) q[i] = frand();
    for (int i = 0; i < 24; i++) k[i] = frand(), v[i] = frand();
    int nt = ml_threads_get();
    float *scratch = malloc(sizeof(float) * ml_attention_scratch_floats(1, 1, hd, nt));
    MlAttnDims d = {.n_heads = H, .n_kv_heads = KVH, .head_dim = hd, .causal = 1, .scale = 1 / sqrtf(hd),
                    .kv_stride = kvd};
    MlKVSpan one = {k, v, 1};
    ml_attention_forward(out, q, &one, 1, 1, 0, &d, NULL, scratch, nt); /* one key: output = its value */
    for (int c = 0; c < hd; c++) {
        CHECK(out[0 * hd + c] == v[c] && out[1 * hd + c] == v[c]);
        CHECK(out[2 * hd + c] == v[hd + c] && out[3 * hd + c] == v[hd + c]);
    }
    free(scratch);
}

int main(void) {
    ml_threads_set(0);
    RUN(test_matmul_vs_naive);
    RUN(test_matmul_dot_row_independent);
    RUN(test_matmul_paths_vs_naive);
    RUN(test_matmul_panels);
    RUN(test_tensor_helpers);
    RUN(test_layernorm);
    RUN(test_rmsnorm);
    RUN(test_activations);
    RUN(test_vector_exp);
    RUN(test_softmax);
    RUN(test_rope);
    RUN(test_attention);
    return test_summary("test_kernels");
}
