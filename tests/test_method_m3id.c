/* test_method_m3id.c: M3ID (mitigate/m3id.c) on a tiny random model: its
   scores at several steps equal the NumPy reference's (tests/reference/
   method_ref.py over llava_ref.py), the contrast pass has no image, the
   weight is 0 at the first step (the scores are the logits, the first token
   greedy's), and bad parameters are refused. */
#include "test.h"

#include "kernels/threads.h"
#include "method_ref.h"
#include "model/init.h"

static MlLvlm *model;
static float *pixels;
static char model_dir[800];

static void config(MlMethodConfig *c, const char *const *params, int n) {
    MlError err = {0};
    ml_method_defaults(c, ml_method_find("m3id"));
    for (int i = 0; i < n; i++) CHECK_OK(ml_method_set(c, params[i], &err), &err);
}

static void test_scores_equal_numpy(void) {
    const int64_t steps[] = {0, 1, 7, 60};
    MlMethodConfig c;
    config(&c, NULL, 0);
    CHECK(method_ref_compare(model, model_dir, pixels, NULL, &c, "", steps, 4, "m3id") == 0);
    const char *p[] = {"beta=0.8"};
    config(&c, p, 1);
    CHECK(method_ref_compare(model, model_dir, pixels, NULL, &c, "--param beta=0.8", steps, 4, "m3id") == 0);
}

/* Pass 1 is the same prompt without the image; at step 0 the scores are pass 0's logits (cut), later not. */
static void test_first_step_is_the_logits(void) {
    MlMethodConfig c;
    config(&c, NULL, 0);
    MlRunner *r = method_ref_runner(model, pixels, NULL, &c, METHOD_REF_QUESTION);
    CHECK(r != NULL);
    if (!r) return;
    MlError err = {0};
    size_t n1, n, end;
    const int32_t *ids1 = ml_runner_prompt(r, 1, &n1);
    const int64_t V = ml_lvlm_vocab(model);
    int32_t *text_only;
    MlPromptOptions po = {ML_TEMPLATE_HF, NULL, 0};
    CHECK_OK(ml_prompt_build(ml_lvlm_tokenizer(model), &po, METHOD_REF_QUESTION, 0, ml_lvlm_image_token_id(model), 0,
                             &text_only, &n, &end, &err),
             &err);
    CHECK(n == n1 && !memcmp(text_only, ids1, n * sizeof *ids1));
    free(text_only);
    const float *logits[2] = {ml_runner_logits(r, 0), ml_runner_logits(r, 1)};
    float *s = malloc(sizeof(float) * (size_t)V);
    MlMethodRun run = {.cfg = &c, .m = model, .n_passes = 2};
    c.method->combine(s, logits, 2, V, 0, &run);
    int64_t same = 0, kept = 0;
    for (int64_t i = 0; i < V; i++) kept += !isinf(s[i]), same += isinf(s[i]) || s[i] == logits[0][i];
    CHECK(same == V && kept > 0);
    c.method->combine(s, logits, 2, V, 1, &run);
    same = 0;
    for (int64_t i = 0; i < V; i++) same += isinf(s[i]) || s[i] == logits[0][i];
    CHECK(same < V);
    free(s);
    ml_runner_free(r);
}

/* decode=greedy: the first token is greedy's whatever beta; later tokens may part. */
static void test_first_token_is_greedy(void) {
    MlMethodConfig g, c;
    ml_method_defaults(&g, ml_method_find("greedy"));
    const char *p[] = {"decode=greedy", "beta=0"};
    config(&c, p, 2);
    const char *questions[] = {METHOD_REF_QUESTION, "What colour is the ring?", "Describe the image."};
    for (int q = 0; q < 3; q++) {
        int32_t a[4], b[4];
        int64_t na = 0, nb = 0;
        CHECK(method_generate(model, pixels, NULL, &g, questions[q], 4, a, &na) == 0);
        CHECK(method_generate(model, pixels, NULL, &c, questions[q], 4, b, &nb) == 0);
        CHECK(na == 4 && nb == 4 && a[0] == b[0]);
    }
}

static void test_bad_params(void) {
    MlError err = {0};
    MlMethodConfig c;
    ml_method_defaults(&c, ml_method_find("m3id"));
    const char *bad[] = {"beta=-0.1", "beta=2", "alpha=1", "decode=beam", "temperature=-1", "=1"};
    for (int i = 0; i < 6; i++) {
        CHECK(ml_method_set(&c, bad[i], &err) == ML_ERR_ARG);
        CHECK(strstr(err.msg, bad[i]) != NULL && !strchr(err.msg, '\n'));
    }
    CHECK(ml_method_param(&c, "beta") == 0.1 && ml_method_param(&c, "decode") == ML_DECODE_SAMPLE &&
          ml_method_param(&c, "temperature") == 1 && !strcmp(c.method->prompt_suffix, ""));
}

int main(void) {
    MlError err = {0};
    ml_threads_set(1);
    snprintf(model_dir, sizeof model_dir, "%s/tiny", test_tmpdir("method_m3id"));
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 5};
    if (ml_init_model(model_dir, &io, &err) || ml_lvlm_open(&model, model_dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_method_m3id") | 1;
    }
    const int64_t np = ml_lvlm_pixel_floats(model);
    pixels = malloc(sizeof(float) * (size_t)np);
    for (int64_t i = 0; i < np; i++) pixels[i] = (float)((i * 53 % 97) / 48.0 - 1.0);
    RUN(test_scores_equal_numpy);
    RUN(test_first_step_is_the_logits);
    RUN(test_first_token_is_greedy);
    RUN(test_bad_params);
    free(pixels);
    ml_lvlm_close(model);
    return test_summary("test_method_m3id");
}
