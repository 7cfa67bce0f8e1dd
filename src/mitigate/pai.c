/* pai.c: PAI, Paying more Attention to Image (LALBJ/PAI).  In decoder layers
   start_layer .. L-1, every head's pre-softmax scores of the last query row
   of each forward call (the last prompt token, then each fed token) get
   A += alpha |A| on the image columns.  A text-only pass (no image, no
   amplification) gives the contrast over log-softmaxes s (amplified) and u
   (text only): gamma (s - u) + u, -inf where s < log beta + max s.  At
   gamma = 1 the official code returns s alone (no cutoff).  Defaults: the
   README's alpha 0.2, gamma 1.1, greedy. */
#include <math.h>
#include <stdlib.h>

#include "mitigate/method.h"

static const MlParamSpec params[] = {
    {"alpha", 0.2, 0, 100, 0, "image attention amplification: A += alpha |A| on the last query row", NULL},
    {"gamma", 1.1, 0, 100, 0, "contrast with the text-only pass: gamma (s - u) + u; 1 = s alone", NULL},
    {"beta", 0.1, 0, 1, 0, "cutoff (gamma != 1): keep tokens with p >= beta * max p of the amplified pass", NULL},
    {"start_layer", 2, 0, ML_HOOK_MAX_LAYERS - 2, 1, "first amplified decoder layer (0-based); up to the last", NULL},
    ML_DECODE_PARAM(ML_DECODE_GREEDY),
    ML_SAMPLING_PARAMS(1),
};

typedef struct Pai {
    MlHooks hooks;
    float alpha;
    int64_t row;        /* the position whose query row is amplified */
    int64_t begin, end; /* image columns */
    float *u;           /* vocab floats: the text-only log-softmax */
} Pai;

static void amplify(const MlHookSite *site, float *x, void *user) {
    const Pai *a = user;
    /* rows is 1 (ML_HOOK_ROWS_LAST); a long prompt's earlier chunks end before the row */
    if (site->pos0 != a->row) return;
    const int64_t end = a->end < site->keys ? a->end : site->keys;
    for (int h = 0; h < site->heads; h++) {
        float *row = x + (size_t)h * (size_t)site->keys;
        for (int64_t j = a->begin; j < end; j++) row[j] += a->alpha * fabsf(row[j]);
    }
}

static int pai_state_new(MlMethodRun *run, MlError *err) {
    const int start = (int)ml_method_param(run->cfg, "start_layer"), layers = ml_lvlm_layers(run->m);
    if (start >= layers)
        return ml_error_set(err, ML_ERR_ARG, "pai: start_layer %d does not exist: the model has %d decoder layers (0..%d)",
                            start, layers, layers - 1);
    Pai *a = calloc(1, sizeof *a);
    if (a) a->u = malloc(sizeof(float) * (size_t)ml_lvlm_vocab(run->m));
    if (!a || !a->u) {
        free(a);
        return ml_error_set(err, ML_ERR_NOMEM, "pai: out of memory");
    }
    a->alpha = (float)ml_method_param(run->cfg, "alpha");
    a->hooks = (MlHooks){.fn = amplify, .user = a, .attn_rows = ML_HOOK_ROWS_LAST};
    for (int l = start; l < layers; l++) ml_hooks_select(&a->hooks, ML_TOWER_TEXT, ML_HOOK_ATTN_SCORES, l);
    run->state = a;
    return ML_OK;
}

static void pai_state_free(MlMethodRun *run) {
    Pai *a = run->state;
    free(a->u);
    free(a);
}

/* Pass 0 at its prompt's last token and at every fed token; the shared prefix stays unhooked. */
static const MlHooks *pai_hooks(MlMethodRun *run, int pass, int64_t step) {
    Pai *a = run->state;
    if (pass != 0 || step == ML_STEP_PREFIX || run->image_begin[0] == run->image_end[0]) return NULL;
    a->begin = run->image_begin[0];
    a->end = run->image_end[0];
    a->row = step == ML_STEP_PROMPT ? run->prompt_len[0] - 1 : run->prompt_len[0] + step;
    return &a->hooks;
}

static void log_softmax(float *dst, const float *x, int64_t n) {
    float mx = x[0];
    for (int64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += exp((double)(x[i] - mx));
    const float lse = (float)log(sum);
    for (int64_t i = 0; i < n; i++) dst[i] = x[i] - mx - lse;
}

static void pai_combine(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                        void *user) {
    (void)n_passes, (void)step;
    const MlMethodRun *run = user;
    const Pai *a = run->state;
    const float gamma = (float)ml_method_param(run->cfg, "gamma");
    log_softmax(scores, logits[0], vocab);
    if (gamma == 1.0f) return;
    log_softmax(a->u, logits[1], vocab);
    float mx = scores[0];
    for (int64_t i = 1; i < vocab; i++) mx = scores[i] > mx ? scores[i] : mx;
    const float cut = logf((float)ml_method_param(run->cfg, "beta")) + mx;
    for (int64_t i = 0; i < vocab; i++)
        scores[i] = scores[i] < cut ? -INFINITY : gamma * (scores[i] - a->u[i]) + a->u[i];
}

static const MlPass passes[] = {{ML_PASS_CLEAN, ML_PASS_SAME_PROMPT}, {ML_PASS_NO_IMAGE, ML_PASS_SAME_PROMPT}};

const MlMethod ml_method_pai = {
    ML_METHOD_ID("pai", "PAI: image attention amplified in layers 2..L-1 plus a text-only contrast (alpha 0.2, "
                        "gamma 1.1), greedy", ""),
    .n_passes = 2,
    .passes = passes,
    ML_METHOD_PARAMS(params),
    .state_new = pai_state_new,
    .state_free = pai_state_free,
    .pass_hooks = pai_hooks,
    .combine = pai_combine,
};
