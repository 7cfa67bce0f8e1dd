/* test_session.c: forked sessions give what recomputing from scratch gives. */
#include "test.h"

#include <unistd.h>

#include "decode/sampler.h"
#include "decode/session.h"
#include "kernels/threads.h"
#include "model/lvlm.h"
#include "model_ref.h"

static MlLvlm *model;
static float *feats;
static int32_t prefix[64];
static int64_t n_prefix;

typedef struct Answer {
    float *logits; /* (V) after the question */
    int32_t tokens[8];
    int64_t n_tokens;
} Answer;

static void answer_free(Answer *a) { free(a->logits); }

/* Logits after the question, then 6 greedy tokens. */
static void answer(MlSession *s, const int32_t *q, int64_t nq, int split_at, Answer *out) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model);
    out->logits = malloc(sizeof(float) * V);
    float *work = malloc(sizeof(float) * V);
    if (split_at > 0) {
        CHECK_OK(ml_session_prefill(s, q, split_at, NULL, 0, NULL, NULL, &err), &err);
        CHECK_OK(ml_session_prefill(s, q + split_at, nq - split_at, NULL, 0, NULL, out->logits, &err), &err);
    } else {
        CHECK_OK(ml_session_prefill(s, q, nq, NULL, 0, NULL, out->logits, &err), &err);
    }
    memcpy(work, out->logits, sizeof(float) * V);
    MlSampler smp;
    MlSamplerConfig sc = {0};
    CHECK_OK(ml_sampler_init(&smp, &sc, (int)V, &err), &err);
    CHECK_OK(ml_session_generate(s, &smp, work, 6, -1, NULL, NULL, NULL, out->tokens, &out->n_tokens, &err), &err);
    CHECK(out->n_tokens == 6);
    ml_sampler_free(&smp);
    free(work);
}

static double max_diff(const float *a, const float *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs(a[i] - b[i]));
    return w;
}

static void test_fork_equals_recompute(void) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model), n_img = ml_lvlm_max_image_tokens(model);
    RefModel r;
    ref_load(&r, ml_lvlm_checkpoint(model));
    /* three questions: one token, a short one (dot path), a long one (GEMM path) */
    int32_t qs[3][20];
    int64_t nq[3] = {1, 5, 17};
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < nq[k]; i++) qs[k][i] = (int32_t)(40 + 11 * k + 3 * i);
    MlSession *img;
    CHECK_OK(ml_session_new(&img, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(img, prefix, n_prefix, feats, n_img, NULL, NULL, &err), &err);
    for (int k = 0; k < 3; k++) {
        /* the fork */
        MlSession *child;
        Answer fa, sa, oa = {0};
        CHECK_OK(ml_session_fork(&child, img, 32, &err), &err);
        CHECK(ml_session_length(child) == n_prefix);
        answer(child, qs[k], nq[k], 0, &fa);
        CHECK(ml_session_token(child, 0) == prefix[0] && ml_session_token(child, n_prefix) == qs[k][0]);
        /* from scratch with the same calls: the same bits */
        MlSession *fresh;
        CHECK_OK(ml_session_new(&fresh, model, 0, &err), &err);
        CHECK_OK(ml_session_prefill(fresh, prefix, n_prefix, feats, n_img, NULL, NULL, &err), &err);
        answer(fresh, qs[k], nq[k], 0, &sa);
        CHECK(!memcmp(fa.logits, sa.logits, sizeof(float) * V));
        CHECK(fa.n_tokens == sa.n_tokens && !memcmp(fa.tokens, sa.tokens, sizeof(int32_t) * fa.n_tokens));
        ml_session_free(fresh);
        /* from scratch in one prefill: equal to rounding, the same tokens */
        int32_t all[96];
        memcpy(all, prefix, sizeof(int32_t) * n_prefix);
        memcpy(all + n_prefix, qs[k], sizeof(int32_t) * nq[k]);
        CHECK_OK(ml_session_new(&fresh, model, 0, &err), &err);
        oa.logits = malloc(sizeof(float) * V);
        CHECK_OK(ml_session_prefill(fresh, all, n_prefix + nq[k], feats, n_img, NULL, oa.logits, &err), &err);
        double d = max_diff(fa.logits, oa.logits, (size_t)V);
        CHECK(d <= 1e-4);
        CHECK(ml_sampler_argmax(fa.logits, (int)V) == ml_sampler_argmax(oa.logits, (int)V));
        ml_session_free(fresh);
        answer_free(&oa);
        /* and the naive model agrees */
        double *rf = malloc(sizeof(double) * n_img * ml_lvlm_hidden(model));
        double *rl = malloc(sizeof(double) * (n_prefix + nq[k]) * V);
        float *pix = malloc(sizeof(float) * ml_lvlm_pixel_floats(model));
        for (int64_t i = 0; i < ml_lvlm_pixel_floats(model); i++) pix[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
        ref_image_features(&r, pix, rf);
        ref_logits(&r, all, n_prefix + nq[k], rf, NULL, rl, NULL);
        float *lf = malloc(sizeof(float) * V);
        for (int64_t i = 0; i < V; i++) lf[i] = (float)rl[(n_prefix + nq[k] - 1) * V + i];
        CHECK(max_diff(fa.logits, lf, (size_t)V) <= 1e-4);
        free(rf), free(rl), free(pix), free(lf);
        answer_free(&fa);
        answer_free(&sa);
        CHECK(ml_session_free(child) == ML_OK);
    }
    CHECK(ml_session_free(img) == ML_OK);
}

/* A fork of a fork reads two parents; the result matches one session fed the same calls. */
static void test_fork_chain_and_rules(void) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model), n_img = ml_lvlm_max_image_tokens(model);
    int32_t q[12];
    for (int i = 0; i < 12; i++) q[i] = 60 + 5 * i;
    MlSession *img, *mid, *leaf;
    CHECK_OK(ml_session_new(&img, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(img, prefix, n_prefix, feats, n_img, NULL, NULL, &err), &err);
    CHECK_OK(ml_session_fork(&mid, img, 0, &err), &err);
    CHECK_OK(ml_session_prefill(mid, q, 9, NULL, 0, NULL, NULL, &err), &err);
    CHECK_OK(ml_session_fork(&leaf, mid, 16, &err), &err);
    Answer a, b;
    answer(leaf, q + 9, 3, 0, &a);
    CHECK(ml_session_token(leaf, n_prefix + 2) == q[2] && ml_session_token(leaf, 1) == prefix[1]);
    MlSession *one;
    CHECK_OK(ml_session_new(&one, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(one, prefix, n_prefix, feats, n_img, NULL, NULL, &err), &err);
    answer(one, q, 12, 9, &b);
    CHECK(!memcmp(a.logits, b.logits, sizeof(float) * V));
    CHECK(a.n_tokens == b.n_tokens && !memcmp(a.tokens, b.tokens, sizeof(int32_t) * a.n_tokens));
    /* rules: parents with forks cannot be extended, rewound or freed */
    CHECK(ml_session_prefill(mid, q, 1, NULL, 0, NULL, NULL, &err) == ML_ERR_ARG);
    CHECK(ml_session_rewind(img, 1, &err) == ML_ERR_ARG);
    CHECK(ml_session_free(img) == ML_ERR_ARG);
    /* rewinding the leaf to its start and asking again gives the same bits */
    int64_t start = n_prefix + 9;
    CHECK(ml_session_rewind(leaf, start - 1, &err) == ML_ERR_RANGE);
    CHECK_OK(ml_session_rewind(leaf, start, &err), &err);
    Answer c;
    answer(leaf, q + 9, 3, 0, &c);
    CHECK(!memcmp(a.logits, c.logits, sizeof(float) * V));
    /* capacity: 16 rows, 3 + 5 fed; 9 more do not fit and change nothing */
    int64_t len = ml_session_length(leaf);
    CHECK(ml_session_prefill(leaf, q, 9, NULL, 0, NULL, NULL, &err) == ML_ERR_RANGE);
    CHECK(ml_session_length(leaf) == len);
    answer_free(&a), answer_free(&b), answer_free(&c);
    CHECK(ml_session_free(leaf) == ML_OK);
    CHECK(ml_session_free(mid) == ML_OK);
    CHECK(ml_session_free(img) == ML_OK);
    CHECK(ml_session_free(one) == ML_OK);
}

/* A beam search forks every step: a chain of 200 forks, each holding one or
   two tokens of its own, reads every ancestor's rows without copying them.
   Its logits equal one session fed the same calls (bit for bit: the same
   shapes) and a from-scratch prefill to rounding; freeing runs leaf first. */
static void test_fork_chain_of_any_depth(void) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model), n_img = ml_lvlm_max_image_tokens(model);
    enum { DEPTH = 200 };
    MlSession **chain = calloc(DEPTH + 1, sizeof *chain), *one;
    int32_t all[1024];
    int64_t n_all = n_prefix;
    memcpy(all, prefix, sizeof(int32_t) * n_prefix);
    float *la = malloc(sizeof(float) * V), *lb = malloc(sizeof(float) * V);
    CHECK_OK(ml_session_new(&chain[0], model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(chain[0], prefix, n_prefix, feats, n_img, NULL, NULL, &err), &err);
    CHECK_OK(ml_session_new(&one, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(one, prefix, n_prefix, feats, n_img, NULL, NULL, &err), &err);
    int same = 1;
    for (int d = 1; d <= DEPTH; d++) {
        int32_t q[2] = {(int32_t)(30 + (d * 7) % 90), (int32_t)(31 + (d * 13) % 90)};
        int64_t nq = d % 3 ? 1 : 2;
        CHECK_OK(ml_session_fork(&chain[d], chain[d - 1], 4, &err), &err);
        CHECK_OK(ml_session_prefill(chain[d], q, nq, NULL, 0, NULL, la, &err), &err);
        CHECK_OK(ml_session_prefill(one, q, nq, NULL, 0, NULL, lb, &err), &err);
        same &= !memcmp(la, lb, sizeof(float) * V);
        memcpy(all + n_all, q, sizeof(int32_t) * nq);
        n_all += nq;
    }
    CHECK(same);
    CHECK(ml_session_length(chain[DEPTH]) == n_all);
    CHECK(ml_session_token(chain[DEPTH], 0) == all[0] && ml_session_token(chain[DEPTH], n_prefix) == all[n_prefix] &&
          ml_session_token(chain[DEPTH], n_all - 1) == all[n_all - 1]);
    /* from scratch in one prefill: equal to rounding (the tolerance of test_fork_equals_recompute) */
    MlSession *fresh;
    CHECK_OK(ml_session_new(&fresh, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(fresh, all, n_all, feats, n_img, NULL, lb, &err), &err);
    CHECK(max_diff(la, lb, (size_t)V) <= 1e-4);
    CHECK(ml_sampler_argmax(la, (int)V) == ml_sampler_argmax(lb, (int)V));
    /* generating from the leaf reads the whole chain at every step */
    Answer a, b;
    int32_t tail[1] = {77};
    MlSession *leaf;
    CHECK_OK(ml_session_fork(&leaf, chain[DEPTH], 16, &err), &err);
    answer(leaf, tail, 1, 0, &a);
    answer(one, tail, 1, 0, &b);
    CHECK(!memcmp(a.logits, b.logits, sizeof(float) * V));
    CHECK(a.n_tokens == b.n_tokens && !memcmp(a.tokens, b.tokens, sizeof(int32_t) * a.n_tokens));
    CHECK(ml_session_free(chain[DEPTH / 2]) == ML_ERR_ARG);
    CHECK(ml_session_free(leaf) == ML_OK);
    for (int d = DEPTH; d >= 0; d--) CHECK(ml_session_free(chain[d]) == ML_OK);
    CHECK(ml_session_free(one) == ML_OK && ml_session_free(fresh) == ML_OK);
    answer_free(&a), answer_free(&b);
    free(chain), free(la), free(lb);
}

typedef struct Count {
    int n, stop_after;
} Count;
static int count_tokens(int32_t id, void *user) {
    (void)id;
    Count *c = user;
    return ++c->n >= c->stop_after;
}

static void test_generate_stops(void) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model);
    float *logits = malloc(sizeof(float) * V), *first = malloc(sizeof(float) * V);
    MlSession *s;
    CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(s, prefix, 5, NULL, 0, NULL, first, &err), &err);
    MlSampler smp;
    MlSamplerConfig sc = {0};
    CHECK_OK(ml_sampler_init(&smp, &sc, (int)V, &err), &err);
    int32_t out[16];
    int64_t n;
    /* EOS = the first greedy token: one token, EOS included, nothing fed */
    int32_t eos = ml_sampler_argmax(first, (int)V);
    memcpy(logits, first, sizeof(float) * V);
    CHECK_OK(ml_session_generate(s, &smp, logits, 10, eos, NULL, NULL, NULL, out, &n, &err), &err);
    CHECK(n == 1 && out[0] == eos && ml_session_length(s) == 5);
    /* max tokens: 4 tokens, 3 fed (the last is never fed) */
    memcpy(logits, first, sizeof(float) * V);
    CHECK_OK(ml_session_generate(s, &smp, logits, 4, -1, NULL, NULL, NULL, out, &n, &err), &err);
    CHECK(n == 4 && ml_session_length(s) == 8 && ml_session_token(s, 5) == out[0]);
    /* the callback stops it */
    CHECK_OK(ml_session_rewind(s, 5, &err), &err);
    Count c = {0, 2};
    memcpy(logits, first, sizeof(float) * V);
    CHECK_OK(ml_session_generate(s, &smp, logits, 10, -1, count_tokens, &c, NULL, out, &n, &err), &err);
    CHECK(n == 2 && c.n == 2);
    /* max_tokens 0 generates nothing */
    CHECK_OK(ml_session_generate(s, &smp, logits, 0, -1, NULL, NULL, NULL, out, &n, &err), &err);
    CHECK(n == 0);
    ml_sampler_free(&smp);
    ml_session_free(s);
    free(logits), free(first);
}

int main(int argc, char **argv) {
    (void)argc;
    if (ml_threads_env_prepare()) execv("/proc/self/exe", argv);
    ml_threads_set(0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tiny", test_tmpdir("test_session"));
    MlError err = {0};
    if (ref_make_tiny(dir, ML_BF16, 5) || ml_lvlm_open(&model, dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_session") | 1;
    }
    float *pix = malloc(sizeof(float) * ml_lvlm_pixel_floats(model));
    for (int64_t i = 0; i < ml_lvlm_pixel_floats(model); i++) pix[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
    feats = malloc(sizeof(float) * ml_lvlm_max_image_tokens(model) * ml_lvlm_hidden(model));
    CHECK_OK(ml_lvlm_encode_image(model, feats, pix, NULL, &(int64_t){0}, &err), &err);
    free(pix);
    n_prefix = 0;
    prefix[n_prefix++] = 1;
    for (int i = 0; i < 4; i++) prefix[n_prefix++] = 20 + 9 * i;
    for (int64_t i = 0; i < ml_lvlm_max_image_tokens(model); i++) prefix[n_prefix++] = ml_lvlm_image_token_id(model);
    RUN(test_fork_equals_recompute);
    RUN(test_fork_chain_and_rules);
    RUN(test_fork_chain_of_any_depth);
    RUN(test_generate_stops);
    free(feats);
    ml_lvlm_close(model);
    return test_summary("test_session");
}
