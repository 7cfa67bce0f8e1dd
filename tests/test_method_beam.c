/* test_method_beam.c: beam search (decode/beam.h, mitigate/beam_search.h, the
   `beam` method).  Expectations: the independent Python beam search
   (tests/reference/beam_ref.py, transformers' semantics) on a synthetic
   logit table both compute on their own, for ids and scores; greedy for
   beams = 1; on a tiny model, the shared-cache tree equals a search whose
   every beam is a fresh session fed all its tokens one by one, and a
   roll-back equals that search with the step's first choices rejected. */
#include "test.h"

#include <cjson/cJSON.h>
#include <math.h>

#include "decode/beam.h"
#include "decode/session.h"
#include "kernels/threads.h"
#include "mitigate/beam_search.h"
#include "mitigate/method.h"
#include "mitigate/runner.h"
#include "model/init.h"
#include "model/lvlm.h"
#include "model/prompt.h"

#define REFERENCE "/usr/bin/python3 tests/reference/beam_ref.py"
#define MAX_T 48

static MlLvlm *model;

/* beam_ref.py's table: logits after tokens t_1..t_n (t_0 = 0). */
static void table_logits(float *l, int64_t vocab, const int32_t *toks, int64_t n) {
    int64_t last = n ? toks[n - 1] : 0;
    for (int64_t v = 0; v < vocab; v++) l[v] = (float)((double)((7 * last + 13 * v + 5 * n) % 17) / 4.0 - 2.0);
}

static void table_search(const MlBeamConfig *c, int64_t vocab, int32_t *out, int64_t *n, double *score) {
    MlError err = {0};
    MlBeam *b = NULL;
    CHECK_OK(ml_beam_new(&b, c, vocab, &err), &err);
    if (!b) return;
    float *buf = malloc(sizeof(float) * (size_t)(vocab * c->beams)), *lg[ML_BEAM_MAX];
    for (int i = 0; i < c->beams; i++) lg[i] = buf + i * vocab, table_logits(lg[i], vocab, NULL, 0);
    while (!ml_beam_step(b, lg) && ml_beam_length(b) < c->max_tokens)
        for (int j = 0; j < c->beams; j++) table_logits(lg[j], vocab, ml_beam_tokens(b, j), ml_beam_length(b));
    ml_beam_result(b, out, n, score);
    ml_beam_free(b);
    free(buf);
}

/* Runs beam_ref.py --table; returns 0 and its ids and score. */
static int reference(const MlBeamConfig *c, int64_t vocab, int32_t *ids, int64_t *n, double *score) {
    static const char *stop[] = {"false", "true", "never"};
    char cmd[4600], out[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && " REFERENCE " --table %lld --beams %d --max-tokens %lld --eos %d "
             "--length-penalty %.17g --early-stopping %s",
             test_repo_path("."), (long long)vocab, c->beams, (long long)c->max_tokens, c->eos_id, c->length_penalty,
             stop[c->early_stopping]);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    if (pclose(p) != 0) return -1;
    cJSON *j = cJSON_Parse(out);
    cJSON *a = cJSON_GetObjectItem(j, "ids"), *s = cJSON_GetObjectItem(j, "score");
    int rc = cJSON_IsArray(a) && cJSON_IsNumber(s) && cJSON_GetArraySize(a) <= MAX_T ? 0 : -1;
    for (int i = 0; !rc && i < cJSON_GetArraySize(a); i++) ids[i] = (int32_t)cJSON_GetArrayItem(a, i)->valuedouble;
    if (!rc) *n = cJSON_GetArraySize(a), *score = s->valuedouble;
    cJSON_Delete(j);
    return rc;
}

static void test_table_equals_reference(void) {
    const struct {
        int64_t vocab;
        MlBeamConfig c;
    } cases[] = {
        {11, {3, 1.0, ML_BEAM_STOP_HEURISTIC, 8, 2}},  {11, {1, 1.0, ML_BEAM_STOP_HEURISTIC, 8, 2}},
        {11, {4, 0.5, ML_BEAM_STOP_EARLY, 10, 3}},     {13, {5, 2.0, ML_BEAM_STOP_NEVER, 12, 4}},
        {13, {5, 1.0, ML_BEAM_STOP_HEURISTIC, 12, 9}}, {17, {6, -1.0, ML_BEAM_STOP_HEURISTIC, 9, 11}},
        {12, {2, 1.0, ML_BEAM_STOP_HEURISTIC, 7, -1}}, {40, {12, 1.0, ML_BEAM_STOP_HEURISTIC, 20, 16}},
    };
    int ended_by_eos = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int32_t a[MAX_T], r[MAX_T];
        int64_t na = 0, nr = -1;
        double sa = 0, sr = 0;
        table_search(&cases[k].c, cases[k].vocab, a, &na, &sa);
        CHECK(reference(&cases[k].c, cases[k].vocab, r, &nr, &sr) == 0);
        CHECK(na == nr && !memcmp(a, r, sizeof(int32_t) * (size_t)na));
        CHECK_NEAR(sa, sr, 1e-6 * fabs(sr));
        if (na != nr || memcmp(a, r, sizeof(int32_t) * (size_t)na)) fprintf(stderr, "  case %zu differs\n", k);
        ended_by_eos += na > 0 && a[na - 1] == cases[k].c.eos_id && na < cases[k].c.max_tokens;
    }
    CHECK(ended_by_eos >= 2); /* the finished-hypothesis path is exercised */
}

static void test_one_beam_is_greedy_on_table(void) {
    for (int32_t eos = 0; eos < 11; eos++) {
        MlBeamConfig c = {1, 1.0, ML_BEAM_STOP_HEURISTIC, 16, eos};
        int32_t a[MAX_T], g[MAX_T];
        int64_t na = 0, ng = 0;
        double s;
        table_search(&c, 11, a, &na, &s);
        float l[11];
        while (ng < c.max_tokens) {
            table_logits(l, 11, g, ng);
            g[ng] = ml_sampler_argmax(l, 11);
            if (g[ng++] == eos) break;
        }
        CHECK(na == ng && !memcmp(a, g, sizeof(int32_t) * (size_t)na));
    }
}

/* The tiny model's session after a prompt, and its logits. */
static MlSession *prompt_session(float *logits, int64_t *n_prompt) {
    MlError err = {0};
    int32_t *ids = NULL;
    size_t n = 0, end = 0;
    MlPromptOptions po = {ML_TEMPLATE_HF, NULL, 0};
    CHECK_OK(ml_prompt_build(ml_lvlm_tokenizer(model), &po, "Describe the picture.", 0, ml_lvlm_image_token_id(model),
                             0, &ids, &n, &end, &err),
             &err);
    MlSession *s = NULL;
    CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(s, ids, (int64_t)n, NULL, 0, NULL, logits, &err), &err);
    *n_prompt = (int64_t)n;
    free(ids);
    return s;
}

/* A step whose (beam, token) choices are recorded, or rejected as a roll-back does. */
typedef struct Choices {
    int64_t step; /* -1: none */
    int n;
    int64_t flat[ML_BEAM_MAX]; /* beam * vocab + token */
} Choices;

/* Beam search whose every beam is a fresh fork of root fed its tokens one by
   one (no sharing).  At reject->step the logits are shifted by -(999 + min)
   and the rejected pairs set to -999; record->step's choices are recorded. */
static void naive_search(MlSession *root, const float *logits0, const MlBeamConfig *c, int32_t *out, int64_t *n,
                         double *score, const Choices *reject, Choices *record) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model);
    MlBeam *b = NULL;
    CHECK_OK(ml_beam_new(&b, c, V, &err), &err);
    float *buf = malloc(sizeof(float) * (size_t)(V * c->beams)), *lg[ML_BEAM_MAX];
    for (int i = 0; i < c->beams; i++) lg[i] = buf + i * V, memcpy(lg[i], logits0, sizeof(float) * (size_t)V);
    for (;;) {
        const int64_t step = ml_beam_length(b);
        if (reject && reject->step == step) {
            for (int i = 0; i < c->beams; i++) {
                float mn = lg[i][0];
                for (int64_t v = 1; v < V; v++) mn = lg[i][v] < mn ? lg[i][v] : mn;
                for (int64_t v = 0; v < V; v++) lg[i][v] -= 999.0f + mn;
            }
            for (int k = 0; k < reject->n; k++) lg[reject->flat[k] / V][reject->flat[k] % V] = -999.0f;
        }
        int done = ml_beam_step(b, lg);
        if (record && record->step == step)
            for (int j = 0; j < c->beams; j++) record->flat[j] = (int64_t)ml_beam_parent(b, j) * V + ml_beam_token(b, j);
        if (record) record->n = c->beams;
        if (done || ml_beam_length(b) == c->max_tokens) break;
        for (int j = 0; j < c->beams; j++) {
            MlSession *s = NULL;
            CHECK_OK(ml_session_fork(&s, root, c->max_tokens, &err), &err);
            const int32_t *t = ml_beam_tokens(b, j);
            for (int64_t i = 0; i < ml_beam_length(b); i++)
                CHECK_OK(ml_session_forward(s, t + i, 1, NULL, 0, NULL, lg[j], 0, &err), &err);
            ml_session_free(s);
        }
    }
    ml_beam_result(b, out, n, score);
    ml_beam_free(b);
    free(buf);
}

/* Goes back once, from step 6 to step 3. */
static int64_t back_once(void *user, int64_t step) {
    int *fired = user;
    if (step != 6 || *fired) return -1;
    *fired = 1;
    return 3;
}

/* A roll-back equals a search that took step 3 with the first choices rejected. */
static void test_rollback_equals_rejected_step(void) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model);
    float *l = malloc(sizeof(float) * (size_t)V);
    int64_t np;
    MlSession *root = prompt_session(l, &np);
    MlBeamConfig c = {3, 1.0, ML_BEAM_STOP_HEURISTIC, 14, -1};
    int32_t a[MAX_T], r[MAX_T], p[MAX_T];
    int64_t na = 0, nr = -1, np0;
    double sa = 0, sr = 1, sp;
    Choices first = {.step = 3};
    naive_search(root, l, &c, p, &np0, &sp, NULL, &first);
    naive_search(root, l, &c, r, &nr, &sr, &first, NULL);
    int fired = 0;
    MlBeamSearchHooks h = {.rollback = back_once, .user = &fired};
    CHECK_OK(ml_beam_search(root, l, &c, &h, a, &na, &sa, &err), &err);
    CHECK(fired == 1);
    CHECK(na == nr && !memcmp(a, r, sizeof(int32_t) * (size_t)na));
    CHECK_NEAR(sa, sr, 1e-4 * fabs(sr)); /* the rebuilt beams were prefilled in one call: rounding */
    CHECK(np0 != nr || memcmp(p, r, sizeof(int32_t) * (size_t)nr)); /* the rejection changed the answer */
    ml_session_free(root);
    free(l);
}

static void test_shared_tree_equals_naive(void) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model);
    float *l = malloc(sizeof(float) * (size_t)V);
    int64_t np;
    MlSession *root = prompt_session(l, &np);
    const MlBeamConfig cases[] = {{3, 1.0, ML_BEAM_STOP_HEURISTIC, 12, ml_lvlm_eos_id(model)},
                                  {5, 1.0, ML_BEAM_STOP_HEURISTIC, 16, -1},
                                  {4, 0.0, ML_BEAM_STOP_NEVER, 10, 7},
                                  /* long enough for beams to fill their 16-row blocks and go on in forks */
                                  {2, 1.0, ML_BEAM_STOP_HEURISTIC, 40, -1},
                                  {3, 1.0, ML_BEAM_STOP_HEURISTIC, 44, -1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int32_t a[MAX_T], r[MAX_T];
        int64_t na = 0, nr = -1;
        double sa = 0, sr = 1;
        MlBeamSearchHooks h = {0};
        CHECK_OK(ml_beam_search(root, l, &cases[k], &h, a, &na, &sa, &err), &err);
        naive_search(root, l, &cases[k], r, &nr, &sr, NULL, NULL);
        CHECK(na == nr && !memcmp(a, r, sizeof(int32_t) * (size_t)na));
        CHECK(sa == sr);
    }
    CHECK(ml_session_free(root) == ML_OK); /* every fork was freed */
    free(l);
}

static void test_one_beam_method_is_greedy(void) {
    MlError err = {0};
    int32_t out[2][MAX_T];
    int64_t n[2];
    const char *names[2] = {"greedy", "beam"};
    for (int k = 0; k < 2; k++) {
        MlMethodConfig cfg;
        ml_method_defaults(&cfg, ml_method_find(names[k]));
        if (k) CHECK_OK(ml_method_set(&cfg, "beams=1", &err), &err);
        MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .seed = 1, .prefix = ML_PREFIX_ONE_CALL};
        MlRunner *r = NULL;
        CHECK_OK(ml_runner_new(&r, model, &cfg, &o, &err), &err);
        if (!r) return;
        CHECK_OK(ml_runner_set_image(r, NULL, "none", &err), &err);
        CHECK_OK(ml_runner_ask(r, "What is this?", &err), &err);
        CHECK_OK(ml_runner_prefill(r, 20, &err), &err);
        MlSamplerConfig sc = {0};
        CHECK_OK(ml_runner_generate(r, &sc, 20, ml_lvlm_eos_id(model), NULL, NULL, out[k], &n[k], &err), &err);
        ml_runner_free(r);
    }
    CHECK(n[0] == n[1] && n[0] > 0 && !memcmp(out[0], out[1], sizeof(int32_t) * (size_t)n[0]));
}

static void test_bad_input(void) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, ml_method_find("beam"));
    const char *bad[] = {"beams=0", "beams=65", "beams=2.5", "early_stopping=maybe", "length_penalty=11"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(ml_method_set(&cfg, bad[i], &err) == ML_ERR_ARG);
    MlBeam *b = NULL;
    MlBeamConfig c = {0, 1.0, ML_BEAM_STOP_HEURISTIC, 4, 2};
    CHECK(ml_beam_new(&b, &c, 10, &err) == ML_ERR_ARG && !b);
    c.beams = 2, c.max_tokens = 0;
    CHECK(ml_beam_new(&b, &c, 10, &err) == ML_ERR_ARG && !b);
    /* a prompt that leaves no room for the beams' tokens */
    float *l = malloc(sizeof(float) * (size_t)ml_lvlm_vocab(model));
    int64_t np;
    MlSession *root = prompt_session(l, &np);
    MlBeamConfig big = {3, 1.0, ML_BEAM_STOP_HEURISTIC, ml_lvlm_context(model) - np + 2, -1};
    int32_t *out = malloc(sizeof(int32_t) * (size_t)big.max_tokens);
    int64_t n;
    double s;
    MlBeamSearchHooks h = {0};
    CHECK(ml_beam_search(root, l, &big, &h, out, &n, &s, &err) == ML_ERR_RANGE);
    CHECK(strstr(err.msg, "no room") != NULL);
    ml_session_free(root);
    free(out), free(l);
}

int main(void) {
    MlError err = {0};
    ml_threads_set(1);
    char dir[800];
    snprintf(dir, sizeof dir, "%s/tiny", test_tmpdir("method_beam"));
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 3};
    if (ml_init_model(dir, &io, &err) || ml_lvlm_open(&model, dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_method_beam") | 1;
    }
    RUN(test_table_equals_reference);
    RUN(test_one_beam_is_greedy_on_table);
    RUN(test_shared_tree_equals_naive);
    RUN(test_rollback_equals_rejected_step);
    RUN(test_one_beam_method_is_greedy);
    RUN(test_bad_input);
    ml_lvlm_close(model);
    return test_summary("test_method_beam");
}
