/* hooks.c: calling hooks from a forward pass (see hooks.h). */
#include "model/hooks.h"

#include <stdlib.h>

#include "kernels/attention.h"

void ml_hooks_call(const MlHooks *h, MlTower tower, MlHookPoint point, int layer, int64_t pos0, int64_t rows,
                   int64_t width, float *data) {
    if (!ml_hooks_wants(h, tower, point, layer)) return;
    MlHookSite site = {.tower = tower, .layer = layer, .point = point, .pos0 = pos0, .rows = rows, .width = width};
    h->fn(&site, data, h->user);
}

static void tap_scores(float *buf, void *ctx) {
    MlHookTapCtx *c = ctx;
    c->site.point = ML_HOOK_ATTN_SCORES;
    c->hooks->fn(&c->site, buf, c->hooks->user);
}

static void tap_probs(float *buf, void *ctx) {
    MlHookTapCtx *c = ctx;
    c->site.point = ML_HOOK_ATTN_PROBS;
    c->hooks->fn(&c->site, buf, c->hooks->user);
}

int ml_hooks_attn_tap(const MlHooks *h, MlTower tower, int layer, int64_t pos0, int64_t rows, int heads,
                      int64_t keys, MlAttnTap *tap, MlHookTapCtx *ctx, float **buf, size_t *cap) {
    int want_s = ml_hooks_wants(h, tower, ML_HOOK_ATTN_SCORES, layer);
    int want_p = ml_hooks_wants(h, tower, ML_HOOK_ATTN_PROBS, layer);
    if (!want_s && !want_p) return 0;
    int64_t first = h->attn_rows == ML_HOOK_ROWS_LAST ? rows - 1 : 0;
    int64_t count = rows - first;
    size_t need = (size_t)heads * (size_t)count * (size_t)keys;
    if (need > *cap) {
        float *b = realloc(*buf, need * sizeof(float));
        if (!b) return -1;
        *buf = b;
        *cap = need;
    }
    ctx->hooks = h;
    ctx->site = (MlHookSite){.tower = tower, .layer = layer, .pos0 = pos0 + first, .rows = count,
                             .width = keys, .heads = heads, .keys = keys};
    *tap = (MlAttnTap){.row_first = first, .row_count = count, .buf = *buf,
                       .on_scores = want_s ? tap_scores : NULL, .on_probs = want_p ? tap_probs : NULL, .ctx = ctx};
    return 1;
}
