/* test_contrast.c: the contrastive combiner and APC on hand-made logits, and
   passes in lockstep on a tiny model against single-session generation. */
#include "test.h"

#include "decode/contrast.h"
#include "decode/sampler.h"
#include "decode/session.h"
#include "kernels/threads.h"
#include "model/init.h"
#include "model/lvlm.h"
#include "model/prompt.h"

static MlLvlm *model;
static float *feats_a, *feats_b; /* features of two different pictures */
static int32_t *prompt;
static size_t n_prompt;

/* ---- hand-made logits ---- */

static void test_combine_by_hand(void) {
    const float l[4] = {1, 2, 3, -1}, lc[4] = {0.5f, 2, 1, 0};
    float s[4];
    ml_contrast_combine(s, l, lc, 4, 1.0f); /* 2 l - l' */
    CHECK(s[0] == 1.5f && s[1] == 2.0f && s[2] == 5.0f && s[3] == -2.0f);
    ml_contrast_combine(s, l, lc, 4, 0.5f); /* 1.5 l - 0.5 l' */
    CHECK(s[0] == 1.25f && s[1] == 2.0f && s[2] == 4.0f && s[3] == -1.5f);
    ml_contrast_combine(s, l, lc, 4, 0.0f); /* alpha 0: the normal pass exactly */
    CHECK(!memcmp(s, l, sizeof l));
    float in_place[4] = {1, 2, 3, -1};
    ml_contrast_combine(in_place, in_place, lc, 4, 1.0f);
    CHECK(in_place[2] == 5.0f);
}

static void test_apc_by_hand(void) {
    /* probabilities proportional to 1, 0.5, 0.1, 0.3 (shifted by 7: APC is relative to the max) */
    const float l[4] = {7.0f, 7.0f + logf(0.5f), 7.0f + logf(0.1f), 7.0f + logf(0.3f)};
    float s[4];
    memcpy(s, l, sizeof s);
    CHECK(ml_contrast_apc(s, l, 4, 0.2f) == 3); /* p >= 0.2 max p keeps 1, 0.5, 0.3 */
    CHECK(s[0] == l[0] && s[1] == l[1] && s[3] == l[3] && isinf(s[2]) && s[2] < 0);
    memcpy(s, l, sizeof s);
    CHECK(ml_contrast_apc(s, l, 4, 0.4f) == 2); /* keeps 1, 0.5 */
    CHECK(isinf(s[2]) && isinf(s[3]) && s[1] == l[1]);
    memcpy(s, l, sizeof s);
    CHECK(ml_contrast_apc(s, l, 4, 0.0f) == 4); /* log 0 = -inf: keeps everything */
    const float tie[3] = {2, 2, 1};
    float st[3] = {9, 8, 7};
    CHECK(ml_contrast_apc(st, tie, 3, 1.0f) == 2); /* beta 1: only the best, ties kept */
    CHECK(st[0] == 9 && st[1] == 8 && isinf(st[2]));
}

/* One VCD step: the mask comes from the normal pass, not from the combined scores. */
static void test_vcd_step_by_hand(void) {
    const float l[4] = {2, 1, 0, -3}, lc[4] = {1, 2, -1, -3};
    float s[4];
    ml_contrast_combine(s, l, lc, 4, 1.0f); /* 3, 0, 1, -3 */
    ml_contrast_apc(s, l, 4, 0.2f);         /* cutoff log 0.2 + 2 = 0.39: keeps tokens 0 and 1 */
    CHECK(s[0] == 3.0f && s[1] == 0.0f && isinf(s[2]) && isinf(s[3]));
    CHECK(ml_sampler_argmax(s, 4) == 0);
    /* sampling never draws a masked token */
    MlSampler smp;
    MlError err = {0};
    MlSamplerConfig sc = {.temperature = 1.0f, .top_p = 1.0f, .seed = 3};
    CHECK_OK(ml_sampler_init(&smp, &sc, 4, &err), &err);
    int seen1 = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t id = ml_sampler_sample(&smp, s);
        CHECK(id == 0 || id == 1);
        seen1 += id == 1;
    }
    /* p(1) = e^0 / (e^3 + e^0) = 0.0474 */
    CHECK(seen1 > 50 && seen1 < 150);
    ml_sampler_free(&smp);
}

/* ---- lockstep on a tiny model ---- */

static MlSession *session_with(const float *feats, float *logits) {
    MlError err = {0};
    MlSession *s = NULL;
    CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(s, prompt, (int64_t)n_prompt, feats, ml_lvlm_max_image_tokens(model), NULL, logits, &err),
             &err);
    return s;
}

static void sampler_with(MlSampler *smp, float temperature, uint64_t seed) {
    MlError err = {0};
    MlSamplerConfig sc = {.temperature = temperature, .top_p = 1.0f, .top_k = 0, .seed = seed};
    CHECK_OK(ml_sampler_init(smp, &sc, (int)ml_lvlm_vocab(model), &err), &err);
}

/* One pass, no combiner: exactly ml_session_generate, greedy and sampled. */
static void test_one_pass_equals_generate(void) {
    const int64_t V = ml_lvlm_vocab(model);
    MlError err = {0};
    float *la = malloc(sizeof(float) * V), *lb = malloc(sizeof(float) * V), *scores = malloc(sizeof(float) * V);
    for (int mode = 0; mode < 2; mode++) {
        float t = mode ? 1.0f : 0.0f;
        MlSession *a = session_with(feats_a, la), *b = session_with(feats_a, lb);
        MlSampler sa, sb;
        sampler_with(&sa, t, 17);
        sampler_with(&sb, t, 17);
        int32_t ta[10], tb[10];
        int64_t na = 0, nb = 0;
        CHECK_OK(ml_session_generate(a, &sa, la, 10, -1, NULL, NULL, NULL, ta, &na, &err), &err);
        CHECK_OK(ml_lockstep_generate(&b, 1, &lb, NULL, NULL, &sb, 10, -1, NULL, scores, tb, &nb, &err), &err);
        CHECK(na == 10 && nb == 10 && !memcmp(ta, tb, sizeof ta));
        CHECK(ml_session_length(a) == ml_session_length(b));
        CHECK(!memcmp(la, lb, sizeof(float) * V)); /* the logits after the last fed token */
        ml_sampler_free(&sa);
        ml_sampler_free(&sb);
        ml_session_free(a);
        ml_session_free(b);
    }
    free(la), free(lb), free(scores);
}

typedef struct Pick {
    int pass;         /* the pass whose logits are used */
    int64_t max_step; /* largest step seen */
    int forced_step;  /* >= 0: force token forced_id at that step */
    int32_t forced_id;
} Pick;

static void pick_pass(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step, void *user) {
    Pick *p = user;
    CHECK(n_passes == 2);
    if (step > p->max_step) p->max_step = step;
    memcpy(scores, logits[p->pass], sizeof(float) * (size_t)vocab);
    if (step == p->forced_step)
        for (int64_t i = 0; i < vocab; i++) scores[i] = i == p->forced_id ? 0.0f : -INFINITY;
}

/* Two passes on different pictures: steering by pass 1 alone reproduces a
   session of that picture, and pass 0 is fed the same tokens. */
static void test_two_passes_in_lockstep(void) {
    const int64_t V = ml_lvlm_vocab(model);
    MlError err = {0};
    float *l0 = malloc(sizeof(float) * V), *l1 = malloc(sizeof(float) * V), *lr = malloc(sizeof(float) * V);
    float *scores = malloc(sizeof(float) * V);
    MlSession *p0 = session_with(feats_a, l0), *p1 = session_with(feats_b, l1), *ref = session_with(feats_b, lr);
    const int64_t len0 = ml_session_length(p0);
    CHECK(memcmp(l0, l1, sizeof(float) * V) != 0); /* the pictures differ, so do the passes */
    MlSession *passes[2] = {p0, p1};
    float *logits[2] = {l0, l1};
    Pick pick = {.pass = 1, .max_step = -1, .forced_step = -1};
    MlSampler s1, s2;
    sampler_with(&s1, 0.0f, 0);
    sampler_with(&s2, 0.0f, 0);
    int32_t out[8], want[8];
    int64_t n = 0, nw = 0;
    CHECK_OK(ml_lockstep_generate(passes, 2, logits, pick_pass, &pick, &s1, 8, -1, NULL, scores, out, &n, &err), &err);
    CHECK_OK(ml_session_generate(ref, &s2, lr, 8, -1, NULL, NULL, NULL, want, &nw, &err), &err);
    CHECK(n == 8 && nw == 8 && !memcmp(out, want, sizeof out));
    CHECK(pick.max_step == 7);
    CHECK(ml_session_length(p0) == len0 + 7 && ml_session_length(p1) == len0 + 7); /* the last token is not fed */
    for (int i = 0; i < 7; i++) CHECK(ml_session_token(p0, len0 + i) == out[i] && ml_session_token(p1, len0 + i) == out[i]);
    CHECK(!memcmp(l1, lr, sizeof(float) * V));
    ml_sampler_free(&s1);
    ml_sampler_free(&s2);
    ml_session_free(p0), ml_session_free(p1), ml_session_free(ref);
    free(l0), free(l1), free(lr), free(scores);
}

static void test_stops_at_eos_and_limits(void) {
    const int64_t V = ml_lvlm_vocab(model);
    MlError err = {0};
    float *l0 = malloc(sizeof(float) * V), *l1 = malloc(sizeof(float) * V), *scores = malloc(sizeof(float) * V);
    MlSession *p0 = session_with(feats_a, l0), *p1 = session_with(feats_b, l1);
    const int64_t len0 = ml_session_length(p0);
    MlSession *passes[2] = {p0, p1};
    float *logits[2] = {l0, l1};
    MlSampler smp;
    sampler_with(&smp, 0.0f, 0);
    int32_t out[8];
    int64_t n = 0;
    /* the EOS is forced at step 2: pick an id the first two greedy steps do not choose */
    float *lr = malloc(sizeof(float) * V);
    MlSession *ref = session_with(feats_a, lr);
    CHECK_OK(ml_session_generate(ref, &smp, lr, 2, -1, NULL, NULL, NULL, out, &n, &err), &err);
    int32_t eos = 5;
    while (eos == out[0] || eos == out[1]) eos++;
    ml_session_free(ref);
    free(lr);
    Pick pick = {.pass = 0, .max_step = -1, .forced_step = 2, .forced_id = eos};
    CHECK_OK(ml_lockstep_generate(passes, 2, logits, pick_pass, &pick, &smp, 8, eos, NULL, scores, out, &n, &err), &err);
    CHECK(n == 3 && out[2] == eos);
    CHECK(ml_session_length(p0) == len0 + 2 && ml_session_length(p1) == len0 + 2);
    /* one token: nothing is fed */
    pick.forced_step = -1;
    CHECK_OK(ml_lockstep_generate(passes, 2, logits, pick_pass, &pick, &smp, 1, -1, NULL, scores, out, &n, &err), &err);
    CHECK(n == 1 && ml_session_length(p0) == len0 + 2);
    /* bad pass counts are refused */
    CHECK(ml_lockstep_generate(passes, 0, logits, NULL, NULL, &smp, 4, -1, NULL, scores, out, &n, &err) == ML_ERR_ARG);
    CHECK(n == 0 && strstr(err.msg, "passes"));
    ml_sampler_free(&smp);
    ml_session_free(p0), ml_session_free(p1);
    free(l0), free(l1), free(scores);
}

static int setup(void) {
    MlError err = {0};
    ml_threads_set(1); /* tiny shapes: one thread, and no spinning OpenMP workers on a shared machine */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tiny", test_tmpdir("contrast"));
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 5};
    if (ml_init_model(dir, &io, &err) || ml_lvlm_open(&model, dir, &err)) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    const int64_t np = ml_lvlm_pixel_floats(model), nf = ml_lvlm_max_image_tokens(model) * ml_lvlm_hidden(model);
    float *px = malloc(sizeof(float) * np);
    feats_a = malloc(sizeof(float) * nf);
    feats_b = malloc(sizeof(float) * nf);
    for (int64_t i = 0; i < np; i++) px[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
    int rc = ml_lvlm_encode_image(model, feats_a, px, NULL, &(int64_t){0}, &err);
    for (int64_t i = 0; i < np; i++) px[i] = (float)((i * 53 % 89) / 44.0 - 1.0);
    if (!rc) rc = ml_lvlm_encode_image(model, feats_b, px, NULL, &(int64_t){0}, &err);
    free(px);
    size_t image_end;
    if (!rc)
        rc = ml_prompt_build(ml_lvlm_tokenizer(model), NULL, "Is there a red star in the image?", 1, ml_lvlm_image_token_id(model),
                             (int)ml_lvlm_max_image_tokens(model), &prompt, &n_prompt, &image_end, &err);
    if (rc) fprintf(stderr, "setup: %s\n", err.msg);
    return rc;
}

int main(void) {
    RUN(test_combine_by_hand);
    RUN(test_apc_by_hand);
    RUN(test_vcd_step_by_hand);
    if (setup()) return test_summary("test_contrast") | 1;
    RUN(test_one_pass_equals_generate);
    RUN(test_two_passes_in_lockstep);
    RUN(test_stops_at_eos_and_limits);
    ml_lvlm_close(model);
    free(feats_a), free(feats_b), free(prompt);
    return test_summary("test_contrast");
}
