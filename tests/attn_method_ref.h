/*
** attn_method_ref.h: what the attention-hook method tests (test_method_pai.c,
** test_method_sid.c) share: the shipped organism with a synthetic image, a
** method run through the one runner, and the independent NumPy reference
** tests/reference/attn_methods_ref.py on the same prompt ids and image
** features.
**
**     mref_open("pai");                                       // model, pixels
**     MRun r; mref_run(&r, &cfg, ML_PREFIX_SHARED, question, 6);
**     mref_numpy(&r, "pai", "--param alpha=0.2", 6, scores, ids, &n_ids);
*/
#ifndef ML_TEST_ATTN_METHOD_REF_H
#define ML_TEST_ATTN_METHOD_REF_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "mitigate/method.h"
#include "mitigate/runner.h"
#include "model/lvlm.h"
#include "model/prompt.h"
#include "test.h"

#define MREF_MAX_TOKENS 8

static MlLvlm *mref_model;
static float *mref_pixels;
static char mref_dir[600];   /* scratch */
static char mref_path[4096]; /* the organism */

/* One question through the runner: the first step's combined scores, every
   pass's prompt ids, the image features and the generated tokens. */
typedef struct MRun {
    float *scores;
    int32_t *ids[2];
    size_t n_ids[2];
    float *feats;
    int64_t n_img;
    int32_t out[MREF_MAX_TOKENS];
    int64_t n_out;
} MRun;

static inline void mref_free(MRun *r) {
    free(r->scores), free(r->ids[0]), free(r->ids[1]), free(r->feats);
    memset(r, 0, sizeof *r);
}

static inline int mref_open(const char *name) {
    MlError err = {0};
    snprintf(mref_path, sizeof mref_path, "%s", test_repo_path("models/organism"));
    snprintf(mref_dir, sizeof mref_dir, "%s", test_tmpdir(name));
    if (ml_lvlm_open(&mref_model, mref_path, &err)) {
        fprintf(stderr, "cannot open %s: %s\n", mref_path, err.msg);
        return 1;
    }
    const int64_t n = ml_lvlm_pixel_floats(mref_model);
    mref_pixels = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) mref_pixels[i] = (float)((i * 37 % 101) / 50.0 - 1.0);
    return 0;
}

static inline void mref_close(void) {
    free(mref_pixels);
    ml_lvlm_close(mref_model);
}

/* Runs cfg's method on one question: the scores its combiner gives after
   the prompt (through the method's own state), then greedy tokens.
   Returns 0 on success. */
static inline int mref_run(MRun *out, const MlMethodConfig *cfg, MlPrefixMode mode, const char *question,
                           int64_t tokens) {
    MlError err = {0};
    memset(out, 0, sizeof *out);
    const MlMethod *m = cfg->method;
    const int64_t V = ml_lvlm_vocab(mref_model);
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .prefix = mode};
    MlRunner *r = NULL;
    int rc = ml_runner_new(&r, mref_model, cfg, &o, &err) || ml_runner_set_image(r, mref_pixels, "x.png", &err) ||
             (mode == ML_PREFIX_SHARED && ml_runner_prepare(r, question, &err)) || ml_runner_ask(r, question, &err) ||
             ml_runner_prefill(r, tokens, &err);
    if (!rc) {
        out->n_img = ml_runner_image_rows(r);
        const size_t hidden = (size_t)ml_lvlm_hidden(mref_model);
        out->feats = malloc(sizeof(float) * hidden * (size_t)out->n_img);
        memcpy(out->feats, ml_runner_features(r), sizeof(float) * hidden * (size_t)out->n_img);
        const float *logits[2] = {NULL, NULL};
        for (int p = 0; p < m->n_passes && p < 2; p++) {
            const int32_t *ids = ml_runner_prompt(r, p, &out->n_ids[p]);
            out->ids[p] = malloc(sizeof(int32_t) * out->n_ids[p]);
            memcpy(out->ids[p], ids, sizeof(int32_t) * out->n_ids[p]);
            logits[p] = ml_runner_logits(r, p);
        }
        /* the combiner with a state of its own, as the runner calls it */
        out->scores = malloc(sizeof(float) * (size_t)V);
        MlMethodRun run = {.cfg = cfg, .m = mref_model, .n_passes = m->n_passes};
        if (m->state_new) rc = m->state_new(&run, &err);
        if (!rc && m->combine) m->combine(out->scores, logits, m->n_passes, V, 0, &run);
        else if (!rc) memcpy(out->scores, logits[0], sizeof(float) * (size_t)V);
        if (!rc && m->state_free) m->state_free(&run);
        MlSamplerConfig sc;
        ml_method_sampler(cfg, 0, &sc);
        if (!rc)
            rc = ml_runner_generate(r, &sc, tokens, ml_lvlm_eos_id(mref_model), NULL, NULL, out->out, &out->n_out, &err);
    }
    if (rc) fprintf(stderr, "%s: %s\n", m->name, err.msg);
    ml_runner_free(r);
    return rc;
}

static inline void mref_append_ids(char *buf, size_t cap, const int32_t *ids, size_t n) {
    size_t len = strlen(buf);
    for (size_t i = 0; i < n && len + 16 < cap; i++) len += (size_t)snprintf(buf + len, cap - len, i ? ",%d" : "%d", ids[i]);
}

/* The NumPy reference on run's prompts and features: its first-step scores
   (vocab floats) and up to `steps` greedy tokens.  Returns 0 on success. */
static inline int mref_numpy(const MRun *run, const char *method, const char *params, int steps, float *scores,
                             int32_t *ids, int64_t *n_ids) {
    char feats[700], out[700], json[700];
    snprintf(feats, sizeof feats, "%s/feats.f32", mref_dir);
    snprintf(out, sizeof out, "%s/scores.f32", mref_dir);
    snprintf(json, sizeof json, "%s/ref.json", mref_dir);
    FILE *f = fopen(feats, "wb");
    if (!f) return 1;
    fwrite(run->feats, sizeof(float), (size_t)(run->n_img * ml_lvlm_hidden(mref_model)), f);
    fclose(f);
    static char cmd[65536];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' %s --model '%s' --features '%s' --scores '%s' --steps %d %s --ids ",
             test_repo_path("tests/reference/attn_methods_ref.py"), method, mref_path, feats, out, steps, params);
    mref_append_ids(cmd, sizeof cmd, run->ids[0], run->n_ids[0]);
    if (run->ids[1] && strcmp(method, "pai") == 0) {
        strcat(cmd, " --text-ids ");
        mref_append_ids(cmd, sizeof cmd, run->ids[1], run->n_ids[1]);
    }
    size_t len = strlen(cmd);
    snprintf(cmd + len, sizeof cmd - len, " > '%s'", json);
    if (system(cmd) != 0) return 1;
    const int64_t V = ml_lvlm_vocab(mref_model);
    f = fopen(out, "rb");
    if (!f) return 1;
    size_t got = fread(scores, sizeof(float), (size_t)V, f);
    fclose(f);
    f = fopen(json, "r");
    if (!f || got != (size_t)V) return f ? fclose(f), 1 : 1;
    char line[4096] = {0};
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    const char *p = strchr(line, '[');
    *n_ids = 0;
    while (p && *p && *p != ']' && *n_ids < MREF_MAX_TOKENS) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1) break;
        ids[(*n_ids)++] = (int32_t)v;
        p = end;
    }
    return 0;
}

/* Scores equal within tol, -inf exactly where the other has it; the largest gap in *gap. */
static inline int mref_scores_agree(const float *a, const float *b, int64_t n, float tol, float *gap) {
    *gap = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isinf(a[i]) || isinf(b[i])) {
            if (a[i] != b[i]) return 0;
            continue;
        }
        float d = fabsf(a[i] - b[i]);
        if (d > *gap) *gap = d;
    }
    return *gap <= tol;
}

#endif
