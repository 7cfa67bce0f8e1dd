/*
** hooks.h: the one way to look inside, or intervene in, a forward pass.
**
** The vision tower and the decoder take an optional MlHooks table.  At each
** hook point the forward calls fn(site, data, user) with the live float
** buffer; fn may read it and, where the point allows, change it in place —
** the change flows into the rest of the pass.  With hooks == NULL (or
** fn == NULL, or the point not selected) the forward does no extra work.
**
** Points (layer = 0-based layer index; rows = query rows of this call):
**   ML_HOOK_RESIDUAL     residual stream after layer `layer`, [rows, width],
**                        modifiable.  layer -1 is the input to layer 0: the
**                        vision tower's pre_layrnorm output (HF hidden_states[0])
**                        or the decoder's input embeddings with image features
**                        merged in.  HF hidden_states[i] is layer i-1 here.
**   ML_HOOK_ATTN_HEADS   concatenated head outputs before o_proj/out_proj
**                        [rows, heads*head_dim], modifiable (per-head edits).
**   ML_HOOK_ATTN_OUT     attention block output after o_proj/out_proj, before
**                        the residual add, [rows, width], modifiable.
**   ML_HOOK_MLP_OUT      MLP output before the residual add, [rows, width],
**                        modifiable (VTI steers here).
**   ML_HOOK_ATTN_SCORES  pre-softmax scores after scaling and the causal mask
**                        (-inf), [heads, rows, keys], modifiable (PAI, SID).
**                        Only the query rows selected by attn_rows.
**   ML_HOOK_ATTN_PROBS   softmax probabilities, same layout, read only.
** Vision layers past the one vision_feature_layer selects are not run, so
** their hooks never fire.  Logit lens / DoLa: copy ML_HOOK_RESIDUAL rows and
** pass them to ml_decoder_logits (model/decoder.h), with or without the
** final norm.
**
** Site fields: pos0 is the absolute position of the first row (decoder: the
** token position in the session; vision: 0 = CLS); for attention points
** pos0 is the position of the first selected row and keys counts every key
** (positions 0 .. keys-1).  A long prefill may arrive in several calls
** (chunks); pos0 tells where each starts.
**
**     static void steer(const MlHookSite *s, float *x, void *user) {
**         const float *dir = user;                       // [width]
**         float *last = x + (size_t)(s->rows - 1) * s->width;
**         for (int i = 0; i < s->width; i++) last[i] += dir[i];
**     }
**     MlHooks h = {.fn = steer, .user = dir};
**     ml_hooks_select(&h, ML_TOWER_TEXT, ML_HOOK_RESIDUAL, n_layers - 1);
**     ml_session_prefill(s, ids, n, feats, n_feats, &h, logits, &err);
*/
#ifndef ML_MODEL_HOOKS_H
#define ML_MODEL_HOOKS_H

#include <stddef.h>
#include <stdint.h>

typedef enum MlTower { ML_TOWER_VISION = 0, ML_TOWER_TEXT = 1 } MlTower;

typedef enum MlHookPoint {
    ML_HOOK_RESIDUAL = 0,
    ML_HOOK_ATTN_HEADS,
    ML_HOOK_ATTN_OUT,
    ML_HOOK_MLP_OUT,
    ML_HOOK_ATTN_SCORES,
    ML_HOOK_ATTN_PROBS,
    ML_HOOK_N_POINTS
} MlHookPoint;

/* Layers a selection can name: -1 (embeddings) .. ML_HOOK_MAX_LAYERS-2. */
#define ML_HOOK_MAX_LAYERS 128

typedef struct MlHookSite {
    MlTower tower;
    int layer;
    MlHookPoint point;
    int64_t pos0;  /* absolute position of row 0 of data */
    int64_t rows;  /* rows of data (query rows for attention points) */
    int64_t width; /* floats per row; attention points: keys */
    int heads;     /* attention points: heads (data is [heads, rows, keys]); else 0 */
    int64_t keys;  /* attention points: keys; else 0 */
} MlHookSite;

typedef void (*MlHookFn)(const MlHookSite *site, float *data, void *user);

/* Which query rows attention points expose. */
typedef enum MlHookRows {
    ML_HOOK_ROWS_ALL = 0, /* every query row of the call */
    ML_HOOK_ROWS_LAST,    /* only the last query row of the call */
} MlHookRows;

typedef struct MlHooks {
    MlHookFn fn;
    void *user;
    /* Per tower and point, one bit per layer (bit 0 = layer -1).  Fill with
       ml_hooks_select / ml_hooks_select_all; all zero selects nothing. */
    uint64_t select[2][ML_HOOK_N_POINTS][ML_HOOK_MAX_LAYERS / 64];
    MlHookRows attn_rows;
} MlHooks;

static inline void ml_hooks_select(MlHooks *h, MlTower tower, MlHookPoint point, int layer) {
    int b = layer + 1;
    if (b >= 0 && b < ML_HOOK_MAX_LAYERS) h->select[tower][point][b / 64] |= (uint64_t)1 << (b % 64);
}

/* Every layer (and -1 for the residual stream) of one point. */
static inline void ml_hooks_select_all(MlHooks *h, MlTower tower, MlHookPoint point) {
    for (int l = -1; l < ML_HOOK_MAX_LAYERS - 1; l++) ml_hooks_select(h, tower, point, l);
}

static inline int ml_hooks_wants(const MlHooks *h, MlTower tower, MlHookPoint point, int layer) {
    if (!h || !h->fn) return 0;
    int b = layer + 1;
    if (b < 0 || b >= ML_HOOK_MAX_LAYERS) return 0;
    return (int)((h->select[tower][point][b / 64] >> (b % 64)) & 1u);
}

/* ---- used by the forward passes (vision.c, decoder.c) ---- */

/* Calls the hook for a [rows, width] point if it is selected. */
void ml_hooks_call(const MlHooks *h, MlTower tower, MlHookPoint point, int layer, int64_t pos0, int64_t rows,
                   int64_t width, float *data);

struct MlAttnTap;
/* Bridges attention points to a kernel tap.  ctx must outlive the attention
   call; *buf / *cap is a growable buffer owned by the caller (grown here,
   only when a point is selected).  Returns 1 when tap was filled (pass it
   to ml_attention_forward), 0 when nothing is selected, -1 when out of memory. */
typedef struct MlHookTapCtx {
    const MlHooks *hooks;
    MlHookSite site;
} MlHookTapCtx;
int ml_hooks_attn_tap(const MlHooks *h, MlTower tower, int layer, int64_t pos0, int64_t rows, int heads,
                      int64_t keys, struct MlAttnTap *tap, MlHookTapCtx *ctx, float **buf, size_t *cap);

#endif
