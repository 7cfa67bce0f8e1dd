/*
** vti.h: Visual and Textual Intervention (shengliu66/VTI): the offline fit
** of its steering directions (`misalign steer fit --method vti`), saved as a
** directions file (mitigate/steer.h) that the method `vti` (vti.c) reads.
**
** Text: for each demo, the last-position hidden states (0 = embeddings ..
** L) of the prompt followed by a truthful caption minus those with a
** hallucinated caption, with the clean image; flattened over layers, a
** rank-1 PCA over demos; the direction is the principal axis plus the mean
** difference.  Vision: the vision tower's hidden states (every layer and
** token) averaged over `trials` images with a share `mask_ratio` of their
** patches set to the image's per-channel mean, minus the clean image's;
** the same PCA on each of T memory chunks of (layers + 1) * width floats
** (the official code's reshape).  PCA: svd_flip's sign (the largest |u|
** positive), computed through the demos' Gram matrix (Jacobi).
**
**     MlVtiDemo d[2] = {{pixels0, pos0, n_pos0, neg0, n_neg0}, ...};
**     MlVtiFitOptions o = {.trials = 50, .mask_ratio = 0.99, .seed = 1};
**     MlSteer s;
**     if (ml_vti_fit(model, d, 2, &o, &s, &err)) ...
**     ml_steer_write("vti.steer", &s, &err);
*/
#ifndef ML_MITIGATE_VTI_H
#define ML_MITIGATE_VTI_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "mitigate/steer.h"
#include "model/lvlm.h"

typedef struct MlVtiDemo {
    const float *pixels;       /* the clean image (ml_lvlm_pixel_floats floats) */
    const int32_t *truthful;   /* prompt ids (image tokens expanded) + a truthful caption */
    size_t n_truthful;
    const int32_t *hallucinated; /* the same prompt + a hallucinated caption */
    size_t n_hallucinated;
} MlVtiDemo;

typedef struct MlVtiFitOptions {
    int trials;        /* masked images per demo (50) */
    double mask_ratio; /* share of patches masked (0.99) */
    uint64_t seed;     /* which patches */
} MlVtiFitOptions;

/* Directions of n >= 2 demos into *out (ml_steer_free it). */
int ml_vti_fit(MlLvlm *m, const MlVtiDemo *demos, int64_t n, const MlVtiFitOptions *o, MlSteer *out, MlError *err);

/* The mask seed of trial t of demo i, from MlVtiFitOptions.seed. */
uint64_t ml_vti_trial_seed(uint64_t seed, int64_t demo, int trial);

/* dst = clean [channels, side, side] with int(ratio * patches) patches,
   chosen by a seeded random permutation, set to clean's per-channel mean. */
int ml_vti_mask_pixels(float *dst, const float *clean, int channels, int side, int patch, double ratio, uint64_t seed,
                       MlError *err);

/* out[d] = the first principal axis of the rows x [n, d] (sign as
   svd_flip) plus their mean; the axis is 0 when the rows are all equal. */
int ml_vti_pca_direction(const float *x, int64_t n, int64_t d, float *out, MlError *err);

#endif
