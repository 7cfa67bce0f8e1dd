/* decoder.c: the LLaMA decoder (see decoder.h). */
#include "model/decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/norm.h"
#include "kernels/rope.h"
#include "kernels/threads.h"
#include "model/backprop.h"

#define LM "language_model.model."

static int get(const MlCheckpoint *ck, MlTensor *t, MlError *err, int ndim, int64_t d0, int64_t d1, const char *fmt,
               int layer) {
    char name[256];
    snprintf(name, sizeof name, fmt, layer);
    int64_t shape[2] = {d0, d1};
    return ml_checkpoint_get(ck, name, ndim, shape, t, err);
}

int ml_decoder_bind(MlDecoder *dec, const MlCheckpoint *ck, MlError *err) {
    memset(dec, 0, sizeof *dec);
    const MlTextConfig *c = &ml_checkpoint_config(ck)->text;
    dec->cfg = *c;
    if (c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads || c->head_dim <= 0 ||
        c->head_dim % 2 || c->hidden <= 0 || c->intermediate <= 0 || c->vocab <= 0 || c->max_pos <= 0)
        return ml_error_set(err, ML_ERR_SHAPE, "%s/config.json: text_config: unusable dimensions", ml_checkpoint_dir(ck));
    const int64_t D = c->hidden, I = c->intermediate, V = c->vocab, qd = (int64_t)c->n_heads * c->head_dim,
                  kvd = (int64_t)c->n_kv_heads * c->head_dim;
    int rc;
    if ((rc = get(ck, &dec->embed, err, 2, V, D, LM "embed_tokens.weight", 0)) ||
        (rc = get(ck, &dec->norm, err, 1, D, 0, LM "norm.weight", 0)))
        return rc;
    int found = 0;
    int64_t head_shape[2] = {V, D};
    if ((rc = ml_checkpoint_find(ck, "language_model.lm_head.weight", 2, head_shape, &dec->lm_head, &found, err)))
        return rc;
    if (!found) {
        if (!c->tie_word_embeddings)
            return ml_error_set(err, ML_ERR_MISSING, "%s: missing tensor language_model.lm_head.weight",
                                ml_checkpoint_dir(ck));
        dec->lm_head = dec->embed;
    }
    dec->layers = calloc((size_t)c->n_layers, sizeof *dec->layers);
    if (!dec->layers) return ml_error_set(err, ML_ERR_NOMEM, "decoder: out of memory");
    for (int l = 0; l < c->n_layers; l++) {
        MlDecoderLayer *L = &dec->layers[l];
        if ((rc = get(ck, &L->in_norm, err, 1, D, 0, LM "layers.%d.input_layernorm.weight", l)) ||
            (rc = get(ck, &L->q, err, 2, qd, D, LM "layers.%d.self_attn.q_proj.weight", l)) ||
            (rc = get(ck, &L->k, err, 2, kvd, D, LM "layers.%d.self_attn.k_proj.weight", l)) ||
            (rc = get(ck, &L->v, err, 2, kvd, D, LM "layers.%d.self_attn.v_proj.weight", l)) ||
            (rc = get(ck, &L->o, err, 2, D, qd, LM "layers.%d.self_attn.o_proj.weight", l)) ||
            (rc = get(ck, &L->post_norm, err, 1, D, 0, LM "layers.%d.post_attention_layernorm.weight", l)) ||
            (rc = get(ck, &L->gate, err, 2, I, D, LM "layers.%d.mlp.gate_proj.weight", l)) ||
            (rc = get(ck, &L->up, err, 2, I, D, LM "layers.%d.mlp.up_proj.weight", l)) ||
            (rc = get(ck, &L->down, err, 2, D, I, LM "layers.%d.mlp.down_proj.weight", l))) {
            ml_decoder_free(dec);
            return rc;
        }
    }
    return ML_OK;
}

void ml_decoder_free(MlDecoder *dec) {
    free(dec->layers);
    dec->layers = NULL;
}

int ml_decoder_state_init(MlDecoderState *st, const MlDecoder *dec, MlError *err) {
    memset(st, 0, sizeof *st);
    const MlTextConfig *c = &dec->cfg;
    const int64_t T = ML_DECODER_CHUNK < c->max_pos ? ML_DECODER_CHUNK : c->max_pos;
    const int64_t D = c->hidden, I = c->intermediate, qd = (int64_t)c->n_heads * c->head_dim;
    st->max_rows = T;
    st->max_keys = c->max_pos;
    st->n_threads = ml_threads_get();
    const int64_t kvd = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t vec = D > c->vocab ? D : c->vocab;
    st->x = malloc(sizeof(float) * T * D);
    st->xb = malloc(sizeof(float) * T * D);
    st->q = malloc(sizeof(float) * T * qd);
    st->att = malloc(sizeof(float) * T * qd);
    st->hb = malloc(sizeof(float) * T * I);
    st->hb2 = malloc(sizeof(float) * T * I);
    st->cos_t = malloc(sizeof(float) * T * (c->head_dim / 2));
    st->sin_t = malloc(sizeof(float) * T * (c->head_dim / 2));
    st->vec = malloc(sizeof(float) * vec);
    st->attn_scratch = malloc(sizeof(float) * ml_attention_scratch_floats(st->max_keys, T, c->head_dim, st->n_threads));
    int bad = !st->x || !st->xb || !st->q || !st->att || !st->hb || !st->hb2 || !st->cos_t || !st->sin_t ||
              !st->vec || !st->attn_scratch;
    bad = bad || ml_matmul_scratch_reserve(&st->mm, qd, D) || ml_matmul_scratch_reserve(&st->mm, kvd, D) ||
          ml_matmul_scratch_reserve(&st->mm, D, qd) || ml_matmul_scratch_reserve(&st->mm, I, D) ||
          ml_matmul_scratch_reserve(&st->mm, D, I) || ml_matmul_scratch_reserve(&st->mm, c->vocab, D);
    if (bad) {
        ml_decoder_state_free(st);
        return ml_error_set(err, ML_ERR_NOMEM, "decoder: out of memory for the run state");
    }
    return ML_OK;
}

void ml_decoder_state_free(MlDecoderState *st) {
    free(st->x);
    free(st->xb);
    free(st->q);
    free(st->att);
    free(st->hb);
    free(st->hb2);
    free(st->cos_t);
    free(st->sin_t);
    free(st->vec);
    free(st->attn_scratch);
    free(st->tap_buf);
    free(st->chain);
    free(st->spans);
    free(st->chain_rows);
    ml_matmul_scratch_free(&st->mm);
    memset(st, 0, sizeof *st);
}

int ml_kv_cache_init(MlKVCache *kv, const MlDecoder *dec, const MlKVCache *parent, int64_t cap, MlError *err) {
    memset(kv, 0, sizeof *kv);
    const MlTextConfig *c = &dec->cfg;
    kv->n_layers = c->n_layers;
    kv->kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    kv->parent = parent;
    kv->base = parent ? ml_kv_cache_length(parent) : 0;
    if (cap < 0 || cap > c->max_pos) cap = c->max_pos;
    kv->cap = cap;
    if (cap > 0) {
        /* untouched pages cost no memory: only rows written become resident */
        size_t n = (size_t)c->n_layers * (size_t)cap * (size_t)kv->kv_dim;
        kv->k = malloc(n * sizeof(float));
        kv->v = malloc(n * sizeof(float));
        if (!kv->k || !kv->v) {
            ml_kv_cache_free(kv);
            return ml_error_set(err, ML_ERR_NOMEM, "KV cache of %lld tokens: out of memory", (long long)cap);
        }
    }
    return ML_OK;
}

void ml_kv_cache_free(MlKVCache *kv) {
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
    kv->n = kv->cap = 0;
}

int ml_decoder_embed(const MlDecoder *dec, float *x, const int32_t *ids, int64_t n, MlError *err) {
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= dec->cfg.vocab)
            return ml_error_set(err, ML_ERR_RANGE, "token id %d at position %lld is outside the vocabulary (0..%d)",
                                ids[i], (long long)i, dec->cfg.vocab - 1);
        ml_tensor_row_f32(x + (size_t)i * dec->cfg.hidden, &dec->embed, ids[i]);
    }
    return ML_OK;
}

/* The caches a forward of `kv` reads, root first, with the rows each
   contributes (an ancestor: up to where its child starts), gathered once per
   forward into st's arrays; returns how many, -1 when out of memory. */
static int gather_chain(MlDecoderState *st, const MlKVCache *kv, int64_t upto) {
    int depth = 0;
    for (const MlKVCache *c = kv; c; c = c->base > 0 ? c->parent : NULL) depth++;
    if (depth > st->chain_cap) {
        const MlKVCache **chain = realloc(st->chain, sizeof *chain * (size_t)depth);
        if (chain) st->chain = chain;
        MlKVSpan *spans = realloc(st->spans, sizeof *spans * (size_t)depth);
        if (spans) st->spans = spans;
        int64_t *rows = realloc(st->chain_rows, sizeof *rows * (size_t)depth);
        if (rows) st->chain_rows = rows;
        if (!chain || !spans || !rows) return -1;
        st->chain_cap = depth;
    }
    int n = depth;
    for (const MlKVCache *c = kv; c; c = c->base > 0 ? c->parent : NULL) {
        st->chain[--n] = c;
        st->chain_rows[n] = upto - c->base;
        upto = c->base;
    }
    /* drop the caches that contribute nothing (an empty parent, a fork of a fork at the same length) */
    for (int i = 0; i < depth; i++)
        if (st->chain_rows[i] > 0) {
            st->chain[n] = st->chain[i];
            st->chain_rows[n++] = st->chain_rows[i];
        }
    return n;
}

/* Layer `layer`'s spans over a gathered chain. */
static void layer_spans(MlDecoderState *st, int n, int layer) {
    for (int i = 0; i < n; i++) {
        const MlKVCache *c = st->chain[i];
        size_t off = (size_t)layer * c->cap * c->kv_dim;
        st->spans[i] = (MlKVSpan){c->k + off, c->v + off, st->chain_rows[i]};
    }
}

static void add_into(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* One chunk of at most max_rows rows; x already holds its embeddings. */
#define SAVE(dst, src, n) \
    do { \
        if (R) memcpy((dst), (src), sizeof(float) * (size_t)(n)); \
    } while (0)

static int forward_chunk(const MlDecoder *dec, MlDecoderState *st, MlKVCache *kv, int64_t T, const int32_t *pos,
                         const MlHooks *hooks, MlDecoderRecord *rec, MlError *err) {
    const MlTextConfig *c = &dec->cfg;
    const int64_t D = c->hidden, I = c->intermediate, hd = c->head_dim, qd = (int64_t)c->n_heads * hd;
    const int64_t kvd = kv->kv_dim, pos0 = ml_kv_cache_length(kv);
    float *x = st->x, *xb = st->xb;
    ml_hooks_call(hooks, ML_TOWER_TEXT, ML_HOOK_RESIDUAL, -1, pos0, T, D, x);
    if (pos) ml_rope_tables_at(st->cos_t, st->sin_t, pos, T, (int)hd, c->rope_theta);
    else ml_rope_tables(st->cos_t, st->sin_t, pos0, T, (int)hd, c->rope_theta);
    MlAttnDims dims = {.n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .head_dim = (int)hd, .causal = 1,
                       .scale = 1.0f / sqrtf((float)hd), .kv_stride = kvd};
    const int ns = gather_chain(st, kv, pos0 + T);
    if (ns < 0) return ml_error_set(err, ML_ERR_NOMEM, "decoder: out of memory for a fork chain");
    for (int l = 0; l < c->n_layers; l++) {
        const MlDecoderLayer *L = &dec->layers[l];
        MlDecoderLayerRecord *R = rec ? &rec->layers[l] : NULL;
        SAVE(R->x_in, x, T * D);
        float *kc = kv->k + ((size_t)l * kv->cap + kv->n) * kvd;
        float *vc = kv->v + ((size_t)l * kv->cap + kv->n) * kvd;
        /* attention block */
        ml_rmsnorm_forward(xb, x, ml_tensor_as_f32(&L->in_norm, st->vec), T, D, c->rms_eps);
        ml_matmul_forward(st->q, xb, &L->q, NULL, T, D, qd, &st->mm);
        ml_matmul_forward(kc, xb, &L->k, NULL, T, D, kvd, &st->mm);
        ml_matmul_forward(vc, xb, &L->v, NULL, T, D, kvd, &st->mm);
        ml_rope_forward(st->q, st->cos_t, st->sin_t, T, c->n_heads, (int)hd);
        ml_rope_forward(kc, st->cos_t, st->sin_t, T, c->n_kv_heads, (int)hd);
        SAVE(R->ln1, xb, T * D);
        SAVE(R->q, st->q, T * qd);
        SAVE(R->k, kc, T * kvd);
        SAVE(R->v, vc, T * kvd);
        layer_spans(st, ns, l);
        MlAttnTap tap;
        MlHookTapCtx tctx;
        int tapped = ml_hooks_attn_tap(hooks, ML_TOWER_TEXT, l, pos0, T, c->n_heads, pos0 + T, &tap, &tctx,
                                       &st->tap_buf, &st->tap_cap);
        if (tapped < 0) return ml_error_set(err, ML_ERR_NOMEM, "attention hook buffer: out of memory");
        ml_attention_forward(st->att, st->q, st->spans, ns, T, pos0, &dims, tapped ? &tap : NULL, st->attn_scratch,
                             st->n_threads);
        ml_hooks_call(hooks, ML_TOWER_TEXT, ML_HOOK_ATTN_HEADS, l, pos0, T, qd, st->att);
        SAVE(R->att, st->att, T * qd);
        ml_matmul_forward(xb, st->att, &L->o, NULL, T, qd, D, &st->mm);
        ml_hooks_call(hooks, ML_TOWER_TEXT, ML_HOOK_ATTN_OUT, l, pos0, T, D, xb);
        add_into(x, xb, (size_t)T * D);
        SAVE(R->x_mid, x, T * D);
        /* MLP block */
        ml_rmsnorm_forward(xb, x, ml_tensor_as_f32(&L->post_norm, st->vec), T, D, c->rms_eps);
        ml_matmul_forward(st->hb, xb, &L->gate, NULL, T, D, I, &st->mm);
        ml_matmul_forward(st->hb2, xb, &L->up, NULL, T, D, I, &st->mm);
        SAVE(R->ln2, xb, T * D);
        SAVE(R->gate, st->hb, T * I);
        SAVE(R->up, st->hb2, T * I);
        ml_swiglu_forward(st->hb, st->hb, st->hb2, T * I, c->act);
        SAVE(R->sw, st->hb, T * I);
        ml_matmul_forward(xb, st->hb, &L->down, NULL, T, I, D, &st->mm);
        ml_hooks_call(hooks, ML_TOWER_TEXT, ML_HOOK_MLP_OUT, l, pos0, T, D, xb);
        add_into(x, xb, (size_t)T * D);
        ml_hooks_call(hooks, ML_TOWER_TEXT, ML_HOOK_RESIDUAL, l, pos0, T, D, x);
    }
    kv->n += T;
    return ML_OK;
}

void ml_decoder_logits(const MlDecoder *dec, MlDecoderState *st, float *logits, const float *hidden, int64_t rows,
                       int apply_norm) {
    const int64_t D = dec->cfg.hidden, V = dec->cfg.vocab;
    for (int64_t r0 = 0; r0 < rows; r0 += st->max_rows) {
        int64_t n = rows - r0 < st->max_rows ? rows - r0 : st->max_rows;
        const float *h = hidden + (size_t)r0 * D;
        if (apply_norm) {
            ml_rmsnorm_forward(st->xb, h, ml_tensor_as_f32(&dec->norm, st->vec), n, D, dec->cfg.rms_eps);
            h = st->xb;
        }
        ml_matmul_forward(logits + (size_t)r0 * V, h, &dec->lm_head, NULL, n, D, V, &st->mm);
    }
}

static int forward(const MlDecoder *dec, MlDecoderState *st, MlKVCache *kv, const float *x, int64_t T,
                   const int32_t *pos, const MlHooks *hooks, float *logits, int all_logits, MlDecoderRecord *rec,
                   MlError *err) {
    const MlTextConfig *c = &dec->cfg;
    if (rec && (T > rec->cap || T > st->max_rows || ml_kv_cache_length(kv) != 0))
        return ml_error_set(err, ML_ERR_ARG, "decoder: a recorded forward runs at most %lld rows from position 0",
                            (long long)(rec->cap < st->max_rows ? rec->cap : st->max_rows));
    const int64_t D = c->hidden, V = c->vocab;
    if (T <= 0) return ml_error_set(err, ML_ERR_ARG, "decoder: nothing to run (0 tokens)");
    if (ml_kv_cache_length(kv) + T > c->max_pos)
        return ml_error_set(err, ML_ERR_RANGE,
                            "%lld tokens do not fit the context: %lld already used of max_position_embeddings %d",
                            (long long)T, (long long)ml_kv_cache_length(kv), c->max_pos);
    if (kv->n + T > kv->cap)
        return ml_error_set(err, ML_ERR_RANGE, "%lld tokens do not fit the KV cache: %lld of %lld rows used",
                            (long long)T, (long long)kv->n, (long long)kv->cap);
    for (int64_t r0 = 0; r0 < T; r0 += st->max_rows) {
        int64_t n = T - r0 < st->max_rows ? T - r0 : st->max_rows;
        memcpy(st->x, x + (size_t)r0 * D, sizeof(float) * n * D);
        int rc = forward_chunk(dec, st, kv, n, pos ? pos + r0 : NULL, hooks, rec, err);
        if (rc) return rc;
        if (rec) {
            rec->T = n;
            memcpy(rec->x_final, st->x, sizeof(float) * (size_t)(n * D));
        }
        if (logits && all_logits) ml_decoder_logits(dec, st, logits + (size_t)r0 * V, st->x, n, 1);
        else if (logits && r0 + n == T) ml_decoder_logits(dec, st, logits, st->x + (size_t)(n - 1) * D, 1, 1);
    }
    return ML_OK;
}

int ml_decoder_forward(const MlDecoder *dec, MlDecoderState *st, MlKVCache *kv, const float *x, int64_t T,
                       const MlHooks *hooks, float *logits, int all_logits, MlError *err) {
    return forward(dec, st, kv, x, T, NULL, hooks, logits, all_logits, NULL, err);
}

int ml_decoder_forward_at(const MlDecoder *dec, MlDecoderState *st, MlKVCache *kv, const float *x, int64_t T,
                          const int32_t *pos, const MlHooks *hooks, float *logits, int all_logits, MlError *err) {
    return forward(dec, st, kv, x, T, pos, hooks, logits, all_logits, NULL, err);
}

int ml_decoder_forward_rec(const MlDecoder *dec, MlDecoderState *st, MlKVCache *kv, const float *x, int64_t T,
                           const MlHooks *hooks, float *logits, int all_logits, MlDecoderRecord *rec, MlError *err) {
    return forward(dec, st, kv, x, T, NULL, hooks, logits, all_logits, rec, err);
}

/* ------------------------------------------------------------------ */
/* Training: record and backward */

int ml_decoder_record_alloc(MlDecoderRecord *rec, const MlDecoder *dec, int64_t rows, MlError *err) {
    memset(rec, 0, sizeof *rec);
    const MlTextConfig *c = &dec->cfg;
    if (rows > ML_DECODER_CHUNK) rows = ML_DECODER_CHUNK;
    if (rows > c->max_pos) rows = c->max_pos;
    const size_t T = (size_t)rows, D = (size_t)c->hidden, I = (size_t)c->intermediate,
                 qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim,
                 L = (size_t)c->n_layers, h2 = (size_t)c->head_dim / 2;
    size_t attn = (size_t)ml_attention_backward_scratch_floats(rows, c->head_dim, 1);
    size_t per_layer = T * (4 * D + 2 * qd + 2 * kvd + 3 * I);
    size_t total = L * per_layer + 2 * T * D + T * (2 * D + 2 * qd + 2 * kvd + 3 * I) + 2 * T * h2 + attn;
    rec->memory = calloc(total, sizeof(float));
    rec->layers = calloc(L, sizeof *rec->layers);
    if (!rec->memory || !rec->layers) {
        ml_decoder_record_free(rec);
        return ml_error_set(err, ML_ERR_NOMEM, "decoder: out of memory for the training record");
    }
    rec->cap = rows;
    float *p = rec->memory;
    for (size_t l = 0; l < L; l++) {
        MlDecoderLayerRecord *R = &rec->layers[l];
        ml_backprop_slices(&p, T * D, 2, &R->x_in, &R->ln1);
        ml_backprop_slices(&p, T * qd, 1, &R->q);
        ml_backprop_slices(&p, T * kvd, 2, &R->k, &R->v);
        ml_backprop_slices(&p, T * qd, 1, &R->att);
        ml_backprop_slices(&p, T * D, 2, &R->x_mid, &R->ln2);
        ml_backprop_slices(&p, T * I, 3, &R->gate, &R->up, &R->sw);
    }
    ml_backprop_slices(&p, T * D, 4, &rec->x_final, &rec->xn, &rec->dx, &rec->dxb);
    ml_backprop_slices(&p, T * qd, 2, &rec->dq, &rec->datt);
    ml_backprop_slices(&p, T * kvd, 2, &rec->dk, &rec->dv);
    ml_backprop_slices(&p, T * I, 3, &rec->dh, &rec->dh2, &rec->dh3);
    ml_backprop_slices(&p, T * h2, 2, &rec->cos_t, &rec->sin_t);
    ml_backprop_slices(&p, attn, 1, &rec->attn_scratch);
    return ML_OK;
}

void ml_decoder_record_free(MlDecoderRecord *rec) {
    free(rec->memory);
    free(rec->layers);
    memset(rec, 0, sizeof *rec);
}

static float *wf(const MlTensor *t) { return (float *)t->data; }
static float *gf(const MlDecoder *g, const MlTensor *t) { return g ? (float *)t->data : NULL; }

void ml_decoder_backward(const MlDecoder *dec, const MlDecoder *grad, MlDecoderRecord *rec, float *dx,
                         const float *dlogits) {
    const MlTextConfig *c = &dec->cfg;
    const int64_t T = rec->T, D = c->hidden, I = c->intermediate, V = c->vocab, hd = c->head_dim,
                  qd = (int64_t)c->n_heads * hd, kvd = (int64_t)c->n_kv_heads * hd;
    const float eps = c->rms_eps;
    float *dxb = rec->dxb;
    /* logits = lm_head(norm(x_final)) */
    ml_rmsnorm_forward(rec->xn, rec->x_final, wf(&dec->norm), T, D, eps);
    ml_backprop_linear(dxb, grad ? gf(grad, &grad->lm_head) : NULL, NULL, dlogits, rec->xn, wf(&dec->lm_head), T, D, V);
    memset(dx, 0, sizeof(float) * (size_t)(T * D));
    ml_rmsnorm_backward(dx, grad ? gf(grad, &grad->norm) : NULL, dxb, rec->x_final, wf(&dec->norm), T, D, eps);
    ml_rope_tables(rec->cos_t, rec->sin_t, 0, T, (int)hd, c->rope_theta);
    MlAttnDims dims = {.n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .head_dim = (int)hd, .causal = 1,
                       .scale = 1.0f / sqrtf((float)hd), .kv_stride = kvd};
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const MlDecoderLayer *L = &dec->layers[l], *G = grad ? &grad->layers[l] : NULL;
        const MlDecoderLayerRecord *R = &rec->layers[l];
        if (R->dx_out)
            for (int64_t i = 0; i < T * D; i++) dx[i] += R->dx_out[i];
        /* x_out = x_mid + down(act(gate(n)) * up(n)), n = rmsnorm(x_mid) */
        ml_backprop_linear(rec->dh, G ? wf(&G->down) : NULL, NULL, dx, R->sw, wf(&L->down), T, I, D);
        float *dup = rec->dh3;
        memset(rec->dh2, 0, sizeof(float) * (size_t)(T * I));
        memset(dup, 0, sizeof(float) * (size_t)(T * I));
        ml_swiglu_backward(rec->dh2, dup, rec->dh, R->gate, R->up, T * I, c->act);
        ml_backprop_linear(dxb, G ? wf(&G->gate) : NULL, NULL, rec->dh2, R->ln2, wf(&L->gate), T, D, I);
        ml_matmul_backward(dxb, G ? wf(&G->up) : NULL, NULL, dup, R->ln2, wf(&L->up), T, D, I);
        ml_rmsnorm_backward(dx, G ? wf(&G->post_norm) : NULL, dxb, R->x_mid, wf(&L->post_norm), T, D, eps);
        /* x_mid = x_in + o(attn(rope(q), rope(k), v)) */
        ml_backprop_linear(rec->datt, G ? wf(&G->o) : NULL, NULL, dx, R->att, wf(&L->o), T, qd, D);
        ml_backprop_attention(rec->dq, rec->dk, rec->dv, rec->datt, R->q, R->k, R->v, T, qd, kvd, &dims,
                              rec->attn_scratch);
        ml_rope_backward(rec->dq, rec->cos_t, rec->sin_t, T, c->n_heads, (int)hd);
        ml_rope_backward(rec->dk, rec->cos_t, rec->sin_t, T, c->n_kv_heads, (int)hd);
        ml_backprop_linear(dxb, G ? wf(&G->q) : NULL, NULL, rec->dq, R->ln1, wf(&L->q), T, D, qd);
        ml_matmul_backward(dxb, G ? wf(&G->k) : NULL, NULL, rec->dk, R->ln1, wf(&L->k), T, D, kvd);
        ml_matmul_backward(dxb, G ? wf(&G->v) : NULL, NULL, rec->dv, R->ln1, wf(&L->v), T, D, kvd);
        ml_rmsnorm_backward(dx, G ? wf(&G->in_norm) : NULL, dxb, R->x_in, wf(&L->in_norm), T, D, eps);
    }
}
