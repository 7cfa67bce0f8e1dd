/* sid.c: SID, Self-Introspective Decoding (huofushuo/SID).  A contrast pass
   with its own cache sees, from decoder layer `layer` on, only the `keep`
   image tokens that layer layer-1 attends to least (softmax attention,
   mean over heads, last query row of the call): the other image columns
   are masked for every query row, the image rows of its prompt included.
   The selection is redone at every step; cached keys and values keep what
   their own step computed.  Score (1+alpha) l - alpha l_sid, no cutoff;
   alpha 0.5 is the official code's fallback (its scripts' 1 is never passed
   on).  Layers below `layer` are untouched, so the contrast pass's layer
   layer-1 attention is the normal pass's: the selection is read there,
   where the whole prompt's last row is known before the contrast pass runs,
   however the prompt is split into calls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mitigate/method.h"

static const MlParamSpec params[] = {
    {"alpha", 0.5, 0, 1000, 0, "contrast weight: s = (1+alpha) l - alpha l_sid", NULL},
    {"keep", 100, 1, 1e6, 1, "image tokens the contrast pass keeps: those with the lowest attention", NULL},
    {"layer", 2, 1, ML_HOOK_MAX_LAYERS - 2, 1, "first masked decoder layer (0-based); the previous one selects", NULL},
    ML_DECODE_PARAM(ML_DECODE_GREEDY),
    ML_SAMPLING_PARAMS(1),
};

typedef struct Ranked {
    float attn;
    int64_t index;
} Ranked;

typedef struct Sid {
    MlHooks read;       /* pass 0: layer-1 probabilities of the last query row */
    MlHooks mask;       /* pass 1: scores of layers >= layer, every query row */
    int64_t row;        /* the position whose attention selects */
    int64_t begin, end; /* image columns */
    int64_t keep;
    Ranked *rank;          /* [max image tokens] */
    unsigned char *masked; /* [max image tokens]: 1 = column masked in the contrast pass */
} Sid;

static int by_attention(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->attn != y->attn) return x->attn < y->attn ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void select_tokens(const MlHookSite *site, float *probs, void *user) {
    Sid *s = user;
    if (site->pos0 != s->row) return; /* an earlier chunk of a long prompt */
    const int64_t n = s->end - s->begin;
    for (int64_t j = 0; j < n; j++) {
        float sum = 0;
        for (int h = 0; h < site->heads; h++) sum += probs[(size_t)h * (size_t)site->keys + (size_t)(s->begin + j)];
        s->rank[j] = (Ranked){sum / (float)site->heads, j};
    }
    qsort(s->rank, (size_t)n, sizeof *s->rank, by_attention);
    for (int64_t j = 0; j < n; j++) s->masked[s->rank[j].index] = j >= s->keep;
}

static void mask_columns(const MlHookSite *site, float *x, void *user) {
    const Sid *s = user;
    const int64_t end = s->end < site->keys ? s->end : site->keys;
    for (int64_t r = 0; r < (int64_t)site->heads * site->rows; r++) {
        float *row = x + (size_t)r * (size_t)site->keys;
        for (int64_t j = s->begin; j < end; j++)
            if (s->masked[j - s->begin]) row[j] = -INFINITY;
    }
}

static int sid_state_new(MlMethodRun *run, MlError *err) {
    const int layer = (int)ml_method_param(run->cfg, "layer"), layers = ml_lvlm_layers(run->m);
    if (layer >= layers)
        return ml_error_set(err, ML_ERR_ARG, "sid: layer %d does not exist: the model has %d decoder layers (0..%d)",
                            layer, layers, layers - 1);
    const size_t n = (size_t)ml_lvlm_max_image_tokens(run->m);
    Sid *s = calloc(1, sizeof *s);
    if (s) {
        s->rank = malloc(sizeof *s->rank * n);
        s->masked = calloc(n, 1);
    }
    if (!s || !s->rank || !s->masked) {
        if (s) {
            free(s->rank);
            free(s->masked);
        }
        free(s);
        return ml_error_set(err, ML_ERR_NOMEM, "sid: out of memory");
    }
    s->keep = (int64_t)ml_method_param(run->cfg, "keep");
    s->read = (MlHooks){.fn = select_tokens, .user = s, .attn_rows = ML_HOOK_ROWS_LAST};
    ml_hooks_select(&s->read, ML_TOWER_TEXT, ML_HOOK_ATTN_PROBS, layer - 1);
    s->mask = (MlHooks){.fn = mask_columns, .user = s, .attn_rows = ML_HOOK_ROWS_ALL};
    for (int l = layer; l < layers; l++) ml_hooks_select(&s->mask, ML_TOWER_TEXT, ML_HOOK_ATTN_SCORES, l);
    run->state = s;
    return ML_OK;
}

static void sid_state_free(MlMethodRun *run) {
    Sid *s = run->state;
    free(s->rank);
    free(s->masked);
    free(s);
}

/* Pass 0 selects at its prompt's last token and at every fed token (it runs
   before pass 1 at each); pass 1 masks everything it runs, its prefix too. */
static const MlHooks *sid_hooks(MlMethodRun *run, int pass, int64_t step) {
    Sid *s = run->state;
    const int64_t n = run->image_end[pass] - run->image_begin[pass];
    if (n <= s->keep) return NULL; /* every image token kept: nothing to mask */
    if (pass == 1) return &s->mask;
    if (step == ML_STEP_PREFIX) return NULL;
    s->begin = run->image_begin[0];
    s->end = run->image_end[0];
    s->row = step == ML_STEP_PROMPT ? run->prompt_len[0] - 1 : run->prompt_len[0] + step;
    memset(s->masked, 0, (size_t)n);
    return &s->read;
}

static void sid_combine(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                        void *user) {
    (void)n_passes, (void)step;
    const MlMethodRun *run = user;
    ml_contrast_combine(scores, logits[0], logits[1], vocab, (float)ml_method_param(run->cfg, "alpha"));
}

const MlMethod ml_method_sid = {
    ML_METHOD_ID("sid", "SID: contrast with a pass keeping the 100 least-attended image tokens from layer 2 "
                        "(alpha 0.5), greedy", ""),
    .n_passes = 2,
    ML_METHOD_PARAMS(params),
    .state_new = sid_state_new,
    .state_free = sid_state_free,
    .pass_hooks = sid_hooks,
    .question_prefix = 1u << 1,
    .combine = sid_combine,
};
