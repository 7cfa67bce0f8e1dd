/* test_train_grad.c: every layer backward in src/kernels/ against central
   differences of the engine's own forward.  For a random upstream gradient G
   the scalar L = sum(G * forward(x)) is summed in double; its numerical
   derivative with respect to each input and weight must match what the
   backward returns.  Composite checks (attention with RoPE and GQA, LLaMA's
   SiLU-gated MLP, CLIP's quick_gelu MLP) chain the backwards the way a
   training step will.  Thread-count invariance is checked where promised. */
#include <omp.h>
#include <stdint.h>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/patch.h"
#include "kernels/rope.h"
#include "test.h"

/* ---- harness ---- */

static uint64_t seed = 12345;
static float frand(void) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(seed >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}
static float *rand_array(size_t n, float scale) {
    float *a = malloc(n * sizeof *a);
    for (size_t i = 0; i < n; i++) a[i] = scale * frand();
    return a;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

static double dot_d(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*LossFn)(void *ctx);

/* Largest |analytic - numeric| over x's n entries, relative to max(1, largest |numeric|). */
static double grad_error(LossFn loss, void *ctx, float *x, const float *grad, size_t n, float h, const char *what) {
    double worst = 0, scale = 1;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double up = loss(ctx);
        x[i] = keep - h;
        double down = loss(ctx);
        x[i] = keep;
        double num = (up - down) / (2.0 * (double)h), err = fabs(num - grad[i]);
        if (fabs(num) > scale) scale = fabs(num);
        if (err > worst) worst = err, at = i;
    }
    double rel = worst / scale;
    if (rel > 2e-3) fprintf(stderr, "  %s: worst error %.3g (relative %.3g) at %zu\n", what, worst, rel, at);
    return rel;
}
#define CHECK_GRAD(loss, ctx, x, g, n, h) CHECK(grad_error(loss, ctx, x, g, n, h, #x) <= 2e-3)

static MlTensor f32_matrix(const float *w, int64_t rows, int64_t cols) {
    return (MlTensor){.dtype = ML_F32, .ndim = 2, .shape = {rows, cols}, .data = w,
                      .nbytes = (size_t)(rows * cols) * sizeof(float)};
}

/* ---- linear ---- */

typedef struct LinearCase {
    float *x, *w, *b, *g, *y;
    int64_t rows, n_in, n_out;
} LinearCase;

static double linear_loss(void *p) {
    LinearCase *c = p;
    MlTensor w = f32_matrix(c->w, c->n_out, c->n_in);
    MlMatmulScratch s = {0};
    ml_matmul_forward(c->y, c->x, &w, c->b, c->rows, c->n_in, c->n_out, &s);
    return dot_d(c->g, c->y, (size_t)(c->rows * c->n_out));
}

static void check_linear(int64_t rows, int64_t n_in, int64_t n_out) {
    LinearCase c = {rand_array((size_t)(rows * n_in), 1), rand_array((size_t)(n_out * n_in), 0.5f),
                    rand_array((size_t)n_out, 0.5f), rand_array((size_t)(rows * n_out), 1),
                    zeros((size_t)(rows * n_out)), rows, n_in, n_out};
    float *dx = zeros((size_t)(rows * n_in)), *dw = zeros((size_t)(n_out * n_in)), *db = zeros((size_t)n_out);
    ml_matmul_backward(dx, dw, db, c.g, c.x, c.w, rows, n_in, n_out);
    CHECK_GRAD(linear_loss, &c, c.x, dx, (size_t)(rows * n_in), 1e-2f);
    CHECK_GRAD(linear_loss, &c, c.w, dw, (size_t)(n_out * n_in), 1e-2f);
    CHECK_GRAD(linear_loss, &c, c.b, db, (size_t)n_out, 1e-2f);
    /* Accumulation: a second call adds the same again; NULL outputs are skipped. */
    float before = dw[3];
    ml_matmul_backward(NULL, dw, NULL, c.g, c.x, c.w, rows, n_in, n_out);
    CHECK_NEAR(dw[3], 2 * before, 1e-5 * (1 + fabs(before)));
    free(c.x), free(c.w), free(c.b), free(c.g), free(c.y), free(dx), free(dw), free(db);
}

static void test_linear(void) {
    check_linear(3, 7, 5);   /* the forward's dot-product path */
    check_linear(19, 21, 37); /* its sgemm path, slices not multiples of 16 */
}

/* ---- embedding and patch embedding ---- */

typedef struct EmbedCase {
    float *table, *g, *y;
    const int32_t *ids;
    int64_t rows, vocab, dim;
} EmbedCase;

static double embed_loss(void *p) {
    EmbedCase *c = p;
    MlTensor t = f32_matrix(c->table, c->vocab, c->dim);
    ml_embedding_forward(c->y, &t, c->ids, c->rows);
    return dot_d(c->g, c->y, (size_t)(c->rows * c->dim));
}

static void test_embedding(void) {
    static const int32_t ids[6] = {3, 0, 3, 5, 1, 3}; /* repeats sum */
    EmbedCase c = {rand_array(6 * 9, 1), rand_array(6 * 9, 1), zeros(6 * 9), ids, 6, 6, 9};
    float *dt = zeros(6 * 9);
    ml_embedding_backward(dt, c.g, ids, 6, 9);
    CHECK_GRAD(embed_loss, &c, c.table, dt, 6 * 9, 1e-2f);
    for (int i = 0; i < 9; i++) CHECK(dt[2 * 9 + i] == 0 && dt[4 * 9 + i] == 0); /* unused rows */
    free(c.table), free(c.g), free(c.y), free(dt);
}

typedef struct PatchCase {
    float *pixels, *w, *g, *y, *patches;
    int size, patch, dim;
} PatchCase;

static double patch_loss(void *p) {
    PatchCase *c = p;
    int n = (c->size / c->patch) * (c->size / c->patch), pd = 3 * c->patch * c->patch;
    MlTensor w = f32_matrix(c->w, c->dim, pd);
    MlMatmulScratch s = {0};
    ml_patch_unfold(c->patches, c->pixels, c->size, c->patch);
    ml_matmul_forward(c->y, c->patches, &w, NULL, n, pd, c->dim, &s);
    return dot_d(c->g, c->y, (size_t)n * c->dim);
}

/* Unfold + linear is CLIP's conv (stride = kernel): checked against the conv
   sum written out here, then the weight gradient by differences. */
static void test_patch_embedding(void) {
    enum { S = 12, P = 4, D = 5, N = (S / P) * (S / P), PD = 3 * P * P };
    PatchCase c = {rand_array(3 * S * S, 1), rand_array(D * PD, 0.3f), rand_array(N * D, 1), zeros(N * D),
                   zeros(N * PD), S, P, D};
    patch_loss(&c);
    double worst = 0;
    for (int gy = 0; gy < S / P; gy++)
        for (int gx = 0; gx < S / P; gx++)
            for (int o = 0; o < D; o++) {
                double acc = 0; /* conv weight [D, 3, P, P] */
                for (int ch = 0; ch < 3; ch++)
                    for (int ky = 0; ky < P; ky++)
                        for (int kx = 0; kx < P; kx++)
                            acc += (double)c.w[((o * 3 + ch) * P + ky) * P + kx] *
                                   c.pixels[(ch * S + gy * P + ky) * S + gx * P + kx];
                worst = fmax(worst, fabs(acc - c.y[(gy * (S / P) + gx) * D + o]));
            }
    CHECK(worst < 1e-5);
    float *dw = zeros(D * PD);
    ml_patch_embed_backward(dw, c.g, c.patches, N, PD, D);
    CHECK_GRAD(patch_loss, &c, c.w, dw, D * PD, 1e-2f);
    free(c.pixels), free(c.w), free(c.g), free(c.y), free(c.patches), free(dw);
}

/* ---- norms ---- */

typedef struct NormCase {
    float *x, *w, *b, *g, *y;
    int64_t rows, dim;
    int rms;
} NormCase;

static double norm_loss(void *p) {
    NormCase *c = p;
    if (c->rms) ml_rmsnorm_forward(c->y, c->x, c->w, c->rows, c->dim, 1e-5f);
    else ml_layernorm_forward(c->y, c->x, c->w, c->b, c->rows, c->dim, 1e-5f);
    return dot_d(c->g, c->y, (size_t)(c->rows * c->dim));
}

static void check_norm(int rms, int64_t rows, int64_t dim) {
    size_t n = (size_t)(rows * dim);
    NormCase c = {rand_array(n, 2), rand_array((size_t)dim, 1), rms ? NULL : rand_array((size_t)dim, 1),
                  rand_array(n, 1), zeros(n), rows, dim, rms};
    for (size_t i = 0; i < n; i++) c.x[i] += 0.5f; /* a nonzero mean */
    float *dx = zeros(n), *dw = zeros((size_t)dim), *db = zeros((size_t)dim);
    if (rms) ml_rmsnorm_backward(dx, dw, c.g, c.x, c.w, rows, dim, 1e-5f);
    else ml_layernorm_backward(dx, dw, db, c.g, c.x, c.w, rows, dim, 1e-5f);
    CHECK_GRAD(norm_loss, &c, c.x, dx, n, 1e-2f);
    CHECK_GRAD(norm_loss, &c, c.w, dw, (size_t)dim, 1e-2f);
    if (!rms) CHECK_GRAD(norm_loss, &c, c.b, db, (size_t)dim, 1e-2f);
    free(c.x), free(c.w), free(c.b), free(c.g), free(c.y), free(dx), free(dw), free(db);
}

static void test_norms(void) {
    check_norm(0, 5, 12);
    check_norm(1, 5, 12);
    check_norm(0, 20, 7); /* past the rows > 16 threading threshold */
    check_norm(1, 20, 7);
}

/* Big enough for every parallel branch: 1 and 2 threads give the same bits. */
static void test_norm_threads(void) {
    enum { R = 300, D = 257 };
    float *x = rand_array(R * D, 2), *w = rand_array(D, 1), *g = rand_array(R * D, 1), *out[2][3];
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        for (int k = 0; k < 3; k++) out[t][k] = zeros(k ? D : R * D);
        ml_layernorm_backward(out[t][0], out[t][1], out[t][2], g, x, w, R, D, 1e-5f);
        ml_rmsnorm_backward(out[t][0], out[t][1], g, x, w, R, D, 1e-5f);
    }
    omp_set_num_threads(2);
    for (int k = 0; k < 3; k++) CHECK(!memcmp(out[0][k], out[1][k], (k ? D : R * D) * sizeof(float)));
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 3; k++) free(out[t][k]);
    free(x), free(w), free(g);
}

/* ---- activations ---- */

typedef struct ActCase {
    float *x, *up, *g, *y;
    int64_t n;
    MlActivation act;
    int gated;
} ActCase;

static double act_loss(void *p) {
    ActCase *c = p;
    if (c->gated) ml_swiglu_forward(c->y, c->x, c->up, c->n, c->act);
    else ml_activation_forward(c->y, c->x, c->n, c->act);
    return dot_d(c->g, c->y, (size_t)c->n);
}

static void test_activations(void) {
    const MlActivation acts[4] = {ML_ACT_SILU, ML_ACT_GELU, ML_ACT_QUICK_GELU, ML_ACT_GELU_TANH};
    const char *names[4] = {"silu", "gelu", "quick_gelu", "gelu_tanh"};
    enum { N = 45 };
    for (int a = 0; a < 4; a++) {
        ActCase c = {rand_array(N, 4), rand_array(N, 1), rand_array(N, 1), zeros(N), N, acts[a], 0};
        float *dx = zeros(N), *dup = zeros(N);
        ml_activation_backward(dx, c.g, c.x, N, acts[a]);
        double e = grad_error(act_loss, &c, c.x, dx, N, 1e-3f, names[a]);
        CHECK(e <= 2e-3);
        /* The gated form (LLaMA's act(gate) * up) with each activation. */
        c.gated = 1;
        memset(dx, 0, sizeof(float) * N);
        ml_swiglu_backward(dx, dup, c.g, c.x, c.up, N, acts[a]);
        CHECK(grad_error(act_loss, &c, c.x, dx, N, 1e-3f, names[a]) <= 2e-3);
        CHECK(grad_error(act_loss, &c, c.up, dup, N, 1e-3f, names[a]) <= 2e-3);
        free(c.x), free(c.up), free(c.g), free(c.y), free(dx), free(dup);
    }
    /* The vectorised slopes agree with the scalar definition, over the range and in the tail. */
    for (int a = 0; a < 4; a++) {
        enum { M = 37 };
        float x[M], ones[M], g[M] = {0};
        for (int i = 0; i < M; i++) x[i] = -12.0f + 0.65f * (float)i, ones[i] = 1.0f;
        ml_activation_backward(g, ones, x, M, acts[a]);
        double worst = 0;
        for (int i = 0; i < M; i++) worst = fmax(worst, fabs(g[i] - ml_activation_grad_scalar(x[i], acts[a])));
        CHECK(worst < 1e-6);
    }
    /* Hand values: silu'(0) = 1/2, gelu'(0) = 1/2, quick_gelu'(0) = 1/2. */
    CHECK_NEAR(ml_activation_grad_scalar(0, ML_ACT_SILU), 0.5, 1e-7);
    CHECK_NEAR(ml_activation_grad_scalar(0, ML_ACT_GELU), 0.5, 1e-7);
    CHECK_NEAR(ml_activation_grad_scalar(0, ML_ACT_QUICK_GELU), 0.5, 1e-7);
    CHECK_NEAR(ml_activation_grad_scalar(30, ML_ACT_SILU), 1.0, 1e-6);
    CHECK_NEAR(ml_activation_grad_scalar(-30, ML_ACT_GELU), 0.0, 1e-6);
}

/* ---- MLPs: LLaMA's SiLU-gated one and CLIP's quick_gelu one ---- */

typedef struct MlpCase {
    float *x, *w1, *w3, *w2, *b1, *b2, *g, *h1, *h3, *y;
    int64_t rows, dim, hidden;
    int gated; /* 1: down(silu(gate x) * up x); 0: fc2(quick_gelu(fc1 x + b1)) + b2 */
} MlpCase;

static double mlp_loss(void *p) {
    MlpCase *c = p;
    MlMatmulScratch s = {0};
    MlTensor w1 = f32_matrix(c->w1, c->hidden, c->dim), w2 = f32_matrix(c->w2, c->dim, c->hidden);
    ml_matmul_forward(c->h1, c->x, &w1, c->gated ? NULL : c->b1, c->rows, c->dim, c->hidden, &s);
    if (c->gated) {
        MlTensor w3 = f32_matrix(c->w3, c->hidden, c->dim);
        ml_matmul_forward(c->h3, c->x, &w3, NULL, c->rows, c->dim, c->hidden, &s);
        ml_swiglu_forward(c->h3, c->h1, c->h3, c->rows * c->hidden, ML_ACT_SILU); /* h3 = act(h1) * h3 */
    } else {
        ml_activation_forward(c->h3, c->h1, c->rows * c->hidden, ML_ACT_QUICK_GELU);
    }
    ml_matmul_forward(c->y, c->h3, &w2, c->gated ? NULL : c->b2, c->rows, c->hidden, c->dim, &s);
    return dot_d(c->g, c->y, (size_t)(c->rows * c->dim));
}

static void check_mlp(int gated) {
    enum { R = 9, D = 6, H = 10 };
    MlpCase c = {rand_array(R * D, 1), rand_array(H * D, 0.5f), rand_array(H * D, 0.5f), rand_array(D * H, 0.5f),
                 rand_array(H, 0.3f), rand_array(D, 0.3f), rand_array(R * D, 1), zeros(R * H), zeros(R * H),
                 zeros(R * D), R, D, H, gated};
    /* The backward chain a training step runs, with the forward's activations kept. */
    float *a1 = zeros(R * H), *a3 = zeros(R * H), *act = zeros(R * H);
    MlMatmulScratch s = {0};
    MlTensor w1 = f32_matrix(c.w1, H, D), w3 = f32_matrix(c.w3, H, D);
    ml_matmul_forward(a1, c.x, &w1, gated ? NULL : c.b1, R, D, H, &s);
    if (gated) {
        ml_matmul_forward(a3, c.x, &w3, NULL, R, D, H, &s);
        ml_swiglu_forward(act, a1, a3, R * H, ML_ACT_SILU);
    } else {
        ml_activation_forward(act, a1, R * H, ML_ACT_QUICK_GELU);
    }
    float *dx = zeros(R * D), *dw1 = zeros(H * D), *dw3 = zeros(H * D), *dw2 = zeros(D * H), *db1 = zeros(H),
          *db2 = zeros(D), *dact = zeros(R * H), *da1 = zeros(R * H), *da3 = zeros(R * H);
    ml_matmul_backward(dact, dw2, gated ? NULL : db2, c.g, act, c.w2, R, H, D);
    if (gated) {
        ml_swiglu_backward(da1, da3, dact, a1, a3, R * H, ML_ACT_SILU);
        ml_matmul_backward(dx, dw3, NULL, da3, c.x, c.w3, R, D, H);
    } else {
        ml_activation_backward(da1, dact, a1, R * H, ML_ACT_QUICK_GELU);
    }
    ml_matmul_backward(dx, dw1, gated ? NULL : db1, da1, c.x, c.w1, R, D, H);
    CHECK_GRAD(mlp_loss, &c, c.x, dx, R * D, 1e-2f);
    CHECK_GRAD(mlp_loss, &c, c.w1, dw1, H * D, 1e-2f);
    CHECK_GRAD(mlp_loss, &c, c.w2, dw2, D * H, 1e-2f);
    if (gated) CHECK_GRAD(mlp_loss, &c, c.w3, dw3, H * D, 1e-2f);
    else {
        CHECK_GRAD(mlp_loss, &c, c.b1, db1, H, 1e-2f);
        CHECK_GRAD(mlp_loss, &c, c.b2, db2, D, 1e-2f);
    }
    float *all[] = {c.x, c.w1, c.w3, c.w2, c.b1, c.b2, c.g, c.h1, c.h3, c.y, a1, a3, act,
                    dx, dw1, dw3, dw2, db1, db2, dact, da1, da3};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void test_mlps(void) {
    check_mlp(1);
    check_mlp(0);
}

/* ---- attention with RoPE and GQA ---- */

typedef struct AttnCase {
    float *q, *k, *v, *g, *y, *qr, *kr, *cos_t, *sin_t, *scratch;
    int64_t rows;
    MlAttnDims d;
    int rope;
} AttnCase;

/* q, k (before RoPE), v -> RoPE on copies -> the engine's attention forward. */
static double attn_loss(void *p) {
    AttnCase *c = p;
    const MlAttnDims *d = &c->d;
    size_t nq = (size_t)(c->rows * d->n_heads * d->head_dim), nk = (size_t)(c->rows * d->kv_stride);
    memcpy(c->qr, c->q, nq * sizeof(float));
    memcpy(c->kr, c->k, nk * sizeof(float));
    if (c->rope) {
        ml_rope_forward(c->qr, c->cos_t, c->sin_t, c->rows, d->n_heads, d->head_dim);
        ml_rope_forward(c->kr, c->cos_t, c->sin_t, c->rows, d->n_kv_heads, d->head_dim);
    }
    MlKVSpan span = {c->kr, c->v, c->rows};
    ml_attention_forward(c->y, c->qr, &span, 1, c->rows, 0, d, NULL, c->scratch, omp_get_max_threads());
    return dot_d(c->g, c->y, nq);
}

/* Gradients at q, k (before RoPE) and v; fills the case's rotated copies. */
static void attn_backward(AttnCase *c, float *dq, float *dk, float *dv, int n_threads) {
    const MlAttnDims *d = &c->d;
    attn_loss(c);
    float *scratch = malloc(sizeof(float) * (size_t)ml_attention_backward_scratch_floats(c->rows, d->head_dim, n_threads));
    ml_attention_backward(dq, dk, dv, c->g, c->qr, c->kr, c->v, c->rows, d, scratch, n_threads);
    free(scratch);
    if (c->rope) {
        ml_rope_backward(dq, c->cos_t, c->sin_t, c->rows, d->n_heads, d->head_dim);
        ml_rope_backward(dk, c->cos_t, c->sin_t, c->rows, d->n_kv_heads, d->head_dim);
    }
}

static AttnCase attn_case(int64_t rows, int heads, int kv_heads, int hd, int causal, int rope) {
    AttnCase c = {0};
    c.rows = rows;
    c.rope = rope;
    c.d = (MlAttnDims){.n_heads = heads, .n_kv_heads = kv_heads, .head_dim = hd, .causal = causal,
                       .scale = 1.0f / sqrtf((float)hd), .kv_stride = (int64_t)kv_heads * hd};
    size_t nq = (size_t)(rows * heads * hd), nk = (size_t)(rows * kv_heads * hd);
    c.q = rand_array(nq, 1.5f), c.k = rand_array(nk, 1.5f), c.v = rand_array(nk, 1), c.g = rand_array(nq, 1);
    c.y = zeros(nq), c.qr = zeros(nq), c.kr = zeros(nk);
    c.cos_t = zeros((size_t)(rows * hd / 2)), c.sin_t = zeros((size_t)(rows * hd / 2));
    ml_rope_tables(c.cos_t, c.sin_t, 0, rows, hd, 10000.0f);
    c.scratch = zeros((size_t)ml_attention_scratch_floats(rows, rows, hd, omp_get_max_threads()));
    return c;
}

static void free_attn(AttnCase *c) {
    float *all[] = {c->q, c->k, c->v, c->g, c->y, c->qr, c->kr, c->cos_t, c->sin_t, c->scratch};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void check_attention(int64_t rows, int heads, int kv_heads, int hd, int causal, int rope) {
    AttnCase c = attn_case(rows, heads, kv_heads, hd, causal, rope);
    size_t nq = (size_t)(rows * heads * hd), nk = (size_t)(rows * kv_heads * hd);
    float *dq = zeros(nq), *dk = zeros(nk), *dv = zeros(nk);
    attn_backward(&c, dq, dk, dv, 2);
    CHECK_GRAD(attn_loss, &c, c.q, dq, nq, 1e-2f);
    CHECK_GRAD(attn_loss, &c, c.k, dk, nk, 1e-2f);
    CHECK_GRAD(attn_loss, &c, c.v, dv, nk, 1e-2f);
    free(dq), free(dk), free(dv);
    free_attn(&c);
}

static void test_attention(void) {
    check_attention(10, 4, 2, 8, 1, 1); /* LLaMA: causal, RoPE, GQA groups of 2 */
    check_attention(9, 3, 3, 8, 0, 0);  /* CLIP: bidirectional, no RoPE */
    check_attention(5, 4, 1, 4, 1, 1);  /* few rows: the forward's decode path; one kv head for all */
}

static void test_attention_threads(void) {
    AttnCase c = attn_case(40, 8, 2, 16, 1, 1);
    size_t nq = 40 * 8 * 16, nk = 40 * 2 * 16;
    float *out[2][3];
    for (int t = 0; t < 2; t++) {
        out[t][0] = zeros(nq), out[t][1] = zeros(nk), out[t][2] = zeros(nk);
        attn_backward(&c, out[t][0], out[t][1], out[t][2], t + 1);
    }
    CHECK(!memcmp(out[0][0], out[1][0], nq * sizeof(float)));
    CHECK(!memcmp(out[0][1], out[1][1], nk * sizeof(float)));
    CHECK(!memcmp(out[0][2], out[1][2], nk * sizeof(float)));
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 3; k++) free(out[t][k]);
    free_attn(&c);
}

/* RoPE alone: the backward is the transpose of the forward rotation. */
static void test_rope(void) {
    enum { R = 6, H = 2, HD = 8 };
    float cs[R * HD / 2], sn[R * HD / 2];
    ml_rope_tables(cs, sn, 3, R, HD, 10000.0f);
    float *x = rand_array(R * H * HD, 1), *g = rand_array(R * H * HD, 1), *rx = zeros(R * H * HD);
    memcpy(rx, x, sizeof(float) * R * H * HD);
    ml_rope_forward(rx, cs, sn, R, H, HD);
    float *dg = zeros(R * H * HD);
    memcpy(dg, g, sizeof(float) * R * H * HD);
    ml_rope_backward(dg, cs, sn, R, H, HD);
    /* <g, R x> == <R^T g, x> */
    CHECK_NEAR(dot_d(g, rx, R * H * HD), dot_d(dg, x, R * H * HD), 1e-5);
    ml_rope_backward(rx, cs, sn, R, H, HD); /* and R^T R x = x */
    double worst = 0;
    for (int i = 0; i < R * H * HD; i++) worst = fmax(worst, fabs(rx[i] - x[i]));
    CHECK(worst < 1e-6);
    free(x), free(g), free(rx), free(dg);
}

int main(void) {
    RUN(test_linear);
    RUN(test_embedding);
    RUN(test_patch_embedding);
    RUN(test_norms);
    RUN(test_norm_threads);
    RUN(test_activations);
    RUN(test_mlps);
    RUN(test_rope);
    RUN(test_attention);
    RUN(test_attention_threads);
    return test_summary("test_train_grad");
}
