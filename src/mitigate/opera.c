/* opera.c: OPERA (shikiw/OPERA): beam search whose candidates (the top raw
   logits of each beam) pay an over-trust penalty read from the last layer's
   attention over the generated window, with retrospection-allocation
   roll-back (rules: opera.h; loop: beam_search.h).  Defaults from its code:
   5 beams, scale 50, threshold 15, 5 candidates, weight 1, window 512. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "decode/beam.h"
#include "mitigate/beam_search.h"
#include "mitigate/method.h"
#include "mitigate/opera.h"

static const MlParamSpec params[] = {
    {"beams", 5, 1, ML_BEAM_MAX, 1, "beams kept each step", NULL},
    {"candidates", 5, 1, 64, 1, "candidates per beam: its best raw logits, each scored with one extra forward", NULL},
    {"scale", 50, 0, 1e4, 0, "scale factor of the attention in the column scores", NULL},
    {"penalty_weight", 1, 0, 1e4, 0, "candidate score -= weight * penalty", NULL},
    {"threshold", 15, 0, 1e6, 1, "roll back once every beam saw the same location more often than this", NULL},
    {"window", 512, 1, 65536, 1, "steps of history the roll-back may go back over", NULL},
    {"rollback", 1, 0, 1, 1, "retrospection-allocation roll-back", "off|on"},
};

typedef struct Opera {
    MlHooks hooks;
    int B, C, threshold, window, capture; /* capture: the beam whose forward fills its rows; -1: a candidate */
    float scale, weight;
    int64_t R, T, W, img_begin, img_end;   /* window start (prompt length), max tokens, row stride, image columns */
    float *mat[ML_BEAM_MAX], *tmp[ML_BEAM_MAX]; /* per beam: window rows (T + 1) x W */
    float *cand;    /* a candidate's window row (W) */
    float cand_img; /* and its attention mass on the image */
    float *head_max; /* (keys) */
    int64_t keys_cap;
    int64_t *hist, n_hist, loc; /* per beam slot: (T + 1) locations */
    int *uses;                  /* (window) */
} Opera;

/* Last-layer attention probabilities: max over heads, renormalised, into the
   capture target's window rows (or the candidate's row and image mass). */
static void capture_rows(const MlHookSite *site, float *data, void *user) {
    Opera *o = user;
    if (site->keys > o->keys_cap) return; /* sized for the context, never reached */
    for (int64_t r = 0; r < site->rows; r++) {
        const int64_t pos = site->pos0 + r, i = pos - o->R;
        if (i < 0 || i > o->T) continue;
        float *mx = o->head_max;
        double sum = 0;
        for (int64_t k = 0; k < site->keys; k++) {
            float v = data[r * site->keys + k];
            for (int h = 1; h < site->heads; h++) {
                float w = data[((int64_t)h * site->rows + r) * site->keys + k];
                if (w > v) v = w;
            }
            mx[k] = v, sum += v;
        }
        float *dst = o->capture >= 0 ? o->mat[o->capture] + i * o->W : o->cand;
        for (int64_t c = 0; c <= i && o->R + c < site->keys; c++) dst[c] = (float)(mx[o->R + c] / sum);
        if (o->capture < 0) {
            double img = 0;
            for (int64_t k = o->img_begin; k < o->img_end && k < site->keys; k++) img += mx[k] / sum;
            o->cand_img = (float)img;
        }
    }
}

/* The top C raw logits (the lower id first on ties), best first. */
static void top_candidates(const float *l, int64_t V, int C, int32_t *ids) {
    int n = 0;
    for (int64_t v = 0; v < V; v++) {
        if (isnan(l[v]) || (n == C && !(l[v] > l[ids[C - 1]]))) continue;
        int i = n < C ? n++ : C - 1;
        while (i > 0 && l[v] > l[ids[i - 1]]) ids[i] = ids[i - 1], i--;
        ids[i] = (int32_t)v;
    }
}

static int opera_rescore(void *user, MlSession *const *sessions, float *const *logits, int64_t step, MlError *err) {
    Opera *o = user;
    const int64_t V = ml_lvlm_vocab(ml_session_model(sessions[0])), L = step + 1;
    int64_t beam_loc[ML_BEAM_MAX];
    int32_t ids[ML_BEAM_MAX][64];
    float sc[ML_BEAM_MAX][64];
    for (int b = 0; b < o->B; b++) {
        int same = -1; /* a beam on the same session has the same candidates */
        for (int k = 0; k < b && same < 0; k++)
            if (sessions[k] == sessions[b]) same = k;
        if (same >= 0) {
            memcpy(ids[b], ids[same], sizeof ids[b]), memcpy(sc[b], sc[same], sizeof sc[b]);
            beam_loc[b] = beam_loc[same];
        } else {
            int64_t locs[64];
            top_candidates(logits[b], V, o->C, ids[b]);
            for (int c = 0; c < o->C; c++) {
                MlSession *f;
                int rc = ml_session_fork(&f, sessions[b], 1, err);
                o->capture = -1;
                if (!rc) rc = ml_session_forward(f, &ids[b][c], 1, NULL, 0, &o->hooks, NULL, 0, err);
                if (f) ml_session_free(f);
                if (rc) return rc;
                memcpy(o->mat[b] + step * o->W, o->cand, sizeof(float) * (size_t)L);
                float window = ml_opera_window_score(o->mat[b], L, o->W, o->scale, &locs[c]);
                float penalty = L <= ML_OPERA_SHORT_WINDOW ? -o->cand_img : window;
                sc[b][c] = logits[b][ids[b][c]] - o->weight * penalty;
            }
            beam_loc[b] = ml_opera_mode(locs, o->C);
        }
        float *x = logits[b];
        for (int64_t v = 0; v < V; v++) x[v] = -999.0f;
        for (int c = 0; c < o->C; c++) x[ids[b][c]] = sc[b][c];
        o->hist[b * (o->T + 1) + o->n_hist] = beam_loc[b];
    }
    o->n_hist++;
    o->loc = ml_opera_mode(beam_loc, o->B);
    return ML_OK;
}

static int64_t opera_rollback(void *user, int64_t step) {
    Opera *o = user;
    int64_t pos = ml_opera_rollback_target(o->hist, o->T + 1, o->B, o->n_hist, o->loc, o->threshold, o->C, o->uses,
                                           o->window);
    if (pos < 0) return -1;
    const int64_t L = step + 1;
    if (L - pos > o->window + 1) pos = L - o->window - 1 > 1 ? L - o->window - 1 : 1;
    const int64_t r = pos < step - 1 ? pos : step - 1;
    o->n_hist = r + 1; /* the locations up to the step taken again; the rebuild refills the rows */
    return pos;
}

/* Beam j continues ml_beam_parent(b, j): its window rows follow it. */
static void opera_chosen(void *user, const MlBeam *b) {
    Opera *o = user;
    const int64_t g = ml_beam_length(b) - 1;
    for (int j = 0; j < o->B; j++) memcpy(o->tmp[j], o->mat[ml_beam_parent(b, j)], sizeof(float) * (size_t)(g * o->W));
    for (int j = 0; j < o->B; j++) {
        float *t = o->mat[j];
        o->mat[j] = o->tmp[j], o->tmp[j] = t;
    }
}

static const MlHooks *opera_beam_hooks(void *user, int j) {
    Opera *o = user;
    o->capture = j;
    return &o->hooks;
}

static void opera_free(Opera *o) {
    for (int b = 0; b < ML_BEAM_MAX; b++) free(o->mat[b]), free(o->tmp[b]);
    free(o->cand), free(o->head_max), free(o->hist), free(o->uses);
}

static int opera_generate(MlMethodRun *run, float *const *logits, float *scores, MlSampler *sampler,
                          int64_t max_tokens, int32_t eos_id, int32_t *out, int64_t *n_out, MlError *err) {
    (void)scores, (void)sampler;
    *n_out = 0;
    if (max_tokens < 1) return ML_OK;
    const MlMethodConfig *c = run->cfg;
    const int64_t V = ml_lvlm_vocab(run->m);
    Opera o = {.B = (int)ml_method_param(c, "beams"), .C = (int)ml_method_param(c, "candidates"),
               .threshold = (int)ml_method_param(c, "threshold"), .window = (int)ml_method_param(c, "window"),
               .scale = (float)ml_method_param(c, "scale"), .weight = (float)ml_method_param(c, "penalty_weight"),
               .R = ml_session_length(run->session[0]), .T = max_tokens, .W = max_tokens + 1,
               .img_begin = run->image_begin[0], .img_end = run->image_end[0],
               .keys_cap = ml_lvlm_context(run->m)};
    if (o.C > V) return ml_error_set(err, ML_ERR_ARG, "opera: %d candidates, more than the %lld tokens", o.C, (long long)V);
    o.hooks = (MlHooks){.fn = capture_rows, .user = &o, .attn_rows = ML_HOOK_ROWS_ALL};
    ml_hooks_select(&o.hooks, ML_TOWER_TEXT, ML_HOOK_ATTN_PROBS, ml_lvlm_layers(run->m) - 1);
    const size_t mat = (size_t)o.W * (size_t)o.W;
    int ok = 1;
    for (int b = 0; b < o.B && ok; b++) ok = (o.mat[b] = calloc(mat, sizeof(float))) && (o.tmp[b] = calloc(mat, sizeof(float)));
    ok = ok && (o.cand = calloc((size_t)o.W, sizeof(float))) && (o.head_max = malloc(sizeof(float) * (size_t)o.keys_cap)) &&
         (o.hist = calloc((size_t)o.B * (size_t)o.W, sizeof(int64_t))) && (o.uses = calloc((size_t)o.window, sizeof(int)));
    if (!ok) {
        opera_free(&o);
        return ml_error_set(err, ML_ERR_NOMEM, "opera: out of memory for %lld tokens", (long long)max_tokens);
    }
    MlBeamConfig bc = {.beams = o.B, .length_penalty = 1.0, .early_stopping = ML_BEAM_STOP_HEURISTIC,
                       .max_tokens = max_tokens, .eos_id = eos_id};
    MlBeamSearchHooks h = {.rescore = opera_rescore, .chosen = opera_chosen, .beam_hooks = opera_beam_hooks,
                           .rollback = ml_method_param(c, "rollback") ? opera_rollback : NULL, .user = &o};
    double score;
    int rc = ml_beam_search(run->session[0], logits[0], &bc, &h, out, n_out, &score, err);
    opera_free(&o);
    return rc;
}

const MlMethod ml_method_opera = {
    ML_METHOD_ID("opera", "OPERA: beam search with the over-trust penalty and roll-back (5 beams, scale 50, threshold 15)",
                 ""),
    .n_passes = 1,
    ML_METHOD_PARAMS(params),
    .generate = opera_generate,
};
