/* ritual.c: RITUAL (sangminwoo/RITUAL, ritual_utils/ritual_sample.py and
   eval_bench/pope_eval_llava.py): a second pass on the image after one random
   transform (mitigate/ritual.h), drawn for every question;
   s = l + alpha_pos * l_T, cut where l < log beta + max l, then sampling.
   Defaults from its POPE script (alpha_pos 3, beta 0.1, temperature 1). */
#include "mitigate/method.h"
#include "mitigate/ritual.h"

static const MlParamSpec params[] = {
    {"alpha_pos", 3, 0, 1000, 0, "weight of the transformed image's logits: s = l + alpha_pos l_T", NULL},
    {"beta", 0.1, 0, 1, 0, "cutoff: keep tokens with p >= beta * max p on the normal pass", NULL},
    ML_DECODE_PARAM(ML_DECODE_SAMPLE),
    ML_SAMPLING_PARAMS(1),
};

static int ritual_image(const MlMethodConfig *c, int pass, const MlImage *image, uint64_t seed, MlImage *out,
                        MlError *err) {
    (void)c, (void)pass;
    MlRitualDraw d;
    ml_ritual_draw(seed, image->width, image->height, &d);
    return ml_ritual_apply(image, &d, out, err);
}

static void ritual_combine(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                           void *user) {
    (void)n_passes, (void)step;
    const MlMethodConfig *c = ((const MlMethodRun *)user)->cfg;
    const float a = (float)ml_method_param(c, "alpha_pos");
    for (int64_t i = 0; i < vocab; i++) scores[i] = logits[0][i] + a * logits[1][i];
    ml_contrast_apc(scores, logits[0], vocab, (float)ml_method_param(c, "beta"));
}

static const MlPass passes[] = {{ML_PASS_CLEAN, ML_PASS_SAME_PROMPT}, {ML_PASS_DECODED, ML_PASS_SAME_PROMPT}};

const MlMethod ml_method_ritual = {
    ML_METHOD_ID("ritual", "RITUAL: add the logits of a randomly transformed image (alpha_pos 3, beta 0.1), sampling",
                 ""),
    .n_passes = 2,
    .passes = passes,
    ML_METHOD_PARAMS(params),
    .pass_image = ritual_image,
    .combine = ritual_combine,
};
