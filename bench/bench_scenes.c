/* bench_scenes.c: how fast the scene world writes a test split with all its
** files (images, scene graphs, every probe file, manifest).
**
**     build/bench/bench_scenes [N] [THREADS]    (default 10000 scenes, all cores)
**
** Prints one JSON line: wall seconds, CPU seconds, images per second, and the
** split between the image phase (sample + render + PNG) and the text phase.
** Goal (issue 3): 10,000 test scenes with probes in under a minute on 2 cores. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/progress.h"
#include "scene/corpus.h"

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(int argc, char **argv) {
    long long n = argc > 1 ? atoll(argv[1]) : 10000;
    int threads = argc > 2 ? atoi(argv[2]) : 0;
    char dir[256];
    snprintf(dir, sizeof dir, "build/tmp/bench_scenes_%ld", (long)getpid());
    MlWorld w;
    ml_world_default(&w);
    MlCorpusOptions o = {.out_dir = dir, .n = n, .seed = 1, .split = ML_SPLIT_TEST, .threads = threads};
    MlCorpusSummary sum;
    MlError err = {0};
    double t0 = ml_time_now(), c0 = cpu_seconds();
    if (ml_corpus_generate(&w, &o, &sum, &err)) {
        fprintf(stderr, "bench_scenes: %s\n", err.msg);
        return 1;
    }
    double wall = ml_time_now() - t0, cpu = cpu_seconds() - c0;
    long long probes = sum.describe;
    for (int f = 0; f < ML_N_PROBE_FILES; f++) probes += sum.file[f].total;
#ifdef _OPENMP
    int used = threads > 0 ? threads : omp_get_max_threads();
#else
    int used = 1;
#endif
    printf("{\"bench\": \"scenes\", \"split\": \"test\", \"scenes\": %lld, \"probes\": %lld, \"threads\": %d, "
           "\"wall_s\": %.2f, \"cpu_s\": %.2f, \"images_per_s\": %.1f, \"image_phase_s\": %.2f, \"text_phase_s\": %.2f, "
           "\"goal_10k_under_60s\": %s}\n",
           n, probes, used, wall, cpu, n / wall, sum.seconds_images, sum.seconds_text,
           (wall * 10000.0 / n < 60) ? "true" : "false");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
