/* bench_beam.c: the cost of beam search per generated token against greedy
   (issue 14: 5 beams at most 5.5x greedy), and OPERA's.

       build/bench/bench_beam [--model DIR] [--tokens N] [--threads N] [--repeats N] [--methods a,b,...]

   Every method answers one question about a synthetic picture through the
   runner with EOS off, so each takes exactly N steps; a figure is the best
   of 5 interleaved rounds of N repeats of ml_runner_generate alone (the
   prefill is common to all),
   in process CPU time, which a shared machine's load disturbs less than
   wall time (run with --threads 1 there). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "kernels/threads.h"
#include "mitigate/method.h"
#include "mitigate/runner.h"
#include "model/lvlm.h"

static int usage(int code) {
    fprintf(code ? stderr : stdout,
            "usage: bench_beam [--model DIR] [--tokens N] [--threads N] [--repeats N] [--methods greedy,beam,...]\n");
    return code;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int time_method(MlLvlm *m, const char *name, const float *pixels, int64_t tokens, int repeats, double *best,
                       MlError *err) {
    const MlMethod *method = ml_method_find(name);
    if (!method) return ml_error_set(err, ML_ERR_ARG, "bench_beam: no method '%s'", name);
    MlMethodConfig cfg;
    ml_method_defaults(&cfg, method);
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .seed = 1, .prefix = ML_PREFIX_ONE_CALL};
    MlRunner *r;
    int rc = ml_runner_new(&r, m, &cfg, &o, err);
    if (rc) return rc;
    int32_t *out = malloc(sizeof(int32_t) * (size_t)tokens);
    rc = out ? ml_runner_set_image(r, pixels, "bench.png", err) : ml_error_set(err, ML_ERR_NOMEM, "bench_beam: out of memory");
    if (!rc) rc = ml_runner_ask(r, "Describe this image in detail.", err);
    *best = 1e30;
    for (int k = 0; k < repeats && !rc; k++) {
        int64_t n;
        MlSamplerConfig sc = {0};
        if ((rc = ml_runner_prefill(r, tokens, err))) break;
        double t0 = cpu_now();
        rc = ml_runner_generate(r, &sc, tokens, -1, NULL, NULL, out, &n, err);
        double t = cpu_now() - t0;
        if (t < *best) *best = t;
    }
    free(out);
    ml_runner_free(r);
    return rc;
}

int main(int argc, char **argv) {
    if (ml_threads_env_prepare()) { /* the CLI's runtime settings */
        execv("/proc/self/exe", argv);
        perror("bench_beam: re-exec");
        return 1;
    }
    const char *model = "models/organism", *methods = "greedy,beam,opera";
    int64_t tokens = 32;
    int threads = 0, repeats = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) return usage(0);
        if (!v) return usage(2);
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--tokens")) tokens = atoll(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--repeats")) repeats = atoi(v);
        else if (!strcmp(a, "--methods")) methods = v;
        else return usage(2);
    }
    if (tokens < 2 || repeats < 1 || threads < 0) return usage(2);
    MlError err = {0};
    MlLvlm *m = NULL;
    threads = ml_threads_set(threads);
    if (ml_lvlm_open(&m, model, &err)) {
        fprintf(stderr, "bench_beam: %s\n", err.msg);
        return 1;
    }
    const int64_t np = ml_lvlm_pixel_floats(m);
    float *pixels = malloc(sizeof(float) * (size_t)np);
    for (int64_t i = 0; pixels && i < np; i++) pixels[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
    enum { MAX_METHODS = 16, ROUNDS = 5 };
    char list[256], *names[MAX_METHODS];
    double best[MAX_METHODS];
    int n = 0, rc = pixels ? 0 : 1;
    snprintf(list, sizeof list, "%s", methods);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name && n < MAX_METHODS; name = strtok_r(NULL, ",", &save))
        best[n] = 1e30, names[n++] = name;
    printf("bench_beam: %s, %lld tokens, %d threads, best of %d x %d, rounds interleaved\n", model, (long long)tokens,
           threads, ROUNDS, repeats);
    /* rounds of every method in turn, so that the machine's load changes hit them alike */
    for (int round = 0; round < ROUNDS && !rc; round++)
        for (int k = 0; k < n && !rc; k++) {
            double t = 0;
            if (!(rc = time_method(m, names[k], pixels, tokens, repeats, &t, &err)) && t < best[k]) best[k] = t;
        }
    for (int k = 0; k < n && !rc; k++) {
        printf("  %-8s %8.2f ms/token", names[k], 1e3 * best[k] / (double)tokens);
        if (!strcmp(names[0], "greedy")) printf("  %6.2fx greedy", best[k] / best[0]);
        printf("\n");
    }
    if (rc) fprintf(stderr, "bench_beam: %s\n", err.msg);
    free(pixels);
    ml_lvlm_close(m);
    return rc ? 1 : 0;
}
