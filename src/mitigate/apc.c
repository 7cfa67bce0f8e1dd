/* apc.c: the APC-only control (ustc-hyin/cd_rethink): VCD without its
   contrast pass.  The adaptive plausibility constraint alone turns sampling
   into near-greedy decoding and recovers most of contrastive decoding's POPE
   gain, so every contrastive result is reported next to this. */
#include "mitigate/method.h"

#include <string.h>

static const MlParamSpec params[] = {
    {"beta", 0.2, 0, 1, 0, "APC: keep tokens with p >= beta * max p on the normal pass", NULL},
    ML_SAMPLING_PARAMS(1),
};

static void apc_combine(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                        void *user) {
    (void)n_passes, (void)step;
    const MlMethodConfig *c = ((const MlMethodRun *)user)->cfg;
    memcpy(scores, logits[0], sizeof(float) * (size_t)vocab);
    ml_contrast_apc(scores, logits[0], vocab, (float)ml_method_param(c, "beta"));
}

const MlMethod ml_method_apc = {
    ML_METHOD_ID("apc", "APC-only control: plausibility constraint (beta 0.2) + the same sampling, no contrast",
                 ML_ONE_WORD_SUFFIX),
    ML_METHOD_PARAMS(params),
    .n_passes = 1,
    .combine = apc_combine,
};
