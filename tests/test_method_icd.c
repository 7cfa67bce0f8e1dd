/* test_method_icd.c: ICD (mitigate/icd.c) on a tiny random model: its
   first-step scores equal the NumPy reference's (tests/reference/method_ref.py
   over llava_ref.py), its contrast pass asks under the disturbance system
   message, alpha = 0 is greedy, and bad parameters are refused. */
#include "test.h"

#include "kernels/threads.h"
#include "method_ref.h"
#include "model/init.h"

static MlLvlm *model;
static float *pixels;
static char model_dir[800];

static void config(MlMethodConfig *c, const char *name, const char *const *params, int n) {
    MlError err = {0};
    ml_method_defaults(c, ml_method_find(name));
    for (int i = 0; i < n; i++) CHECK_OK(ml_method_set(c, params[i], &err), &err);
}

static void test_scores_equal_numpy(void) {
    const int64_t step0[] = {0};
    MlMethodConfig c;
    config(&c, "icd", NULL, 0);
    CHECK(method_ref_compare(model, model_dir, pixels, NULL, &c, "", step0, 1, "icd") == 0);
    const char *p[] = {"alpha=0.5", "beta=0.8"};
    config(&c, "icd", p, 2);
    const char *args = "--param alpha=0.5 --param beta=0.8";
    CHECK(method_ref_compare(model, model_dir, pixels, NULL, &c, args, step0, 1, "icd") == 0);
}

/* Pass 1 is the question under the disturbance instead of the system message (none, or the run's). */
static void test_disturbance_replaces_system(void) {
    MlError err = {0};
    MlMethodConfig c;
    config(&c, "icd", NULL, 0);
    MlRunner *r = method_ref_runner(model, pixels, NULL, &c, METHOD_REF_QUESTION);
    CHECK(r != NULL);
    if (!r) return;
    size_t n0, n1, n, end;
    const int32_t *ids0 = ml_runner_prompt(r, 0, &n0), *ids1 = ml_runner_prompt(r, 1, &n1);
    int32_t *plain, *disturbed;
    MlPromptOptions po = {ML_TEMPLATE_HF, NULL, 0};
    const int64_t rows = ml_runner_image_rows(r);
    CHECK_OK(ml_prompt_build(ml_lvlm_tokenizer(model), &po, METHOD_REF_QUESTION, 1, ml_lvlm_image_token_id(model),
                             (int)rows, &plain, &n, &end, &err),
             &err);
    CHECK(n == n0 && !memcmp(plain, ids0, n * sizeof *plain));
    po.system = "You are a confused objects detector to provide a fuzzy overview or impression of the image.";
    CHECK_OK(ml_prompt_build(ml_lvlm_tokenizer(model), &po, METHOD_REF_QUESTION, 1, ml_lvlm_image_token_id(model),
                             (int)rows, &disturbed, &n, &end, &err),
             &err);
    CHECK(n == n1 && !memcmp(disturbed, ids1, n * sizeof *disturbed));
    free(plain), free(disturbed);
    ml_runner_free(r);
}

/* alpha = 0 leaves s = l, and the cutoff keeps the best token: greedy, token for token. */
static void test_alpha0_is_greedy(void) {
    MlMethodConfig g, c;
    config(&g, "greedy", NULL, 0);
    const char *p[] = {"alpha=0", "decode=greedy"};
    config(&c, "icd", p, 2);
    int32_t a[12], b[12];
    int64_t na = 0, nb = 0;
    CHECK(method_generate(model, pixels, NULL, &g, METHOD_REF_QUESTION, 12, a, &na) == 0);
    CHECK(method_generate(model, pixels, NULL, &c, METHOD_REF_QUESTION, 12, b, &nb) == 0);
    CHECK(na == 12 && nb == na && !memcmp(a, b, sizeof(int32_t) * (size_t)na));
    /* and the contrast does move the answer somewhere (the identity can fail) */
    const char *q[] = {"alpha=1000", "beta=0", "decode=greedy"};
    config(&c, "icd", q, 3);
    CHECK(method_generate(model, pixels, NULL, &c, METHOD_REF_QUESTION, 12, b, &nb) == 0);
    CHECK(nb == na && memcmp(a, b, sizeof(int32_t) * (size_t)na) != 0);
}

static void test_bad_params(void) {
    MlError err = {0};
    MlMethodConfig c;
    ml_method_defaults(&c, ml_method_find("icd"));
    const char *bad[] = {"alpha=-1", "beta=1.5", "decode=beam", "gamma=1", "top_k=0.5", "alpha"};
    for (int i = 0; i < 6; i++) {
        CHECK(ml_method_set(&c, bad[i], &err) == ML_ERR_ARG);
        CHECK(strstr(err.msg, bad[i]) != NULL && !strchr(err.msg, '\n'));
    }
    CHECK(ml_method_param(&c, "alpha") == 1 && ml_method_param(&c, "beta") == 0.1 &&
          ml_method_param(&c, "decode") == ML_DECODE_SAMPLE && !strcmp(c.method->prompt_suffix, ""));
}

int main(void) {
    MlError err = {0};
    ml_threads_set(1);
    snprintf(model_dir, sizeof model_dir, "%s/tiny", test_tmpdir("method_icd"));
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 3};
    if (ml_init_model(model_dir, &io, &err) || ml_lvlm_open(&model, model_dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_method_icd") | 1;
    }
    const int64_t np = ml_lvlm_pixel_floats(model);
    pixels = malloc(sizeof(float) * (size_t)np);
    for (int64_t i = 0; i < np; i++) pixels[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
    RUN(test_scores_equal_numpy);
    RUN(test_disturbance_replaces_system);
    RUN(test_alpha0_is_greedy);
    RUN(test_bad_params);
    free(pixels);
    ml_lvlm_close(model);
    return test_summary("test_method_icd");
}
