/* bench_eval.c: the cost of answering a POPE-style benchmark (issue 5, Performance):
   cost per question with the image prefix shared by the questions about one image
   (6 per image, as POPE asks) against prefilling every question from scratch, and
   each method's cost relative to the greedy baseline.  Runs the very loop `misalign
   eval` runs (eval/run.h) on the small f16 preset; see bench/README.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "core/progress.h"
#include "eval/run.h"
#include "kernels/threads.h"
#include "mitigate/method.h"
#include "model/init.h"
#include "bench_common.h"

#define DEFAULT_MODEL "build/bench/small-f16"
#define WORK_DIR "build/bench/eval"
#define QUESTIONS_PER_IMAGE 6

typedef struct Options {
    const char *model, *out;
    int threads, images, max_tokens, repeats;
} Options;

typedef struct Timing {
    const char *label, *method;
    int prefix_cache;
    double seconds_per_question; /* best of the repeats */
} Timing;

/* Pictures of random pixels (320x240, as a photo is resized) and 6 POPE questions about each, one
   question file per picture: WORK_DIR/questions_<i>.jsonl. */
static int write_benchmark(const Options *o, MlError *err) {
    char images[256];
    snprintf(images, sizeof images, "%s/images", WORK_DIR);
    int rc = ml_mkdirs(images, err);
    static const char *const objects[] = {"dog", "car", "chair", "person", "bottle", "cup", "bench", "clock"};
    char text[QUESTIONS_PER_IMAGE * 160];
    uint32_t state = 12345;
    for (int i = 0; i < o->images && !rc; i++) {
        MlImage img;
        char path[600];
        snprintf(path, sizeof path, "%s/img%03d.png", images, i);
        if ((rc = ml_image_alloc(&img, 320, 240, err))) break;
        for (int k = 0; k < 320 * 240 * 3; k++) {
            state = state * 1664525u + 1013904223u;
            img.rgb[k] = (uint8_t)(state >> 24);
        }
        rc = ml_image_write_png(path, &img, err);
        ml_image_free(&img);
        size_t used = 0;
        for (int q = 0; q < QUESTIONS_PER_IMAGE; q++)
            used += (size_t)snprintf(text + used, sizeof text - used,
                                     "{\"question_id\": %d, \"image\": \"img%03d.png\", \"text\": \"Is there a %s in the "
                                     "image?\", \"label\": \"%s\"}\n",
                                     i * QUESTIONS_PER_IMAGE + q + 1, i, objects[(i + 3 * q) % 8], q % 2 ? "no" : "yes");
        snprintf(path, sizeof path, "%s/questions_%03d.jsonl", WORK_DIR, i);
        if (!rc) rc = ml_file_write(path, text, used, err);
    }
    return rc;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int remove_dir(const char *dir) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%.600s'", dir);
    return system(cmd);
}

/* One full run into a fresh run directory; returns seconds per question. */
static int time_run(MlLvlm *m, const MlEvalSet *set, const Options *o, const Timing *t, const char *run_dir,
                    double *per_question, MlError *err) {
    MlMethodConfig mc;
    ml_method_defaults(&mc, ml_method_find(t->method));
    cJSON *run = cJSON_CreateObject();
    cJSON_AddStringToObject(run, "benchmark", "pope");
    cJSON_AddStringToObject(run, "method", t->method);
    cJSON_AddItemToObject(run, "params", ml_method_params_json(&mc));
    remove_dir(run_dir);
    MlRunlog *log = NULL;
    MlEvalOptions eo = ml_eval_defaults();
    char images[512];
    snprintf(images, sizeof images, "%s/images", WORK_DIR);
    eo.images = images;
    eo.method = &mc;
    eo.prompt_suffix = ""; /* one prompt for every method, POPE's question as written: only decoding differs */
    eo.max_tokens = o->max_tokens;
    eo.prefix_cache = t->prefix_cache;
    int rc = ml_runlog_open(&log, run_dir, run, err);
    double t0 = ml_time_now();
    if (!rc) rc = ml_eval_run(m, set, &eo, log, err);
    *per_question = (ml_time_now() - t0) / (double)set->count;
    ml_runlog_close(log);
    cJSON_Delete(run);
    return rc;
}

/* The answers (text) of a run directory, one per line, for comparing two runs. */
static char *answers_of(const char *run_dir) {
    char path[700], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/items.jsonl", run_dir);
    if (ml_file_read(path, &data, &len, NULL)) return NULL;
    size_t cap = len + 1, used = 0;
    char *out = malloc(cap);
    for (char *line = strtok(data, "\n"); out && line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(j, "text"));
        used += (size_t)snprintf(out + used, cap - used, "%s\n", t ? t : "?");
        cJSON_Delete(j);
    }
    free(data);
    return out;
}

static int usage(int code) {
    fprintf(code ? stderr : stdout,
            "usage: bench_eval [--model DIR] [--threads N] [--images N] [--max-tokens N] [--repeats N] [--out F.json]\n"
            "  --model DIR       LLaVA checkpoint folder  [%s, written with init-model small f16 if absent]\n"
            "  --threads N       threads, 0 = all cores  [0]\n"
            "  --images N        pictures, 6 questions each  [4]\n"
            "  --max-tokens N    tokens per answer (a POPE answer is \"Yes\" + EOS)  [2]\n"
            "  --repeats N       passes over the pictures (each runs every setting)  [2]\n"
            "  --out F.json      figures as JSON  [build/bench/eval.json]\n",
            DEFAULT_MODEL);
    return code;
}

static int parse(int argc, char **argv, Options *o) {
    *o = (Options){DEFAULT_MODEL, "build/bench/eval.json", 0, 4, 2, 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) exit(usage(0));
        if (!v) return usage(2);
        i++;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--images")) o->images = atoi(v);
        else if (!strcmp(a, "--max-tokens")) o->max_tokens = atoi(v);
        else if (!strcmp(a, "--repeats")) o->repeats = atoi(v);
        else return usage(2);
    }
    if (o->threads < 0 || o->images < 1 || o->images > 1000 || o->max_tokens < 1 || o->repeats < 1) return usage(2);
    return 0;
}

int main(int argc, char **argv) {
    if (ml_threads_env_prepare()) { /* the CLI's runtime settings (OpenMP wait policy, OpenBLAS core) */
        execv("/proc/self/exe", argv);
        perror("bench_eval: re-exec");
        return 1;
    }
    Options o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    MlError err = {0};
    MlLvlm *m = NULL;
    MlEvalSet *sets = calloc((size_t)o.images, sizeof *sets);
    double *samples = malloc(sizeof(double) * (size_t)(o.images * o.repeats) * 7);
    if (!sets || !samples) {
        rc = ml_error_set(&err, ML_ERR_NOMEM, "bench: out of memory");
        goto fail;
    }
    if ((rc = bench_ensure_small_model("bench_eval", o.model, &err)) || (rc = write_benchmark(&o, &err))) goto fail;
    for (int i = 0; i < o.images; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/questions_%03d.jsonl", WORK_DIR, i);
        if ((rc = ml_eval_load_pope(&sets[i], path, 0, &err))) goto fail;
    }
    int threads = ml_threads_set(o.threads);
    if ((rc = ml_lvlm_open(&m, o.model, &err))) goto fail;
    Timing t[] = {
        {"greedy, prefix shared", "greedy", 1, 0},   {"greedy, from scratch", "greedy", 0, 0},
        {"sample, prefix shared", "sample", 1, 0},   {"apc, prefix shared", "apc", 1, 0},
        {"vcd, prefix shared", "vcd", 1, 0},
    };
    enum { N_T = sizeof t / sizeof t[0] };
    char dirs[N_T][600];
    for (int k = 0; k < N_T; k++) snprintf(dirs[k], sizeof dirs[k], "%s/run%d", WORK_DIR, k);
    /* warm-up: the first run would pay for reading the mapped weights from disk */
    double warm;
    if ((rc = time_run(m, &sets[0], &o, &t[0], dirs[0], &warm, &err))) goto fail;
    /* every setting on one picture, back to back, so that a shared machine's load
       changes hit the settings alike; figures are medians over pictures and repeats */
    const int n_s = o.images * o.repeats;
    double *per[N_T + 2];
    for (int k = 0; k < N_T + 2; k++) per[k] = samples + (size_t)k * n_s;
    int same = 1;
    for (int r = 0, j = 0; r < o.repeats; r++)
        for (int i = 0; i < o.images; i++, j++) {
            for (int k = 0; k < N_T; k++)
                if ((rc = time_run(m, &sets[i], &o, &t[k], dirs[k], &per[k][j], &err))) goto fail;
            per[N_T][j] = per[0][j] / per[1][j];     /* prefix shared / from scratch */
            per[N_T + 1][j] = per[4][j] / per[0][j]; /* vcd / greedy */
            char *a0 = answers_of(dirs[0]), *a1 = answers_of(dirs[1]);
            same &= a0 && a1 && !strcmp(a0, a1);
            free(a0), free(a1);
        }
    for (int k = 0; k < N_T; k++) t[k].seconds_per_question = median(per[k], n_s);
    const double base = t[0].seconds_per_question, reuse = median(per[N_T], n_s), vcd = median(per[N_T + 1], n_s);
    printf("bench_eval: %s, %d threads, %d images x %d questions, %d tokens per answer, medians of %d\n", o.model,
           threads, o.images, QUESTIONS_PER_IMAGE, o.max_tokens, n_s);
    for (int k = 0; k < N_T; k++)
        printf("  %-24s %9.1f ms/question  %5.2fx greedy (prefix shared)\n", t[k].label, 1e3 * t[k].seconds_per_question,
               t[k].seconds_per_question / base);
    printf("  prefix reuse: %.3fx the cost of prefilling each question from scratch (goal <= 0.3; paired median,\n"
           "               range %.3f..%.3f); greedy answers %s both ways\n",
           reuse, per[N_T][0], per[N_T][n_s - 1], same ? "identical" : "DIFFER");
    printf("  vcd / greedy: %.2fx (paired median; VCD paper and MITIGATIONS.md: ~2x; survey Table 1: SID 1.68/1.27 =\n"
           "               1.32x, SoM-LLaVA 1.28x, LogicCheckGPT 40.6x the baseline's seconds per input)\n",
           vcd);
    FILE *fp = fopen(o.out, "w");
    if (!fp) {
        rc = ml_error_set(&err, ML_ERR_IO, "%s: cannot write", o.out);
        goto fail;
    }
    fprintf(fp, "{\"model\": \"%s\", \"threads\": %d, \"images\": %d, \"questions_per_image\": %d, \"max_tokens\": %d,\n",
            o.model, threads, o.images, QUESTIONS_PER_IMAGE, o.max_tokens);
    for (int k = 0; k < N_T; k++)
        fprintf(fp, " \"%s%s_seconds_per_question\": %.6f,\n", t[k].method, t[k].prefix_cache ? "" : "_scratch",
                t[k].seconds_per_question);
    fprintf(fp, " \"prefix_reuse_cost_ratio\": %.4f, \"answers_identical\": %s, \"vcd_over_greedy\": %.4f}\n", reuse,
            same ? "true" : "false", vcd);
    fclose(fp);
    rc = same ? 0 : 1;
    goto out;
fail:
    fprintf(stderr, "bench_eval: %s\n", err.msg);
    rc = 1;
out:
    ml_lvlm_close(m);
    for (int i = 0; sets && i < o.images; i++) ml_eval_set_free(&sets[i]);
    free(sets);
    free(samples);
    return rc;
}
