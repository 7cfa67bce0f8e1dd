/*
** bench_model.h: the benchmarks' default model, `misalign init-model --preset
** small --dtype f16 --seed 1`, written once into DIR by a child process so
** that its buffers never count in the benchmark's own peak RSS.
*/
#ifndef ML_BENCH_MODEL_H
#define ML_BENCH_MODEL_H

#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "model/init.h"

static int bench_ensure_small_model(const char *bench, const char *dir, MlError *err) {
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

#endif
