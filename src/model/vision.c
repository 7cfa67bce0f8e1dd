/* vision.c: the CLIP ViT tower (see vision.h). */
#include "model/vision.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/norm.h"
#include "kernels/patch.h"
#include "kernels/threads.h"
#include "model/backprop.h"

#define VM "vision_tower.vision_model."

static int get(const MlCheckpoint *ck, MlTensor *t, MlError *err, int ndim, int64_t d0, int64_t d1, const char *fmt,
               int layer) {
    char name[256];
    snprintf(name, sizeof name, fmt, layer);
    int64_t shape[2] = {d0, d1};
    return ml_checkpoint_get(ck, name, ndim, shape, t, err);
}

int ml_vision_bind(MlVision *vis, const MlCheckpoint *ck, MlError *err) {
    memset(vis, 0, sizeof *vis);
    const MlLlavaConfig *lc = ml_checkpoint_config(ck);
    const MlVisionConfig *c = &lc->vision;
    vis->cfg = *c;
    if (c->hidden <= 0 || c->n_heads <= 0 || c->hidden % c->n_heads || c->patch_size <= 0 ||
        c->image_size < c->patch_size || c->n_channels != 3 || c->n_layers <= 0 || c->intermediate <= 0)
        return ml_error_set(err, ML_ERR_SHAPE, "%s/config.json: vision_config: unusable dimensions",
                            ml_checkpoint_dir(ck));
    int fl = lc->vision_feature_layer;
    int idx = fl < 0 ? c->n_layers + 1 + fl : fl;
    if (idx < 0 || idx > c->n_layers)
        return ml_error_set(err, ML_ERR_SHAPE, "%s/config.json: vision_feature_layer %d is outside the %d hidden states",
                            ml_checkpoint_dir(ck), fl, c->n_layers + 1);
    vis->grid = c->image_size / c->patch_size;
    vis->n_tokens = 1 + vis->grid * vis->grid;
    vis->n_run = idx;
    vis->select_full = lc->select_full;
    vis->n_out = vis->select_full ? vis->n_tokens : vis->n_tokens - 1;
    const int64_t D = c->hidden, I = c->intermediate, N = vis->n_tokens, p = c->patch_size;
    int rc;
    int64_t pshape[4] = {D, 3, p, p};
    if ((rc = get(ck, &vis->class_emb, err, 1, D, 0, VM "embeddings.class_embedding", 0)) ||
        (rc = ml_checkpoint_get(ck, VM "embeddings.patch_embedding.weight", 4, pshape, &vis->patch_w, err)) ||
        (rc = get(ck, &vis->pos_emb, err, 2, N, D, VM "embeddings.position_embedding.weight", 0)) ||
        (rc = get(ck, &vis->pre_ln_w, err, 1, D, 0, VM "pre_layrnorm.weight", 0)) ||
        (rc = get(ck, &vis->pre_ln_b, err, 1, D, 0, VM "pre_layrnorm.bias", 0)))
        return rc;
    /* the conv weight (D, 3, p, p) is the matrix (D, 3*p*p) over unfolded patches */
    vis->patch_w.ndim = 2;
    vis->patch_w.shape[1] = 3 * p * p;
    vis->layers = calloc(vis->n_run > 0 ? (size_t)vis->n_run : 1, sizeof *vis->layers);
    if (!vis->layers) return ml_error_set(err, ML_ERR_NOMEM, "vision tower: out of memory");
#define L_ VM "encoder.layers.%d."
    for (int l = 0; l < vis->n_run; l++) {
        MlVisionLayer *L = &vis->layers[l];
        if ((rc = get(ck, &L->ln1_w, err, 1, D, 0, L_ "layer_norm1.weight", l)) ||
            (rc = get(ck, &L->ln1_b, err, 1, D, 0, L_ "layer_norm1.bias", l)) ||
            (rc = get(ck, &L->q_w, err, 2, D, D, L_ "self_attn.q_proj.weight", l)) ||
            (rc = get(ck, &L->q_b, err, 1, D, 0, L_ "self_attn.q_proj.bias", l)) ||
            (rc = get(ck, &L->k_w, err, 2, D, D, L_ "self_attn.k_proj.weight", l)) ||
            (rc = get(ck, &L->k_b, err, 1, D, 0, L_ "self_attn.k_proj.bias", l)) ||
            (rc = get(ck, &L->v_w, err, 2, D, D, L_ "self_attn.v_proj.weight", l)) ||
            (rc = get(ck, &L->v_b, err, 1, D, 0, L_ "self_attn.v_proj.bias", l)) ||
            (rc = get(ck, &L->o_w, err, 2, D, D, L_ "self_attn.out_proj.weight", l)) ||
            (rc = get(ck, &L->o_b, err, 1, D, 0, L_ "self_attn.out_proj.bias", l)) ||
            (rc = get(ck, &L->ln2_w, err, 1, D, 0, L_ "layer_norm2.weight", l)) ||
            (rc = get(ck, &L->ln2_b, err, 1, D, 0, L_ "layer_norm2.bias", l)) ||
            (rc = get(ck, &L->fc1_w, err, 2, I, D, L_ "mlp.fc1.weight", l)) ||
            (rc = get(ck, &L->fc1_b, err, 1, I, 0, L_ "mlp.fc1.bias", l)) ||
            (rc = get(ck, &L->fc2_w, err, 2, D, I, L_ "mlp.fc2.weight", l)) ||
            (rc = get(ck, &L->fc2_b, err, 1, D, 0, L_ "mlp.fc2.bias", l))) {
            ml_vision_free(vis);
            return rc;
        }
    }
#undef L_
    return ML_OK;
}

void ml_vision_free(MlVision *vis) {
    free(vis->layers);
    vis->layers = NULL;
}

int ml_vision_state_init(MlVisionState *st, const MlVision *vis, MlError *err) {
    memset(st, 0, sizeof *st);
    const int64_t D = vis->cfg.hidden, I = vis->cfg.intermediate, N = vis->n_tokens,
                  P = 3 * (int64_t)vis->cfg.patch_size * vis->cfg.patch_size;
    st->n_threads = ml_threads_get();
    int64_t vec = D > I ? D : I;
    st->patches = malloc(sizeof(float) * (N - 1) * P);
    st->x = malloc(sizeof(float) * N * D);
    st->xb = malloc(sizeof(float) * N * D);
    st->q = malloc(sizeof(float) * N * D);
    st->k = malloc(sizeof(float) * N * D);
    st->v = malloc(sizeof(float) * N * D);
    st->att = malloc(sizeof(float) * N * D);
    st->h = malloc(sizeof(float) * N * I);
    st->vec = malloc(sizeof(float) * vec);
    st->vec2 = malloc(sizeof(float) * vec);
    st->attn_scratch = malloc(sizeof(float) * ml_attention_scratch_floats(N, N, (int)(D / vis->cfg.n_heads), st->n_threads));
    int bad = !st->patches || !st->x || !st->xb || !st->q || !st->k || !st->v || !st->att || !st->h || !st->vec ||
              !st->vec2 || !st->attn_scratch;
    bad = bad || ml_matmul_scratch_reserve(&st->mm, D, P) || ml_matmul_scratch_reserve(&st->mm, D, D) ||
          ml_matmul_scratch_reserve(&st->mm, I, D) || ml_matmul_scratch_reserve(&st->mm, D, I);
    if (bad) {
        ml_vision_state_free(st);
        return ml_error_set(err, ML_ERR_NOMEM, "vision tower: out of memory for the run state");
    }
    return ML_OK;
}

void ml_vision_state_free(MlVisionState *st) {
    free(st->patches);
    free(st->x);
    free(st->xb);
    free(st->q);
    free(st->k);
    free(st->v);
    free(st->att);
    free(st->h);
    free(st->vec);
    free(st->vec2);
    free(st->attn_scratch);
    free(st->tap_buf);
    ml_matmul_scratch_free(&st->mm);
    memset(st, 0, sizeof *st);
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

int ml_vision_forward(const MlVision *vis, MlVisionState *st, float *features, const float *pixels,
                      const MlHooks *hooks, MlError *err) {
    return ml_vision_forward_rec(vis, st, features, pixels, hooks, NULL, err);
}

#define SAVE(dst, src, n) \
    do { \
        if (rec) memcpy((dst), (src), sizeof(float) * (size_t)(n)); \
    } while (0)

int ml_vision_forward_rec(const MlVision *vis, MlVisionState *st, float *features, const float *pixels,
                          const MlHooks *hooks, MlVisionRecord *rec, MlError *err) {
    const MlVisionConfig *c = &vis->cfg;
    const int64_t D = c->hidden, I = c->intermediate, N = vis->n_tokens, hd = D / c->n_heads;
    const int64_t P = 3 * (int64_t)c->patch_size * c->patch_size;
    float *x = st->x, *xb = st->xb;
    /* embeddings */
    ml_patch_unfold(st->patches, pixels, c->image_size, c->patch_size);
    ml_matmul_forward(x + D, st->patches, &vis->patch_w, NULL, N - 1, P, D, &st->mm);
    ml_tensor_row_f32(x, &vis->class_emb, 0);
    for (int64_t i = 0; i < N; i++) {
        ml_tensor_row_f32(st->vec, &vis->pos_emb, i);
        add_into(x + (size_t)i * D, st->vec, (size_t)D);
    }
    if (rec) {
        SAVE(rec->patches, st->patches, (N - 1) * P);
        SAVE(rec->emb, x, N * D);
    }
    ml_layernorm_forward(x, x, ml_tensor_as_f32(&vis->pre_ln_w, st->vec), ml_tensor_as_f32(&vis->pre_ln_b, st->vec2),
                         N, D, c->layer_norm_eps);
    ml_hooks_call(hooks, ML_TOWER_VISION, ML_HOOK_RESIDUAL, -1, 0, N, D, x);
    MlAttnDims dims = {.n_heads = c->n_heads, .n_kv_heads = c->n_heads, .head_dim = (int)hd, .causal = 0,
                       .scale = 1.0f / sqrtf((float)hd), .kv_stride = D};
    for (int l = 0; l < vis->n_run; l++) {
        const MlVisionLayer *L = &vis->layers[l];
        MlVisionLayerRecord *R = rec ? &rec->layers[l] : NULL;
        if (R) SAVE(R->x_in, x, N * D);
        ml_layernorm_forward(xb, x, ml_tensor_as_f32(&L->ln1_w, st->vec), ml_tensor_as_f32(&L->ln1_b, st->vec2), N, D,
                             c->layer_norm_eps);
        ml_matmul_forward(st->q, xb, &L->q_w, ml_tensor_as_f32(&L->q_b, st->vec), N, D, D, &st->mm);
        ml_matmul_forward(st->k, xb, &L->k_w, ml_tensor_as_f32(&L->k_b, st->vec), N, D, D, &st->mm);
        ml_matmul_forward(st->v, xb, &L->v_w, ml_tensor_as_f32(&L->v_b, st->vec), N, D, D, &st->mm);
        if (R) {
            SAVE(R->ln1, xb, N * D);
            SAVE(R->q, st->q, N * D);
            SAVE(R->k, st->k, N * D);
            SAVE(R->v, st->v, N * D);
        }
        MlKVSpan span = {st->k, st->v, N};
        MlAttnTap tap;
        MlHookTapCtx tctx;
        int tapped = ml_hooks_attn_tap(hooks, ML_TOWER_VISION, l, 0, N, c->n_heads, N, &tap, &tctx, &st->tap_buf,
                                       &st->tap_cap);
        if (tapped < 0) return ml_error_set(err, ML_ERR_NOMEM, "attention hook buffer: out of memory");
        ml_attention_forward(st->att, st->q, &span, 1, N, 0, &dims, tapped ? &tap : NULL, st->attn_scratch,
                             st->n_threads);
        ml_hooks_call(hooks, ML_TOWER_VISION, ML_HOOK_ATTN_HEADS, l, 0, N, D, st->att);
        if (R) SAVE(R->att, st->att, N * D);
        ml_matmul_forward(xb, st->att, &L->o_w, ml_tensor_as_f32(&L->o_b, st->vec), N, D, D, &st->mm);
        ml_hooks_call(hooks, ML_TOWER_VISION, ML_HOOK_ATTN_OUT, l, 0, N, D, xb);
        add_into(x, xb, (size_t)N * D);
        if (R) SAVE(R->x_mid, x, N * D);
        ml_layernorm_forward(xb, x, ml_tensor_as_f32(&L->ln2_w, st->vec), ml_tensor_as_f32(&L->ln2_b, st->vec2), N, D,
                             c->layer_norm_eps);
        ml_matmul_forward(st->h, xb, &L->fc1_w, ml_tensor_as_f32(&L->fc1_b, st->vec), N, D, I, &st->mm);
        if (R) {
            SAVE(R->ln2, xb, N * D);
            SAVE(R->fc1, st->h, N * I);
        }
        ml_activation_forward(st->h, st->h, N * I, c->act);
        if (R) SAVE(R->act, st->h, N * I);
        ml_matmul_forward(xb, st->h, &L->fc2_w, ml_tensor_as_f32(&L->fc2_b, st->vec), N, I, D, &st->mm);
        ml_hooks_call(hooks, ML_TOWER_VISION, ML_HOOK_MLP_OUT, l, 0, N, D, xb);
        add_into(x, xb, (size_t)N * D);
        ml_hooks_call(hooks, ML_TOWER_VISION, ML_HOOK_RESIDUAL, l, 0, N, D, x);
    }
    const float *src = vis->select_full ? x : x + D;
    memcpy(features, src, sizeof(float) * vis->n_out * D);
    return ML_OK;
}

/* ------------------------------------------------------------------ */
/* Training: record and backward */

int ml_vision_record_alloc(MlVisionRecord *rec, const MlVision *vis, MlError *err) {
    memset(rec, 0, sizeof *rec);
    const size_t D = (size_t)vis->cfg.hidden, I = (size_t)vis->cfg.intermediate, N = (size_t)vis->n_tokens,
                 P = 3 * (size_t)vis->cfg.patch_size * vis->cfg.patch_size, L = (size_t)vis->n_run;
    const size_t hd = D / (size_t)vis->cfg.n_heads;
    size_t attn = (size_t)ml_attention_backward_scratch_floats((int64_t)N, (int)hd, 1);
    size_t per_layer = 8 * N * D + 2 * N * I;
    size_t total = (N - 1) * P + N * D + L * per_layer + 5 * N * D + 2 * N * I + attn;
    rec->memory = calloc(total, sizeof(float));
    rec->layers = calloc(L ? L : 1, sizeof *rec->layers);
    if (!rec->memory || !rec->layers) {
        ml_vision_record_free(rec);
        return ml_error_set(err, ML_ERR_NOMEM, "vision tower: out of memory for the training record");
    }
    float *p = rec->memory;
    ml_backprop_slices(&p, (N - 1) * P, 1, &rec->patches);
    ml_backprop_slices(&p, N * D, 1, &rec->emb);
    for (size_t l = 0; l < L; l++) {
        MlVisionLayerRecord *R = &rec->layers[l];
        ml_backprop_slices(&p, N * D, 8, &R->x_in, &R->ln1, &R->q, &R->k, &R->v, &R->att, &R->x_mid, &R->ln2);
        ml_backprop_slices(&p, N * I, 2, &R->fc1, &R->act);
    }
    ml_backprop_slices(&p, N * D, 5, &rec->dx, &rec->dxb, &rec->dq, &rec->dk, &rec->dv);
    ml_backprop_slices(&p, N * I, 2, &rec->dh, &rec->dh2);
    ml_backprop_slices(&p, attn, 1, &rec->attn_scratch);
    return ML_OK;
}

void ml_vision_record_free(MlVisionRecord *rec) {
    free(rec->memory);
    free(rec->layers);
    memset(rec, 0, sizeof *rec);
}

/* The F32 data of a weight view (training weights are always F32). */
static float *wf(const MlTensor *t) { return (float *)t->data; }

void ml_vision_backward(const MlVision *vis, const MlVision *grad, MlVisionRecord *rec, const float *dfeatures) {
    const MlVisionConfig *c = &vis->cfg;
    const int64_t D = c->hidden, I = c->intermediate, N = vis->n_tokens, hd = D / c->n_heads;
    const int64_t P = 3 * (int64_t)c->patch_size * c->patch_size;
    const float eps = c->layer_norm_eps;
    float *dx = rec->dx, *dxb = rec->dxb;
    memset(dx, 0, sizeof(float) * (size_t)(N * D));
    memcpy(vis->select_full ? dx : dx + D, dfeatures, sizeof(float) * (size_t)(vis->n_out * D));
    MlAttnDims dims = {.n_heads = c->n_heads, .n_kv_heads = c->n_heads, .head_dim = (int)hd, .causal = 0,
                       .scale = 1.0f / sqrtf((float)hd), .kv_stride = D};
    for (int l = vis->n_run - 1; l >= 0; l--) {
        const MlVisionLayer *L = &vis->layers[l], *G = &grad->layers[l];
        const MlVisionLayerRecord *R = &rec->layers[l];
        /* x_out = x_mid + fc2(act(fc1(ln2(x_mid)))) */
        ml_backprop_linear(rec->dh, wf(&G->fc2_w), wf(&G->fc2_b), dx, R->act, wf(&L->fc2_w), N, I, D);
        memset(rec->dh2, 0, sizeof(float) * (size_t)(N * I));
        ml_activation_backward(rec->dh2, rec->dh, R->fc1, N * I, c->act);
        ml_backprop_linear(dxb, wf(&G->fc1_w), wf(&G->fc1_b), rec->dh2, R->ln2, wf(&L->fc1_w), N, D, I);
        ml_layernorm_backward(dx, wf(&G->ln2_w), wf(&G->ln2_b), dxb, R->x_mid, wf(&L->ln2_w), N, D, eps);
        /* x_mid = x_in + out_proj(attn(q, k, v of ln1(x_in))) */
        ml_backprop_linear(dxb, wf(&G->o_w), wf(&G->o_b), dx, R->att, wf(&L->o_w), N, D, D);
        ml_backprop_attention(rec->dq, rec->dk, rec->dv, dxb, R->q, R->k, R->v, N, D, D, &dims, rec->attn_scratch);
        ml_backprop_linear(dxb, wf(&G->q_w), wf(&G->q_b), rec->dq, R->ln1, wf(&L->q_w), N, D, D);
        ml_matmul_backward(dxb, wf(&G->k_w), wf(&G->k_b), rec->dk, R->ln1, wf(&L->k_w), N, D, D);
        ml_matmul_backward(dxb, wf(&G->v_w), wf(&G->v_b), rec->dv, R->ln1, wf(&L->v_w), N, D, D);
        ml_layernorm_backward(dx, wf(&G->ln1_w), wf(&G->ln1_b), dxb, R->x_in, wf(&L->ln1_w), N, D, eps);
    }
    /* embeddings: x = pre_ln(patch_embed(patches) | class) + pos */
    memset(dxb, 0, sizeof(float) * (size_t)(N * D));
    ml_layernorm_backward(dxb, wf(&grad->pre_ln_w), wf(&grad->pre_ln_b), dx, rec->emb, wf(&vis->pre_ln_w), N, D, eps);
    float *dpos = wf(&grad->pos_emb), *dcls = wf(&grad->class_emb);
    for (int64_t i = 0; i < N * D; i++) dpos[i] += dxb[i];
    for (int64_t i = 0; i < D; i++) dcls[i] += dxb[i];
    ml_patch_embed_backward(wf(&grad->patch_w), dxb + D, rec->patches, N - 1, P, D);
}
