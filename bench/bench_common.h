/*
** bench_common.h: what several benchmarks share: the default model
** (`misalign init-model --preset small --dtype f16 --seed 1`, written once
** into DIR by a child process so that its buffers never count in the
** benchmark's own peak RSS) and the machine's memory read bandwidth.
*/
#ifndef ML_BENCH_COMMON_H
#define ML_BENCH_COMMON_H

#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/progress.h"
#include "model/init.h"

static inline int bench_ensure_small_model(const char *bench, const char *dir, MlError *err) {
    char cfg[4096];
    struct stat sb;
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    if (stat(cfg, &sb) == 0) return ML_OK;
    fprintf(stderr, "%s: writing the small f16 checkpoint to %s\n", bench, dir);
    pid_t pid = fork();
    if (pid < 0) return ml_error_set(err, ML_ERR_IO, "%s: cannot fork to write the checkpoint", dir);
    if (pid == 0) {
        MlError e = {0};
        MlInitOptions io = {.preset = "small", .dtype = ML_F16, .seed = 1, .tokenizer = NULL, .progress = 1};
        if (ml_init_model(dir, &io, &e)) {
            fprintf(stderr, "%s: %s\n", bench, e.msg);
            _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return ml_error_set(err, ML_ERR_IO, "%s: writing the small checkpoint failed", dir);
    return ML_OK;
}

/* Best of `repeats` streaming sums over n_floats floats (size it well past the
   last-level cache), all threads, four independent AVX accumulators per
   thread so the adds never limit it.  GB/s, or 0 when memory is short. */
static inline double bench_read_bandwidth_gbs(size_t n_floats, int repeats) {
    const size_t n = n_floats & ~(size_t)31;
    float *buf = aligned_alloc(64, n * sizeof(float));
    if (!buf) return 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = 1.0f; /* first touch by the thread that later reads it */
    double best = 1e30, total = 0;
    for (int r = 0; r < repeats; r++) {
        double t0 = ml_time_now(), sum = 0;
#pragma omp parallel reduction(+ : sum)
        {
            __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 32) {
                s0 = _mm256_add_ps(s0, _mm256_load_ps(buf + i));
                s1 = _mm256_add_ps(s1, _mm256_load_ps(buf + i + 8));
                s2 = _mm256_add_ps(s2, _mm256_load_ps(buf + i + 16));
                s3 = _mm256_add_ps(s3, _mm256_load_ps(buf + i + 24));
            }
            float v[8];
            _mm256_storeu_ps(v, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
            for (int k = 0; k < 8; k++) sum += v[k];
        }
        double t = ml_time_now() - t0;
        best = t < best ? t : best;
        total += sum;
    }
    free(buf);
    /* The sum is used so the reads cannot be optimised away: every element is 1. */
    if (total != (double)repeats * (double)n) return 0;
    return (double)n * sizeof(float) / best / 1e9;
}

#endif
