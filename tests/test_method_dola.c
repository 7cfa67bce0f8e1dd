/* test_method_dola.c: DoLa (src/mitigate/dola.c).  Its first-step scores
   against tests/reference/dola_ref.py (NumPy, written from the official
   dola_greedy_decode) on a tiny random model deepened to 6 layers, so the
   JSD picks among three candidates (0, 2, 4); the identities of the official
   code: relative_top 1 answers as greedy, and the premature layer forced to
   the final one scores every kept token 0, so the answer is the lowest id
   the relative-top filter keeps (not greedy); shared prefixes answer as
   prefixes run from scratch; and bad parameters. */
#include "test.h"

#include <cjson/cJSON.h>

#include "core/file.h"
#include "io/safetensors.h"
#include "kernels/threads.h"
#include "mitigate/method.h"
#include "mitigate/runner.h"
#include "model/init.h"
#include "model/lvlm.h"

#define REFERENCE "/usr/bin/python3 tests/reference/dola_ref.py"
#define DEEP_LAYERS 6
#define MAX_TOKENS 6
#define SCORE_TOL 1e-3

static MlLvlm *model;
static char deep[800], image[900];
static float *pixels;
static const char *questions[] = {"Is there a cat in the image?", "What colour is the ring?", "Describe it."};
#define N_Q 3

extern const MlMethod ml_method_dola;

/* The tiny model with layers 2..5 added: copies of layers 0 and 1 scaled by
   1 + 1.5 k^2 (k = 1, 2), so that the residual grows with depth and the JSD
   picks the deepest candidate, not the first. */
static int make_deep(const char *tiny, const char *out) {
    MlError err = {0};
    char cmd[4096], path[1000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", out, tiny, out);
    if (system(cmd)) return -1;
    snprintf(path, sizeof path, "%s/model.safetensors", tiny);
    MlSafetensors *st;
    if (ml_safetensors_open(&st, path, &err)) return -1;
    const int n = ml_safetensors_count(st);
    MlNamedTensor *t = calloc((size_t)n * 3, sizeof *t);
    char(*names)[128] = calloc((size_t)n * 3, 128);
    float **owned = calloc((size_t)n * 3, sizeof *owned);
    int m = 0, rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name;
        MlTensor x;
        ml_safetensors_at(st, i, &name, &x);
        t[m] = (MlNamedTensor){name, x};
        m++;
        int layer, used;
        if (sscanf(name, "language_model.model.layers.%d.%n", &layer, &used) != 1 || x.dtype != ML_F32) continue;
        for (int k = 1; k <= 2; k++) {
            const size_t count = x.nbytes / sizeof(float);
            float *v = owned[m] = malloc(x.nbytes);
            for (size_t j = 0; j < count; j++) v[j] = ((const float *)x.data)[j] * (float)(1.0 + 1.5 * k * k);
            snprintf(names[m], 128, "language_model.model.layers.%d.%s", layer + 2 * k, name + used);
            t[m] = (MlNamedTensor){names[m], x};
            t[m].tensor.data = v;
            m++;
        }
    }
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    rc = ml_safetensors_write(path, t, m, &err);
    ml_safetensors_close(st);
    for (int i = 0; i < m; i++) free(owned[i]);
    free(owned), free(names), free(t);
    if (rc) return fprintf(stderr, "deep model: %s\n", err.msg), -1;
    char *text;
    size_t size;
    snprintf(path, sizeof path, "%s/config.json", out);
    if (ml_file_read(path, &text, &size, &err)) return -1;
    cJSON *c = cJSON_ParseWithLength(text, size);
    free(text);
    cJSON *tc = cJSON_GetObjectItem(c, "text_config");
    if (!tc) return cJSON_Delete(c), -1;
    cJSON_DeleteItemFromObject(tc, "num_hidden_layers");
    cJSON_AddNumberToObject(tc, "num_hidden_layers", DEEP_LAYERS);
    char *json = cJSON_Print(c);
    rc = ml_file_write(path, json, strlen(json), &err);
    free(json);
    cJSON_Delete(c);
    return rc;
}

/* The C scores of the first step: the method's hooks and combiner around a plain session. */
static void engine_scores(const char *const *params, const int32_t *ids, size_t n, const float *feats,
                          int64_t rows, float *scores, float *logits) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, &ml_method_dola);
    for (int i = 0; params[i]; i++) CHECK_OK(ml_method_set(&cfg, params[i], &err), &err);
    MlMethodRun run = {.cfg = &cfg, .m = model, .n_passes = 1};
    CHECK_OK(ml_method_dola.state_new(&run, &err), &err);
    MlSession *s;
    CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
    CHECK_OK(ml_session_prefill(s, ids, (int64_t)n, feats, rows, ml_method_hooks(&run, 0, ML_STEP_PROMPT), logits,
                                &err),
             &err);
    const float *l[1] = {logits};
    ml_method_dola.combine(scores, l, 1, ml_lvlm_vocab(model), 0, &run);
    ml_session_free(s);
    ml_method_dola.state_free(&run);
}

/* Compares with the reference for one setting; returns the reference's chosen layer. */
static int compare(double relative_top, int premature) {
    MlError err = {0};
    const int64_t V = ml_lvlm_vocab(model);
    float *feats = malloc(sizeof(float) * ml_lvlm_max_image_tokens(model) * ml_lvlm_hidden(model));
    int64_t rows = 0;
    CHECK_OK(ml_lvlm_encode_image(model, feats, pixels, NULL, &rows, &err), &err);
    MlPromptOptions po = {ML_TEMPLATE_HF, NULL, 0};
    int32_t *ids = NULL;
    size_t n = 0, end;
    CHECK_OK(ml_lvlm_prompt(model, &po, questions[0], rows, &ids, &n, &end, &err), &err);
    char rt[64], pl[64], cmd[16384], npy[1000], out[1000];
    snprintf(rt, sizeof rt, "relative_top=%.17g", relative_top);
    snprintf(pl, sizeof pl, "premature_layer=%d", premature);
    const char *params[] = {rt, pl, NULL};
    float *scores = malloc(sizeof(float) * V), *logits = malloc(sizeof(float) * V);
    engine_scores(params, ids, n, feats, rows, scores, logits);

    snprintf(npy, sizeof npy, "%s/scores.npy", test_tmpdir("method_dola"));
    snprintf(out, sizeof out, "%s/ref.json", test_tmpdir("method_dola"));
    int used = snprintf(cmd, sizeof cmd, REFERENCE " --model '%s' --image '%s' --relative-top %.17g --premature-layer %d "
                        "--scores '%s' --ids ", deep, image, relative_top, premature, npy);
    for (size_t i = 0; i < n && used < (int)sizeof cmd - 16; i++) used += snprintf(cmd + used, sizeof cmd - used, "%s%d", i ? "," : "", ids[i]);
    snprintf(cmd + used, sizeof cmd - used, " > '%s'", out);
    int layer = -2;
    CHECK(system(cmd) == 0);
    char *npy_data = NULL, *json = NULL;
    size_t npy_size = 0, json_size = 0;
    if (!ml_file_read(npy, &npy_data, &npy_size, &err) && !ml_file_read(out, &json, &json_size, &err)) {
        cJSON *r = cJSON_ParseWithLength(json, json_size);
        layer = cJSON_GetObjectItem(r, "layer") ? cJSON_GetObjectItem(r, "layer")->valueint : -2;
        const int token = cJSON_GetObjectItem(r, "token") ? cJSON_GetObjectItem(r, "token")->valueint : -2;
        cJSON_Delete(r);
        /* .npy version 1: magic, version, a little-endian u16 header length, the header, then V doubles */
        const size_t at = npy_size > 10 ? 10 + (size_t)(uint8_t)npy_data[8] + 256 * (size_t)(uint8_t)npy_data[9] : 0;
        CHECK(at > 0 && npy_size == at + sizeof(double) * (size_t)V);
        if (at > 0 && npy_size == at + sizeof(double) * (size_t)V) {
            double *ref = malloc(sizeof(double) * (size_t)V);
            memcpy(ref, npy_data + at, sizeof(double) * (size_t)V);
            double worst = 0;
            int same_mask = 1, kept = 0;
            for (int64_t i = 0; i < V; i++) {
                same_mask &= isinf(ref[i]) == isinf(scores[i]);
                if (!isinf(ref[i])) {
                    kept++;
                    worst = fmax(worst, fabs(ref[i] - scores[i]));
                }
            }
            CHECK(same_mask && kept > 0);
            if (worst > SCORE_TOL) fprintf(stderr, "  rt %g layer %d: max |dscore| %g\n", relative_top, premature, worst);
            CHECK(worst <= SCORE_TOL);
            CHECK(ml_sampler_argmax(scores, (int)V) == token);
            free(ref);
        }
    }
    free(npy_data), free(json), free(ids), free(scores), free(logits), free(feats);
    return layer;
}

static void test_scores_match_numpy(void) {
    CHECK(compare(0.1, -1) == 4); /* the reference's choice: not the first candidate */
    compare(0.0, -1);   /* no filter: raw logits */
    compare(0.5, 3);    /* a forced odd layer */
    compare(0.1, 1);
    CHECK(compare(0.1, DEEP_LAYERS) == DEEP_LAYERS); /* the final layer itself */
}

typedef struct Answer {
    int32_t ids[MAX_TOKENS];
    int64_t n;
} Answer;

static void answer(const char *method, const char *const *params, MlPrefixMode mode, Answer *out) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, ml_method_find(method));
    for (int i = 0; params && params[i]; i++) CHECK_OK(ml_method_set(&cfg, params[i], &err), &err);
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .seed = 1, .prefix = mode};
    MlRunner *r = NULL;
    CHECK_OK(ml_runner_new(&r, model, &cfg, &o, &err), &err);
    if (!r) return;
    CHECK_OK(ml_runner_set_image(r, pixels, "img.png", &err), &err);
    if (mode == ML_PREFIX_SHARED) CHECK_OK(ml_runner_prepare(r, questions[0], &err), &err);
    MlSamplerConfig sc;
    ml_method_sampler(&cfg, 0, &sc);
    for (int q = 0; q < N_Q; q++) {
        CHECK_OK(ml_runner_ask(r, questions[q], &err), &err);
        CHECK_OK(ml_runner_prefill(r, MAX_TOKENS, &err), &err);
        CHECK_OK(ml_runner_generate(r, &sc, MAX_TOKENS, -1, NULL, NULL, out[q].ids, &out[q].n, &err), &err);
    }
    ml_runner_free(r);
}

static int same(const Answer *a, const Answer *b, int n_tokens) {
    int eq = 1;
    for (int q = 0; q < N_Q; q++)
        eq &= a[q].n >= n_tokens && b[q].n >= n_tokens && !memcmp(a[q].ids, b[q].ids, sizeof(int32_t) * n_tokens);
    return eq;
}

static void test_relative_top_one_is_greedy(void) {
    Answer g[N_Q], d[N_Q];
    const char *p[] = {"relative_top=1", NULL};
    answer("greedy", NULL, ML_PREFIX_SHARED, g);
    answer("dola", p, ML_PREFIX_SHARED, d);
    CHECK(same(g, d, MAX_TOKENS));
}

/* Forced to the final layer every kept token scores 0: the first answer is
   the lowest id whose log p >= log 0.1 + max log p, which is not greedy's
   on this model (so the check can tell the two apart). */
static void test_final_layer_is_lowest_kept_id(void) {
    MlError err = {0};
    Answer g[N_Q], d[N_Q];
    char pl[64];
    snprintf(pl, sizeof pl, "premature_layer=%d", DEEP_LAYERS);
    const char *p[] = {pl, NULL};
    answer("greedy", NULL, ML_PREFIX_SHARED, g);
    answer("dola", p, ML_PREFIX_SHARED, d);
    const int64_t V = ml_lvlm_vocab(model);
    float *feats = malloc(sizeof(float) * ml_lvlm_max_image_tokens(model) * ml_lvlm_hidden(model));
    float *logits = malloc(sizeof(float) * V);
    int64_t rows = 0;
    CHECK_OK(ml_lvlm_encode_image(model, feats, pixels, NULL, &rows, &err), &err);
    int differs = 0;
    for (int q = 0; q < N_Q; q++) {
        MlPromptOptions po = {ML_TEMPLATE_HF, NULL, 0};
        int32_t *ids = NULL;
        size_t n = 0, end;
        MlSession *s;
        CHECK_OK(ml_lvlm_prompt(model, &po, questions[q], rows, &ids, &n, &end, &err), &err);
        CHECK_OK(ml_session_new(&s, model, 0, &err), &err);
        CHECK_OK(ml_session_prefill(s, ids, (int64_t)n, feats, rows, NULL, logits, &err), &err);
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < V; i++) mx = fmax(mx, logits[i]);
        for (int64_t i = 0; i < V; i++) sum += exp(logits[i] - mx);
        int32_t lowest = -1;
        for (int64_t i = 0; i < V && lowest < 0; i++)
            if (logits[i] - mx - log(sum) >= -log(sum) + log(0.1)) lowest = (int32_t)i;
        CHECK(d[q].n > 0 && d[q].ids[0] == lowest);
        differs |= d[q].ids[0] != g[q].ids[0];
        ml_session_free(s);
        free(ids);
    }
    CHECK(differs);
    free(feats), free(logits);
}

/* The hooks read only the prompt and fed tokens, so a shared prefix answers as one run from scratch. */
static void test_prefix_reuse(void) {
    Answer shared[N_Q], split[N_Q];
    answer("dola", NULL, ML_PREFIX_SHARED, shared);
    answer("dola", NULL, ML_PREFIX_SPLIT, split);
    CHECK(same(shared, split, MAX_TOKENS));
}

static void test_bad_input(void) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, &ml_method_dola);
    CHECK(ml_method_set(&cfg, "relative_top=1.5", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&cfg, "premature_layer=-2", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&cfg, "premature_layer=2.5", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&cfg, "alpha=1", &err) == ML_ERR_ARG);
    char pl[64];
    snprintf(pl, sizeof pl, "premature_layer=%d", DEEP_LAYERS + 1);
    CHECK_OK(ml_method_set(&cfg, pl, &err), &err);
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = ML_PREFIX_SHARED};
    MlRunner *r = NULL;
    err = (MlError){0};
    CHECK(ml_runner_new(&r, model, &cfg, &o, &err) == ML_ERR_ARG && !r);
    CHECK(strstr(err.msg, "premature_layer 7 does not exist") != NULL);
}

int main(void) {
    MlError err = {0};
    ml_threads_set(1);
    char tiny[900], cmd[4096];
    const char *tmp = test_tmpdir("method_dola");
    snprintf(tiny, sizeof tiny, "%s/tiny", tmp);
    snprintf(deep, sizeof deep, "%s/deep", tmp);
    snprintf(image, sizeof image, "%s/image.png", tmp);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/exactness_tools.py image '%s' 40 32 3", image);
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 5};
    if (ml_init_model(tiny, &io, &err) || make_deep(tiny, deep) || ml_lvlm_open(&model, deep, &err) ||
        system(cmd)) {
        fprintf(stderr, "cannot build the test model or image: %s\n", err.msg);
        return test_summary("test_method_dola") | 1;
    }
    pixels = malloc(sizeof(float) * ml_lvlm_pixel_floats(model));
    CHECK_OK(ml_lvlm_load_image(model, image, ML_ASPECT_RESIZE, pixels, &err), &err);
    CHECK(ml_lvlm_layers(model) == DEEP_LAYERS);
    RUN(test_scores_match_numpy);
    RUN(test_relative_top_one_is_greedy);
    RUN(test_final_layer_is_lowest_kept_id);
    RUN(test_prefix_reuse);
    RUN(test_bad_input);
    free(pixels);
    ml_lvlm_close(model);
    return test_summary("test_method_dola");
}
