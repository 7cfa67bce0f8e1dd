/*
** metrics.h: representation alignment between two views of the same N items
** (image and caption features of one layer pair), as defined in
** the team's reference notes (METRICS.md) after platonic-rep's metrics.py.
**
** X is n x dx and Y is n x dy, float32, row-major; row i of each describes
** pair i.  ml_align_scores L2-normalises every row first (the platonic-rep
** pipeline) and then computes:
**   cos_matched, cos_mismatched  mean cos(x_i, y_i) and mean over i != j of
**                                cos(x_i, y_j) (needs dx == dy, else NaN)
**   mutual_knn    mean_i |N_X(i) ∩ N_Y(i)| / k, N = the k most cosine-similar
**                 other rows, ties to the lower index (random ≈ k/(n-1))
**   cka_linear    HSIC(K,L) / (sqrt(HSIC(K,K) HSIC(L,L)) + 1e-6), K = X Xᵀ,
**                 biased HSIC = tr(K H L H), H = I - 11ᵀ/n
**   cka_rbf       the same with K_ij = exp(-|x_i - x_j|² / (2σ²)); σ = 1 as in
**                 platonic-rep, or σ <= 0: each kernel's median heuristic
**                 σ² = lower median of its non-zero squared distances
**                 (torch.median over the full matrix, Maniparambil et al.)
**   cka_unbiased  linear kernels, HSIC_1 of Song et al. 2012 (zero diagonals):
**                 [Σ K̃∘L̃ᵀ + 1ᵀK̃1·1ᵀL̃1/((n-1)(n-2)) - 2/(n-2)·1ᵀK̃L̃1] / (n(n-3))
**   cknna         linear kernels masked to mutual top-k neighbours (per row,
**                 diagonal excluded), unbiased HSIC of the masked kernels;
**                 the self terms use each kernel's own mask
**   modality_gap  |mean(x̂) - mean(ŷ)| of the normalised rows (needs dx == dy)
** Unbiased CKA and CKNNA need n >= 4; k must be in [1, n-1] (CKNNA: >= 2).
**
**     MlAlignOptions o = ML_ALIGN_DEFAULTS;       // k = 10, sigma = 1
**     MlAlignScores s; MlError err = {0};
**     if (ml_align_scores(X, Y, n, dx, dy, &o, &s, &err)) ...
**
** The building blocks work in double on the matrices as given (no
** normalisation), for callers that prepare features themselves.
*/
#ifndef ML_ALIGN_METRICS_H
#define ML_ALIGN_METRICS_H

#include <stdint.h>

#include "core/error.h"

typedef struct MlAlignOptions {
    int k;        /* neighbours for mutual k-NN and CKNNA */
    double sigma; /* RBF width; <= 0 selects the median heuristic */
} MlAlignOptions;

#define ML_ALIGN_DEFAULTS ((MlAlignOptions){.k = 10, .sigma = 1.0})

typedef struct MlAlignScores {
    double cos_matched, cos_mismatched;
    double mutual_knn;
    double cka_linear, cka_rbf, cka_unbiased, cknna;
    double modality_gap;
} MlAlignScores;

int ml_align_scores(const float *X, const float *Y, int64_t n, int64_t dx, int64_t dy, const MlAlignOptions *opt,
                    MlAlignScores *out, MlError *err);

/* Scales each row to unit length (zero rows stay zero). */
void ml_align_normalize_rows(double *F, int64_t n, int64_t d);

/* platonic-rep's remove_outliers: per row the q-quantile of |x| (linear
   interpolation, as torch.quantile), averaged over rows, then every value
   clamped to ± that.  q = 1 leaves F unchanged. */
void ml_align_clamp_outliers(float *F, int64_t n, int64_t d, double q);

/* Gram matrices (n x n, caller-allocated).  Linear: K = F Fᵀ.
   RBF: exp(-d²/(2σ²)); sigma <= 0 uses the median heuristic. */
void ml_align_gram_linear(const double *F, int64_t n, int64_t d, double *K);
int ml_align_gram_rbf(const double *F, int64_t n, int64_t d, double sigma, double *K, MlError *err);

double ml_align_hsic_biased(const double *K, const double *L, int64_t n);
double ml_align_hsic_unbiased(const double *K, const double *L, int64_t n); /* n >= 4 */
/* HSIC_kl / (sqrt(HSIC_kk HSIC_ll) + 1e-6) */
double ml_align_cka(const double *K, const double *L, int64_t n, int unbiased);

/* The k nearest rows of each row by the similarity S (n x n), diagonal
   excluded, best first, ties to the lower index: idx is n x k. */
void ml_align_knn(const double *S, int64_t n, int k, int *idx);
double ml_align_mutual_knn(const int *knn_a, const int *knn_b, int64_t n, int k);
/* CKNNA from linear kernels K and L (k in [2, n-1], n >= 4); NaN when out of memory. */
double ml_align_cknna(const double *K, const double *L, int64_t n, int k);

#endif
