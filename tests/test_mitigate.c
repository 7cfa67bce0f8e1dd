/* test_mitigate.c: the method registry and parameters, VCD's noise schedule
   and noise, and model runs on a tiny checkpoint: alpha-0 VCD equals the APC
   control token for token, prefix caching does not change answers, a resumed
   run equals an uninterrupted one, every line carries the method and its
   parameters, and the summary agrees with the POPE scorer. */
#include "test.h"

#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "eval/pope.h"
#include "eval/run.h"
#include "kernels/threads.h"
#include "mitigate/method.h"
#include "mitigate/noise.h"
#include "mitigate/vcd.h"
#include "model/init.h"

static char root[600], model_dir[700], images[700], questions[700], interleaved[700];
static MlLvlm *model;

/* ---- registry and parameters ---- */

static void test_registry_and_defaults(void) {
    const char *names[] = {"greedy", "sample", "apc", "vcd"};
    for (int i = 0; i < 4; i++) CHECK(ml_method_find(names[i]) && !strcmp(ml_method_find(names[i])->name, names[i]));
    CHECK(ml_method_find("VCD") == NULL && ml_method_find("no-such-method") == NULL);
    CHECK(ml_method_count() >= 4);
    /* VCD's published POPE setting (MITIGATIONS.md) */
    MlMethodConfig c;
    ml_method_defaults(&c, ml_method_find("vcd"));
    CHECK(ml_method_param(&c, "alpha") == 1 && ml_method_param(&c, "beta") == 0.2 &&
          ml_method_param(&c, "noise_step") == 500 && ml_method_param(&c, "temperature") == 1 &&
          ml_method_param(&c, "top_p") == 1 && ml_method_param(&c, "top_k") == 0);
    CHECK(isnan(ml_method_param(&c, "gamma")));
    CHECK_STR(ml_method_find("vcd")->prompt_suffix, " Please answer this question with one word.");
    CHECK(ml_method_find("vcd")->n_passes == 2 && ml_method_find("apc")->n_passes == 1);
    MlSamplerConfig sc;
    ml_method_sampler(&c, 9, &sc);
    CHECK(sc.temperature == 1.0f && sc.top_p == 1.0f && sc.top_k == 0 && sc.seed == 9);
    /* the APC control shares VCD's beta and sampling */
    ml_method_defaults(&c, ml_method_find("apc"));
    CHECK(ml_method_param(&c, "beta") == 0.2 && ml_method_param(&c, "temperature") == 1 && isnan(ml_method_param(&c, "alpha")));
    ml_method_defaults(&c, ml_method_find("greedy"));
    ml_method_sampler(&c, 9, &sc);
    CHECK(sc.temperature == 0.0f && ml_method_find("greedy")->n_params == 0);
    char list[128];
    ml_method_names(list, sizeof list);
    CHECK(strstr(list, "greedy") && strstr(list, "vcd"));
}

static void test_parameters(void) {
    MlError err = {0};
    MlMethodConfig c;
    ml_method_defaults(&c, ml_method_find("vcd"));
    CHECK_OK(ml_method_set(&c, "alpha=0.5", &err), &err);
    CHECK_OK(ml_method_set(&c, "noise_step=999", &err), &err);
    CHECK_OK(ml_method_set(&c, "temperature=0", &err), &err);
    CHECK(ml_method_param(&c, "alpha") == 0.5 && ml_method_param(&c, "noise_step") == 999);
    cJSON *j = ml_method_params_json(&c);
    char *s = cJSON_PrintUnformatted(j);
    CHECK_STR(s, "{\"alpha\":0.5,\"beta\":0.2,\"noise_step\":999,\"decode\":\"sample\",\"temperature\":0,\"top_p\":1,"
                 "\"top_k\":0}");
    free(s);
    cJSON_Delete(j);
    CHECK(ml_method_set(&c, "gamma=1", &err) == ML_ERR_ARG && strstr(err.msg, "vcd") && strstr(err.msg, "gamma") &&
          strstr(err.msg, "alpha, beta, noise_step"));
    CHECK(ml_method_set(&c, "beta=1.5", &err) == ML_ERR_ARG && strstr(err.msg, "[0, 1]"));
    CHECK(ml_method_set(&c, "noise_step=2.5", &err) == ML_ERR_ARG && strstr(err.msg, "integer"));
    CHECK(ml_method_set(&c, "noise_step=1000", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "alpha", &err) == ML_ERR_ARG && strstr(err.msg, "NAME=VALUE"));
    CHECK(ml_method_set(&c, "alpha=", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "alpha=1x", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "alpha=nan", &err) == ML_ERR_ARG);
    CHECK(ml_method_param(&c, "alpha") == 0.5); /* failures change nothing */
    ml_method_defaults(&c, ml_method_find("greedy"));
    CHECK(ml_method_set(&c, "temperature=1", &err) == ML_ERR_ARG && strstr(err.msg, "none"));
}

/* decode=greedy|sample is given by name and turns the method's sampling into an argmax. */
static void test_decode_choice(void) {
    MlError err = {0};
    MlMethodConfig c;
    MlSamplerConfig sc;
    ml_method_defaults(&c, ml_method_find("vcd"));
    CHECK(ml_method_param(&c, "decode") == ML_DECODE_SAMPLE);
    CHECK_OK(ml_method_set(&c, "temperature=0.7", &err), &err);
    ml_method_sampler(&c, 1, &sc);
    CHECK(sc.temperature == 0.7f);
    CHECK_OK(ml_method_set(&c, "decode=greedy", &err), &err);
    CHECK(ml_method_param(&c, "decode") == ML_DECODE_GREEDY);
    ml_method_sampler(&c, 1, &sc);
    CHECK(sc.temperature == 0.0f);
    cJSON *j = ml_method_params_json(&c);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "decode")), "greedy");
    cJSON_Delete(j);
    CHECK(ml_method_set(&c, "decode=argmax", &err) == ML_ERR_ARG && strstr(err.msg, "sample|greedy"));
    CHECK(ml_method_set(&c, "decode=1", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "decode=", &err) == ML_ERR_ARG);
    CHECK(ml_method_set(&c, "decode=greedyx", &err) == ML_ERR_ARG);
    CHECK(ml_method_param(&c, "decode") == ML_DECODE_GREEDY); /* failures change nothing */
    CHECK_OK(ml_method_set(&c, "decode=sample", &err), &err);
    CHECK(ml_method_param(&c, "decode") == ML_DECODE_SAMPLE);
}

/* ---- VCD's noise ---- */

static void test_vcd_noise_coefficients(void) {
    float a, b;
    ml_vcd_noise_coefficients(500, &a, &b); /* MITIGATIONS.md: 0.8630 v + 0.5052 eps */
    CHECK_NEAR(a, 0.8630, 5e-5);
    CHECK_NEAR(b, 0.5052, 5e-5);
    CHECK_NEAR((double)a * a + (double)b * b, 1.0, 1e-6);
    ml_vcd_noise_coefficients(999, &a, &b); /* 0.2850 v + 0.9585 eps */
    CHECK_NEAR(a, 0.2850, 5e-5);
    CHECK_NEAR(b, 0.9585, 5e-5);
    /* step 0: one step of beta_0 = sigmoid(-6) * (5e-3 - 1e-5) + 1e-5 */
    double beta0 = 1.0 / (1.0 + exp(6.0)) * (0.5e-2 - 1e-5) + 1e-5;
    ml_vcd_noise_coefficients(0, &a, &b);
    CHECK_NEAR(a, sqrt(1.0 - beta0), 1e-6);
    CHECK_NEAR(b, sqrt(beta0), 1e-5);
    /* more steps, more noise */
    float prev = 0;
    for (int t = 0; t < ML_VCD_STEPS; t += 37) {
        ml_vcd_noise_coefficients(t, &a, &b);
        CHECK(b > prev);
        prev = b;
    }
}

static void test_vcd_noise_pixels(void) {
    enum { N = 200000 };
    float *clean = malloc(sizeof(float) * N), *x = malloc(sizeof(float) * N), *y = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) clean[i] = (float)((i % 7) - 3) * 0.5f;
    ml_vcd_noise_pixels(x, clean, N, 500, 42);
    ml_vcd_noise_pixels(y, clean, N, 500, 42);
    CHECK(!memcmp(x, y, sizeof(float) * N)); /* seeded */
    ml_vcd_noise_pixels(y, clean, N, 500, 43);
    CHECK(memcmp(x, y, sizeof(float) * N) != 0);
    /* eps = (x - a v) / b is standard normal: mean, variance, the 1-sigma mass */
    float a, b;
    ml_vcd_noise_coefficients(500, &a, &b);
    double sum = 0, sq = 0;
    int inside = 0;
    for (int i = 0; i < N; i++) {
        double e = ((double)x[i] - (double)a * clean[i]) / b;
        sum += e, sq += e * e;
        inside += fabs(e) < 1.0;
    }
    double mean = sum / N, var = sq / N - mean * mean;
    CHECK(fabs(mean) < 4.0 / sqrt(N));
    CHECK_NEAR(var, 1.0, 0.02);
    CHECK_NEAR((double)inside / N, 0.682689, 0.005);
    /* in place gives the same */
    memcpy(y, clean, sizeof(float) * N);
    ml_vcd_noise_pixels(y, y, N, 500, 42);
    CHECK(!memcmp(x, y, sizeof(float) * N));
    /* seeds derived from names differ per name and are stable */
    CHECK(ml_seed_mix(1, "a.png") == ml_seed_mix(1, "a.png") && ml_seed_mix(1, "a.png") != ml_seed_mix(1, "b.png") &&
          ml_seed_mix(1, "a.png") != ml_seed_mix(2, "a.png"));
    free(clean), free(x), free(y);
}

/* ---- runs on the tiny model ---- */

typedef struct Run {
    const char *method;
    const char *params[4];
    uint64_t seed;
    int prefix_cache;
    const char *questions;
} Run;

static int run_into(const char *out, const Run *r, MlError *err) {
    MlMethodConfig mc;
    ml_method_defaults(&mc, ml_method_find(r->method));
    for (int i = 0; i < 4 && r->params[i]; i++)
        if (ml_method_set(&mc, r->params[i], err)) return 1;
    MlEvalSet set;
    int rc = ml_eval_load_pope(&set, r->questions ? r->questions : questions, 0, err);
    if (rc) return rc;
    cJSON *run = cJSON_CreateObject();
    cJSON_AddStringToObject(run, "benchmark", "pope");
    cJSON_AddStringToObject(run, "split", "test");
    cJSON_AddStringToObject(run, "method", r->method);
    cJSON_AddItemToObject(run, "params", ml_method_params_json(&mc));
    MlRunlog *log = NULL;
    MlEvalOptions o = ml_eval_defaults();
    o.images = images;
    o.method = &mc;
    o.prompt_suffix = mc.method->prompt_suffix;
    o.seed = r->seed;
    o.prefix_cache = r->prefix_cache;
    cJSON *summary = NULL;
    char items[800];
    snprintf(items, sizeof items, "%s/items.jsonl", out);
    MlEvalScoring sc = {.parser = ML_YESNO_OFFICIAL};
    if (!(rc = ml_eval_check_images(&set, images, err)) && !(rc = ml_runlog_open(&log, out, run, err)) &&
        !(rc = ml_eval_run(model, &set, &o, log, err)) && !(rc = ml_eval_summary(&set, log, items, run, &sc, &summary, err)))
        rc = ml_runlog_finish(log, summary, err);
    ml_runlog_close(log);
    cJSON_Delete(summary);
    cJSON_Delete(run);
    ml_eval_set_free(&set);
    return rc;
}

static const char *fresh_dir(const char *name) {
    static char buf[800];
    snprintf(buf, sizeof buf, "%s/%s", root, name);
    char cmd[900];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", buf);
    if (system(cmd) != 0) fprintf(stderr, "cannot clear %s\n", buf);
    return buf;
}

/* The item lines of a run, parsed. */
static cJSON *lines_of(const char *dir) {
    char path[900], *text = NULL;
    size_t len = 0;
    MlError err = {0};
    snprintf(path, sizeof path, "%s/items.jsonl", dir);
    cJSON *arr = cJSON_CreateArray();
    if (ml_file_read(path, &text, &len, &err)) return arr;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) cJSON_AddItemToArray(arr, cJSON_Parse(line));
    free(text);
    return arr;
}

/* The lines without their timing, as text, for exact comparison. */
static char *untimed(const cJSON *line) {
    cJSON *c = cJSON_Duplicate(line, 1);
    cJSON_DeleteItemFromObject(c, "seconds");
    char *s = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    return s;
}

static int same_lines(const char *dir_a, const char *dir_b) {
    cJSON *a = lines_of(dir_a), *b = lines_of(dir_b);
    int same = cJSON_GetArraySize(a) == cJSON_GetArraySize(b) && cJSON_GetArraySize(a) > 0;
    for (int i = 0; same && i < cJSON_GetArraySize(a); i++) {
        char *x = untimed(cJSON_GetArrayItem(a, i)), *y = untimed(cJSON_GetArrayItem(b, i));
        same = x && y && !strcmp(x, y);
        if (!same) fprintf(stderr, "  line %d differs:\n    %s\n    %s\n", i + 1, x, y);
        free(x), free(y);
    }
    cJSON_Delete(a), cJSON_Delete(b);
    return same;
}

/* Answers (text) of two runs; counts items whose answers differ. */
static int answers_differ(const char *dir_a, const char *dir_b) {
    cJSON *a = lines_of(dir_a), *b = lines_of(dir_b);
    int n = 0;
    for (int i = 0; i < cJSON_GetArraySize(a) && i < cJSON_GetArraySize(b); i++) {
        const cJSON *x = cJSON_GetObjectItem(cJSON_GetArrayItem(a, i), "text");
        const cJSON *y = cJSON_GetObjectItem(cJSON_GetArrayItem(b, i), "text");
        n += !cJSON_IsString(x) || !cJSON_IsString(y) || strcmp(x->valuestring, y->valuestring);
    }
    cJSON_Delete(a), cJSON_Delete(b);
    return n;
}

/* Token for token: the same texts and answer lengths (the lines differ only in method and params). */
static int same_answers(const char *dir_a, const char *dir_b) {
    cJSON *a = lines_of(dir_a), *b = lines_of(dir_b);
    int same = cJSON_GetArraySize(a) == 18 && cJSON_GetArraySize(b) == 18;
    for (int i = 0; same && i < 18; i++) {
        const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
        same = cJSON_Compare(cJSON_GetObjectItem(x, "question_id"), cJSON_GetObjectItem(y, "question_id"), 1) &&
               cJSON_Compare(cJSON_GetObjectItem(x, "text"), cJSON_GetObjectItem(y, "text"), 1) &&
               cJSON_Compare(cJSON_GetObjectItem(x, "tokens"), cJSON_GetObjectItem(y, "tokens"), 1);
    }
    cJSON_Delete(a), cJSON_Delete(b);
    return same;
}

static void test_alpha0_vcd_equals_apc(void) {
    MlError err = {0};
    char vcd0[800], apc[800], other[800];
    /* beta 0.2 (the default; on a random tiny model it keeps every token) and 0.9 (it keeps a few) */
    const char *betas[] = {"beta=0.2", "beta=0.9"};
    for (int b = 0; b < 2; b++) {
        snprintf(vcd0, sizeof vcd0, "%s", fresh_dir("vcd0"));
        snprintf(apc, sizeof apc, "%s", fresh_dir("apc"));
        CHECK_OK(run_into(vcd0, &(Run){"vcd", {"alpha=0", betas[b]}, 11, 1, NULL}, &err), &err);
        CHECK_OK(run_into(apc, &(Run){"apc", {betas[b]}, 11, 1, NULL}, &err), &err);
        CHECK(same_answers(vcd0, apc));
    }
    /* the comparison has power: the control samples (it is not greedy), its mask matters at
       beta 0.9 (plain sampling with the same seed differs), and contrast changes answers */
    snprintf(other, sizeof other, "%s", fresh_dir("other"));
    CHECK_OK(run_into(other, &(Run){"greedy", {NULL}, 11, 1, NULL}, &err), &err);
    CHECK(answers_differ(apc, other) > 0);
    snprintf(other, sizeof other, "%s", fresh_dir("other"));
    CHECK_OK(run_into(other, &(Run){"sample", {NULL}, 11, 1, NULL}, &err), &err);
    CHECK(answers_differ(apc, other) > 0);
    snprintf(other, sizeof other, "%s", fresh_dir("other"));
    CHECK_OK(run_into(other, &(Run){"vcd", {"beta=0.9"}, 11, 1, NULL}, &err), &err);
    CHECK(answers_differ(apc, other) > 0);
    /* greedy VCD with no contrast and no plausibility cut is the argmax of the normal pass (the
       APC control at temperature 0: the same prompt suffix), and sampling it is not */
    snprintf(vcd0, sizeof vcd0, "%s", fresh_dir("vcd0"));
    snprintf(other, sizeof other, "%s", fresh_dir("other"));
    CHECK_OK(run_into(vcd0, &(Run){"vcd", {"alpha=0", "beta=0", "decode=greedy"}, 11, 1, NULL}, &err), &err);
    CHECK_OK(run_into(other, &(Run){"apc", {"beta=0", "temperature=0"}, 11, 1, NULL}, &err), &err);
    CHECK(same_answers(vcd0, other));
    snprintf(vcd0, sizeof vcd0, "%s", fresh_dir("vcd0"));
    CHECK_OK(run_into(vcd0, &(Run){"vcd", {"alpha=0", "beta=0"}, 11, 1, NULL}, &err), &err);
    CHECK(answers_differ(vcd0, other) > 0);
}

static void test_prefix_cache_changes_nothing(void) {
    MlError err = {0};
    const char *methods[] = {"vcd", "greedy"};
    for (int m = 0; m < 2; m++) {
        char on[800], off[800];
        snprintf(on, sizeof on, "%s", fresh_dir("cache_on"));
        snprintf(off, sizeof off, "%s", fresh_dir("cache_off"));
        CHECK_OK(run_into(on, &(Run){methods[m], {NULL}, 3, 1, NULL}, &err), &err);
        CHECK_OK(run_into(off, &(Run){methods[m], {NULL}, 3, 0, NULL}, &err), &err);
        CHECK(same_lines(on, off));
    }
}

/* Every line: the method, its parameters as given, the POPE fields, and the suffix in the prompt. */
static void test_lines_carry_method_and_params(void) {
    MlError err = {0};
    const char *dir = fresh_dir("params");
    CHECK_OK(run_into(dir, &(Run){"vcd", {"alpha=0.5", "noise_step=999", "top_k=50"}, 1, 1, NULL}, &err), &err);
    cJSON *lines = lines_of(dir);
    cJSON *want = cJSON_Parse(
        "{\"alpha\":0.5,\"beta\":0.2,\"noise_step\":999,\"decode\":\"sample\",\"temperature\":1,\"top_p\":1,\"top_k\":50}");
    CHECK(cJSON_GetArraySize(lines) == 18);
    for (const cJSON *l = lines->child; l; l = l->next) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(l, "method")), "vcd");
        CHECK(cJSON_Compare(cJSON_GetObjectItem(l, "params"), want, 1));
        const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(l, "prompt"));
        CHECK(prompt && strstr(prompt, "in the image? Please answer this question with one word."));
        const char *label = cJSON_GetStringValue(cJSON_GetObjectItem(l, "label"));
        const char *parsed = cJSON_GetStringValue(cJSON_GetObjectItem(l, "parsed"));
        CHECK(label && parsed && (!strcmp(label, "yes") || !strcmp(label, "no")));
        CHECK(parsed && (!strcmp(parsed, "yes") || !strcmp(parsed, "no")));
        CHECK(cJSON_IsString(cJSON_GetObjectItem(l, "text")) && cJSON_IsNumber(cJSON_GetObjectItem(l, "question_id")));
        const cJSON *sec = cJSON_GetObjectItem(l, "seconds"), *tok = cJSON_GetObjectItem(l, "tokens");
        CHECK(cJSON_IsNumber(sec) && sec->valuedouble >= 0 && cJSON_IsNumber(tok) && tok->valuedouble >= 1 &&
              tok->valuedouble <= 8);
    }
    cJSON_Delete(want);
    cJSON_Delete(lines);
}

/* The summary's counts equal the POPE scorer reading the log as an answer file. */
static void test_summary_matches_scorer(void) {
    MlError err = {0};
    const char *dir = fresh_dir("summary");
    CHECK_OK(run_into(dir, &(Run){"sample", {NULL}, 5, 1, NULL}, &err), &err);
    char path[900];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    cJSON *s = NULL;
    CHECK_OK(ml_json_load(path, &s, &err), &err);
    MlPopeSet qs;
    char **answers = NULL;
    CHECK_OK(ml_pope_questions_load(questions, &qs, &err), &err);
    snprintf(path, sizeof path, "%s/items.jsonl", dir);
    CHECK_OK(ml_pope_answers_load(&qs, path, &answers, &err), &err);
    MlBinaryScore b;
    ml_pope_score(&qs, answers, ML_YESNO_OFFICIAL, &b, NULL);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "TP")) == b.tp);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "FP")) == b.fp);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "TN")) == b.tn);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "FN")) == b.fn);
    CHECK(b.tp + b.fp + b.tn + b.fn == 18 && cJSON_GetNumberValue(cJSON_GetObjectItem(s, "n")) == 18);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(s, "method")), "sample");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(s, "benchmark")), "pope");
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(s, "seconds_per_item")) > 0);
    ml_pope_answers_free(&qs, answers);
    ml_pope_questions_free(&qs);
    cJSON_Delete(s);
}

/* A run stopped after k items (plus a torn half line) and resumed equals one uninterrupted run. */
static void test_resume_equals_uninterrupted(void) {
    MlError err = {0};
    char full[800];
    snprintf(full, sizeof full, "%s", fresh_dir("full"));
    CHECK_OK(run_into(full, &(Run){"vcd", {NULL}, 8, 1, NULL}, &err), &err);
    char path[900], *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/items.jsonl", full);
    CHECK_OK(ml_file_read(path, &text, &len, &err), &err);
    const int cuts[] = {0, 1, 5, 6, 13, 17};
    for (int c = 0; c < 6; c++) {
        const char *dir = fresh_dir("resumed");
        /* the first k lines, then half of the next: what a kill mid-write leaves */
        size_t pos = 0;
        for (int k = 0; k < cuts[c]; k++) pos = (size_t)(strchr(text + pos, '\n') - text) + 1;
        size_t next = (size_t)(strchr(text + pos, '\n') - text);
        size_t keep = pos + (next - pos) / 2;
        char src[900], dst[900];
        CHECK_OK(ml_mkdirs(dir, &err), &err);
        snprintf(dst, sizeof dst, "%s/items.jsonl", dir);
        CHECK_OK(ml_file_write(dst, text, keep, &err), &err);
        snprintf(src, sizeof src, "cp '%s/run.json' '%s/run.json'", full, dir);
        CHECK(system(src) == 0);
        CHECK_OK(run_into(dir, &(Run){"vcd", {NULL}, 8, 1, NULL}, &err), &err);
        CHECK(same_lines(full, dir));
    }
    free(text);
}

/* Items are grouped by image in order of first appearance, file order inside. */
static void test_grouping_order(void) {
    MlError err = {0};
    const char *dir = fresh_dir("grouped");
    CHECK_OK(run_into(dir, &(Run){"greedy", {NULL}, 0, 1, interleaved}, &err), &err);
    cJSON *lines = lines_of(dir);
    const int want[] = {1, 3, 5, 2, 6, 4};
    CHECK(cJSON_GetArraySize(lines) == 6);
    for (int i = 0; i < 6 && i < cJSON_GetArraySize(lines); i++)
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(lines, i), "question_id")) == want[i]);
    cJSON_Delete(lines);
}

static void test_bad_input(void) {
    MlError err = {0};
    MlEvalSet set;
    char path[800];
    /* a question naming an image that is not there */
    snprintf(path, sizeof path, "%s/missing.jsonl", root);
    const char *q = "{\"question_id\": 1, \"image\": \"img0.png\", \"text\": \"Is there a cat?\", \"label\": \"yes\"}\n"
                    "{\"question_id\": 2, \"image\": \"nope.png\", \"text\": \"Is there a dog?\", \"label\": \"no\"}\n";
    CHECK_OK(ml_file_write(path, q, strlen(q), &err), &err);
    CHECK_OK(ml_eval_load_pope(&set, path, 0, &err), &err);
    CHECK(ml_eval_check_images(&set, images, &err) == ML_ERR_MISSING && strstr(err.msg, "nope.png") &&
          strstr(err.msg, "missing.jsonl:2"));
    ml_eval_set_free(&set);
    /* --limit 1 leaves the missing image out */
    CHECK_OK(ml_eval_load_pope(&set, path, 1, &err), &err);
    CHECK(set.count == 1);
    CHECK_OK(ml_eval_check_images(&set, images, &err), &err);
    ml_eval_set_free(&set);
    /* a file that does not parse names its line */
    snprintf(path, sizeof path, "%s/broken.jsonl", root);
    const char *b = "{\"question_id\": 1, \"image\": \"img0.png\", \"text\": \"Is there a cat?\", \"label\": \"yes\"}\n"
                    "{\"question_id\": 2, \"image\": \"img0.png\", \"text\": \"Is there\n";
    CHECK_OK(ml_file_write(path, b, strlen(b), &err), &err);
    CHECK(ml_eval_load_pope(&set, path, 0, &err) != ML_OK && strstr(err.msg, "broken.jsonl:2"));
    /* a missing image field */
    const char *ni = "{\"question_id\": 1, \"text\": \"Is there a cat?\", \"label\": \"yes\"}\n";
    CHECK_OK(ml_file_write(path, ni, strlen(ni), &err), &err);
    CHECK(ml_eval_load_pope(&set, path, 0, &err) == ML_ERR_FORMAT && strstr(err.msg, "broken.jsonl:1: image"));
    /* an unreadable picture fails the run with its name, and the log keeps whole lines */
    char junk[800];
    snprintf(junk, sizeof junk, "%s/junk.png", images);
    CHECK_OK(ml_file_write(junk, "not a png", 9, &err), &err);
    snprintf(path, sizeof path, "%s/junk.jsonl", root);
    const char *j = "{\"question_id\": 1, \"image\": \"img0.png\", \"text\": \"Is there a cat?\", \"label\": \"yes\"}\n"
                    "{\"question_id\": 2, \"image\": \"junk.png\", \"text\": \"Is there a dog?\", \"label\": \"no\"}\n";
    CHECK_OK(ml_file_write(path, j, strlen(j), &err), &err);
    const char *dir = fresh_dir("junk");
    CHECK(run_into(dir, &(Run){"greedy", {NULL}, 0, 1, path}, &err) != ML_OK && strstr(err.msg, "junk.png"));
    cJSON *lines = lines_of(dir);
    CHECK(cJSON_GetArraySize(lines) == 1 && cJSON_IsObject(cJSON_GetArrayItem(lines, 0)));
    cJSON_Delete(lines);
    unlink(junk);
}

/* ---- fixture: a tiny model, three pictures, 18 questions ---- */

static int write_picture(const char *path, int w, int h, uint32_t seed, MlError *err) {
    MlImage img;
    int rc = ml_image_alloc(&img, w, h, err);
    if (rc) return rc;
    for (int i = 0; i < w * h * 3; i++) {
        seed = seed * 1664525u + 1013904223u;
        img.rgb[i] = (uint8_t)(seed >> 24);
    }
    rc = ml_image_write_png(path, &img, err);
    ml_image_free(&img);
    return rc;
}

static int setup(void) {
    MlError err = {0};
    ml_threads_set(1); /* tiny shapes: one thread, and no spinning OpenMP workers on a shared machine */
    snprintf(root, sizeof root, "%s", test_tmpdir("mitigate"));
    snprintf(model_dir, sizeof model_dir, "%s/tiny", root);
    snprintf(images, sizeof images, "%s/images", root);
    snprintf(questions, sizeof questions, "%s/pope.jsonl", root);
    snprintf(interleaved, sizeof interleaved, "%s/interleaved.jsonl", root);
    MlInitOptions io = {.preset = "tiny", .dtype = ML_F32, .seed = 2};
    int rc = ml_init_model(model_dir, &io, &err);
    if (!rc) rc = ml_lvlm_open(&model, model_dir, &err);
    if (!rc) rc = ml_mkdirs(images, &err);
    const int sizes[3][2] = {{40, 30}, {50, 50}, {33, 47}};
    for (int i = 0; i < 3 && !rc; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/img%d.png", images, i);
        rc = write_picture(p, sizes[i][0], sizes[i][1], 100u + (uint32_t)i, &err);
    }
    const char *objects[] = {"cat", "dog", "star", "ring", "moon", "house"};
    char text[8192];
    size_t used = 0;
    for (int q = 0; q < 18; q++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "{\"question_id\": %d, \"image\": \"img%d.png\", \"text\": \"Is there a %s in the "
                                 "image?\", \"label\": \"%s\"}\n",
                                 q + 1, q / 6, objects[(q * 5) % 6], q % 2 ? "no" : "yes");
    if (!rc) rc = ml_file_write(questions, text, used, &err);
    used = 0;
    const int img_of[6] = {0, 1, 0, 2, 0, 1};
    for (int q = 0; q < 6; q++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "{\"question_id\": %d, \"image\": \"img%d.png\", \"text\": \"Is there a %s?\", "
                                 "\"label\": \"yes\"}\n",
                                 q + 1, img_of[q], objects[q]);
    if (!rc) rc = ml_file_write(interleaved, text, used, &err);
    if (rc) fprintf(stderr, "setup: %s\n", err.msg);
    return rc;
}

int main(void) {
    RUN(test_registry_and_defaults);
    RUN(test_parameters);
    RUN(test_decode_choice);
    RUN(test_vcd_noise_coefficients);
    RUN(test_vcd_noise_pixels);
    if (setup()) return test_summary("test_mitigate") | 1;
    RUN(test_alpha0_vcd_equals_apc);
    RUN(test_prefix_cache_changes_nothing);
    RUN(test_lines_carry_method_and_params);
    RUN(test_summary_matches_scorer);
    RUN(test_resume_equals_uninterrupted);
    RUN(test_grouping_order);
    RUN(test_bad_input);
    ml_lvlm_close(model);
    return test_summary("test_mitigate");
}
