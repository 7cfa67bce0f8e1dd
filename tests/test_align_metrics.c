/* test_align_metrics.c: alignment metrics against hand-worked values, the
   identities of METRICS.md, and the NumPy reference (tests/reference/align_metrics.py). */
#include "test.h"

#include "align/metrics.h"
#include "core/json.h"
#include "core/npy.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void) { return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform()); }

static float *random_matrix(int64_t n, int64_t d) {
    float *m = malloc((size_t)(n * d) * sizeof *m);
    for (int64_t i = 0; m && i < n * d; i++) m[i] = (float)gauss();
    return m;
}

/* 4 points: X on the axes, Y two pairs of equal rows.  Worked by hand:
   K = XXᵀ is already centred, HSIC(K,K) = 8; HLH = L - 1/2, HSIC(L,L) = 4,
   HSIC(K,L) = 4, so CKA = 4/√32 = 1/√2.  Unbiased (m = 4): HSIC(K,L) = 1/3,
   HSIC(K,K) = HSIC(L,L) = 2/3, CKA = 1/2.  k = 1 neighbours (ties to the lower
   index): X 1,0,1,0 vs Y 1,0,3,2: mutual kNN 1/2.  Cosines: matched
   (1 + 0 + 0 - 1)/4 = 0, mismatched 0; centroids 0 and (1/2, 1/2): gap 1/√2. */
static void test_hand_values(void) {
    double X[8] = {1, 0, 0, 1, -1, 0, 0, -1}, Y[8] = {1, 0, 1, 0, 0, 1, 0, 1}, K[16], L[16];
    ml_align_gram_linear(X, 4, 2, K);
    ml_align_gram_linear(Y, 4, 2, L);
    CHECK(K[0] == 1 && K[2] == -1 && K[1] == 0 && L[1] == 1 && L[2] == 0);
    CHECK_NEAR(ml_align_hsic_biased(K, K, 4), 8, 1e-12);
    CHECK_NEAR(ml_align_hsic_biased(L, L, 4), 4, 1e-12);
    CHECK_NEAR(ml_align_hsic_biased(K, L, 4), 4, 1e-12);
    CHECK_NEAR(ml_align_cka(K, L, 4, 0), 4 / (sqrt(32) + 1e-6), 1e-12);
    CHECK_NEAR(ml_align_hsic_unbiased(K, L, 4), 1.0 / 3, 1e-12);
    CHECK_NEAR(ml_align_hsic_unbiased(K, K, 4), 2.0 / 3, 1e-12);
    CHECK_NEAR(ml_align_hsic_unbiased(L, L, 4), 2.0 / 3, 1e-12);
    CHECK_NEAR(ml_align_cka(K, L, 4, 1), (1.0 / 3) / (2.0 / 3 + 1e-6), 1e-12);
    int ka[4], kb[4];
    ml_align_knn(K, 4, 1, ka);
    ml_align_knn(L, 4, 1, kb);
    CHECK(ka[0] == 1 && ka[1] == 0 && ka[2] == 1 && ka[3] == 0);
    CHECK(kb[0] == 1 && kb[1] == 0 && kb[2] == 3 && kb[3] == 2);
    CHECK_NEAR(ml_align_mutual_knn(ka, kb, 4, 1), 0.5, 1e-15);
    float xf[8], yf[8];
    for (int i = 0; i < 8; i++) xf[i] = (float)X[i], yf[i] = (float)Y[i];
    MlAlignOptions o = {.k = 1, .sigma = 1.0};
    MlAlignScores s;
    MlError err = {0};
    CHECK_OK(ml_align_scores(xf, yf, 4, 2, 2, &o, &s, &err), &err);
    CHECK_NEAR(s.cka_linear, 4 / (sqrt(32) + 1e-6), 1e-12);
    CHECK_NEAR(s.cka_unbiased, (1.0 / 3) / (2.0 / 3 + 1e-6), 1e-12);
    CHECK_NEAR(s.mutual_knn, 0.5, 1e-15);
    CHECK_NEAR(s.cos_matched, 0, 1e-15);
    CHECK_NEAR(s.cos_mismatched, 0, 1e-15);
    CHECK_NEAR(s.modality_gap, sqrt(0.5), 1e-15);
    CHECK(isnan(s.cknna)); /* k = 1: CKNNA needs k >= 2 */
}

/* Points 0, 1, 3 on a line: squared distances 1, 4, 9.  σ = 1 gives
   exp(-d²/2); the median heuristic takes the middle of {1, 4, 9}: σ² = 4. */
static void test_rbf_kernel(void) {
    double F[3] = {0, 1, 3}, K[9];
    MlError err = {0};
    CHECK_OK(ml_align_gram_rbf(F, 3, 1, 1.0, K, &err), &err);
    CHECK_NEAR(K[1], exp(-0.5), 1e-15);
    CHECK_NEAR(K[2], exp(-4.5), 1e-15);
    CHECK_NEAR(K[5], exp(-2.0), 1e-15);
    CHECK(K[0] == 1 && K[4] == 1);
    CHECK_OK(ml_align_gram_rbf(F, 3, 1, 0, K, &err), &err);
    CHECK_NEAR(K[1], exp(-1.0 / 8), 1e-15);
    CHECK_NEAR(K[2], exp(-9.0 / 8), 1e-15);
    double same[4] = {2, 2, 2, 2}, K4[16];
    CHECK(ml_align_gram_rbf(same, 4, 1, 0, K4, &err) == ML_ERR_RANGE);
}

static void scores(const float *X, const float *Y, int64_t n, int64_t dx, int64_t dy, int k, double sigma, MlAlignScores *s) {
    MlError err = {0};
    MlAlignOptions o = {.k = k, .sigma = sigma};
    CHECK_OK(ml_align_scores(X, Y, n, dx, dy, &o, s, &err), &err);
}

/* A = B gives 1; an orthogonal map of X changes nothing. */
static void test_identities(void) {
    int64_t n = 60, d = 16;
    float *X = random_matrix(n, d), *Y = random_matrix(n, d), *XQ = malloc((size_t)(n * d) * sizeof *XQ);
    for (int64_t i = 0; i < n * d; i++) Y[i] = 0.5f * Y[i] + X[i]; /* related, not equal */
    MlAlignScores same, base, turned;
    scores(X, X, n, d, d, 10, 1.0, &same);
    CHECK_NEAR(same.cka_linear, 1, 1e-4);
    CHECK_NEAR(same.cka_rbf, 1, 1e-4);
    CHECK_NEAR(same.cka_unbiased, 1, 1e-4);
    CHECK_NEAR(same.cknna, 1, 1e-4);
    CHECK(same.mutual_knn == 1.0);
    CHECK_NEAR(same.cos_matched, 1, 1e-12);
    CHECK_NEAR(same.modality_gap, 0, 1e-12);
    /* Q = product of 3 Householder reflections I - 2vvᵀ/|v|² */
    double Q[16 * 16];
    for (int i = 0; i < 16 * 16; i++) Q[i] = (i % 17) == 0;
    for (int r = 0; r < 3; r++) {
        double v[16], vv = 0, P[16 * 16];
        for (int i = 0; i < 16; i++) v[i] = gauss(), vv += v[i] * v[i];
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) {
                double acc = 0;
                for (int t = 0; t < 16; t++) acc += Q[i * 16 + t] * ((t == j) - 2 * v[t] * v[j] / vv);
                P[i * 16 + j] = acc;
            }
        memcpy(Q, P, sizeof Q);
    }
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < 16; j++) {
            double acc = 0;
            for (int t = 0; t < 16; t++) acc += X[i * d + t] * Q[t * 16 + j];
            XQ[i * d + j] = (float)acc;
        }
    scores(X, Y, n, d, d, 10, 1.0, &base);
    scores(XQ, Y, n, d, d, 10, 1.0, &turned);
    CHECK(base.cka_linear > 0.5 && base.cka_linear < 0.999);
    CHECK_NEAR(turned.cka_linear, base.cka_linear, 1e-6);
    CHECK_NEAR(turned.cka_rbf, base.cka_rbf, 1e-6);
    CHECK_NEAR(turned.cka_unbiased, base.cka_unbiased, 1e-6);
    CHECK_NEAR(turned.cknna, base.cknna, 1e-6);
    CHECK_NEAR(turned.mutual_knn, base.mutual_knn, 1e-12);
    free(X);
    free(Y);
    free(XQ);
}

/* Independent features: each row's neighbour sets are independent draws, so
   the expected mutual kNN is k/(n-1) = 10/399 (sd about 0.002 here). */
static void test_random_knn(void) {
    int64_t n = 400;
    float *X = random_matrix(n, 32), *Y = random_matrix(n, 48);
    MlAlignScores s;
    scores(X, Y, n, 32, 48, 10, 1.0, &s);
    CHECK_NEAR(s.mutual_knn, 10.0 / 399, 0.008);
    CHECK(isnan(s.cos_matched) && isnan(s.modality_gap)); /* dims differ */
    CHECK(fabs(s.cka_unbiased) < 0.05);
    free(X);
    free(Y);
}

static double field(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void compare_with_numpy(int k, double sigma) {
    int64_t n = 50, d = 12;
    float *X = random_matrix(n, d), *Y = random_matrix(n, d);
    for (int64_t i = 0; i < n * d; i++) Y[i] = 0.8f * Y[i] + X[(i * 7) % (n * d)] + 0.3f * X[i];
    const char *dir = test_tmpdir("test_align_metrics");
    char xp[600], yp[600], out[600], cmd[2400];
    snprintf(xp, sizeof xp, "%s/x.npy", dir);
    snprintf(yp, sizeof yp, "%s/y.npy", dir);
    snprintf(out, sizeof out, "%s/ref.json", dir);
    MlError err = {0};
    int64_t shape[2] = {n, d};
    CHECK_OK(ml_npy_write_f32(xp, X, shape, 2, &err), &err);
    CHECK_OK(ml_npy_write_f32(yp, Y, shape, 2, &err), &err);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/reference/align_metrics.py '%s' '%s' %d %.17g > '%s'", xp, yp, k, sigma,
             out);
    CHECK(system(cmd) == 0);
    cJSON *ref = NULL;
    CHECK_OK(ml_json_load(out, &ref, &err), &err);
    MlAlignScores s;
    scores(X, Y, n, d, d, k, sigma, &s);
    if (ref) {
        CHECK_NEAR(s.mutual_knn, field(ref, "mutual_knn"), 1e-12);
        CHECK_NEAR(s.cka_linear, field(ref, "cka_linear"), 1e-10);
        CHECK_NEAR(s.cka_rbf, field(ref, "cka_rbf"), 1e-10);
        CHECK_NEAR(s.cka_unbiased, field(ref, "cka_unbiased"), 1e-10);
        CHECK_NEAR(s.cknna, field(ref, "cknna"), 1e-10);
        CHECK_NEAR(s.cos_matched, field(ref, "cos_matched"), 1e-12);
        CHECK_NEAR(s.cos_mismatched, field(ref, "cos_mismatched"), 1e-12);
        CHECK_NEAR(s.modality_gap, field(ref, "modality_gap"), 1e-12);
        CHECK(s.cknna > 0.1 && s.mutual_knn > 0.1); /* a related pair, not noise */
    }
    cJSON_Delete(ref);
    free(X);
    free(Y);
}

static void test_numpy_reference(void) {
    compare_with_numpy(5, 1.0);
    compare_with_numpy(10, 0); /* median heuristic */
}

static void test_clamp_and_errors(void) {
    /* row quantiles (q = 0.75, linear): |1 2 3 4 100| -> 4, zeros -> 0; mean 2 */
    float F[10] = {1, -2, 3, 4, -100, 0, 0, 0, 0, 0};
    ml_align_clamp_outliers(F, 2, 5, 0.75);
    CHECK(F[0] == 1 && F[1] == -2 && F[2] == 2 && F[3] == 2 && F[4] == -2);
    float X[6] = {1, 0, 0, 1, 1, 1};
    MlAlignScores s;
    MlError err = {0};
    MlAlignOptions o = {.k = 3, .sigma = 1};
    CHECK(ml_align_scores(X, X, 3, 2, 2, &o, &s, &err) == ML_ERR_ARG && strstr(err.msg, "k = 3"));
    CHECK(ml_align_scores(X, X, 1, 2, 2, NULL, &s, &err) == ML_ERR_SHAPE);
}

int main(void) {
    RUN(test_hand_values);
    RUN(test_rbf_kernel);
    RUN(test_identities);
    RUN(test_random_knn);
    RUN(test_numpy_reference);
    RUN(test_clamp_and_errors);
    return test_summary("test_align_metrics");
}
