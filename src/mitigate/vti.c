/* vti.c: VTI online (shengliu66/VTI vti_utils/llm_layers.py, VTILayer): at
   every layer's MLP output, in the vision tower and the decoder, each row
   x <- normalize(normalize(x) + 0.1 alpha normalize(d_l)) * ||x||, with d_l
   the direction of hidden state l + 1 from `misalign steer fit --method vti`
   (--steer FILE; per token in the vision tower).  A tower whose alpha is 0
   is not hooked, as the official code adds no layer then.  Greedy. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mitigate/method.h"
#include "mitigate/steer.h"

static const MlParamSpec params[] = {
    {"alpha_text", 0.9, 0, 100, 0, "decoder steering strength (0 = off)", NULL},
    {"alpha_image", 0.9, 0, 100, 0, "vision-tower steering strength (0 = off)", NULL},
};

typedef struct Vti {
    MlSteer steer; /* directions, normalised per row on load */
    float alpha_text, alpha_image;
    MlHooks hooks;
} Vti;

static void normalize(float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    const double norm = sqrt(s);
    const float scale = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12)); /* F.normalize's eps */
    for (int64_t i = 0; i < n; i++) x[i] *= scale;
}

/* One row: x <- normalize(normalize(x) + 0.1 a dir) * ||x||, dir unit. */
static void steer_row(float *x, const float *dir, int64_t n, float a) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    const double norm = sqrt(s), inv = 1.0 / (norm > 1e-12 ? norm : 1e-12);
    double t = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(x[i] * inv) + 0.1f * a * dir[i];
        t += (double)x[i] * x[i];
    }
    const double back = norm / (sqrt(t) > 1e-12 ? sqrt(t) : 1e-12);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(x[i] * back);
}

static void vti_hook(const MlHookSite *s, float *x, void *user) {
    Vti *v = user;
    const MlSteerShape *sh = &v->steer.shape;
    const int64_t w = s->width;
    for (int64_t r = 0; r < s->rows; r++) {
        const float *dir;
        if (s->tower == ML_TOWER_TEXT) {
            dir = v->steer.text + (size_t)(s->layer + 1) * (size_t)w;
        } else {
            const int64_t tok = s->pos0 + r;
            if (tok >= sh->vision_tokens) continue;
            dir = v->steer.vision + ((size_t)(s->layer + 1) * (size_t)sh->vision_tokens + (size_t)tok) * (size_t)w;
        }
        steer_row(x + (size_t)r * (size_t)w, dir, w, s->tower == ML_TOWER_TEXT ? v->alpha_text : v->alpha_image);
    }
}

static void vti_free(MlMethodRun *run) {
    Vti *v = run->state;
    if (!v) return;
    ml_steer_free(&v->steer);
    free(v);
    run->state = NULL;
}

static int vti_new(MlMethodRun *run, MlError *err) {
    const char *path = run->cfg->steer;
    if (!path)
        return ml_error_set(err, ML_ERR_ARG,
                            "vti: needs its directions: --steer FILE (from `misalign steer fit --method vti`)");
    Vti *v = calloc(1, sizeof *v);
    if (!v) return ml_error_set(err, ML_ERR_NOMEM, "vti: out of memory");
    run->state = v;
    int rc = ml_steer_load(path, &v->steer, err);
    if (rc) {
        free(v);
        run->state = NULL;
        return rc;
    }
    if ((rc = ml_steer_check(&v->steer, run->m, "vti", path, err))) {
        vti_free(run);
        return rc;
    }
    const MlSteerShape *sh = &v->steer.shape;
    for (int l = 0; l <= sh->layers; l++) normalize(v->steer.text + (size_t)l * (size_t)sh->hidden, sh->hidden);
    for (int64_t r = 0; r < (int64_t)(sh->vision_layers + 1) * sh->vision_tokens; r++)
        normalize(v->steer.vision + (size_t)r * (size_t)sh->vision_hidden, sh->vision_hidden);
    v->alpha_text = (float)ml_method_param(run->cfg, "alpha_text");
    v->alpha_image = (float)ml_method_param(run->cfg, "alpha_image");
    v->hooks.fn = vti_hook;
    v->hooks.user = v;
    for (int l = 0; l < sh->layers && v->alpha_text != 0; l++)
        ml_hooks_select(&v->hooks, ML_TOWER_TEXT, ML_HOOK_MLP_OUT, l);
    for (int l = 0; l < sh->vision_layers && v->alpha_image != 0; l++)
        ml_hooks_select(&v->hooks, ML_TOWER_VISION, ML_HOOK_MLP_OUT, l);
    return ML_OK;
}

/* Every forward of the one pass: the image encoding, its prefix, the prompt and each token. */
static const MlHooks *vti_hooks(MlMethodRun *run, int pass, int64_t step) {
    Vti *v = run->state;
    (void)pass, (void)step;
    return v->alpha_text == 0 && v->alpha_image == 0 ? NULL : &v->hooks;
}

const MlMethod ml_method_vti = {
    ML_METHOD_ID("vti", "VTI: steer every MLP output of both towers toward fitted directions (--steer FILE), greedy",
                 ""),
    .n_passes = 1,
    .reads_steer = 1,
    ML_METHOD_PARAMS(params),
    .state_new = vti_new,
    .state_free = vti_free,
    .pass_hooks = vti_hooks,
};
