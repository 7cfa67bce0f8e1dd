/* test_method_vti.c: VTI (mitigate/vti.h, vti.c, steer.h).  Against
   tests/reference/vti_ref.py (NumPy, from shengliu66/VTI): the rank-1 PCA
   direction, the fitted text and vision directions on a tiny random model,
   and the first logits with the online edit in both towers.  Identities:
   alpha 0 in both towers answers as greedy; a shared prefix answers as one
   run from scratch.  Bad input: a directions file
   from another model, method or config, and malformed files. */
#include "test.h"

#include "core/file.h"
#include "core/npy.h"
#include "core/rng.h"
#include "io/tokenizer.h"
#include "kernels/threads.h"
#include "mitigate/method.h"
#include "mitigate/runner.h"
#include "mitigate/steer.h"
#include "mitigate/vti.h"
#include "model/init.h"
#include "model/lvlm.h"

#define REFERENCE "/usr/bin/python3 tests/reference/vti_ref.py"
#define N_DEMOS 3
#define TRIALS 2
#define MASK_RATIO 0.5
#define FIT_SEED 11
#define MAX_TOKENS 5

static MlLvlm *model;
static char dir[800], tiny[900], steer_path[900], random_path[900];
static float *pixels[N_DEMOS];
static const char *captions[N_DEMOS][2] = {
    {"A small red striped star above a large blue moon.", "A small green striped star above a large blue moon."},
    {"Two hearts, one checked and one solid.", "Two arrows, one checked and one solid."},
    {"The image contains a medium yellow square.", "The image contains a medium yellow diamond."},
};

static int run(const char *fmt, const char *a) {
    char cmd[20000];
    snprintf(cmd, sizeof cmd, fmt, a);
    int rc = system(cmd);
    if (rc) fprintf(stderr, "  reference failed (%d): %s\n", rc, cmd);
    return rc;
}

static float *read_npy(const char *path, int64_t want) {
    MlError err = {0};
    float *d = NULL;
    int64_t shape[ML_NPY_MAX_DIMS];
    int nd = 0;
    if (ml_npy_read_f32(path, &d, shape, &nd, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        return NULL;
    }
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    if (n != want) {
        fprintf(stderr, "  %s: %lld floats, want %lld\n", path, (long long)n, (long long)want);
        free(d);
        return NULL;
    }
    return d;
}

/* max |a - b| / max(1, max |b|) */
static double rel_diff(const float *a, const float *b, int64_t n) {
    double worst = 0, scale = 1;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst / scale;
}

static void test_pca_matches_numpy(void) {
    MlError err = {0};
    const int64_t shapes[2][2] = {{5, 9}, {7, 3}};
    for (int c = 0; c < 2; c++) {
        const int64_t n = shapes[c][0], d = shapes[c][1];
        float *x = malloc(sizeof(float) * n * d), *mine = malloc(sizeof(float) * d);
        ml_rng_normals(x, (size_t)(n * d), 40 + c);
        for (int64_t i = 0; i < n * d; i++) x[i] += (float)(i % d) * 0.3f; /* a mean that is not 0 */
        char xp[1000], op[1000], args[2200];
        snprintf(xp, sizeof xp, "%s/pca_x.npy", dir);
        snprintf(op, sizeof op, "%s/pca_out.npy", dir);
        CHECK_OK(ml_npy_write_f32(xp, x, (int64_t[]){n, d}, 2, &err), &err);
        CHECK_OK(ml_vti_pca_direction(x, n, d, mine, &err), &err);
        snprintf(args, sizeof args, "--x '%s' --out '%s'", xp, op);
        CHECK(run(REFERENCE " pca %s", args) == 0);
        float *want = read_npy(op, d);
        CHECK(want && rel_diff(mine, want, d) < 1e-5);
        free(want), free(x), free(mine);
    }
    /* equal rows: no axis, the mean alone */
    float same[6] = {1, 2, 3, 1, 2, 3}, out[3];
    CHECK_OK(ml_vti_pca_direction(same, 2, 3, out, &err), &err);
    CHECK(out[0] == 1 && out[1] == 2 && out[2] == 3);
}

/* 0.99 of 16 patches: 15 set to the channel means of the clean image, 1 untouched. */
static void test_mask(void) {
    MlError err = {0};
    const MlVision *vis = ml_lvlm_vision(model);
    const int C = vis->cfg.n_channels, S = vis->cfg.image_size, P = vis->cfg.patch_size, g = S / P;
    float *m = malloc(sizeof(float) * C * S * S);
    CHECK_OK(ml_vti_mask_pixels(m, pixels[0], C, S, P, 0.99, 5, &err), &err);
    int masked = 0, clean = 0;
    for (int q = 0; q < g * g; q++) {
        int all_mean = 1, all_clean = 1;
        for (int c = 0; c < C; c++) {
            double mean = 0;
            for (int i = 0; i < S * S; i++) mean += pixels[0][c * S * S + i];
            mean /= S * S;
            for (int y = q / g * P; y < q / g * P + P; y++)
                for (int x = q % g * P; x < q % g * P + P; x++) {
                    const int at = c * S * S + y * S + x;
                    all_mean &= fabs(m[at] - mean) < 1e-6;
                    all_clean &= m[at] == pixels[0][at];
                }
        }
        masked += all_mean, clean += all_clean;
    }
    CHECK(g * g == 16 && masked == 15 && clean == 1);
    free(m);
}

/* prompt ids (one image) + the caption's ids */
static int32_t *demo_ids(const char *caption, size_t *n) {
    MlError err = {0};
    MlPromptOptions po = {ML_TEMPLATE_HF, NULL, 0};
    int32_t *p = NULL;
    size_t np = 0, end, nc = 0;
    CHECK_OK(ml_lvlm_prompt(model, &po, "Describe this image in detail.", ml_lvlm_max_image_tokens(model), &p, &np,
                            &end, &err),
             &err);
    int32_t *ids = realloc(p, sizeof(int32_t) * (np + 256));
    CHECK_OK(ml_tokenizer_encode(ml_lvlm_tokenizer(model), caption, strlen(caption), ids + np, 256, &nc, &err), &err);
    *n = np + nc;
    return ids;
}

static void write_ids(FILE *f, const int32_t *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? "," : "", ids[i]);
    fputc(']', f);
}

static void test_fit_matches_numpy(void) {
    MlError err = {0};
    const int64_t np = ml_lvlm_pixel_floats(model);
    const MlVision *vis = ml_lvlm_vision(model);
    MlVtiDemo demos[N_DEMOS];
    int32_t *ids[N_DEMOS][2];
    char path[1100], demos_json[1000];
    snprintf(demos_json, sizeof demos_json, "%s/demos.json", dir);
    FILE *f = fopen(demos_json, "w");
    fputc('[', f);
    float *masked = malloc(sizeof(float) * np);
    for (int i = 0; i < N_DEMOS; i++) {
        size_t n[2];
        for (int k = 0; k < 2; k++) ids[i][k] = demo_ids(captions[i][k], &n[k]);
        demos[i] = (MlVtiDemo){pixels[i], ids[i][0], n[0], ids[i][1], n[1]};
        snprintf(path, sizeof path, "%s/clean%d.npy", dir, i);
        CHECK_OK(ml_npy_write_f32(path, pixels[i], (int64_t[]){np}, 1, &err), &err);
        fprintf(f, "%s{\"truthful\":", i ? "," : "");
        write_ids(f, ids[i][0], n[0]);
        fprintf(f, ",\"hallucinated\":");
        write_ids(f, ids[i][1], n[1]);
        fprintf(f, ",\"pixels\":\"%s\",\"masked\":[", path);
        for (int t = 0; t < TRIALS; t++) {
            CHECK_OK(ml_vti_mask_pixels(masked, pixels[i], vis->cfg.n_channels, vis->cfg.image_size,
                                        vis->cfg.patch_size, MASK_RATIO, ml_vti_trial_seed(FIT_SEED, i, t), &err),
                     &err);
            char mp[1100];
            snprintf(mp, sizeof mp, "%s/masked%d_%d.npy", dir, i, t);
            CHECK_OK(ml_npy_write_f32(mp, masked, (int64_t[]){vis->cfg.n_channels, vis->cfg.image_size,
                                                              vis->cfg.image_size},
                                      3, &err),
                     &err);
            fprintf(f, "%s\"%s\"", t ? "," : "", mp);
        }
        fprintf(f, "]}");
    }
    fputs("]\n", f);
    fclose(f);
    free(masked);
    MlVtiFitOptions o = {.trials = TRIALS, .mask_ratio = MASK_RATIO, .seed = FIT_SEED};
    MlSteer s;
    CHECK_OK(ml_vti_fit(model, demos, N_DEMOS, &o, &s, &err), &err);
    CHECK_OK(ml_steer_write(steer_path, &s, &err), &err);
    /* the clean pixels are [3, S, S] for NumPy */
    for (int i = 0; i < N_DEMOS; i++) {
        snprintf(path, sizeof path, "%s/clean%d.npy", dir, i);
        CHECK_OK(ml_npy_write_f32(path, pixels[i], (int64_t[]){vis->cfg.n_channels, vis->cfg.image_size,
                                                               vis->cfg.image_size},
                                  3, &err),
                 &err);
    }
    char args[4000], tp[1000], vp[1000];
    snprintf(tp, sizeof tp, "%s/text.npy", dir);
    snprintf(vp, sizeof vp, "%s/vision.npy", dir);
    snprintf(args, sizeof args, "--model '%s' --demos '%s' --text '%s' --vision '%s'", tiny, demos_json, tp, vp);
    CHECK(run(REFERENCE " fit %s", args) == 0);
    const int64_t nt = (int64_t)(s.shape.layers + 1) * s.shape.hidden;
    const int64_t nv = (int64_t)(s.shape.vision_layers + 1) * s.shape.vision_tokens * s.shape.vision_hidden;
    float *wt = read_npy(tp, nt), *wv = read_npy(vp, nv);
    CHECK(wt && wv);
    if (wt && wv) {
        const double dt = rel_diff(s.text, wt, nt), dv = rel_diff(s.vision, wv, nv);
        if (dt > 1e-4 || dv > 1e-4) fprintf(stderr, "  fit: text %g, vision %g\n", dt, dv);
        CHECK(dt <= 1e-4 && dv <= 1e-4);
    }
    free(wt), free(wv);
    ml_steer_free(&s);
    for (int i = 0; i < N_DEMOS; i++) free(ids[i][0]), free(ids[i][1]);
}

/* The first logits of a runner of vti with the given alphas. */
static void vti_logits(const char *path, const char *alpha_text, const char *alpha_image, const int32_t **ids, size_t *n,
                       float *out, float *feats) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, ml_method_find("vti"));
    CHECK_OK(ml_method_set(&cfg, alpha_text, &err), &err);
    CHECK_OK(ml_method_set(&cfg, alpha_image, &err), &err);
    cfg.steer = path;
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = ML_PREFIX_SHARED};
    MlRunner *r = NULL;
    CHECK_OK(ml_runner_new(&r, model, &cfg, &o, &err), &err);
    if (!r) return;
    CHECK_OK(ml_runner_set_image(r, pixels[0], "img", &err), &err);
    CHECK_OK(ml_runner_prepare(r, "Is there a star?", &err), &err);
    CHECK_OK(ml_runner_ask(r, "Is there a star?", &err), &err);
    CHECK_OK(ml_runner_prefill(r, 4, &err), &err);
    const int32_t *p = ml_runner_prompt(r, 0, n);
    int32_t *copy = malloc(sizeof(int32_t) * *n);
    memcpy(copy, p, sizeof(int32_t) * *n);
    *ids = copy;
    memcpy(out, ml_runner_logits(r, 0), sizeof(float) * ml_lvlm_vocab(model));
    memcpy(feats, ml_runner_features(r), sizeof(float) * ml_runner_image_rows(r) * ml_lvlm_hidden(model));
    ml_runner_free(r);
}

/* Random directions (independent per layer and token, unlike fitted ones on
   a tiny model, whose layers barely differ), so a wrong layer or token shows. */
static void test_online_matches_numpy(void) {
    MlError err = {0};
    MlSteer s;
    MlSteerShape shape;
    CHECK_OK(ml_steer_shape(model, &shape, &err), &err);
    CHECK_OK(ml_steer_alloc(&s, "vti", &shape, &err), &err);
    ml_rng_normals(s.text, (size_t)((shape.layers + 1) * shape.hidden), 7);
    ml_rng_normals(s.vision, (size_t)((shape.vision_layers + 1) * shape.vision_tokens * shape.vision_hidden), 8);
    CHECK_OK(ml_steer_write(random_path, &s, &err), &err);
    char tp[1000], vp[1000], pp[1000], lp[1000];
    snprintf(tp, sizeof tp, "%s/text_file.npy", dir);
    snprintf(vp, sizeof vp, "%s/vision_file.npy", dir);
    snprintf(pp, sizeof pp, "%s/clean0.npy", dir);
    snprintf(lp, sizeof lp, "%s/logits.npy", dir);
    CHECK_OK(ml_npy_write_f32(tp, s.text, (int64_t[]){s.shape.layers + 1, s.shape.hidden}, 2, &err), &err);
    CHECK_OK(ml_npy_write_f32(vp, s.vision,
                              (int64_t[]){s.shape.vision_layers + 1, s.shape.vision_tokens, s.shape.vision_hidden}, 3,
                              &err),
             &err);
    ml_steer_free(&s);
    const int64_t V = ml_lvlm_vocab(model);
    const int64_t F = ml_lvlm_max_image_tokens(model) * ml_lvlm_hidden(model);
    float *mine = malloc(sizeof(float) * V), *plain = malloc(sizeof(float) * V);
    float *my_feats = malloc(sizeof(float) * F), *plain_feats = malloc(sizeof(float) * F);
    char fp[1000];
    snprintf(fp, sizeof fp, "%s/features.npy", dir);
    const char *settings[3][2] = {{"alpha_text=0.9", "alpha_image=0.9"}, {"alpha_text=5", "alpha_image=0"},
                                  {"alpha_text=0", "alpha_image=8"}};
    double moved[3] = {0};
    for (int c = 0; c < 3; c++) {
        const int32_t *ids = NULL;
        size_t n = 0;
        vti_logits(random_path, settings[c][0], settings[c][1], &ids, &n, mine, my_feats);
        char args[12000];
        int used = snprintf(args, sizeof args, "--model '%s' --pixels '%s' --text '%s' --vision '%s' --out '%s' "
                            "--features '%s' --alpha-text %s --alpha-image %s --ids ", tiny, pp, tp, vp, lp, fp,
                            strchr(settings[c][0], '=') + 1, strchr(settings[c][1], '=') + 1);
        for (size_t i = 0; i < n && used < (int)sizeof args - 16; i++)
            used += snprintf(args + used, sizeof args - used, "%s%d", i ? "," : "", ids[i]);
        CHECK(run(REFERENCE " logits %s", args) == 0);
        float *want = read_npy(lp, V), *want_feats = read_npy(fp, F);
        CHECK(want && want_feats);
        if (want && want_feats) {
            double worst = 0, worst_f = 0;
            for (int64_t i = 0; i < V; i++) worst = fmax(worst, fabs((double)mine[i] - want[i]));
            for (int64_t i = 0; i < F; i++) worst_f = fmax(worst_f, fabs((double)my_feats[i] - want_feats[i]));
            if (worst > 1e-5 || worst_f > 1e-5)
                fprintf(stderr, "  online %s %s: max |dlogit| %g, |dfeature| %g\n", settings[c][0], settings[c][1],
                        worst, worst_f);
            CHECK(worst <= 1e-5 && worst_f <= 1e-5); /* measured: about 1e-7 */
        }
        free(want), free(want_feats);
        free((void *)ids);
    }
    /* each setting moves the logits or features 100 times past the tolerance (so the comparison can fail) */
    const int32_t *ids = NULL;
    size_t n = 0;
    vti_logits(random_path, "alpha_text=0", "alpha_image=0", &ids, &n, plain, plain_feats);
    free((void *)ids);
    for (int c = 0; c < 3; c++) {
        vti_logits(random_path, settings[c][0], settings[c][1], &ids, &n, mine, my_feats);
        free((void *)ids);
        for (int64_t i = 0; i < V; i++) moved[c] = fmax(moved[c], fabs((double)mine[i] - plain[i]));
        for (int64_t i = 0; i < F; i++) moved[c] = fmax(moved[c], fabs((double)my_feats[i] - plain_feats[i]));
        CHECK(moved[c] > 1e-3);
    }
    free(mine), free(plain), free(my_feats), free(plain_feats);
}

#define N_Q 2
static const char *questions[N_Q] = {"Describe it.", "Is there a star?"};

/* Every question's answer (MAX_TOKENS each) through a runner; alpha NULL: the method's defaults. */
static void answers(const char *method, const char *alpha, MlPrefixMode mode, int32_t *out) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, ml_method_find(method));
    if (alpha) {
        char a[64];
        snprintf(a, sizeof a, "alpha_text=%s", alpha);
        CHECK_OK(ml_method_set(&cfg, a, &err), &err);
        snprintf(a, sizeof a, "alpha_image=%s", alpha);
        CHECK_OK(ml_method_set(&cfg, a, &err), &err);
        cfg.steer = random_path;
    }
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = mode};
    MlRunner *r = NULL;
    CHECK_OK(ml_runner_new(&r, model, &cfg, &o, &err), &err);
    if (!r) return;
    MlSamplerConfig sc;
    ml_method_sampler(&cfg, 0, &sc);
    CHECK_OK(ml_runner_set_image(r, pixels[1], "img", &err), &err);
    if (mode == ML_PREFIX_SHARED) CHECK_OK(ml_runner_prepare(r, questions[0], &err), &err);
    for (int q = 0; q < N_Q; q++) {
        int64_t n = 0;
        CHECK_OK(ml_runner_ask(r, questions[q], &err), &err);
        CHECK_OK(ml_runner_prefill(r, MAX_TOKENS, &err), &err);
        CHECK_OK(ml_runner_generate(r, &sc, MAX_TOKENS, -1, NULL, NULL, out + q * MAX_TOKENS, &n, &err), &err);
        CHECK(n == MAX_TOKENS);
    }
    ml_runner_free(r);
}

static void test_alpha_zero_is_greedy(void) {
    int32_t g[N_Q * MAX_TOKENS], v[N_Q * MAX_TOKENS];
    answers("greedy", NULL, ML_PREFIX_SHARED, g);
    answers("vti", "0", ML_PREFIX_SHARED, v);
    CHECK(!memcmp(g, v, sizeof g));
}

/* The steered prefix is prefilled once per image and forked per question:
   the same answers as each question run from scratch. */
static void test_prefix_reuse(void) {
    int32_t shared[N_Q * MAX_TOKENS], split[N_Q * MAX_TOKENS];
    answers("vti", "3", ML_PREFIX_SHARED, shared);
    answers("vti", "3", ML_PREFIX_SPLIT, split);
    CHECK(!memcmp(shared, split, sizeof shared));
}

static void expect_runner_error(const char *path, const char *want) {
    MlError err = {0};
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, ml_method_find("vti"));
    cfg.steer = path;
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = ML_PREFIX_SHARED};
    MlRunner *r = NULL;
    CHECK(ml_runner_new(&r, model, &cfg, &o, &err) != ML_OK && !r);
    if (!strstr(err.msg, want)) fprintf(stderr, "  '%s' lacks '%s'\n", err.msg, want);
    CHECK(strstr(err.msg, want) != NULL);
}

static void test_bad_files(void) {
    MlError err = {0};
    MlSteer s;
    char path[1000];
    snprintf(path, sizeof path, "%s/bad.steer", dir);
    CHECK_OK(ml_steer_load(steer_path, &s, &err), &err);
    s.shape.layers++; /* another model's shape */
    free(s.text);
    s.text = calloc((size_t)((s.shape.layers + 1) * s.shape.hidden), sizeof(float));
    CHECK_OK(ml_steer_write(path, &s, &err), &err);
    expect_runner_error(path, "directions for another model (layers 3");
    s.shape.layers--;
    s.shape.config_hash ^= 1; /* same shape, another config.json */
    CHECK_OK(ml_steer_write(path, &s, &err), &err);
    expect_runner_error(path, "config.json hash");
    s.shape.config_hash ^= 1;
    snprintf(s.method, sizeof s.method, "ict");
    CHECK_OK(ml_steer_write(path, &s, &err), &err);
    expect_runner_error(path, "directions of method ict, not vti");
    ml_steer_free(&s);
    expect_runner_error(NULL, "needs its directions");
    /* malformed: truncated, no magic, a header that lies about the sizes */
    char *data;
    size_t size;
    CHECK_OK(ml_file_read(steer_path, &data, &size, &err), &err);
    CHECK(ml_steer_parse(data, size - 4, "cut", &s, &err) == ML_ERR_FORMAT && strstr(err.msg, "cut: "));
    CHECK(ml_steer_parse(data, 5, "short", &s, &err) == ML_ERR_FORMAT);
    data[0] = 'X';
    CHECK(ml_steer_parse(data, size, "magic", &s, &err) == ML_ERR_FORMAT && strstr(err.msg, "MLSTEER1"));
    data[0] = 'M';
    char *layers = strstr(data + 12, "\"layers\":2");
    CHECK(layers != NULL);
    if (layers) layers[9] = '9';
    CHECK(ml_steer_parse(data, size, "lies", &s, &err) == ML_ERR_FORMAT && strstr(err.msg, "bytes of directions"));
    free(data);
}

int main(void) {
    MlError err = {0};
    ml_threads_set(1);
    snprintf(dir, sizeof dir, "%s", test_tmpdir("method_vti"));
    snprintf(tiny, sizeof tiny, "%s/tiny", dir);
    snprintf(steer_path, sizeof steer_path, "%s/vti.steer", dir);
    snprintf(random_path, sizeof random_path, "%s/random.steer", dir);
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 8};
    if (ml_init_model(tiny, &io, &err) || ml_lvlm_open(&model, tiny, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_method_vti") | 1;
    }
    const int64_t np = ml_lvlm_pixel_floats(model);
    for (int i = 0; i < N_DEMOS; i++) {
        pixels[i] = malloc(sizeof(float) * np);
        ml_rng_normals(pixels[i], (size_t)np, 100 + i);
    }
    RUN(test_pca_matches_numpy);
    RUN(test_mask);
    RUN(test_fit_matches_numpy);
    RUN(test_online_matches_numpy);
    RUN(test_alpha_zero_is_greedy);
    RUN(test_prefix_reuse);
    RUN(test_bad_files);
    for (int i = 0; i < N_DEMOS; i++) free(pixels[i]);
    ml_lvlm_close(model);
    return test_summary("test_method_vti");
}
