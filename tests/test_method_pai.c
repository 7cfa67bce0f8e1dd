/* test_method_pai.c: PAI (mitigate/pai.c) on the shipped organism (3 decoder
   layers: layer 2 amplified).  Its first-step scores and greedy tokens agree
   with the independent NumPy reference (tests/reference/attn_methods_ref.py),
   with the shared prefix, in one call, and with the prompt cut into chunks
   (only the prompt's last row is amplified); alpha 0 and gamma 1 answer as
   greedy; a layer the model lacks and bad parameters are refused. */
#include "attn_method_ref.h"

#include "kernels/threads.h"

static const char *questions[] = {"Is there a red circle in the image?", "Describe the image."};

static void config(MlMethodConfig *c, const char *name, const char *a, const char *b) {
    MlError err = {0};
    ml_method_defaults(c, ml_method_find(name));
    if (a) CHECK_OK(ml_method_set(c, a, &err), &err);
    if (b) CHECK_OK(ml_method_set(c, b, &err), &err);
}

/* The engine's PAI against NumPy's, scores and tokens. */
static void against_numpy(const char *a, const char *b, const char *params, MlPrefixMode mode, int64_t chunk) {
    MlMethodConfig c;
    config(&c, "pai", a, b);
    MlDecoderState *st = ml_lvlm_decoder_state(mref_model);
    const int64_t saved = st->max_rows;
    const int64_t V = ml_lvlm_vocab(mref_model);
    float *ref = malloc(sizeof(float) * (size_t)V);
    for (int q = 0; q < 2; q++) {
        MRun r;
        if (chunk) st->max_rows = chunk;
        int rc = mref_run(&r, &c, mode, questions[q], 6);
        st->max_rows = saved;
        CHECK(rc == 0);
        if (rc) continue;
        CHECK((int64_t)r.n_ids[0] > 2 * chunk || !chunk); /* the prompt really spans several chunks */
        int32_t ids[MREF_MAX_TOKENS];
        int64_t n_ids = 0;
        CHECK(mref_numpy(&r, "pai", params, 6, ref, ids, &n_ids) == 0);
        float gap;
        int agree = mref_scores_agree(r.scores, ref, V, 2e-4f, &gap);
        if (!agree) fprintf(stderr, "  pai %s %s q%d: scores differ by %g\n", a ? a : "", b ? b : "", q, gap);
        CHECK(agree);
        CHECK(n_ids == r.n_out && !memcmp(ids, r.out, sizeof(int32_t) * (size_t)n_ids));
        mref_free(&r);
    }
    free(ref);
}

static void test_defaults_match_numpy(void) { against_numpy(NULL, NULL, "", ML_PREFIX_SHARED, 0); }

static void test_strong_settings_match_numpy(void) {
    /* a large alpha and gamma so that the amplification and the contrast both move the scores */
    against_numpy("alpha=3", "gamma=2", "--param alpha=3 --param gamma=2", ML_PREFIX_SHARED, 0);
    against_numpy("alpha=3", "gamma=2", "--param alpha=3 --param gamma=2", ML_PREFIX_ONE_CALL, 0);
}

/* From layer 1 on, so that an amplified row other than the last would change layer 2's keys and show. */
static void test_chunked_prompt_matches_numpy(void) {
    against_numpy("alpha=3", "start_layer=1", "--param alpha=3 --param start_layer=1", ML_PREFIX_ONE_CALL, 5);
    against_numpy("alpha=3", "start_layer=1", "--param alpha=3 --param start_layer=1", ML_PREFIX_SHARED, 0);
}

/* The amplification is live: with gamma 1 the scores are log_softmax of the amplified pass, which moves with alpha. */
static void test_amplification_moves_scores(void) {
    MlMethodConfig c0, c1;
    config(&c0, "pai", "alpha=0", "gamma=1");
    config(&c1, "pai", "alpha=3", "gamma=1");
    MRun r0, r1;
    CHECK(mref_run(&r0, &c0, ML_PREFIX_SHARED, questions[0], 1) == 0);
    CHECK(mref_run(&r1, &c1, ML_PREFIX_SHARED, questions[0], 1) == 0);
    float gap;
    if (r0.scores && r1.scores) CHECK(!mref_scores_agree(r0.scores, r1.scores, ml_lvlm_vocab(mref_model), 1e-3f, &gap));
    mref_free(&r0), mref_free(&r1);
}

static void test_identity_alpha0_gamma1_is_greedy(void) {
    MlMethodConfig pai, greedy;
    config(&pai, "pai", "alpha=0", "gamma=1");
    config(&greedy, "greedy", NULL, NULL);
    for (int q = 0; q < 2; q++) {
        MRun a, g;
        CHECK(mref_run(&a, &pai, ML_PREFIX_SHARED, questions[q], MREF_MAX_TOKENS) == 0);
        CHECK(mref_run(&g, &greedy, ML_PREFIX_SHARED, questions[q], MREF_MAX_TOKENS) == 0);
        CHECK(a.n_out == g.n_out && a.n_out > 0 && !memcmp(a.out, g.out, sizeof(int32_t) * (size_t)a.n_out));
        mref_free(&a), mref_free(&g);
    }
}

static void test_bad_input(void) {
    MlError err = {0};
    MlMethodConfig c;
    config(&c, "pai", "start_layer=3", NULL); /* the organism's layers are 0..2 */
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = ML_PREFIX_SHARED};
    MlRunner *r = NULL;
    CHECK(ml_runner_new(&r, mref_model, &c, &o, &err) == ML_ERR_ARG && !r);
    CHECK(strstr(err.msg, "start_layer 3 does not exist") != NULL);
    ml_method_defaults(&c, ml_method_find("pai"));
    CHECK(ml_method_set(&c, "alpha=-1", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "gamma=nan", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "start_layer=1.5", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "decode=beam", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "keep=3", &err) == ML_ERR_ARG);
}

static void test_published_defaults(void) {
    MlMethodConfig c;
    ml_method_defaults(&c, ml_method_find("pai"));
    CHECK(ml_method_param(&c, "alpha") == 0.2 && ml_method_param(&c, "gamma") == 1.1);
    CHECK(ml_method_param(&c, "beta") == 0.1 && ml_method_param(&c, "start_layer") == 2);
    CHECK(ml_method_param(&c, "decode") == ML_DECODE_GREEDY);
}

int main(void) {
    ml_threads_set(1);
    if (mref_open("method_pai")) return test_summary("test_method_pai") | 1;
    RUN(test_published_defaults);
    RUN(test_defaults_match_numpy);
    RUN(test_strong_settings_match_numpy);
    RUN(test_chunked_prompt_matches_numpy);
    RUN(test_amplification_moves_scores);
    RUN(test_identity_alpha0_gamma1_is_greedy);
    RUN(test_bad_input);
    mref_close();
    return test_summary("test_method_pai");
}
