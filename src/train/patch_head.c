/* train/patch_head.c: the per-patch attribute head (see patch_head.h). */
#include "train/patch_head.h"

#include <math.h>

static int classes(const int *sizes, int n_groups) {
    int C = 0;
    for (int g = 0; g < n_groups; g++) C += sizes[g] + 1;
    return C;
}

size_t ml_patch_head_size(int64_t Dv, const int *sizes, int n_groups) {
    int C = classes(sizes, n_groups);
    return C > ML_PATCH_HEAD_MAX_CLASSES ? 0 : (size_t)C * (size_t)(Dv + 1);
}

/* Softmax CE over logits[0..n) for class y; turns logits into dlogits * scale. */
static double softmax_ce(float *logits, int n, int y, float scale, int *right) {
    float mx = logits[0];
    int arg = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i], arg = i;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)(logits[i] - mx));
    double loss = log(sum) - (double)(logits[y] - mx);
    for (int i = 0; i < n; i++) {
        double p = exp((double)(logits[i] - mx)) / sum;
        logits[i] = (float)(scale * (p - (i == y)));
    }
    *right = arg == y;
    return loss;
}

double ml_patch_head_run(const float *P, float *G, const float *feats, int64_t n_tok, int64_t Dv, const int *sizes,
                         int n_groups, const int *lab, float scale, float *dfeat, int64_t *correct) {
    const int C = classes(sizes, n_groups);
    if (C > ML_PATCH_HEAD_MAX_CLASSES) return NAN;
    const float *W = P, *b = P + (size_t)C * Dv;
    float *gW = G, *gb = G + (size_t)C * Dv;
    float logits[ML_PATCH_HEAD_MAX_CLASSES];
    double total = 0.0;
    const float s = scale / (float)n_tok;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *f = feats + t * Dv;
        for (int c = 0; c < C; c++) {
            float a = b[c];
            for (int64_t j = 0; j < Dv; j++) a += W[c * Dv + j] * f[j];
            logits[c] = a;
        }
        for (int g = 0, at = 0; g < n_groups; at += sizes[g] + 1, g++) {
            int right;
            total += softmax_ce(logits + at, sizes[g] + 1, lab[t * n_groups + g] + 1, s, &right);
            *correct += right;
        }
        for (int c = 0; c < C; c++) {
            const float g = logits[c];
            gb[c] += g;
            for (int64_t j = 0; j < Dv; j++) {
                gW[c * Dv + j] += g * f[j];
                dfeat[t * Dv + j] += g * W[c * Dv + j];
            }
        }
    }
    return total / (double)n_tok;
}
