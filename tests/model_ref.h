/*
** model_ref.h: a second, deliberately naive LLaVA for the model tests,
** written from LLAVA.md §2 and §4 without the engine's kernels: double
** precision, one loop per formula, weights read straight from the
** checkpoint.  Options apply the same interventions the hook tests make
** through the engine, so their effect is predicted independently.
**
**     RefModel r; ref_load(&r, ck);
**     ref_image_features(&r, pixels, feats);          // (n_out, Dt)
**     ref_logits(&r, ids, n, feats, NULL, logits);    // (n, V), every position
**     ref_free(&r);
*/
#ifndef ML_TEST_MODEL_REF_H
#define ML_TEST_MODEL_REF_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "io/checkpoint.h"
#include "model/init.h"
#include "model/lvlm.h"

typedef struct RefModel {
    const MlCheckpoint *ck;
    MlLlavaConfig c;
} RefModel;

/* Edits applied in the naive decoder (all optional, -1 = off). */
typedef struct RefEdits {
    int resid_layer;          /* add resid_add to the residual after this layer ... */
    int64_t resid_pos;        /* ... at this position */
    const double *resid_add;  /* (D) */
    int attn_layer, attn_head; /* in this layer and head, query ... */
    int64_t attn_row;         /* ... position attn_row attends only to ... */
    int64_t attn_key;         /* ... this key */
} RefEdits;

static inline RefEdits ref_no_edits(void) {
    return (RefEdits){.resid_layer = -1, .resid_pos = -1, .attn_layer = -1, .attn_head = -1, .attn_row = -1,
                      .attn_key = -1};
}

static inline int ref_make_tiny(const char *dir, MlDType dt, uint64_t seed) {
    MlError err = {0};
    MlInitOptions o = {.preset = "tiny", .dtype = dt, .seed = seed};
    if (ml_init_model(dir, &o, &err)) {
        fprintf(stderr, "init-model: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static inline void ref_load(RefModel *r, const MlCheckpoint *ck) {
    r->ck = ck;
    r->c = *ml_checkpoint_config(ck);
}

/* A tensor as doubles (caller frees); aborts the test program if absent. */
static inline double *ref_t(const RefModel *r, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2,
                            int64_t d3) {
    int64_t shape[4] = {d0, d1, d2, d3};
    MlTensor t;
    MlError err = {0};
    if (ml_checkpoint_get(r->ck, name, ndim, shape, &t, &err)) {
        fprintf(stderr, "model_ref: %s\n", err.msg);
        exit(2);
    }
    size_t n = (size_t)ml_tensor_numel(&t);
    float *f = malloc(n * sizeof(float));
    double *d = malloc(n * sizeof(double));
    ml_convert_to_f32(f, t.data, t.dtype, n);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    free(f);
    return d;
}

static inline double *ref_tl(const RefModel *r, const char *fmt, int layer, int ndim, int64_t d0, int64_t d1) {
    char name[256];
    snprintf(name, sizeof name, fmt, layer);
    return ref_t(r, name, ndim, d0, d1, 0, 0);
}

/* y (n, out) = x (n, in) W^T + b */
static inline void ref_linear(double *y, const double *x, const double *w, const double *b, int64_t n, int64_t in,
                              int64_t out) {
    for (int64_t r = 0; r < n; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int64_t i = 0; i < in; i++) s += x[r * in + i] * w[o * in + i];
            y[r * out + o] = s;
        }
}

static inline void ref_layernorm(double *y, const double *x, const double *w, const double *b, int64_t n, int64_t d,
                                 double eps) {
    for (int64_t r = 0; r < n; r++) {
        double m = 0, v = 0;
        for (int64_t i = 0; i < d; i++) m += x[r * d + i];
        m /= d;
        for (int64_t i = 0; i < d; i++) v += (x[r * d + i] - m) * (x[r * d + i] - m);
        v /= d;
        for (int64_t i = 0; i < d; i++) y[r * d + i] = (x[r * d + i] - m) / sqrt(v + eps) * w[i] + b[i];
    }
}

static inline void ref_rmsnorm(double *y, const double *x, const double *w, int64_t n, int64_t d, double eps) {
    for (int64_t r = 0; r < n; r++) {
        double ms = 0;
        for (int64_t i = 0; i < d; i++) ms += x[r * d + i] * x[r * d + i];
        ms /= d;
        for (int64_t i = 0; i < d; i++) y[r * d + i] = w[i] * (x[r * d + i] / sqrt(ms + eps));
    }
}

static inline double ref_act(double x, MlActivation a) {
    switch (a) {
    case ML_ACT_SILU: return x / (1 + exp(-x));
    case ML_ACT_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case ML_ACT_QUICK_GELU: return x / (1 + exp(-1.702 * x));
    case ML_ACT_GELU_TANH: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    }
    return x;
}

/* Attention of n queries over n keys (q, k, v (n, heads*hd) / (n, kvh*hd)), causal or not. */
static inline void ref_attention(double *out, const double *q, const double *k, const double *v, int64_t n, int H,
                                 int KVH, int hd, int causal, const RefEdits *e, int layer) {
    double *s = malloc(sizeof(double) * n);
    for (int h = 0; h < H; h++) {
        int kh = h / (H / KVH);
        for (int64_t i = 0; i < n; i++) {
            double mx = -INFINITY;
            for (int64_t j = 0; j < n; j++) {
                double d = 0;
                for (int c = 0; c < hd; c++) d += q[(i * H + h) * hd + c] * k[(j * KVH + kh) * hd + c];
                s[j] = (causal && j > i) ? -INFINITY : d / sqrt((double)hd);
                if (e && e->attn_layer == layer && e->attn_head == h && e->attn_row == i && j != e->attn_key)
                    s[j] = -INFINITY;
                if (s[j] > mx) mx = s[j];
            }
            double sum = 0;
            for (int64_t j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
            for (int c = 0; c < hd; c++) {
                double a = 0;
                for (int64_t j = 0; j < n; j++) a += s[j] / sum * v[(j * KVH + kh) * hd + c];
                out[(i * H + h) * hd + c] = a;
            }
        }
    }
    free(s);
}

/* The projector: feats (n, Dt) from vision rows x (n, Dv). */
static inline void ref_project(const RefModel *r, const double *x, int64_t n, double *feats) {
    const int64_t D = r->c.vision.hidden, Dt = r->c.text.hidden;
    double *p1 = ref_t(r, "multi_modal_projector.linear_1.weight", 2, Dt, D, 0, 0);
    double *p1b = ref_t(r, "multi_modal_projector.linear_1.bias", 1, Dt, 0, 0, 0);
    double *p2 = ref_t(r, "multi_modal_projector.linear_2.weight", 2, Dt, Dt, 0, 0);
    double *p2b = ref_t(r, "multi_modal_projector.linear_2.bias", 1, Dt, 0, 0, 0);
    double *mid = malloc(sizeof(double) * n * Dt);
    ref_linear(mid, x, p1, p1b, n, D, Dt);
    for (int64_t i = 0; i < n * Dt; i++) mid[i] = ref_act(mid[i], r->c.projector_act);
    ref_linear(feats, mid, p2, p2b, n, Dt, Dt);
    free(p1), free(p1b), free(p2), free(p2b), free(mid);
}

/* Projector output (n_out, Dt) for pixels (3, S, S). */
static inline void ref_image_features(const RefModel *r, const float *pixels, double *feats) {
    const MlVisionConfig *c = &r->c.vision;
    const int64_t D = c->hidden, I = c->intermediate, p = c->patch_size, S = c->image_size, G = S / p, N = G * G + 1;
    const int H = c->n_heads, hd = (int)(D / H);
    double *x = calloc((size_t)(N * D), sizeof(double));
    double *pw = ref_t(r, "vision_tower.vision_model.embeddings.patch_embedding.weight", 4, D, 3, p, p);
    double *cls = ref_t(r, "vision_tower.vision_model.embeddings.class_embedding", 1, D, 0, 0, 0);
    double *pos = ref_t(r, "vision_tower.vision_model.embeddings.position_embedding.weight", 2, N, D, 0, 0);
    /* the patch conv, written as a convolution */
    for (int64_t gy = 0; gy < G; gy++)
        for (int64_t gx = 0; gx < G; gx++)
            for (int64_t o = 0; o < D; o++) {
                double s = 0;
                for (int ch = 0; ch < 3; ch++)
                    for (int64_t ky = 0; ky < p; ky++)
                        for (int64_t kx = 0; kx < p; kx++)
                            s += pixels[(ch * S + gy * p + ky) * S + gx * p + kx] * pw[((o * 3 + ch) * p + ky) * p + kx];
                x[(1 + gy * G + gx) * D + o] = s;
            }
    for (int64_t o = 0; o < D; o++) x[o] = cls[o];
    for (int64_t i = 0; i < N * D; i++) x[i] += pos[i];
    double *lw = ref_t(r, "vision_tower.vision_model.pre_layrnorm.weight", 1, D, 0, 0, 0);
    double *lb = ref_t(r, "vision_tower.vision_model.pre_layrnorm.bias", 1, D, 0, 0, 0);
    ref_layernorm(x, x, lw, lb, N, D, c->layer_norm_eps);
    free(lw), free(lb), free(pw), free(cls), free(pos);
    int fl = r->c.vision_feature_layer, upto = fl < 0 ? c->n_layers + 1 + fl : fl;
    double *h = malloc(sizeof(double) * N * D), *q = malloc(sizeof(double) * N * D), *k = malloc(sizeof(double) * N * D),
           *v = malloc(sizeof(double) * N * D), *a = malloc(sizeof(double) * N * D), *m = malloc(sizeof(double) * N * I);
#define VL "vision_tower.vision_model.encoder.layers.%d."
    for (int l = 0; l < upto; l++) {
        double *w1 = ref_tl(r, VL "layer_norm1.weight", l, 1, D, 0), *b1 = ref_tl(r, VL "layer_norm1.bias", l, 1, D, 0);
        ref_layernorm(h, x, w1, b1, N, D, c->layer_norm_eps);
        const char *nm[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        double *outs[3] = {q, k, v};
        for (int t = 0; t < 3; t++) {
            char fw[128], fb[128];
            snprintf(fw, sizeof fw, VL "self_attn.%s.weight", l, nm[t]);
            snprintf(fb, sizeof fb, VL "self_attn.%s.bias", l, nm[t]);
            double *W = ref_t(r, fw, 2, D, D, 0, 0), *B = ref_t(r, fb, 1, D, 0, 0, 0);
            ref_linear(outs[t], h, W, B, N, D, D);
            free(W), free(B);
        }
        ref_attention(a, q, k, v, N, H, H, hd, 0, NULL, -1);
        double *ow = ref_tl(r, VL "self_attn.out_proj.weight", l, 2, D, D), *ob = ref_tl(r, VL "self_attn.out_proj.bias", l, 1, D, 0);
        ref_linear(h, a, ow, ob, N, D, D);
        for (int64_t i = 0; i < N * D; i++) x[i] += h[i];
        double *w2 = ref_tl(r, VL "layer_norm2.weight", l, 1, D, 0), *b2 = ref_tl(r, VL "layer_norm2.bias", l, 1, D, 0);
        ref_layernorm(h, x, w2, b2, N, D, c->layer_norm_eps);
        double *f1 = ref_tl(r, VL "mlp.fc1.weight", l, 2, I, D), *f1b = ref_tl(r, VL "mlp.fc1.bias", l, 1, I, 0);
        double *f2 = ref_tl(r, VL "mlp.fc2.weight", l, 2, D, I), *f2b = ref_tl(r, VL "mlp.fc2.bias", l, 1, D, 0);
        ref_linear(m, h, f1, f1b, N, D, I);
        for (int64_t i = 0; i < N * I; i++) m[i] = ref_act(m[i], c->act);
        ref_linear(h, m, f2, f2b, N, I, D);
        for (int64_t i = 0; i < N * D; i++) x[i] += h[i];
        free(w1), free(b1), free(ow), free(ob), free(w2), free(b2), free(f1), free(f1b), free(f2), free(f2b);
    }
#undef VL
    int64_t first = r->c.select_full ? 0 : 1;
    ref_project(r, x + first * D, N - first, feats);
    free(x), free(h), free(q), free(k), free(v), free(a), free(m);
}

/* Logits (n, V) at every position of ids; image tokens take rows of feats
   (may be NULL when there are none).  Optionally the residual after each
   layer is copied to resid_out (n_layers, n, D). */
static inline void ref_logits(const RefModel *r, const int32_t *ids, int64_t n, const double *feats, const RefEdits *e,
                              double *logits, double *resid_out) {
    const MlTextConfig *c = &r->c.text;
    const int64_t D = c->hidden, I = c->intermediate, V = c->vocab;
    const int H = c->n_heads, KVH = c->n_kv_heads, hd = c->head_dim;
    double *emb = ref_t(r, "language_model.model.embed_tokens.weight", 2, V, D, 0, 0);
    double *x = malloc(sizeof(double) * n * D);
    int64_t used = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *src = ids[i] == r->c.image_token_id && feats ? feats + (used++) * D : emb + (int64_t)ids[i] * D;
        memcpy(x + i * D, src, sizeof(double) * D);
    }
    double *h = malloc(sizeof(double) * n * D), *q = malloc(sizeof(double) * n * H * hd),
           *k = malloc(sizeof(double) * n * KVH * hd), *v = malloc(sizeof(double) * n * KVH * hd),
           *a = malloc(sizeof(double) * n * H * hd), *g = malloc(sizeof(double) * n * I), *u = malloc(sizeof(double) * n * I);
#define TL "language_model.model.layers.%d."
    for (int l = 0; l < c->n_layers; l++) {
        double *nw = ref_tl(r, TL "input_layernorm.weight", l, 1, D, 0);
        ref_rmsnorm(h, x, nw, n, D, c->rms_eps);
        double *wq = ref_tl(r, TL "self_attn.q_proj.weight", l, 2, H * hd, D);
        double *wk = ref_tl(r, TL "self_attn.k_proj.weight", l, 2, KVH * hd, D);
        double *wv = ref_tl(r, TL "self_attn.v_proj.weight", l, 2, KVH * hd, D);
        double *wo = ref_tl(r, TL "self_attn.o_proj.weight", l, 2, D, H * hd);
        ref_linear(q, h, wq, NULL, n, D, H * hd);
        ref_linear(k, h, wk, NULL, n, D, KVH * hd);
        ref_linear(v, h, wv, NULL, n, D, KVH * hd);
        /* half-split RoPE, angles in double */
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < hd / 2; j++) {
                double ang = (double)i * pow(c->rope_theta, -2.0 * j / hd), cs = cos(ang), sn = sin(ang);
                for (int hh = 0; hh < H + KVH; hh++) {
                    double *vec = hh < H ? q + (i * H + hh) * hd : k + (i * KVH + hh - H) * hd;
                    double x0 = vec[j], x1 = vec[j + hd / 2];
                    vec[j] = x0 * cs - x1 * sn;
                    vec[j + hd / 2] = x1 * cs + x0 * sn;
                }
            }
        ref_attention(a, q, k, v, n, H, KVH, hd, 1, e, l);
        ref_linear(h, a, wo, NULL, n, H * hd, D);
        for (int64_t i = 0; i < n * D; i++) x[i] += h[i];
        double *pw = ref_tl(r, TL "post_attention_layernorm.weight", l, 1, D, 0);
        ref_rmsnorm(h, x, pw, n, D, c->rms_eps);
        double *wg = ref_tl(r, TL "mlp.gate_proj.weight", l, 2, I, D), *wu = ref_tl(r, TL "mlp.up_proj.weight", l, 2, I, D);
        double *wd = ref_tl(r, TL "mlp.down_proj.weight", l, 2, D, I);
        ref_linear(g, h, wg, NULL, n, D, I);
        ref_linear(u, h, wu, NULL, n, D, I);
        for (int64_t i = 0; i < n * I; i++) g[i] = ref_act(g[i], c->act) * u[i];
        ref_linear(h, g, wd, NULL, n, I, D);
        for (int64_t i = 0; i < n * D; i++) x[i] += h[i];
        if (e && e->resid_layer == l)
            for (int64_t i = 0; i < D; i++) x[e->resid_pos * D + i] += e->resid_add[i];
        if (resid_out) memcpy(resid_out + (size_t)l * n * D, x, sizeof(double) * n * D);
        free(nw), free(wq), free(wk), free(wv), free(wo), free(pw), free(wg), free(wu), free(wd);
    }
#undef TL
    double *fw = ref_t(r, "language_model.model.norm.weight", 1, D, 0, 0, 0);
    double *lm = ref_t(r, "language_model.lm_head.weight", 2, V, D, 0, 0);
    ref_rmsnorm(h, x, fw, n, D, c->rms_eps);
    ref_linear(logits, h, lm, NULL, n, D, V);
    free(fw), free(lm), free(emb), free(x), free(h), free(q), free(k), free(v), free(a), free(g), free(u);
}

/* A tiny checkpoint whose context holds more than one prefill chunk (ML_DECODER_CHUNK rows): the same
   random weights with max_position_embeddings raised, so long inputs run in several chunks as the
   real model's 581-token image prompts do.  RoPE has no position table, so nothing else changes. */
static inline MlLvlm *ref_open_long_context(const char *dir, MlDType dt, uint64_t seed) {
    MlError err = {0};
    char path[700], *text = NULL;
    size_t len;
    MlLvlm *m = NULL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (ref_make_tiny(dir, dt, seed) || ml_file_read(path, &text, &len, &err)) return NULL;
    char *at = strstr(text, "\"max_position_embeddings\": 512,");
    if (at) memcpy(at, "\"max_position_embeddings\": 999,", 31);
    if (!at || ml_file_write(path, text, len, &err) || ml_lvlm_open(&m, dir, &err)) fprintf(stderr, "long context: %s\n", err.msg);
    free(text);
    return m;
}

#endif
