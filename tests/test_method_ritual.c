/* test_method_ritual.c: RITUAL (mitigate/ritual.c) on a tiny random model:
   pass 1 sees the decoded image after the transform drawn from the run
   seed, "pass 1", the image's name and the question; its first-step scores
   equal the NumPy reference's (tests/reference/method_ref.py over
   llava_ref.py, pass 1 on those pixels); alpha_pos = 0 is greedy; the prefix
   cache changes nothing; bad input is refused. */
#include "test.h"

#include "kernels/threads.h"
#include "method_ref.h"
#include "mitigate/noise.h"
#include "mitigate/ritual.h"
#include "model/init.h"

static MlLvlm *model;
static MlImage image; /* decoded */
static float *pixels; /* its preprocessed clean pixels */
static char model_dir[800];

static void config(MlMethodConfig *c, const char *const *params, int n) {
    MlError err = {0};
    ml_method_defaults(c, ml_method_find("ritual"));
    for (int i = 0; i < n; i++) CHECK_OK(ml_method_set(c, params[i], &err), &err);
}

/* The pixels pass 1 sees for question (run seed 0, image "img.png"), as runner.h documents the seed. */
static void transformed_pixels(const char *question, float *out, MlRitualKind *kind) {
    MlError err = {0};
    uint64_t seed = ml_seed_mix(ml_seed_mix(ml_seed_mix(0, "pass 1"), "img.png"), question);
    seed += !seed;
    MlRitualDraw d;
    ml_ritual_draw(seed, image.width, image.height, &d);
    MlImage t;
    CHECK_OK(ml_ritual_apply(&image, &d, &t, &err), &err);
    CHECK_OK(ml_lvlm_preprocess_image(model, &t, ML_ASPECT_RESIZE, out, &err), &err);
    ml_image_free(&t);
    *kind = d.kind;
}

static void test_scores_equal_numpy(void) {
    MlError err = {0};
    const int64_t step0[] = {0};
    const int64_t np = ml_lvlm_pixel_floats(model), side = (int64_t)llround(sqrt((double)np / 3.0));
    float *px1 = malloc(sizeof(float) * (size_t)np);
    MlRitualKind kind;
    transformed_pixels(METHOD_REF_QUESTION, px1, &kind);
    char path[700], args[800];
    snprintf(path, sizeof path, "%s/pixels1.npy", test_tmpdir("ritual"));
    CHECK_OK(ml_npy_write_f32(path, px1, (int64_t[]){3, side, side}, 3, &err), &err);
    MlMethodConfig c;
    config(&c, NULL, 0);
    snprintf(args, sizeof args, "--pixels1 %s", path);
    CHECK(method_ref_compare(model, model_dir, pixels, &image, &c, args, step0, 1, "ritual") == 0);
    const char *p[] = {"alpha_pos=0.5", "beta=0.8"};
    config(&c, p, 2);
    snprintf(args, sizeof args, "--pixels1 %s --param alpha_pos=0.5 --param beta=0.8", path);
    CHECK(method_ref_compare(model, model_dir, pixels, &image, &c, args, step0, 1, "ritual") == 0);
    /* the comparison sees pass 1's image: the clean pixels in its place fail it */
    snprintf(path, sizeof path, "%s/pixels0.npy", test_tmpdir("ritual"));
    CHECK_OK(ml_npy_write_f32(path, pixels, (int64_t[]){3, side, side}, 3, &err), &err);
    snprintf(args, sizeof args, "--pixels1 %s --param alpha_pos=0.5 --param beta=0.8", path);
    CHECK(method_ref_compare(model, model_dir, pixels, &image, &c, args, step0, 1, "ritual") > 0);
    free(px1);
}

/* alpha_pos = 0 leaves s = l: greedy token for token; alpha_pos = 1000 follows pass 1 instead. */
static void test_alpha0_is_greedy(void) {
    MlMethodConfig g, c;
    ml_method_defaults(&g, ml_method_find("greedy"));
    const char *p[] = {"alpha_pos=0", "decode=greedy"};
    config(&c, p, 2);
    int32_t a[10], b[10];
    int64_t na = 0, nb = 0;
    CHECK(method_generate(model, pixels, &image, &g, METHOD_REF_QUESTION, 10, a, &na) == 0);
    CHECK(method_generate(model, pixels, &image, &c, METHOD_REF_QUESTION, 10, b, &nb) == 0);
    CHECK(na == 10 && nb == na && !memcmp(a, b, sizeof(int32_t) * (size_t)na));
    const char *q[] = {"alpha_pos=1000", "beta=0", "decode=greedy"};
    config(&c, q, 3);
    CHECK(method_generate(model, pixels, &image, &c, METHOD_REF_QUESTION, 10, b, &nb) == 0);
    CHECK(nb == na && memcmp(a, b, sizeof(int32_t) * (size_t)na) != 0);
}

/* Shared prefixes and a prefill from scratch give the same tokens, question after question (each redraws). */
static void test_prefix_cache_changes_nothing(void) {
    MlError err = {0};
    const char *p[] = {"decode=greedy", "alpha_pos=1"};
    MlMethodConfig c;
    config(&c, p, 2);
    const char *questions[] = {"Is there a cat?", "Is there a dog?", "What colour is it?", "Is there a cat?"};
    int32_t out[2][4][6];
    for (int mode = 0; mode < 2; mode++) {
        MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = mode ? ML_PREFIX_SHARED : ML_PREFIX_SPLIT};
        MlRunner *r = NULL;
        CHECK_OK(ml_runner_new(&r, model, &c, &o, &err), &err);
        CHECK_OK(ml_runner_set_decoded(r, &image, ML_ASPECT_RESIZE, "img.png", &err), &err);
        if (mode) CHECK_OK(ml_runner_prepare(r, questions[0], &err), &err);
        for (int q = 0; q < 4; q++) {
            MlSamplerConfig sc;
            ml_method_sampler(&c, 0, &sc);
            int64_t n = 0;
            CHECK_OK(ml_runner_ask(r, questions[q], &err), &err);
            CHECK_OK(ml_runner_prefill(r, 6, &err), &err);
            CHECK_OK(ml_runner_generate(r, &sc, 6, -1, NULL, NULL, out[mode][q], &n, &err), &err);
            CHECK(n == 6);
        }
        ml_runner_free(r);
    }
    CHECK(!memcmp(out[0], out[1], sizeof out[0]));
    CHECK(!memcmp(out[1][0], out[1][3], sizeof out[1][0])); /* the same question, the same image */
    /* each question draws its own transform */
    float *px = malloc(sizeof(float) * (size_t)ml_lvlm_pixel_floats(model));
    int seen[ML_RITUAL_KINDS] = {0}, kinds = 0;
    for (int q = 0; q < 12; q++) {
        char text[64];
        MlRitualKind k;
        snprintf(text, sizeof text, "Is there a cat number %d?", q);
        transformed_pixels(text, px, &k);
        kinds += !seen[k]++;
    }
    free(px);
    CHECK(kinds >= 3);
}

static void test_bad_input(void) {
    MlError err = {0};
    MlMethodConfig c;
    ml_method_defaults(&c, ml_method_find("ritual"));
    const char *bad[] = {"alpha_pos=-1", "beta=2", "alpha=1", "decode=beam", "top_p=1.5"};
    for (int i = 0; i < 5; i++) {
        CHECK(ml_method_set(&c, bad[i], &err) == ML_ERR_ARG);
        CHECK(strstr(err.msg, bad[i]) != NULL && !strchr(err.msg, '\n'));
    }
    CHECK(ml_method_param(&c, "alpha_pos") == 3 && ml_method_param(&c, "beta") == 0.1 &&
          ml_method_param(&c, "decode") == ML_DECODE_SAMPLE && !strcmp(c.method->prompt_suffix, ""));
    /* normalised pixels alone are not enough: the transform needs the decoded image */
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = ML_PREFIX_SHARED};
    MlRunner *r = NULL;
    CHECK_OK(ml_runner_new(&r, model, &c, &o, &err), &err);
    CHECK_OK(ml_runner_set_image(r, pixels, "img.png", &err), &err);
    CHECK(ml_runner_ask(r, METHOD_REF_QUESTION, &err) == ML_ERR_ARG && strstr(err.msg, "ml_runner_set_decoded"));
    ml_runner_free(r);
}

int main(void) {
    MlError err = {0};
    ml_threads_set(1);
    snprintf(model_dir, sizeof model_dir, "%s/tiny", test_tmpdir("method_ritual"));
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 6};
    if (ml_init_model(model_dir, &io, &err) || ml_lvlm_open(&model, model_dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_method_ritual") | 1;
    }
    CHECK_OK(ml_image_alloc(&image, 53, 41, &err), &err);
    for (int i = 0; i < 53 * 41 * 3; i++) image.rgb[i] = (uint8_t)((i * 37 + (i / 159) * 11) % 251);
    pixels = malloc(sizeof(float) * (size_t)ml_lvlm_pixel_floats(model));
    CHECK_OK(ml_lvlm_preprocess_image(model, &image, ML_ASPECT_RESIZE, pixels, &err), &err);
    RUN(test_scores_equal_numpy);
    RUN(test_alpha0_is_greedy);
    RUN(test_prefix_cache_changes_nothing);
    RUN(test_bad_input);
    free(pixels);
    ml_image_free(&image);
    ml_lvlm_close(model);
    return test_summary("test_method_ritual");
}
