/* test_runner.c: methods as data through the one runner (mitigate/runner.h).
   A test-only example method asks a second prompt (a disturbing system
   text, as ICD does) and amplifies pass 1's attention on the image columns
   (as PAI does), with a third pass that sees no image.  Identities: with the
   hook a no-op and the same prompt it answers as greedy, token for token;
   active, it answers as an independent computation with plain sessions.  A
   method with its own loop that forks every step (a beam search's shape)
   answers as greedy too. */
#include "test.h"

#include "decode/contrast.h"
#include "decode/session.h"
#include "kernels/threads.h"
#include "mitigate/method.h"
#include "mitigate/runner.h"
#include "model/init.h"
#include "model/lvlm.h"
#include "model/prompt.h"

static MlLvlm *model;
static float *pixels, *feats;
static int64_t image_rows; /* rows the test image gave */
static const char *questions[] = {"Is there a cat in the image?", "What colour is the ring?", "Describe it."};
#define N_Q 3
#define MAX_TOKENS 6
#define DISTURB "You are a confused objects detector to provide a fuzzy overview or impression of the image."

/* ---- the example method (test-only: not in methods.def) ---- */

/* Pre-softmax scores of the last query row, image columns: A += amp * |A|. */
typedef struct Amp {
    float amp;
    int64_t begin, end;
    long calls_layer0; /* forwards it saw (layer 0 fires once per forward) */
} Amp;

static void amplify(const MlHookSite *s, float *x, void *user) {
    Amp *a = user;
    a->calls_layer0 += s->layer == 0;
    for (int h = 0; h < s->heads; h++) {
        float *row = x + ((size_t)h * (size_t)s->rows + (size_t)(s->rows - 1)) * (size_t)s->keys;
        for (int64_t j = a->begin; j < a->end && j < s->keys; j++) row[j] += a->amp * fabsf(row[j]);
    }
}

static void amp_hooks(MlHooks *h, Amp *a) {
    memset(h, 0, sizeof *h);
    h->fn = amplify;
    h->user = a;
    h->attn_rows = ML_HOOK_ROWS_LAST;
    ml_hooks_select_all(h, ML_TOWER_TEXT, ML_HOOK_ATTN_SCORES);
}

typedef struct ExState {
    MlHooks hooks;
    Amp amp;
} ExState;

static int ex_state_new(MlMethodRun *run, MlError *err) {
    ExState *s = calloc(1, sizeof *s);
    if (!s) return ml_error_set(err, ML_ERR_NOMEM, "example: out of memory");
    s->amp.amp = (float)ml_method_param(run->cfg, "amp");
    amp_hooks(&s->hooks, &s->amp);
    run->state = s;
    return ML_OK;
}

static long example_calls; /* the last runner's hook calls at layer 0, kept when it is freed */

static void ex_state_free(MlMethodRun *run) {
    example_calls = ((ExState *)run->state)->amp.calls_layer0;
    free(run->state);
}

static const MlHooks *ex_hooks(MlMethodRun *run, int pass, int64_t step) {
    ExState *s = run->state;
    if (pass != 1 || step == ML_STEP_PREFIX) return NULL;
    s->amp.begin = run->image_begin[1];
    s->amp.end = run->image_end[1];
    return &s->hooks;
}

static int ex_prompt(const MlMethodConfig *c, int pass, const char *system, const char *question, char **system_out,
                     char **question_out, MlError *err) {
    (void)pass, (void)system, (void)question, (void)question_out;
    if (ml_method_param(c, "disturb") == 0) return ML_OK;
    *system_out = strdup(DISTURB);
    return *system_out ? ML_OK : ml_error_set(err, ML_ERR_NOMEM, "example: out of memory");
}

static void ex_combine(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                       void *user) {
    (void)n_passes, (void)step;
    const MlMethodRun *run = user;
    ml_contrast_combine(scores, logits[0], logits[1], vocab, (float)ml_method_param(run->cfg, "alpha"));
}

static const MlParamSpec ex_params[] = {
    {"alpha", 1, 0, 10, 0, "contrast weight against pass 1", NULL},
    {"amp", 0, 0, 10, 0, "pass 1: A += amp |A| on the image columns of the last query row", NULL},
    {"disturb", 0, 0, 1, 1, "1: pass 1 asks with a disturbing system text", NULL},
};
static const MlPass ex_passes[] = {
    {ML_PASS_CLEAN, ML_PASS_SAME_PROMPT}, {ML_PASS_CLEAN, ML_PASS_OWN_PROMPT}, {ML_PASS_NO_IMAGE, ML_PASS_SAME_PROMPT}};

static const MlMethod example = {
    .name = "example",
    .summary = "a second prompt and an attention hook (tests only)",
    .prompt_suffix = "",
    ML_METHOD_PARAMS(ex_params),
    .n_passes = 3,
    .passes = ex_passes,
    .pass_prompt = ex_prompt,
    .state_new = ex_state_new,
    .state_free = ex_state_free,
    .pass_hooks = ex_hooks,
    .combine = ex_combine,
};

/* ---- helpers ---- */

typedef struct Answer {
    int32_t ids[MAX_TOKENS];
    int64_t n;
} Answer;

static int count_token(int32_t id, void *user) {
    (void)id;
    (*(int *)user)++;
    return 0;
}

/* Every question through a runner of `m` with the given parameters. */
static void run_method(const MlMethod *m, const char *const *params, MlPrefixMode mode, Answer *out) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, m);
    for (int i = 0; params && params[i]; i++) CHECK_OK(ml_method_set(&cfg, params[i], &err), &err);
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .seed = 7, .prefix = mode};
    MlRunner *r = NULL;
    CHECK_OK(ml_runner_new(&r, model, &cfg, &o, &err), &err);
    if (!r) return;
    CHECK_OK(ml_runner_set_image(r, pixels, "img.png", &err), &err);
    if (mode == ML_PREFIX_SHARED) CHECK_OK(ml_runner_prepare(r, questions[0], &err), &err);
    MlSamplerConfig sc = {0};
    for (int q = 0; q < N_Q; q++) {
        int seen = 0;
        CHECK_OK(ml_runner_ask(r, questions[q], &err), &err);
        CHECK_OK(ml_runner_prefill(r, MAX_TOKENS, &err), &err);
        CHECK_OK(ml_runner_generate(r, &sc, MAX_TOKENS, -1, count_token, &seen, out[q].ids, &out[q].n, &err), &err);
        CHECK(out[q].n == MAX_TOKENS && seen == MAX_TOKENS);
    }
    ml_runner_free(r);
}

static int same_answers(const Answer *a, const Answer *b) {
    int same = 1;
    for (int q = 0; q < N_Q; q++)
        same &= a[q].n == b[q].n && !memcmp(a[q].ids, b[q].ids, sizeof(int32_t) * (size_t)a[q].n);
    return same;
}

static void build(const char *system, int has_image, const char *question, int32_t **ids, size_t *n, size_t *end) {
    MlError err = {0};
    MlPromptOptions po = {ML_TEMPLATE_HF, system, 0};
    CHECK_OK(ml_prompt_build(ml_lvlm_tokenizer(model), &po, question, has_image, ml_lvlm_image_token_id(model),
                             (int)image_rows, ids, n, end, &err),
             &err);
}

/* The active example computed with plain sessions: pass 0 as asked, pass 1
   with the disturbing system text and the amplifying hook on its prompt
   and every fed token, greedy on 2 l0 - l1. */
static void independent(const char *question, float amp, Answer *out, long *hook_calls) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model), n_img = image_rows;
    int32_t *ids[2];
    size_t n[2], end[2];
    build(NULL, 1, question, &ids[0], &n[0], &end[0]);
    build(DISTURB, 1, question, &ids[1], &n[1], &end[1]);
    Amp a = {.amp = amp, .begin = (int64_t)end[1] - n_img, .end = (int64_t)end[1]};
    MlHooks h;
    amp_hooks(&h, &a);
    const MlHooks *hooks[2] = {NULL, &h};
    MlSession *s[2];
    float *l[2] = {malloc(sizeof(float) * V), malloc(sizeof(float) * V)}, *scores = malloc(sizeof(float) * V);
    for (int p = 0; p < 2; p++) {
        CHECK_OK(ml_session_new(&s[p], model, 0, &err), &err);
        CHECK_OK(ml_session_prefill(s[p], ids[p], (int64_t)end[p], feats, n_img, NULL, NULL, &err), &err);
        CHECK_OK(ml_session_prefill(s[p], ids[p] + end[p], (int64_t)(n[p] - end[p]), NULL, 0, hooks[p], l[p], &err),
                 &err);
    }
    out->n = 0;
    while (out->n < MAX_TOKENS) {
        ml_contrast_combine(scores, l[0], l[1], V, 1.0f);
        int32_t id = ml_sampler_argmax(scores, (int)V);
        out->ids[out->n++] = id;
        if (out->n == MAX_TOKENS) break;
        for (int p = 0; p < 2; p++) CHECK_OK(ml_session_prefill(s[p], &id, 1, NULL, 0, hooks[p], l[p], &err), &err);
    }
    *hook_calls = a.calls_layer0;
    for (int p = 0; p < 2; p++) {
        ml_session_free(s[p]);
        free(ids[p]);
        free(l[p]);
    }
    free(scores);
}

/* ---- tests ---- */

/* The hook a no-op (amp 0) and the same prompt: 2 l - l = l exactly, so greedy's tokens. */
static void test_quiet_example_equals_greedy(void) {
    Answer g[N_Q], e[N_Q], e1[N_Q];
    run_method(ml_method_find("greedy"), NULL, ML_PREFIX_SHARED, g);
    run_method(&example, (const char *[]){"alpha=1", "amp=0", "disturb=0", NULL}, ML_PREFIX_SHARED, e);
    run_method(&example, (const char *[]){"alpha=1", "amp=0", "disturb=0", NULL}, ML_PREFIX_ONE_CALL, e1);
    CHECK(same_answers(g, e));
    Answer g1[N_Q];
    run_method(ml_method_find("greedy"), NULL, ML_PREFIX_ONE_CALL, g1);
    CHECK(same_answers(g1, e1));
}

/* Active: the runner's passes, prompts and per-step hooks are those of the
   independent computation, bit for bit (shared prefixes and from scratch),
   and they change the answers. */
static void test_active_example_equals_independent(void) {
    Answer ind[N_Q], shared[N_Q], split[N_Q], g[N_Q];
    for (int q = 0; q < N_Q; q++) {
        long calls = 0;
        independent(questions[q], 0.5f, &ind[q], &calls);
        CHECK(calls == MAX_TOKENS); /* the prompt and the 5 fed tokens */
    }
    const char *active[] = {"alpha=1", "amp=0.5", "disturb=1", NULL};
    run_method(&example, active, ML_PREFIX_SHARED, shared);
    CHECK(example_calls == N_Q * MAX_TOKENS); /* pass 1 only: each prompt and fed token, never the prefix */
    run_method(&example, active, ML_PREFIX_SPLIT, split);
    CHECK(same_answers(ind, shared));
    CHECK(same_answers(ind, split));
    run_method(ml_method_find("greedy"), NULL, ML_PREFIX_SHARED, g);
    CHECK(!same_answers(ind, g));
    /* the prompt alone changes the answers (the hook alone moves logits: below) */
    Answer prompt_only[N_Q];
    run_method(&example, (const char *[]){"disturb=1", NULL}, ML_PREFIX_SHARED, prompt_only);
    CHECK(!same_answers(prompt_only, g));
}

/* The hook alone: pass 1 (same prompt) has pass 0's logits bit for bit while
   the hook is a no-op, and other ones, those of a plain session with the
   hook, when it amplifies. */
static void test_hook_moves_pass_logits(void) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model), n_img = image_rows;
    const char *amps[] = {"amp=0", "amp=5"};
    for (int k = 0; k < 2; k++) {
        MlMethodConfig cfg;
        ml_method_defaults(&cfg, &example);
        CHECK_OK(ml_method_set(&cfg, amps[k], &err), &err);
        MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = ML_PREFIX_SHARED};
        MlRunner *r = NULL;
        CHECK_OK(ml_runner_new(&r, model, &cfg, &o, &err), &err);
        if (!r) return;
        CHECK_OK(ml_runner_set_image(r, pixels, "img.png", &err), &err);
        CHECK_OK(ml_runner_prepare(r, questions[0], &err), &err);
        CHECK_OK(ml_runner_ask(r, questions[0], &err), &err);
        CHECK_OK(ml_runner_prefill(r, 4, &err), &err);
        const int same = !memcmp(ml_runner_logits(r, 0), ml_runner_logits(r, 1), sizeof(float) * V);
        CHECK(k == 0 ? same : !same);
        int32_t *ids;
        size_t n, end;
        build(NULL, 1, questions[0], &ids, &n, &end);
        Amp a = {.amp = k ? 5.0f : 0.0f, .begin = (int64_t)end - n_img, .end = (int64_t)end};
        MlHooks h;
        amp_hooks(&h, &a);
        MlSession *s;
        float *l = malloc(sizeof(float) * V);
        CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
        CHECK_OK(ml_session_prefill(s, ids, (int64_t)end, feats, n_img, NULL, NULL, &err), &err);
        CHECK_OK(ml_session_prefill(s, ids + end, (int64_t)(n - end), NULL, 0, &h, l, &err), &err);
        CHECK(!memcmp(l, ml_runner_logits(r, 1), sizeof(float) * V));
        ml_session_free(s);
        free(l), free(ids);
        ml_runner_free(r);
    }
}

/* The prompts and logits each pass gets: pass 1 the disturbed prompt, pass 2 no image. */
static void test_pass_prompts_and_no_image_pass(void) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model);
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, &example);
    CHECK_OK(ml_method_set(&cfg, "disturb=1", &err), &err);
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = ML_PREFIX_SHARED};
    MlRunner *r = NULL;
    CHECK_OK(ml_runner_new(&r, model, &cfg, &o, &err), &err);
    if (!r) return;
    CHECK_OK(ml_runner_set_image(r, pixels, "img.png", &err), &err);
    CHECK_OK(ml_runner_prepare(r, questions[1], &err), &err);
    CHECK_OK(ml_runner_ask(r, questions[1], &err), &err);
    CHECK_OK(ml_runner_prefill(r, 4, &err), &err);
    for (int p = 0; p < 3; p++) {
        int32_t *ids;
        size_t n, end, got_n;
        build(p == 1 ? DISTURB : NULL, p != 2, questions[1], &ids, &n, &end);
        const int32_t *got = ml_runner_prompt(r, p, &got_n);
        CHECK(got_n == n && !memcmp(got, ids, sizeof(int32_t) * n));
        if (p == 2) {
            /* no image: one prefill of the whole prompt in a fresh session */
            MlSession *s;
            float *l = malloc(sizeof(float) * V);
            CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
            CHECK_OK(ml_session_prefill(s, ids, (int64_t)n, NULL, 0, NULL, l, &err), &err);
            CHECK(!memcmp(l, ml_runner_logits(r, 2), sizeof(float) * V));
            ml_session_free(s);
            free(l);
        }
        free(ids);
    }
    size_t n0, n1;
    ml_runner_prompt(r, 0, &n0);
    ml_runner_prompt(r, 1, &n1);
    CHECK(n1 > n0);
    /* preparing again while the question's forks are alive frees them first */
    CHECK_OK(ml_runner_prepare(r, questions[2], &err), &err);
    CHECK_OK(ml_runner_ask(r, questions[2], &err), &err);
    CHECK_OK(ml_runner_prefill(r, 4, &err), &err);
    ml_runner_free(r);
}

/* A method with its own loop: greedy, forking the session at every step and
   feeding the token into the fork, as a beam search does; the chain grows
   as deep as the answer is long. */
static int forkloop_generate(MlMethodRun *run, float *const *logits, float *scores, MlSampler *sampler,
                             int64_t max_tokens, int32_t eos_id, int32_t *out, int64_t *n_out, MlError *err) {
    (void)scores;
    MlSession *chain[MAX_TOKENS] = {0};
    MlSession *at = run->session[0];
    int depth = 0, rc = ML_OK;
    *n_out = 0;
    while (*n_out < max_tokens && !rc) {
        int32_t id = ml_sampler_sample(sampler, logits[0]);
        out[(*n_out)++] = id;
        if (id == eos_id || *n_out == max_tokens) break;
        if (!(rc = ml_session_fork(&chain[depth], at, 1, err))) {
            at = chain[depth++];
            rc = ml_session_prefill(at, &id, 1, NULL, 0, ml_method_hooks(run, 0, *n_out - 1), logits[0], err);
        }
    }
    while (depth > 0) ml_session_free(chain[--depth]);
    return rc;
}

static const MlMethod forkloop = {
    .name = "forkloop",
    .summary = "greedy through a loop of its own that forks every step (tests only)",
    .prompt_suffix = "",
    .n_passes = 1,
    .generate = forkloop_generate,
};

static void test_own_loop_equals_greedy(void) {
    Answer g[N_Q], f[N_Q];
    run_method(ml_method_find("greedy"), NULL, ML_PREFIX_SHARED, g);
    run_method(&forkloop, NULL, ML_PREFIX_SHARED, f);
    CHECK(same_answers(g, f));
}

static void test_incomplete_declarations(void) {
    MlError err = {0};
    static const MlPass pixel_pass[] = {{ML_PASS_CLEAN, ML_PASS_SAME_PROMPT}, {ML_PASS_PIXELS, ML_PASS_SAME_PROMPT}};
    static const MlPass prompt_pass[] = {{ML_PASS_CLEAN, ML_PASS_SAME_PROMPT}, {ML_PASS_CLEAN, ML_PASS_OWN_PROMPT}};
    const MlMethod bad[] = {
        {.name = "nopixels", .prompt_suffix = "", .n_passes = 2, .passes = pixel_pass},
        {.name = "noprompt", .prompt_suffix = "", .n_passes = 2, .passes = prompt_pass},
        {.name = "nopasses", .prompt_suffix = "", .n_passes = 0},
        {.name = "toomany", .prompt_suffix = "", .n_passes = ML_LOCKSTEP_MAX_PASSES + 1},
    };
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}};
    for (int i = 0; i < 4; i++) {
        MlMethodConfig cfg;
        ml_method_defaults(&cfg, &bad[i]);
        MlRunner *r = NULL;
        CHECK(ml_runner_new(&r, model, &cfg, &o, &err) == ML_ERR_ARG && !r);
        CHECK(strstr(err.msg, bad[i].name) != NULL);
    }
}

int main(void) {
    MlError err = {0};
    ml_threads_set(1);
    char dir[800];
    snprintf(dir, sizeof dir, "%s/tiny", test_tmpdir("runner"));
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 2};
    if (ml_init_model(dir, &io, &err) || ml_lvlm_open(&model, dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_runner") | 1;
    }
    const int64_t np = ml_lvlm_pixel_floats(model);
    pixels = malloc(sizeof(float) * np);
    for (int64_t i = 0; i < np; i++) pixels[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
    feats = malloc(sizeof(float) * ml_lvlm_max_image_tokens(model) * ml_lvlm_hidden(model));
    CHECK_OK(ml_lvlm_encode_image(model, feats, pixels, NULL, &image_rows, &err), &err);
    RUN(test_quiet_example_equals_greedy);
    RUN(test_active_example_equals_independent);
    RUN(test_hook_moves_pass_logits);
    RUN(test_pass_prompts_and_no_image_pass);
    RUN(test_own_loop_equals_greedy);
    RUN(test_incomplete_declarations);
    free(pixels), free(feats);
    ml_lvlm_close(model);
    return test_summary("test_runner");
}
