/* m3id.c: M3ID as RITUAL's re-implementation runs it (sangminwoo/RITUAL,
   ritual_utils/ritual_sample.py; M3ID has no official code): a contrast pass
   without the image, gamma_t = exp(-0.02 t) with t = 0 at the first generated
   token, s = l + (l - l_u)(1 - gamma_t)/gamma_t, cut where l < log beta +
   max l, then sampling.  The weight is 0 at t = 0: the first token is the
   cutoff alone. */
#include <math.h>

#include "mitigate/method.h"

static const MlParamSpec params[] = {
    {"beta", 0.1, 0, 1, 0, "cutoff: keep tokens with p >= beta * max p on the normal pass", NULL},
    ML_DECODE_PARAM(ML_DECODE_SAMPLE),
    ML_SAMPLING_PARAMS(1),
};

static void m3id_combine(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                         void *user) {
    (void)n_passes;
    const MlMethodConfig *c = ((const MlMethodRun *)user)->cfg;
    /* float32 as torch.exp(torch.tensor(-0.02 * t)) computes it, and in the reference's order */
    const float gamma = expf((float)(-0.02 * (double)step)), one_minus = 1.0f - gamma;
    const float *l = logits[0], *u = logits[1];
    for (int64_t i = 0; i < vocab; i++) scores[i] = l[i] + (l[i] - u[i]) * one_minus / gamma;
    ml_contrast_apc(scores, l, vocab, (float)ml_method_param(c, "beta"));
}

static const MlPass passes[] = {{ML_PASS_CLEAN, ML_PASS_SAME_PROMPT}, {ML_PASS_NO_IMAGE, ML_PASS_SAME_PROMPT}};

const MlMethod ml_method_m3id = {
    ML_METHOD_ID("m3id", "M3ID (RITUAL's version): contrast with no image, weight (1-g)/g, g = exp(-0.02 t), beta 0.1",
                 ""),
    .n_passes = 2,
    .passes = passes,
    ML_METHOD_PARAMS(params),
    .combine = m3id_combine,
};
