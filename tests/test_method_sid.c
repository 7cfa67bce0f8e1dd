/* test_method_sid.c: SID (mitigate/sid.c) on the shipped organism (3 decoder
   layers, 16 image tokens: with the published keep of 100 SID keeps them all,
   so the non-trivial case keeps fewer).  Its first-step scores and greedy
   tokens agree with the independent NumPy reference
   (tests/reference/attn_methods_ref.py, where the contrast pass selects from
   its own attention): two questions about one image with shared prefixes
   (each question selects anew), in one call, and with the prompt cut into
   chunks; keeping every image token answers as greedy; a layer the model
   lacks and bad parameters are refused. */
#include "attn_method_ref.h"

#include "kernels/threads.h"

static const char *questions[] = {"Is there a red circle in the image?", "Describe the image."};

static void config(MlMethodConfig *c, const char *name, const char *a, const char *b) {
    MlError err = {0};
    ml_method_defaults(c, ml_method_find(name));
    if (a) CHECK_OK(ml_method_set(c, a, &err), &err);
    if (b) CHECK_OK(ml_method_set(c, b, &err), &err);
}

static void against_numpy(const char *a, const char *b, const char *params, MlPrefixMode mode, int64_t chunk) {
    MlMethodConfig c;
    config(&c, "sid", a, b);
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
        CHECK(r.n_img == 16);
        CHECK((int64_t)r.n_ids[0] > 2 * chunk || !chunk);
        int32_t ids[MREF_MAX_TOKENS];
        int64_t n_ids = 0;
        CHECK(mref_numpy(&r, "sid", params, 6, ref, ids, &n_ids) == 0);
        float gap;
        int agree = mref_scores_agree(r.scores, ref, V, 2e-4f, &gap);
        if (!agree) fprintf(stderr, "  sid %s %s q%d: scores differ by %g\n", a ? a : "", b ? b : "", q, gap);
        CHECK(agree);
        CHECK(n_ids == r.n_out && !memcmp(ids, r.out, sizeof(int32_t) * (size_t)n_ids));
        mref_free(&r);
    }
    free(ref);
}

static void test_keep5_matches_numpy(void) {
    against_numpy("keep=5", NULL, "--param keep=5", ML_PREFIX_SHARED, 0);
    against_numpy("keep=5", "alpha=2", "--param keep=5 --param alpha=2", ML_PREFIX_ONE_CALL, 0);
    /* masking from layer 1 on changes the image rows' layer-2 keys: a prefix shared across questions would show */
    against_numpy("keep=11", "layer=1", "--param keep=11 --param layer=1", ML_PREFIX_SHARED, 0);
    against_numpy("keep=11", "layer=1", "--param keep=11 --param layer=1", ML_PREFIX_SPLIT, 0);
}

static void test_chunked_prompt_matches_numpy(void) {
    against_numpy("keep=5", "alpha=2", "--param keep=5 --param alpha=2", ML_PREFIX_ONE_CALL, 5);
}

/* The selection is live: keeping 5 of 16 image tokens moves the scores away from keeping all. */
static void test_masking_moves_scores(void) {
    MlMethodConfig c5, c16;
    config(&c5, "sid", "keep=5", NULL);
    config(&c16, "sid", "keep=16", NULL);
    MRun r5, r16;
    CHECK(mref_run(&r5, &c5, ML_PREFIX_SHARED, questions[0], 1) == 0);
    CHECK(mref_run(&r16, &c16, ML_PREFIX_SHARED, questions[0], 1) == 0);
    float gap;
    if (r5.scores && r16.scores) CHECK(!mref_scores_agree(r5.scores, r16.scores, ml_lvlm_vocab(mref_model), 1e-3f, &gap));
    mref_free(&r5), mref_free(&r16);
}

static void test_keeping_every_token_is_greedy(void) {
    MlMethodConfig greedy;
    config(&greedy, "greedy", NULL, NULL);
    const char *keeps[] = {"keep=16", "keep=100"};
    for (int k = 0; k < 2; k++) {
        MlMethodConfig sid;
        config(&sid, "sid", keeps[k], NULL);
        for (int q = 0; q < 2; q++) {
            MRun a, g;
            CHECK(mref_run(&a, &sid, ML_PREFIX_SHARED, questions[q], MREF_MAX_TOKENS) == 0);
            CHECK(mref_run(&g, &greedy, ML_PREFIX_SHARED, questions[q], MREF_MAX_TOKENS) == 0);
            CHECK(a.n_out == g.n_out && a.n_out > 0 && !memcmp(a.out, g.out, sizeof(int32_t) * (size_t)a.n_out));
            mref_free(&a), mref_free(&g);
        }
    }
}

static void test_bad_input(void) {
    MlError err = {0};
    MlMethodConfig c;
    config(&c, "sid", "layer=3", NULL); /* the organism's layers are 0..2 */
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = ML_PREFIX_SHARED};
    MlRunner *r = NULL;
    CHECK(ml_runner_new(&r, mref_model, &c, &o, &err) == ML_ERR_ARG && !r);
    CHECK(strstr(err.msg, "layer 3 does not exist") != NULL);
    ml_method_defaults(&c, ml_method_find("sid"));
    CHECK(ml_method_set(&c, "keep=0", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "keep=2.5", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "layer=0", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "alpha=-0.5", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "decode=beam", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "gamma=1", &err) == ML_ERR_ARG);
}

static void test_published_defaults(void) {
    MlMethodConfig c;
    ml_method_defaults(&c, ml_method_find("sid"));
    CHECK(ml_method_param(&c, "alpha") == 0.5 && ml_method_param(&c, "keep") == 100);
    CHECK(ml_method_param(&c, "layer") == 2 && ml_method_param(&c, "decode") == ML_DECODE_GREEDY);
}

int main(void) {
    ml_threads_set(1);
    if (mref_open("method_sid")) return test_summary("test_method_sid") | 1;
    RUN(test_published_defaults);
    RUN(test_keep5_matches_numpy);
    RUN(test_chunked_prompt_matches_numpy);
    RUN(test_masking_moves_scores);
    RUN(test_keeping_every_token_is_greedy);
    RUN(test_bad_input);
    mref_close();
    return test_summary("test_method_sid");
}
