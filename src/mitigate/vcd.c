/* vcd.c: Visual Contrastive Decoding (DAMO-NLP-SG/VCD): contrast with the
   diffusion-noised image, s = (1+alpha) l - alpha l', APC on the normal
   pass, then sampling.  Defaults from the paper's POPE setting. */
#include "mitigate/vcd.h"

#include <math.h>

#include "mitigate/method.h"
#include "mitigate/noise.h"

void ml_vcd_noise_coefficients(int step, float *signal, float *noise) {
    if (step < 0) step = 0;
    if (step >= ML_VCD_STEPS) step = ML_VCD_STEPS - 1;
    /* float32 as in torch: linspace (current symmetric form), sigmoid, affine map;
       cumprod accumulates in double on CPU and stores float32 */
    const int n = ML_VCD_STEPS;
    const float start = -6.0f, end = 6.0f, delta = (end - start) / (float)(n - 1);
    double prod = 1.0;
    float abar = 1.0f;
    for (int i = 0; i <= step; i++) {
        float x = i < n / 2 ? start + delta * (float)i : end - delta * (float)(n - i - 1);
        float sig = 1.0f / (1.0f + expf(-x));
        float beta = sig * (float)(0.5e-2 - 1e-5) + (float)1e-5;
        prod *= (double)(1.0f - beta);
        abar = (float)prod;
    }
    *signal = sqrtf(abar);
    *noise = sqrtf(1.0f - abar);
}

void ml_vcd_noise_pixels(float *dst, const float *clean, int64_t n, int step, uint64_t seed) {
    float a, b;
    ml_vcd_noise_coefficients(step, &a, &b);
    /* eps first (dst may alias clean), then the mix in float as torch does */
    float chunk[256];
    uint64_t stream = seed;
    for (int64_t i = 0; i < n; i += 256) {
        int64_t m = n - i < 256 ? n - i : 256;
        ml_noise_gaussian(chunk, m, stream);
        stream = ml_seed_mix(stream, "vcd");
        for (int64_t j = 0; j < m; j++) dst[i + j] = a * clean[i + j] + b * chunk[j];
    }
}

static const MlParamSpec params[] = {
    {"alpha", 1, 0, 1000, 0, "contrast weight: s = (1+alpha) l - alpha l'", NULL},
    {"beta", 0.2, 0, 1, 0, "APC: keep tokens with p >= beta * max p on the normal pass", NULL},
    {"noise_step", 500, 0, ML_VCD_STEPS - 1, 1, "diffusion step T of the contrast image (0..999)", NULL},
    ML_DECODE_PARAM(ML_DECODE_SAMPLE),
    ML_SAMPLING_PARAMS(1),
};

static int vcd_pixels(const MlMethodConfig *c, int pass, float *dst, const float *clean, int64_t n, uint64_t seed,
                      MlError *err) {
    (void)pass, (void)err;
    ml_vcd_noise_pixels(dst, clean, n, (int)ml_method_param(c, "noise_step"), seed);
    return ML_OK;
}

static const MlPass passes[] = {{ML_PASS_CLEAN, ML_PASS_SAME_PROMPT}, {ML_PASS_PIXELS, ML_PASS_SAME_PROMPT}};

const MlMethod ml_method_vcd = {
    ML_METHOD_ID("vcd", "Visual Contrastive Decoding: contrast with the noised image (alpha 1, beta 0.2, T 500), sampling",
                 ML_ONE_WORD_SUFFIX),
    .n_passes = 2,
    .passes = passes,
    ML_METHOD_PARAMS(params),
    .pass_pixels = vcd_pixels,
    .combine = ml_method_combine_contrast,
};
