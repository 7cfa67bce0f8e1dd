/* checkpoint_io.c: training state <-> safetensors (see checkpoint_io.h). */
#include "train/checkpoint_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

#define KEY_VERSION "misalign.train_state"
#define N_ARRAYS 3

static const char *const array_names[N_ARRAYS] = {"params", "adam_m", "adam_v"};

static float *array_of(const MlParamBlock *b, int i) { return i == 0 ? b->params : i == 1 ? b->m : b->v; }

int ml_train_state_save(const char *path, const MlParamBlock *b, int64_t step, const uint64_t rng[ML_TRAIN_RNG_WORDS],
                        const char *layout, MlError *err) {
    if (step < 0) return ml_error_set(err, ML_ERR_ARG, "%s: step %" PRId64 " is negative", path, step);
    char version[16], step_s[32], rng_s[ML_TRAIN_RNG_WORDS * 17 + 1];
    snprintf(version, sizeof version, "%d", ML_TRAIN_STATE_VERSION);
    snprintf(step_s, sizeof step_s, "%" PRId64, step);
    size_t at = 0;
    for (int i = 0; i < ML_TRAIN_RNG_WORDS; i++)
        at += (size_t)snprintf(rng_s + at, sizeof rng_s - at, i ? " %016" PRIx64 : "%016" PRIx64, rng[i]);
    const char *metadata[] = {KEY_VERSION, version, "step", step_s, "rng", rng_s, "layout", layout ? layout : "", NULL};
    MlNamedTensor t[N_ARRAYS];
    for (int i = 0; i < N_ARRAYS; i++) {
        t[i].name = array_names[i];
        t[i].tensor = (MlTensor){.dtype = ML_F32, .ndim = 1, .shape = {(int64_t)b->n}, .data = array_of(b, i),
                                 .nbytes = b->n * sizeof(float)};
    }
    MlSafetensorsWriteOpts opts = {.metadata = metadata};
    return ml_safetensors_write_ex(path, t, N_ARRAYS, &opts, err);
}

/* A decimal int64 >= 0 with nothing else around it. */
static int parse_step(const char *s, int64_t *out) {
    if (!s || *s < '0' || *s > '9') return -1;
    int64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10) return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return *s ? -1 : 0;
}

/* ML_TRAIN_RNG_WORDS words of exactly 16 hex digits, one space apart. */
static int parse_rng(const char *s, uint64_t rng[ML_TRAIN_RNG_WORDS]) {
    if (!s || strlen(s) != ML_TRAIN_RNG_WORDS * 17 - 1) return -1;
    for (int i = 0; i < ML_TRAIN_RNG_WORDS; i++, s += 17) {
        uint64_t v = 0;
        for (int k = 0; k < 16; k++) {
            char c = s[k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0) return -1;
            v = v << 4 | (uint64_t)d;
        }
        if (i + 1 < ML_TRAIN_RNG_WORDS && s[16] != ' ') return -1;
        rng[i] = v;
    }
    return 0;
}

static int check_and_copy(const MlSafetensors *st, const char *path, MlParamBlock *b, int64_t *step,
                          uint64_t rng[ML_TRAIN_RNG_WORDS], const char *layout, MlError *err) {
    const char *version = ml_safetensors_metadata(st, KEY_VERSION);
    if (!version) return ml_error_set(err, ML_ERR_FORMAT, "%s: not a misalign train state (no %s)", path, KEY_VERSION);
    int64_t v;
    if (parse_step(version, &v) || v != ML_TRAIN_STATE_VERSION)
        return ml_error_set(err, ML_ERR_UNSUPPORTED, "%s: train state version '%s' (this build reads %d)", path, version,
                            ML_TRAIN_STATE_VERSION);
    const char *file_layout = ml_safetensors_metadata(st, "layout");
    if (!file_layout || strcmp(file_layout, layout ? layout : ""))
        return ml_error_set(err, ML_ERR_FORMAT,
                            "%s: saved by another run (its layout '%s', this run's '%s'); remove it to start afresh",
                            path, file_layout ? file_layout : "", layout ? layout : "");
    int64_t s;
    uint64_t r[ML_TRAIN_RNG_WORDS];
    if (parse_step(ml_safetensors_metadata(st, "step"), &s))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: __metadata__.step: expected a decimal count", path);
    if (parse_rng(ml_safetensors_metadata(st, "rng"), r))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: __metadata__.rng: expected 4 words of 16 hex digits", path);
    if (ml_safetensors_count(st) != N_ARRAYS)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: expected exactly the tensors params, adam_m, adam_v", path);
    MlTensor t[N_ARRAYS];
    for (int i = 0; i < N_ARRAYS; i++) {
        if (!ml_safetensors_find(st, array_names[i], &t[i]))
            return ml_error_set(err, ML_ERR_MISSING, "%s: no tensor %s", path, array_names[i]);
        if (t[i].dtype != ML_F32 || t[i].ndim != 1 || t[i].shape[0] != (int64_t)b->n)
            return ml_error_set(err, ML_ERR_SHAPE, "%s: %s: expected F32 [%zu], found %s [%lld%s]", path,
                                array_names[i], b->n, ml_dtype_name(t[i].dtype),
                                (long long)(t[i].ndim ? t[i].shape[0] : 1), t[i].ndim > 1 ? ", ..." : "");
    }
    for (int i = 0; i < N_ARRAYS; i++) memcpy(array_of(b, i), t[i].data, b->n * sizeof(float));
    ml_param_block_zero_grad(b);
    *step = s;
    memcpy(rng, r, sizeof r);
    return ML_OK;
}

int ml_train_state_load(const char *path, MlParamBlock *b, int64_t *step, uint64_t rng[ML_TRAIN_RNG_WORDS],
                        const char *layout, MlError *err) {
    MlSafetensors *st;
    int rc = ml_safetensors_open(&st, path, err);
    if (rc) return rc;
    rc = check_and_copy(st, path, b, step, rng, layout, err);
    ml_safetensors_close(st);
    return rc;
}
