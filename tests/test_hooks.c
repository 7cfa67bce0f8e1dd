/* test_hooks.c: hooks read and change the forward pass as promised.
   A zero intervention at every point leaves every bit unchanged; known edits
   change the logits exactly as the naive model (model_ref.h) predicts;
   attention probabilities are distributions that respect the causal mask. */
#include "test.h"

#include <unistd.h>

#include "decode/session.h"
#include "kernels/threads.h"
#include "model/hooks.h"
#include "model/lvlm.h"
#include "model_ref.h"

static MlLvlm *model;
static float *pixels, *feats_plain;
static int32_t ids[64];
static int64_t n_ids;

static uint64_t rs = 4242;
static float frand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((rs >> 40) / 8388608.0 - 1.0);
}

/* Image features and the logits of the prompt's last position plus two
   greedy steps, all with the given hooks. */
static void run(const MlHooks *h, float *feats, float *logits3) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model);
    CHECK_OK(ml_lvlm_encode_image(model, feats, pixels, h, &(int64_t){0}, &err), &err);
    MlSession *s;
    CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(s, ids, n_ids, feats, ml_lvlm_max_image_tokens(model), h, logits3, &err), &err);
    for (int step = 1; step < 3; step++) {
        int32_t next = (int32_t)(step * 7 + 3);
        CHECK_OK(ml_session_prefill(s, &next, 1, NULL, 0, h, logits3 + step * V, &err), &err);
    }
    ml_session_free(s);
}

typedef struct ZeroLog {
    int calls[2][ML_HOOK_N_POINTS];
    double worst_sum_err;
    int masked_nonzero, bad_layout;
} ZeroLog;

static void zero_hook(const MlHookSite *s, float *x, void *user) {
    ZeroLog *z = user;
    z->calls[s->tower][s->point]++;
    if (s->point == ML_HOOK_ATTN_PROBS) {
        if (s->heads <= 0 || s->keys != s->width) z->bad_layout++;
        for (int h = 0; h < s->heads; h++)
            for (int64_t r = 0; r < s->rows; r++) {
                const float *p = x + ((size_t)h * s->rows + r) * s->keys;
                double sum = 0;
                for (int64_t j = 0; j < s->keys; j++) {
                    sum += p[j];
                    if (s->tower == ML_TOWER_TEXT && j > s->pos0 + r && p[j] != 0.0f) z->masked_nonzero++;
                }
                z->worst_sum_err = fmax(z->worst_sum_err, fabs(sum - 1));
            }
        return;
    }
    size_t n = s->point == ML_HOOK_ATTN_SCORES ? (size_t)s->heads * s->rows * s->keys : (size_t)(s->rows * s->width);
    if (s->point == ML_HOOK_ATTN_SCORES) {
        for (size_t i = 0; i < n; i++) {
            volatile float v = x[i]; /* rewritten unchanged */
            x[i] = v;
        }
    } else {
        for (size_t i = 0; i < n; i++) x[i] += 0.0f;
    }
}

static void test_zero_intervention_is_bit_identical(void) {
    const int64_t V = ml_lvlm_vocab(model), F = ml_lvlm_max_image_tokens(model) * ml_lvlm_hidden(model);
    float *f0 = malloc(sizeof(float) * F), *f1 = malloc(sizeof(float) * F);
    float *l0 = malloc(sizeof(float) * 3 * V), *l1 = malloc(sizeof(float) * 3 * V);
    run(NULL, f0, l0);
    for (int rows = 0; rows < 2; rows++) {
        ZeroLog z = {0};
        MlHooks h = {.fn = zero_hook, .user = &z, .attn_rows = rows ? ML_HOOK_ROWS_LAST : ML_HOOK_ROWS_ALL};
        for (int t = 0; t < 2; t++)
            for (int p = 0; p < ML_HOOK_N_POINTS; p++) ml_hooks_select_all(&h, (MlTower)t, (MlHookPoint)p);
        run(&h, f1, l1);
        CHECK(!memcmp(f0, f1, sizeof(float) * F));
        CHECK(!memcmp(l0, l1, sizeof(float) * 3 * V));
        /* every point fired: vision runs n_run layers (+1 residual for the embeddings);
           the text tower runs 3 calls (prefill + 2 steps) */
        int nv = ml_lvlm_vision_layers(model), nt = ml_lvlm_layers(model);
        CHECK(z.calls[ML_TOWER_VISION][ML_HOOK_RESIDUAL] == nv + 1);
        CHECK(z.calls[ML_TOWER_VISION][ML_HOOK_MLP_OUT] == nv);
        CHECK(z.calls[ML_TOWER_VISION][ML_HOOK_ATTN_PROBS] == nv);
        CHECK(z.calls[ML_TOWER_TEXT][ML_HOOK_RESIDUAL] == 3 * (nt + 1));
        CHECK(z.calls[ML_TOWER_TEXT][ML_HOOK_ATTN_SCORES] == 3 * nt);
        CHECK(z.calls[ML_TOWER_TEXT][ML_HOOK_ATTN_HEADS] == 3 * nt);
        CHECK(z.calls[ML_TOWER_TEXT][ML_HOOK_ATTN_OUT] == 3 * nt);
        CHECK(z.worst_sum_err < 1e-5);
        CHECK(z.masked_nonzero == 0 && z.bad_layout == 0);
    }
    /* a table with a function but nothing selected never calls it */
    ZeroLog z = {0};
    MlHooks none = {.fn = zero_hook, .user = &z};
    run(&none, f1, l1);
    int total = 0;
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < ML_HOOK_N_POINTS; p++) total += z.calls[t][p];
    CHECK(total == 0);
    CHECK(!memcmp(l0, l1, sizeof(float) * 3 * V));
    free(f0), free(f1), free(l0), free(l1);
}

/* Adds a vector at one layer's point, last position of the prefill. */
typedef struct AddEdit {
    const float *vec;
    MlHookSite seen;
    int calls;
} AddEdit;

static void add_hook(const MlHookSite *s, float *x, void *user) {
    AddEdit *e = user;
    e->seen = *s;
    e->calls++;
    if (s->rows < 2) return; /* only the prefill call */
    float *last = x + (size_t)(s->rows - 1) * s->width;
    for (int64_t i = 0; i < s->width; i++) last[i] += e->vec[i];
}

static double max_diff_fd(const float *a, const double *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs(a[i] - b[i]));
    return w;
}

static void test_residual_and_mlp_edits(void) {
    MlError err = {0};
    const int64_t D = ml_lvlm_hidden(model), V = ml_lvlm_vocab(model), n_img = ml_lvlm_max_image_tokens(model);
    const int last_layer = ml_lvlm_layers(model) - 1;
    RefModel r;
    ref_load(&r, ml_lvlm_checkpoint(model));
    float *vec = malloc(sizeof(float) * D);
    double *dvec = malloc(sizeof(double) * D);
    for (int64_t i = 0; i < D; i++) dvec[i] = vec[i] = 0.5f * frand();
    double *rfeats = malloc(sizeof(double) * n_img * D), *rlog = malloc(sizeof(double) * n_ids * V),
           *rbase = malloc(sizeof(double) * n_ids * V);
    ref_image_features(&r, pixels, rfeats);
    RefEdits e = ref_no_edits();
    e.resid_layer = last_layer;
    e.resid_pos = n_ids - 1;
    e.resid_add = dvec;
    ref_logits(&r, ids, n_ids, rfeats, &e, rlog, NULL);
    ref_logits(&r, ids, n_ids, rfeats, NULL, rbase, NULL);
    float *logits = malloc(sizeof(float) * V);
    /* The residual after the last layer, and the MLP output of the last layer
       (the residual is h + mlp_out), both predict the same logits. */
    const MlHookPoint points[2] = {ML_HOOK_RESIDUAL, ML_HOOK_MLP_OUT};
    for (int k = 0; k < 2; k++) {
        AddEdit ed = {.vec = vec};
        MlHooks h = {.fn = add_hook, .user = &ed};
        ml_hooks_select(&h, ML_TOWER_TEXT, points[k], last_layer);
        MlSession *s;
        CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
        CHECK_OK(ml_session_prefill(s, ids, n_ids, feats_plain, n_img, &h, logits, &err), &err);
        CHECK(ed.calls == 1 && ed.seen.layer == last_layer && ed.seen.rows == n_ids && ed.seen.pos0 == 0 &&
              ed.seen.width == D && ed.seen.tower == ML_TOWER_TEXT && ed.seen.point == points[k]);
        double d = max_diff_fd(logits, rlog + (n_ids - 1) * V, (size_t)V);
        double moved = max_diff_fd(logits, rbase + (n_ids - 1) * V, (size_t)V);
        if (d > 1e-4) fprintf(stderr, "  point %d: edited logits differ from the prediction by %g\n", k, d);
        CHECK(d <= 1e-4);
        CHECK(moved > 1e-2); /* the edit had a visible effect */
        ml_session_free(s);
    }
    free(vec), free(dvec), free(rfeats), free(rlog), free(rbase), free(logits);
}

/* Head `head` of `layer` at the last query row may attend only to key `key`. */
typedef struct PinEdit {
    int head;
    int64_t key;
    MlHookSite seen;
} PinEdit;

static void pin_hook(const MlHookSite *s, float *x, void *user) {
    PinEdit *e = user;
    e->seen = *s;
    if (s->point != ML_HOOK_ATTN_SCORES) return;
    float *row = x + ((size_t)e->head * s->rows + (s->rows - 1)) * s->keys;
    for (int64_t j = 0; j < s->keys; j++)
        if (j != e->key) row[j] = -INFINITY;
}

static void test_attention_score_edit(void) {
    MlError err = {0};
    const int64_t D = ml_lvlm_hidden(model), V = ml_lvlm_vocab(model), n_img = ml_lvlm_max_image_tokens(model);
    RefModel r;
    ref_load(&r, ml_lvlm_checkpoint(model));
    double *rfeats = malloc(sizeof(double) * n_img * D), *rlog = malloc(sizeof(double) * n_ids * V);
    ref_image_features(&r, pixels, rfeats);
    for (int layer = 0; layer < ml_lvlm_layers(model); layer++) {
        PinEdit pe = {.head = 2, .key = 3};
        MlHooks h = {.fn = pin_hook, .user = &pe, .attn_rows = ML_HOOK_ROWS_LAST};
        ml_hooks_select(&h, ML_TOWER_TEXT, ML_HOOK_ATTN_SCORES, layer);
        float *logits = malloc(sizeof(float) * V);
        MlSession *s;
        CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
        CHECK_OK(ml_session_prefill(s, ids, n_ids, feats_plain, n_img, &h, logits, &err), &err);
        CHECK(pe.seen.rows == 1 && pe.seen.pos0 == n_ids - 1 && pe.seen.keys == n_ids &&
              pe.seen.heads == ml_lvlm_heads(model) && pe.seen.layer == layer);
        RefEdits e = ref_no_edits();
        e.attn_layer = layer;
        e.attn_head = 2;
        e.attn_row = n_ids - 1;
        e.attn_key = 3;
        ref_logits(&r, ids, n_ids, rfeats, &e, rlog, NULL);
        double d = max_diff_fd(logits, rlog + (n_ids - 1) * V, (size_t)V);
        if (d > 1e-4) fprintf(stderr, "  layer %d: pinned-attention logits differ by %g\n", layer, d);
        CHECK(d <= 1e-4);
        ml_session_free(s);
        free(logits);
    }
    free(rfeats), free(rlog);
}

/* Replacing the selected vision hidden state gives projector(that state). */
typedef struct SetEdit {
    const float *rows; /* (N, Dv) */
} SetEdit;

static void set_hook(const MlHookSite *s, float *x, void *user) {
    SetEdit *e = user;
    memcpy(x, e->rows, sizeof(float) * s->rows * s->width);
}

static void test_vision_residual_edit(void) {
    MlError err = {0};
    const int64_t Dv = ml_lvlm_vision_hidden(model), N = ml_lvlm_vision_tokens(model), n_img = ml_lvlm_max_image_tokens(model),
                  Dt = ml_lvlm_hidden(model);
    float *z = malloc(sizeof(float) * N * Dv);
    double *zd = malloc(sizeof(double) * N * Dv);
    for (int64_t i = 0; i < N * Dv; i++) zd[i] = z[i] = frand();
    SetEdit se = {z};
    MlHooks h = {.fn = set_hook, .user = &se};
    ml_hooks_select(&h, ML_TOWER_VISION, ML_HOOK_RESIDUAL, ml_lvlm_vision_layers(model) - 1);
    float *f = malloc(sizeof(float) * n_img * Dt);
    double *rf = malloc(sizeof(double) * n_img * Dt);
    CHECK_OK(ml_lvlm_encode_image(model, f, pixels, &h, &(int64_t){0}, &err), &err);
    RefModel r;
    ref_load(&r, ml_lvlm_checkpoint(model));
    ref_project(&r, zd + (N - n_img) * Dv, n_img, rf);
    CHECK(max_diff_fd(f, rf, (size_t)(n_img * Dt)) <= 1e-5);
    free(z), free(zd), free(f), free(rf);
}

int main(int argc, char **argv) {
    (void)argc;
    if (ml_threads_env_prepare()) execv("/proc/self/exe", argv);
    ml_threads_set(0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tiny", test_tmpdir("test_hooks"));
    MlError err = {0};
    if (ref_make_tiny(dir, ML_F16, 11) || ml_lvlm_open(&model, dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_hooks") | 1;
    }
    pixels = malloc(sizeof(float) * ml_lvlm_pixel_floats(model));
    for (int64_t i = 0; i < ml_lvlm_pixel_floats(model); i++) pixels[i] = 2 * frand();
    feats_plain = malloc(sizeof(float) * ml_lvlm_max_image_tokens(model) * ml_lvlm_hidden(model));
    CHECK_OK(ml_lvlm_encode_image(model, feats_plain, pixels, NULL, &(int64_t){0}, &err), &err);
    n_ids = 0;
    ids[n_ids++] = 1;
    for (int i = 0; i < 4; i++) ids[n_ids++] = 10 + 17 * i;
    for (int64_t i = 0; i < ml_lvlm_max_image_tokens(model); i++) ids[n_ids++] = ml_lvlm_image_token_id(model);
    for (int i = 0; i < 5; i++) ids[n_ids++] = 30 + 13 * i;
    RUN(test_zero_intervention_is_bit_identical);
    RUN(test_residual_and_mlp_edits);
    RUN(test_attention_score_edit);
    RUN(test_vision_residual_edit);
    free(pixels);
    free(feats_plain);
    ml_lvlm_close(model);
    return test_summary("test_hooks");
}
