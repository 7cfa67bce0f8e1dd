/* test_method_opera.c: OPERA (mitigate/opera.h, the `opera` method).
   Expectations: column scores and roll-back decisions worked out by hand
   from the official rule on hand-built attention patterns (float16 values
   as exact binary fractions); on a tiny model, OPERA with penalty weight 0
   and roll-back off equals beam search restricted, independently here, to
   the same top-5 candidates per beam. */
#include "test.h"

#include <math.h>

#include "decode/beam.h"
#include "decode/session.h"
#include "kernels/threads.h"
#include "mitigate/beam_search.h"
#include "mitigate/method.h"
#include "mitigate/opera.h"
#include "mitigate/runner.h"
#include "model/init.h"
#include "model/lvlm.h"
#include "model/prompt.h"

#define MAX_T 48
static MlLvlm *model;

static void test_window_score_by_hand(void) {
    /* rows: [.5], [.5 .5], [.5 .25 .25]; scale 50:
       col 0: 1e-7 * 25^3 = 0.0015625 -> float16 1638 * 2^-20
       col 1: 1e-7 * 25 * 12.5 = 3.125e-5 -> subnormal 524 * 2^-24
       col 2: 1e-7 * 12.5 = 1.25e-6 -> 21 * 2^-24 */
    const float w[3 * 4] = {0.5f, 0, 0, 0, 0.5f, 0.5f, 0, 0, 0.5f, 0.25f, 0.25f, 0};
    int64_t loc = -1;
    float s = ml_opera_window_score(w, 3, 4, 50.0f, &loc);
    CHECK(s == (float)(1638.0 / 1048576.0) && loc == 0);
    /* the last column alone: only the candidate row counts */
    const float w2[2 * 2] = {1.0f, 0, 0.01f, 0.99f};
    s = ml_opera_window_score(w2, 2, 2, 50.0f, &loc);
    /* col 0: 1e-7 * 50 * 0.5 = 2.5e-6 -> 42 * 2^-24; col 1: 1e-7 * 49.5 = 4.95e-6 -> 83 * 2^-24 */
    CHECK(s == (float)(83.0 / 16777216.0) && loc == 1);
    /* 20 rows all on column 0: 1e-7 * 50^20 overflows float16 to inf */
    float big[20 * 20] = {0};
    for (int i = 0; i < 20; i++) big[i * 20] = 1.0f;
    s = ml_opera_window_score(big, 20, 20, 50.0f, &loc);
    CHECK(isinf(s) && loc == 0);
    /* a summary token at window column 11 that every later row attends to
       (0.9 there, 0.1 spread over the rest; earlier rows 0.9 on themselves):
       column 11 scores 1e-7 * 45^5 = 18.45, every other column below 1e-7 * 45 */
    float sink[16 * 16] = {0};
    for (int i = 0; i < 16; i++)
        for (int j = 0; j <= i; j++) sink[i * 16 + j] = j == (i >= 11 ? 11 : i) ? 0.9f : (i ? 0.1f / (float)i : 0);
    s = ml_opera_window_score(sink, 16, 16, 50.0f, &loc);
    CHECK(loc == 11 && fabs(s - 18.45) < 0.02);
}

static void test_mode(void) {
    const int64_t a[] = {3, 1, 3, 1, 2}, b[] = {7}, c[] = {4, 4, 9, 9, 9};
    CHECK(ml_opera_mode(a, 5) == 1); /* tie: the smallest */
    CHECK(ml_opera_mode(b, 1) == 7);
    CHECK(ml_opera_mode(c, 5) == 9);
}

static void test_rollback_rule(void) {
    enum { B = 3, N = 16, S = 20, WINDOW = 512 };
    int64_t h[B * S];
    int uses[WINDOW] = {0};
    for (int b = 0; b < B; b++)
        for (int k = 0; k < N; k++) h[b * S + k] = 12;
    /* 16 > 15 times in every slot, location 12 >= 10: back to 13, five times, then 12 five times, then never */
    for (int t = 0; t < 5; t++) CHECK(ml_opera_rollback_target(h, S, B, N, 12, 15, 5, uses, WINDOW) == 13);
    for (int t = 0; t < 5; t++) CHECK(ml_opera_rollback_target(h, S, B, N, 12, 15, 5, uses, WINDOW) == 12);
    CHECK(ml_opera_rollback_target(h, S, B, N, 12, 15, 5, uses, WINDOW) == -1);
    CHECK(uses[13] == 5 && uses[12] == 5);
    memset(uses, 0, sizeof uses);
    CHECK(ml_opera_rollback_target(h, S, B, N - 1, 12, 15, 5, uses, WINDOW) == -1); /* 15 times: not more than 15 */
    h[1 * S + 3] = 11;                                                              /* one slot sees 12 only 15 times */
    CHECK(ml_opera_rollback_target(h, S, B, N, 12, 15, 5, uses, WINDOW) == -1);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < N; k++) h[b * S + k] = 9;
    CHECK(ml_opera_rollback_target(h, S, B, N, 9, 15, 5, uses, WINDOW) == -1); /* below 10 */
    for (int b = 0; b < B; b++)
        for (int k = 0; k < N; k++) h[b * S + k] = 30;
    CHECK(ml_opera_rollback_target(h, S, B, N, 30, 15, 5, uses, 31) == -1); /* past the window */
    CHECK(ml_opera_rollback_target(h, S, B, N, 30, 15, 5, uses, 32) == 31);
}

/* The restriction written here: every beam keeps its top 5 raw logits, the rest -999. */
static int restrict_top5(void *user, MlSession *const *sessions, float *const *logits, int64_t step, MlError *err) {
    (void)sessions, (void)step, (void)err;
    const int B = *(const int *)user;
    const int64_t V = ml_lvlm_vocab(model);
    float *keep = malloc(sizeof(float) * (size_t)V);
    for (int b = 0; b < B; b++) {
        float *x = logits[b];
        memcpy(keep, x, sizeof(float) * (size_t)V);
        for (int64_t v = 0; v < V; v++) {
            int better = 0; /* tokens ranked before v: higher logit, or equal with a lower id */
            for (int64_t u = 0; u < V && better < 5; u++) better += keep[u] > keep[v] || (keep[u] == keep[v] && u < v);
            x[v] = better < 5 ? keep[v] : -999.0f;
        }
    }
    free(keep);
    return ML_OK;
}

static void run_opera(const char *const *params, const char *question, int64_t max_tokens, int32_t *out,
                      int64_t *n) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, ml_method_find("opera"));
    for (int i = 0; params[i]; i++) CHECK_OK(ml_method_set(&cfg, params[i], &err), &err);
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .seed = 1, .prefix = ML_PREFIX_ONE_CALL};
    MlRunner *r = NULL;
    *n = 0;
    CHECK_OK(ml_runner_new(&r, model, &cfg, &o, &err), &err);
    if (!r) return;
    CHECK_OK(ml_runner_set_image(r, NULL, "none", &err), &err);
    CHECK_OK(ml_runner_ask(r, question, &err), &err);
    CHECK_OK(ml_runner_prefill(r, max_tokens, &err), &err);
    MlSamplerConfig sc = {0};
    CHECK_OK(ml_runner_generate(r, &sc, max_tokens, ml_lvlm_eos_id(model), NULL, NULL, out, n, &err), &err);
    ml_runner_free(r);
}

static void test_no_penalty_equals_restricted_beam(void) {
    MlError err = {0};
    const char *question = "Describe the picture.";
    const int64_t T = 9; /* windows of at most 10: the penalty is finite, so weight 0 removes it */
    int32_t a[MAX_T], r[MAX_T];
    int64_t na, nr = -1;
    const char *params[] = {"penalty_weight=0", "rollback=off", NULL};
    run_opera(params, question, T, a, &na);
    int32_t *ids = NULL;
    size_t n = 0, end = 0;
    MlPromptOptions po = {ML_TEMPLATE_HF, NULL, 0};
    CHECK_OK(ml_prompt_build(ml_lvlm_tokenizer(model), &po, question, 0, ml_lvlm_image_token_id(model), 0, &ids, &n,
                             &end, &err),
             &err);
    float *l = malloc(sizeof(float) * (size_t)ml_lvlm_vocab(model));
    MlSession *root = NULL;
    CHECK_OK(ml_session_new(&root, model, (int64_t)n + T, &err), &err);
    CHECK_OK(ml_session_prefill(root, ids, (int64_t)n, NULL, 0, NULL, l, &err), &err);
    int B = 5;
    MlBeamConfig bc = {B, 1.0, ML_BEAM_STOP_HEURISTIC, T, ml_lvlm_eos_id(model)};
    MlBeamSearchHooks h = {.rescore = restrict_top5, .user = &B};
    double s;
    CHECK_OK(ml_beam_search(root, l, &bc, &h, r, &nr, &s, &err), &err);
    CHECK(na == nr && na > 0 && !memcmp(a, r, sizeof(int32_t) * (size_t)na));
    ml_session_free(root);
    free(ids), free(l);
}

/* Roll-back taken as soon as its rule allows (threshold 0): the search still ends cleanly. */
static void test_rollback_runs(void) {
    int32_t a[MAX_T], b[MAX_T];
    int64_t na, nb;
    const char *eager[] = {"threshold=0", NULL}, *off[] = {"rollback=off", NULL};
    run_opera(eager, "Describe the picture in every detail.", 40, a, &na);
    run_opera(off, "Describe the picture in every detail.", 40, b, &nb);
    CHECK(na > 0 && na <= 40 && nb > 0 && nb <= 40);
}

static void test_bad_input(void) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, ml_method_find("opera"));
    const char *bad[] = {"candidates=0", "candidates=65", "window=0", "threshold=-1", "beams=0", "rollback=maybe",
                         "scale=-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(ml_method_set(&cfg, bad[i], &err) == ML_ERR_ARG);
}

int main(void) {
    MlError err = {0};
    ml_threads_set(1);
    char dir[800];
    snprintf(dir, sizeof dir, "%s/tiny", test_tmpdir("method_opera"));
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 5};
    if (ml_init_model(dir, &io, &err) || ml_lvlm_open(&model, dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_method_opera") | 1;
    }
    RUN(test_window_score_by_hand);
    RUN(test_mode);
    RUN(test_rollback_rule);
    RUN(test_no_penalty_equals_restricted_beam);
    RUN(test_rollback_runs);
    RUN(test_bad_input);
    ml_lvlm_close(model);
    return test_summary("test_method_opera");
}
