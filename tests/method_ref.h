/*
** method_ref.h: what the method tests share: a contrastive method's scores
** on a tiny model, compared with tests/reference/method_ref.py (the NumPy
** LLaVA of llava_ref.py and the method's formula as its official code writes
** it), and the tokens a method generates through the runner.
**
**     int bad = method_ref_compare(model, dir, pixels, NULL, &cfg, "--param alpha=1", steps, 3, "icd");
**     method_generate(model, pixels, NULL, &cfg, "Is there a cat?", 8, tokens, &n);
**
** decoded, when not NULL, is the image the pixels were preprocessed from:
** the runner gets it (ml_runner_set_decoded), as a method that transforms
** the decoded image needs.
*/
#ifndef ML_TEST_METHOD_REF_H
#define ML_TEST_METHOD_REF_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/npy.h"
#include "mitigate/runner.h"
#include "test.h"

#define METHOD_REF_QUESTION "Is there a cat in the image?"
#define METHOD_REF_TOL 1e-4f /* a tiny f32 model: the engine and the reference agree to about 1e-7 */

/* A runner for cfg on the image, after the question's prefill (NULL on failure). */
static MlRunner *method_ref_runner(MlLvlm *model, const float *pixels, const MlImage *decoded, const MlMethodConfig *cfg,
                                   const char *question) {
    MlError err = {0};
    MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .seed = 0, .prefix = ML_PREFIX_SHARED};
    MlRunner *r = NULL;
    if (ml_runner_new(&r, model, cfg, &o, &err) ||
        (decoded ? ml_runner_set_decoded(r, decoded, ML_ASPECT_RESIZE, "img.png", &err)
                 : ml_runner_set_image(r, pixels, "img.png", &err)) ||
        ml_runner_prepare(r, question, &err) || ml_runner_ask(r, question, &err) || ml_runner_prefill(r, 16, &err)) {
        fprintf(stderr, "runner: %s\n", err.msg);
        ml_runner_free(r);
        return NULL;
    }
    return r;
}

static void method_ref_ids(char *buf, size_t cap, const int32_t *ids, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%d", i ? "," : "", ids[i]);
}

/* Tokens whose scores differ between the engine's combiner and the NumPy
   reference at each of steps (beyond METHOD_REF_TOL, or kept by one and cut
   by the other away from the cutoff's edge); -1 when something did not run. */
static int method_ref_compare(MlLvlm *model, const char *model_dir, const float *pixels, const MlImage *decoded,
                              const MlMethodConfig *cfg, const char *params, const int64_t *steps, int n_steps,
                              const char *name) {
    MlError err = {0};
    MlRunner *r = method_ref_runner(model, pixels, decoded, cfg, METHOD_REF_QUESTION);
    if (!r) return -1;
    const char *tmp = test_tmpdir(name);
    char px[700], out[700], step_list[256] = "";
    snprintf(px, sizeof px, "%s/pixels.npy", tmp);
    snprintf(out, sizeof out, "%s/scores.npy", tmp);
    const int64_t np = ml_lvlm_pixel_floats(model), side = (int64_t)llround(sqrt((double)np / 3.0));
    const int64_t shape[3] = {3, side, side};
    for (int i = 0, used = 0; i < n_steps; i++)
        used += snprintf(step_list + used, sizeof step_list - (size_t)used, "%s%lld", i ? "," : "", (long long)steps[i]);
    size_t n0, n1;
    const int32_t *ids0 = ml_runner_prompt(r, 0, &n0), *ids1 = ml_runner_prompt(r, 1, &n1);
    char *a0 = malloc(12 * n0 + 1), *a1 = malloc(12 * n1 + 1), *cmd = malloc(12 * (n0 + n1) + 4096);
    int bad = -1;
    float *want = NULL;
    if (a0 && a1 && cmd && !ml_npy_write_f32(px, pixels, shape, 3, &err)) {
        method_ref_ids(a0, 12 * n0 + 1, ids0, n0);
        method_ref_ids(a1, 12 * n1 + 1, ids1, n1);
        snprintf(cmd, 12 * (n0 + n1) + 4096,
                 "/usr/bin/python3 %s --model %s --pixels %s --ids0 %s --ids1 %s --method %s %s --steps %s --out %s",
                 test_repo_path("tests/reference/method_ref.py"), model_dir, px, a0, a1, name, params, step_list, out);
        int64_t wshape[ML_NPY_MAX_DIMS];
        int nd;
        const int64_t V = ml_lvlm_vocab(model);
        if (system(cmd) == 0 && !ml_npy_read_f32(out, &want, wshape, &nd, &err) && nd == 2 && wshape[0] == n_steps &&
            wshape[1] == V) {
            bad = 0;
            float *scores = malloc(sizeof(float) * (size_t)V);
            const float *logits[2] = {ml_runner_logits(r, 0), ml_runner_logits(r, 1)};
            MlMethodRun run = {.cfg = cfg, .m = model, .n_passes = 2};
            float lmax = -INFINITY, maxd = 0;
            int64_t kept = 0;
            for (int64_t i = 0; i < V; i++) lmax = fmaxf(lmax, logits[0][i]);
            const float cut = logf((float)ml_method_param(cfg, "beta")) + lmax;
            for (int s = 0; scores && s < n_steps; s++) {
                cfg->method->combine(scores, logits, 2, V, steps[s], &run);
                for (int64_t i = 0; i < V; i++) {
                    const float w = want[s * V + i], e = scores[i];
                    if (isinf(w) != isinf(e)) bad += fabsf(logits[0][i] - cut) > 1e-3f;
                    else if (!isinf(w)) bad += !(fabsf(w - e) <= METHOD_REF_TOL), maxd = fmaxf(maxd, fabsf(w - e));
                    kept += !isinf(e);
                }
            }
            if (bad)
                fprintf(stderr, "  %s: %d scores differ from method_ref.py (largest difference %g, %lld of %lld kept)\n",
                        name, bad, maxd, (long long)kept, (long long)V * n_steps);
            if (!scores) bad = -1;
            free(scores);
        } else {
            fprintf(stderr, "method_ref.py did not run: %s\n", err.msg);
        }
    }
    free(want), free(a0), free(a1), free(cmd);
    ml_runner_free(r);
    return bad;
}

/* Up to max tokens cfg generates for question about the image; 0 on success. */
static int method_generate(MlLvlm *model, const float *pixels, const MlImage *decoded, const MlMethodConfig *cfg,
                           const char *question, int64_t max, int32_t *out, int64_t *n) {
    MlError err = {0};
    MlRunner *r = method_ref_runner(model, pixels, decoded, cfg, question);
    if (!r) return 1;
    MlSamplerConfig sc;
    ml_method_sampler(cfg, 7, &sc);
    int rc = ml_runner_generate(r, &sc, max, -1, NULL, NULL, out, n, &err);
    if (rc) fprintf(stderr, "generate: %s\n", err.msg);
    ml_runner_free(r);
    return rc;
}

#endif
