/*
** bench_matmul.c: the linear-layer kernels alone, on the decoder matrices of
** the `small` preset in f16 (8 layers of q/k/v/o 1024x1024, gate/up
** 2816x1024, down 1024x2816: 206 MB of weights, more than the caches), to
** choose ML_MATMUL_GEMM_MIN_ROWS and to see the decode GEMV against the
** read bandwidth (see docs/performance.md).
**
**     build/bench/bench_matmul [--threads N] [--rows 1,4,8,16,...] [--repeats N]
**
** For each row count T it times one pass over all 56 matrices through the
** dot path (ml_matmul_forward_dot) and the sgemm path (ml_matmul_forward_gemm)
** and prints ms per pass and weight GB/s; with --rows 1 it is the decode
** step's matmuls.  Read bandwidth is measured the way bench_engine does
** (streaming sum, all threads), in the same run.  Best of --repeats (5).
*/
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/progress.h"
#include "core/tensor.h"
#include "kernels/matmul.h"
#include "kernels/threads.h"

#include "bench_common.h"

#define N_LAYERS 8
#define HIDDEN 1024
#define INTER 2816

typedef struct Mat {
    MlTensor w;
    int64_t n_out, n_in;
} Mat;

static double min_d(double a, double b) { return a < b ? a : b; }

/* One pass over every matrix with T rows; returns the best time of repeats. */
static double time_pass(const Mat *m, int n_mats, int64_t T, int gemm, float *x, float *y, MlMatmulScratch *s,
                        int repeats) {
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t0 = ml_time_now();
        for (int i = 0; i < n_mats; i++) {
            if (gemm) ml_matmul_forward_gemm(y, x, &m[i].w, NULL, T, m[i].n_in, m[i].n_out, s);
            else ml_matmul_forward_dot(y, x, &m[i].w, NULL, T, m[i].n_in, m[i].n_out);
        }
        best = min_d(best, ml_time_now() - t0);
    }
    return best;
}

int main(int argc, char **argv) {
    if (ml_threads_env_prepare()) {
        execv("/proc/self/exe", argv);
        return 1;
    }
    int threads = 0, repeats = 5;
    const char *rows = "1,2,4,8,12,16,24,32,48,64,96,128";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc) rows = argv[++i];
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) repeats = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--rows 1,4,...] [--repeats N]\n", argv[0]);
            return 2;
        }
    }
    if (repeats < 1) repeats = 1;
    threads = ml_threads_set(threads);

    enum { PER_LAYER = 7 };
    Mat m[N_LAYERS * PER_LAYER];
    const int64_t shapes[PER_LAYER][2] = {{HIDDEN, HIDDEN}, {HIDDEN, HIDDEN}, {HIDDEN, HIDDEN}, {HIDDEN, HIDDEN},
                                          {INTER, HIDDEN},  {INTER, HIDDEN},  {HIDDEN, INTER}};
    double bytes = 0;
    MlMatmulScratch s = {0};
    for (int l = 0; l < N_LAYERS; l++)
        for (int k = 0; k < PER_LAYER; k++) {
            Mat *t = &m[l * PER_LAYER + k];
            t->n_out = shapes[k][0], t->n_in = shapes[k][1];
            size_t n = (size_t)(t->n_out * t->n_in);
            uint16_t *d = malloc(n * sizeof(uint16_t));
            if (!d || ml_matmul_scratch_reserve(&s, t->n_out, t->n_in)) {
                fprintf(stderr, "bench_matmul: out of memory\n");
                return 1;
            }
            /* small f16 values (exponent 8..11 of 15): finite, no denormals */
            for (size_t i = 0; i < n; i++) d[i] = (uint16_t)(0x2000 + (i * 2654435761u >> 20) % 0x1000);
            memset(&t->w, 0, sizeof t->w);
            t->w.dtype = ML_F16;
            t->w.ndim = 2;
            t->w.shape[0] = t->n_out, t->w.shape[1] = t->n_in;
            t->w.data = d;
            bytes += (double)n * 2;
        }
    int64_t max_t = 1;
    for (const char *p = rows; *p;) {
        int64_t v = atoll(p);
        if (v > max_t) max_t = v;
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    float *x = malloc(sizeof(float) * (size_t)(max_t * INTER)), *y = malloc(sizeof(float) * (size_t)(max_t * INTER));
    if (!x || !y) return 1;
    for (int64_t i = 0; i < max_t * INTER; i++) x[i] = (float)(i % 13) * 0.01f - 0.06f;

    double bw = bench_read_bandwidth_gbs((size_t)1 << 27, repeats);
    printf("threads %d, OpenBLAS core %s, %d matrices, %.1f MB of f16 weights\n", threads, ml_blas_corename(),
           N_LAYERS * PER_LAYER, bytes / 1e6);
    printf("read bandwidth %.2f GB/s\n", bw);
    printf("%6s %12s %12s %12s %12s %10s\n", "rows", "dot ms", "gemm ms", "dot GB/s", "dot/bw", "gemm/dot");
    for (const char *p = rows; *p;) {
        int64_t T = atoll(p);
        if (T >= 1 && T <= max_t) {
            double td = time_pass(m, N_LAYERS * PER_LAYER, T, 0, x, y, &s, repeats);
            double tg = time_pass(m, N_LAYERS * PER_LAYER, T, 1, x, y, &s, repeats);
            double gbs = bytes / td / 1e9;
            printf("%6lld %12.2f %12.2f %12.2f %12.2f %10.2f\n", (long long)T, td * 1e3, tg * 1e3, gbs, gbs / bw,
                   tg / td);
            fflush(stdout);
        }
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    printf("read bandwidth (after) %.2f GB/s\n", bench_read_bandwidth_gbs((size_t)1 << 27, repeats));
    for (int i = 0; i < N_LAYERS * PER_LAYER; i++) free((void *)m[i].w.data);
    ml_matmul_scratch_free(&s);
    free(x), free(y);
    return 0;
}
