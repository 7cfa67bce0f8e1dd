/* metrics.c: kernels, HSIC, CKA, CKNNA, mutual k-NN, cosine and modality gap. */
#include "align/metrics.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void ml_align_normalize_rows(double *F, int64_t n, int64_t d) {
    for (int64_t i = 0; i < n; i++) {
        double *r = F + i * d, s = 0;
        for (int64_t j = 0; j < d; j++) s += r[j] * r[j];
        if (s > 0) {
            double inv = 1.0 / sqrt(s);
            for (int64_t j = 0; j < d; j++) r[j] *= inv;
        }
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void ml_align_clamp_outliers(float *F, int64_t n, int64_t d, double q) {
    if (q >= 1 || n <= 0 || d <= 0) return;
    double *row = malloc((size_t)d * sizeof *row);
    if (!row) return;
    double mean = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) row[j] = fabs((double)F[i * d + j]);
        qsort(row, (size_t)d, sizeof *row, cmp_double);
        double pos = q * (double)(d - 1);
        int64_t lo = (int64_t)floor(pos);
        double frac = pos - (double)lo, v = row[lo];
        if (lo + 1 < d) v += (row[lo + 1] - row[lo]) * frac;
        mean += v;
    }
    free(row);
    float c = (float)(mean / (double)n);
    for (int64_t i = 0; i < n * d; i++) F[i] = F[i] > c ? c : F[i] < -c ? -c : F[i];
}

void ml_align_gram_linear(const double *F, int64_t n, int64_t d, double *K) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)d, 1.0, F, (int)d, 0.0, K, (int)n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) K[i * n + j] = K[j * n + i];
}

int ml_align_gram_rbf(const double *F, int64_t n, int64_t d, double sigma, double *K, MlError *err) {
    ml_align_gram_linear(F, n, d, K);
    double *sq = malloc((size_t)n * sizeof *sq);
    if (!sq) return ml_error_set(err, ML_ERR_NOMEM, "RBF kernel: out of memory for %lld rows", (long long)n);
    for (int64_t i = 0; i < n; i++) sq[i] = K[i * n + i];
    /* squared distances, in place */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double v = i == j ? 0 : sq[i] + sq[j] - 2 * K[i * n + j];
            K[i * n + j] = v > 0 ? v : 0;
        }
    free(sq);
    double s2 = sigma * sigma;
    if (sigma <= 0) {
        /* torch.median of the non-zero entries of the symmetric matrix: each
           pair appears twice, so this is the lower median of the pairs */
        size_t p = 0, pairs = (size_t)n * (size_t)(n - 1) / 2;
        double *v = malloc((pairs ? pairs : 1) * sizeof *v);
        if (!v) return ml_error_set(err, ML_ERR_NOMEM, "RBF kernel: out of memory for the median");
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++)
                if (K[i * n + j] != 0) v[p++] = K[i * n + j];
        if (!p) {
            free(v);
            return ml_error_set(err, ML_ERR_RANGE, "RBF kernel: all rows are equal, the median heuristic has no width");
        }
        qsort(v, p, sizeof *v, cmp_double);
        s2 = v[(p - 1) / 2];
        free(v);
    }
    for (int64_t i = 0; i < n * n; i++) K[i] = exp(-K[i] / (2 * s2));
    return ML_OK;
}

double ml_align_hsic_biased(const double *K, const double *L, int64_t n) {
    double *r = calloc((size_t)n, sizeof *r), *c = calloc((size_t)n, sizeof *c), t = 0;
    if (!r || !c) {
        free(r);
        free(c);
        return NAN;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            r[i] += K[i * n + j];
            c[j] += K[i * n + j];
        }
    for (int64_t i = 0; i < n; i++) {
        t += r[i];
        r[i] /= (double)n;
        c[i] /= (double)n;
    }
    t /= (double)n * (double)n;
    double s = 0; /* tr(HKH L) = Σ_ij (K_ij - r_i - c_j + t) L_ji */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) s += (K[i * n + j] - r[i] - c[j] + t) * L[j * n + i];
    free(r);
    free(c);
    return s;
}

double ml_align_hsic_unbiased(const double *K, const double *L, int64_t n) {
    if (n < 4) return NAN;
    double *kcol = calloc((size_t)n, sizeof *kcol), *lrow = calloc((size_t)n, sizeof *lrow);
    if (!kcol || !lrow) {
        free(kcol);
        free(lrow);
        return NAN;
    }
    double t1 = 0, sk = 0, sl = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            if (i == j) continue; /* K̃, L̃: zero diagonals */
            double k = K[i * n + j], l = L[i * n + j];
            t1 += k * L[j * n + i];
            sk += k;
            sl += l;
            kcol[j] += k;  /* (1ᵀK̃)_j */
            lrow[i] += l;  /* (L̃1)_i */
        }
    double t3 = 0; /* 1ᵀ K̃ L̃ 1 = Σ_j (1ᵀK̃)_j (L̃1)_j */
    for (int64_t j = 0; j < n; j++) t3 += kcol[j] * lrow[j];
    free(kcol);
    free(lrow);
    double m = (double)n;
    return (t1 + sk * sl / ((m - 1) * (m - 2)) - 2 * t3 / (m - 2)) / (m * (m - 3));
}

double ml_align_cka(const double *K, const double *L, int64_t n, int unbiased) {
    double (*hsic)(const double *, const double *, int64_t) = unbiased ? ml_align_hsic_unbiased : ml_align_hsic_biased;
    return hsic(K, L, n) / (sqrt(hsic(K, K, n) * hsic(L, L, n)) + 1e-6);
}

void ml_align_knn(const double *S, int64_t n, int k, int *idx) {
    for (int64_t i = 0; i < n; i++) {
        const double *s = S + i * n;
        int *row = idx + i * k, have = 0;
        for (int64_t j = 0; j < n; j++) {
            if (j == i) continue;
            double v = s[j];
            if (have == k && !(v > s[row[k - 1]])) continue;
            /* insertion below every value >= v, so earlier indices win ties */
            int pos = have < k ? have++ : k - 1;
            while (pos > 0 && v > s[row[pos - 1]]) {
                row[pos] = row[pos - 1];
                pos--;
            }
            row[pos] = (int)j;
        }
    }
}

double ml_align_mutual_knn(const int *a, const int *b, int64_t n, int k) {
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        int common = 0;
        for (int x = 0; x < k; x++)
            for (int y = 0; y < k; y++) common += a[i * k + x] == b[i * k + y];
        total += (double)common / k;
    }
    return total / (double)n;
}

/* Keeps K_ij where both masks are set (mask rows from the knn lists). */
static void masked(const double *K, const int *knn_a, const int *knn_b, int64_t n, int k, double *out) {
    memset(out, 0, (size_t)n * (size_t)n * sizeof *out);
    for (int64_t i = 0; i < n; i++)
        for (int x = 0; x < k; x++) {
            int j = knn_a[i * k + x], both = 0;
            for (int y = 0; y < k && !both; y++) both = knn_b[i * k + y] == j;
            if (both) out[i * n + j] = K[i * n + j];
        }
}

double ml_align_cknna(const double *K, const double *L, int64_t n, int k) {
    if (n < 4 || k < 2 || k > n - 1) return NAN;
    size_t nn = (size_t)n * (size_t)n;
    int *ka = malloc((size_t)n * (size_t)k * sizeof *ka), *kb = malloc((size_t)n * (size_t)k * sizeof *kb);
    double *A = malloc(nn * sizeof *A), *B = malloc(nn * sizeof *B);
    double r = NAN;
    if (ka && kb && A && B) {
        ml_align_knn(K, n, k, ka);
        ml_align_knn(L, n, k, kb);
        masked(K, ka, kb, n, k, A);
        masked(L, ka, kb, n, k, B);
        double kl = ml_align_hsic_unbiased(A, B, n);
        masked(K, ka, ka, n, k, A);
        double kk = ml_align_hsic_unbiased(A, A, n);
        masked(L, kb, kb, n, k, B);
        double ll = ml_align_hsic_unbiased(B, B, n);
        r = kl / (sqrt(kk * ll) + 1e-6);
    }
    free(ka);
    free(kb);
    free(A);
    free(B);
    return r;
}

static double *to_unit_rows(const float *X, int64_t n, int64_t d) {
    double *F = malloc((size_t)n * (size_t)d * sizeof *F);
    if (!F) return NULL;
    for (int64_t i = 0; i < n * d; i++) F[i] = (double)X[i];
    ml_align_normalize_rows(F, n, d);
    return F;
}

/* Mean matched / mismatched cosine and the centroid gap of unit rows. */
static void cosine_and_gap(const double *A, const double *B, int64_t n, int64_t d, MlAlignScores *s) {
    double matched = 0, gap2 = 0, cross = 0;
    for (int64_t i = 0; i < n; i++) {
        double dot = 0;
        for (int64_t j = 0; j < d; j++) dot += A[i * d + j] * B[i * d + j];
        matched += dot;
    }
    for (int64_t j = 0; j < d; j++) {
        double sa = 0, sb = 0;
        for (int64_t i = 0; i < n; i++) {
            sa += A[i * d + j];
            sb += B[i * d + j];
        }
        cross += sa * sb; /* Σ_ij a_i·b_j, all pairs */
        double g = (sa - sb) / (double)n;
        gap2 += g * g;
    }
    s->cos_matched = matched / (double)n;
    s->cos_mismatched = (cross - matched) / ((double)n * (double)(n - 1));
    s->modality_gap = sqrt(gap2);
}

int ml_align_scores(const float *X, const float *Y, int64_t n, int64_t dx, int64_t dy, const MlAlignOptions *opt,
                    MlAlignScores *out, MlError *err) {
    MlAlignOptions o = opt ? *opt : ML_ALIGN_DEFAULTS;
    if (n < 2 || dx < 1 || dy < 1)
        return ml_error_set(err, ML_ERR_SHAPE, "alignment: need at least 2 pairs and 1 feature (got %lld x %lld, %lld x %lld)",
                            (long long)n, (long long)dx, (long long)n, (long long)dy);
    if (o.k < 1 || o.k > n - 1)
        return ml_error_set(err, ML_ERR_ARG, "alignment: k = %d must be in [1, %lld]", o.k, (long long)(n - 1));
    /* BLAS takes int sizes, and n x n kernels of more than 46340 rows would not fit an int index */
    int64_t d = dx > dy ? dx : dy;
    if (n > 46340 || d >= (int64_t)1 << 31 || (uint64_t)n * (uint64_t)d > ((uint64_t)1 << 40))
        return ml_error_set(err, ML_ERR_RANGE, "alignment: %lld pairs x %lld features is too large", (long long)n,
                            (long long)d);
    size_t nn = (size_t)n * (size_t)n;
    double *A = to_unit_rows(X, n, dx), *B = to_unit_rows(Y, n, dy);
    double *K = malloc(nn * sizeof *K), *L = malloc(nn * sizeof *L);
    int *ka = malloc((size_t)n * (size_t)o.k * sizeof *ka), *kb = malloc((size_t)n * (size_t)o.k * sizeof *kb);
    int rc = ML_OK;
    if (!A || !B || !K || !L || !ka || !kb) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "alignment: out of memory for %lld pairs", (long long)n);
        goto done;
    }
    out->cos_matched = out->cos_mismatched = out->modality_gap = NAN;
    if (dx == dy) cosine_and_gap(A, B, n, dx, out);
    ml_align_gram_linear(A, n, dx, K);
    ml_align_gram_linear(B, n, dy, L);
    ml_align_knn(K, n, o.k, ka);
    ml_align_knn(L, n, o.k, kb);
    out->mutual_knn = ml_align_mutual_knn(ka, kb, n, o.k);
    out->cka_linear = ml_align_cka(K, L, n, 0);
    out->cka_unbiased = n >= 4 ? ml_align_cka(K, L, n, 1) : NAN;
    out->cknna = ml_align_cknna(K, L, n, o.k);
    if ((rc = ml_align_gram_rbf(A, n, dx, o.sigma, K, err))) goto done;
    if ((rc = ml_align_gram_rbf(B, n, dy, o.sigma, L, err))) goto done;
    out->cka_rbf = ml_align_cka(K, L, n, 0);
done:
    free(A);
    free(B);
    free(K);
    free(L);
    free(ka);
    free(kb);
    return rc;
}
