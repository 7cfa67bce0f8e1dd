/*
** decoder.h: the LLaMA language model of LLaVA (Vicuna-1.5), llama2.c style:
** MlDecoder (config + weight views), MlDecoderState (scratch for one
** forward at a time), MlKVCache (keys and values of the tokens seen so far).
**
** Per layer: h = x + o_proj(attn(rmsnorm(x)));  x' = h + down(silu(gate(n)) * up(n)),
** n = rmsnorm(h); then the final norm and lm_head.  Attention is causal with
** half-split RoPE and GQA.  Weights are views into the checkpoint (never
** copied); everything is computed in float32.
**
**     MlDecoder dec; MlDecoderState st = {0}; MlKVCache kv = {0};
**     ml_decoder_bind(&dec, ck, &err);
**     ml_decoder_state_init(&st, &dec, &err);
**     ml_kv_cache_init(&kv, &dec, NULL, 512, &err);
**     ml_decoder_embed(&dec, x, ids, n, &err);                  // x [n, hidden]
**     ml_decoder_forward(&dec, &st, &kv, x, n, NULL, logits, 0, &err);   // logits [vocab]
**     ... ml_kv_cache_free(&kv); ml_decoder_state_free(&st); ml_decoder_free(&dec);
**
** Dimension letters: T rows of this call, D hidden, H heads, KVH kv heads,
** hd head_dim, I intermediate, V vocab, C cache capacity.
*/
#ifndef ML_MODEL_DECODER_H
#define ML_MODEL_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "io/checkpoint.h"
#include "kernels/matmul.h"
#include "io/checkpoint_config.h"
#include "model/hooks.h"

typedef struct MlDecoderLayer {
    MlTensor in_norm;     /* (D) input_layernorm */
    MlTensor q, k, v, o;  /* (H*hd, D), (KVH*hd, D), (KVH*hd, D), (D, H*hd) */
    MlTensor post_norm;   /* (D) post_attention_layernorm */
    MlTensor gate, up;    /* (I, D) */
    MlTensor down;        /* (D, I) */
} MlDecoderLayer;

typedef struct MlDecoder {
    MlTextConfig cfg;
    MlTensor embed;          /* (V, D) */
    MlTensor norm;           /* (D) */
    MlTensor lm_head;        /* (V, D); the embedding when tie_word_embeddings */
    MlDecoderLayer *layers;  /* [n_layers], owned */
} MlDecoder;

/* Position ids per token: temporal, height, width (multimodal RoPE); the
   LLaMA decoder's 1-D RoPE reads the first.  Laid out [ML_POS_AXES][T]. */
#define ML_POS_AXES 3

/* Rows a forward processes at once; longer inputs run in chunks. */
#define ML_DECODER_CHUNK 512

typedef struct MlDecoderState {
    int64_t max_rows, max_keys;
    int n_threads;
    float *x;        /* (T, D) residual stream */
    float *xb;       /* (T, D) */
    float *q;        /* (T, H*hd) */
    float *att;      /* (T, H*hd) */
    float *hb, *hb2; /* (T, I) */
    float *cos_t, *sin_t; /* (T, hd/2) */
    float *vec;      /* (max(D, V)) converted weight vectors */
    float *attn_scratch;
    float *tap_buf;  /* grown on demand for attention hooks */
    size_t tap_cap;
    const struct MlKVCache **chain; /* the caches a forward reads, root first: grown on demand */
    struct MlKVSpan *spans;         /* one layer's key/value spans over them */
    int64_t *chain_rows;            /* rows each cache of the chain contributes */
    int chain_cap;
    MlMatmulScratch mm;
} MlDecoderState;

/* Keys and values of every layer.  A cache may continue a parent: it then
   holds only the rows after the parent's first `base` rows, which it reads
   from the parent (that must stay alive and must not rewrite those rows).
   Chains may be of any depth: a forward gathers the chain once and hands
   attention one span per cache. */
typedef struct MlKVCache {
    int n_layers;
    int64_t kv_dim;   /* KVH * hd */
    int64_t cap;      /* rows this cache can hold */
    int64_t n;        /* rows held */
    int64_t base;     /* positions before row 0 (held by the parent chain) */
    const struct MlKVCache *parent;
    float *k, *v;     /* (n_layers, C, kv_dim), owned */
} MlKVCache;

/* Looks up every decoder tensor in ck and checks its shape. */
int ml_decoder_bind(MlDecoder *dec, const MlCheckpoint *ck, MlError *err);
void ml_decoder_free(MlDecoder *dec);

int ml_decoder_state_init(MlDecoderState *st, const MlDecoder *dec, MlError *err);
void ml_decoder_state_free(MlDecoderState *st);

/* parent may be NULL; a child starts at the parent's current length. */
int ml_kv_cache_init(MlKVCache *kv, const MlDecoder *dec, const MlKVCache *parent, int64_t cap, MlError *err);
void ml_kv_cache_free(MlKVCache *kv);
static inline int64_t ml_kv_cache_length(const MlKVCache *kv) { return kv->base + kv->n; }

/* x (T, D) = embedding rows of ids; fails on an id outside [0, V). */
int ml_decoder_embed(const MlDecoder *dec, float *x, const int32_t *ids, int64_t n, MlError *err);

/* Runs T rows of input embeddings x (T, D) at positions length(kv) .. +T-1,
   appends their keys and values to kv and, if logits is not NULL, writes the
   logits of the last row (V) or, with all_logits, of every row (T, V).
   x is left unchanged.  Fails with ML_ERR_RANGE past the cache or context. */
int ml_decoder_forward(const MlDecoder *dec, MlDecoderState *st, MlKVCache *kv, const float *x, int64_t T,
                       const MlHooks *hooks, float *logits, int all_logits, MlError *err);
/* The same at the positions the model gives: pos [ML_POS_AXES][T] (see
   lvlm.h ml_lvlm_positions); NULL = the cache length onwards. */
int ml_decoder_forward_at(const MlDecoder *dec, MlDecoderState *st, MlKVCache *kv, const float *x, int64_t T,
                          const int32_t *pos, const MlHooks *hooks, float *logits, int all_logits, MlError *err);

/* logits (rows, V) = lm_head(norm(hidden)) (apply_norm) or lm_head(hidden):
   the logit lens and DoLa read intermediate residuals this way. hidden (rows, D). */
void ml_decoder_logits(const MlDecoder *dec, MlDecoderState *st, float *logits, const float *hidden, int64_t rows,
                       int apply_norm);

/* ---- training ----
   What the backward needs, saved by the same forward when given a record
   (NULL at inference).  A recorded forward runs one chunk from position 0
   (an empty cache) of at most rec->cap <= ML_DECODER_CHUNK rows. */
typedef struct MlDecoderLayerRecord {
    float *x_in, *ln1, *q, *k, *v, *att, *x_mid, *ln2; /* (T, D), (T, H*hd), (T, KVH*hd) */
    float *gate, *up, *sw;                           /* (T, I): before the activation, up, act(gate)*up */
    const float *dx_out; /* (T, D) or NULL, set by the caller: a further gradient at the layer's output,
                            from a loss read there besides the logits (the training-only heads) */
} MlDecoderLayerRecord;

typedef struct MlDecoderRecord {
    int64_t cap, T;
    MlDecoderLayerRecord *layers; /* [n_layers] */
    float *x_final, *xn;          /* (T, D): before and after the final norm */
    float *dx, *dxb, *dq, *dk, *dv, *datt, *dh, *dh2, *dh3; /* backward scratch */
    float *cos_t, *sin_t;         /* (T, hd/2) */
    float *attn_scratch;
    void *memory;
} MlDecoderRecord;

int ml_decoder_record_alloc(MlDecoderRecord *rec, const MlDecoder *dec, int64_t rows, MlError *err);
void ml_decoder_record_free(MlDecoderRecord *rec);

/* ml_decoder_forward that also fills rec (when not NULL). */
int ml_decoder_forward_rec(const MlDecoder *dec, MlDecoderState *st, MlKVCache *kv, const float *x, int64_t T,
                           const MlHooks *hooks, float *logits, int all_logits, MlDecoderRecord *rec, MlError *err);

/* Backward of a recorded forward with all_logits: dlogits (T, V) -> dx
   (T, D) (written, the gradient at the input embeddings) and grad's tensors
   (a copy of dec pointing at gradient memory; NULL: no weight gradients) +=.
   A layer record's dx_out, when the caller sets it, is added to the
   gradient at that layer's output.
   The kernel backwards in reverse order of the forward. */
void ml_decoder_backward(const MlDecoder *dec, const MlDecoder *grad, MlDecoderRecord *rec, float *dx,
                         const float *dlogits);

#endif
