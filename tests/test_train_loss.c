/* test_train_loss.c: masked cross-entropy and CLIP InfoNCE (train/loss.h):
   hand-worked values, and every gradient against central differences of a
   double-precision reference written here from the textbook definitions. */
#include <stdint.h>

#include "test.h"
#include "train/loss.h"

static double drand_pm1(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
}

/* ---- cross-entropy ---- */

/* mean over counted rows of log(sum exp x) - x[target], in double. */
static double ref_ce(const double *x, const int32_t *targets, int T, int V) {
    double total = 0;
    int n = 0;
    for (int t = 0; t < T; t++) {
        if (targets[t] < 0) continue;
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, x[t * V + v]);
        for (int v = 0; v < V; v++) sum += exp(x[t * V + v] - mx);
        total += mx + log(sum) - x[t * V + targets[t]];
        n++;
    }
    return total / n;
}

static void test_ce_hand(void) {
    const float logits[4 * 3] = {1, 2, 3, 0, 0, 0, 1000, 0, -1000, 5, 5, 5};
    const int32_t targets[4] = {0, 2, 1, ML_LOSS_IGNORE};
    float losses[4] = {9, 9, 9, 9};
    CHECK(ml_cross_entropy_forward(losses, logits, targets, 4, 3) == 3);
    CHECK_NEAR(losses[0], 3 + log(1 + exp(-1.0) + exp(-2.0)) - 1, 1e-6); /* 2.4076 */
    CHECK_NEAR(losses[1], log(3.0), 1e-6);
    CHECK_NEAR(losses[2], 1000.0, 1e-3); /* no overflow: max-subtracted */
    CHECK(losses[3] == 0);
    /* Backward of a uniform row: 1/3 everywhere, minus 1 at the target; masked rows untouched. */
    float d[12];
    for (int i = 0; i < 12; i++) d[i] = 0.5f;
    ml_cross_entropy_backward(d, logits, targets, 1.0f, 4, 3);
    CHECK_NEAR(d[3], 0.5 + 1.0 / 3, 1e-6);
    CHECK_NEAR(d[5], 0.5 + 1.0 / 3 - 1, 1e-6);
    CHECK(d[9] == 0.5f && d[10] == 0.5f && d[11] == 0.5f);
    CHECK_NEAR(d[6] + d[7] + d[8], 3 * 0.5, 1e-6); /* softmax - onehot sums to zero */
}

static void test_ce_gradient(void) {
    enum { T = 6, V = 9 };
    float logits[T * V], dlogits[T * V];
    double x[T * V];
    const int32_t targets[T] = {3, ML_LOSS_IGNORE, 0, 8, ML_LOSS_IGNORE, 5};
    uint64_t seed = 5;
    for (int i = 0; i < T * V; i++) x[i] = logits[i] = (float)(3.0 * drand_pm1(&seed));
    float losses[T];
    int64_t n = ml_cross_entropy_forward(losses, logits, targets, T, V);
    CHECK(n == 4);
    double mean = 0;
    for (int t = 0; t < T; t++) mean += losses[t];
    mean /= (double)n;
    CHECK_NEAR(mean, ref_ce(x, targets, T, V), 1e-5);
    memset(dlogits, 0, sizeof dlogits);
    ml_cross_entropy_backward(dlogits, logits, targets, 1.0f / (float)n, T, V);
    double worst = 0;
    for (int i = 0; i < T * V; i++) {
        const double h = 1e-5;
        double keep = x[i];
        x[i] = keep + h;
        double up = ref_ce(x, targets, T, V);
        x[i] = keep - h;
        double down = ref_ce(x, targets, T, V);
        x[i] = keep;
        worst = fmax(worst, fabs((up - down) / (2 * h) - dlogits[i]));
    }
    CHECK(worst < 1e-6);
    /* Masked rows get no gradient at all. */
    for (int v = 0; v < V; v++) CHECK(dlogits[1 * V + v] == 0 && dlogits[4 * V + v] == 0);
}

/* ---- InfoNCE ---- */

/* CLIP's loss in double: normalize, scale, mean of row and column cross-entropies. */
static double ref_infonce(const double *img, const double *txt, double logit_scale, int n, int d) {
    double iu[64], tu[64], L[64];
    for (int side = 0; side < 2; side++) {
        const double *x = side ? txt : img;
        double *u = side ? tu : iu;
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int k = 0; k < d; k++) ss += x[i * d + k] * x[i * d + k];
            for (int k = 0; k < d; k++) u[i * d + k] = x[i * d + k] / sqrt(ss);
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double dot = 0;
            for (int k = 0; k < d; k++) dot += iu[i * d + k] * tu[j * d + k];
            L[i * n + j] = exp(logit_scale) * dot;
        }
    double total = 0;
    for (int i = 0; i < n; i++) {
        double rs = 0, cs = 0;
        for (int j = 0; j < n; j++) {
            rs += exp(L[i * n + j]);
            cs += exp(L[j * n + i]);
        }
        total += log(rs) - L[i * n + i] + log(cs) - L[i * n + i];
    }
    return total / (2.0 * n);
}

/* Orthogonal unit pairs at scale 10: each row is softmax([10, 0]), loss log(1 + e^-10). */
static void test_infonce_hand(void) {
    const float img[4] = {1, 0, 0, 1}, txt[4] = {2, 0, 0, 3};
    MlInfoNceActs a;
    MlError err = {0};
    CHECK_OK(ml_infonce_acts_alloc(&a, 2, 2, &err), &err);
    float loss = ml_infonce_forward(&a, img, txt, logf(10.0f));
    CHECK_NEAR(loss, log1p(exp(-10.0)), 1e-9);
    CHECK_NEAR(a.logits[0], 10, 1e-5);
    CHECK_NEAR(a.logits[1], 0, 1e-6);
    CHECK_NEAR(a.txt_len[1], 3, 1e-6);
    /* Swapping the towers changes nothing (the loss is symmetric). */
    CHECK_NEAR(ml_infonce_forward(&a, txt, img, logf(10.0f)), loss, 1e-9);
    ml_infonce_acts_free(&a);
    CHECK(ml_infonce_acts_alloc(&a, 0, 4, &err) == ML_ERR_ARG);
}

static void test_infonce_gradient(void) {
    enum { N = 5, D = 4 };
    float img[N * D], txt[N * D], dimg[N * D], dtxt[N * D];
    double xi[N * D], xt[N * D];
    uint64_t seed = 9;
    for (int i = 0; i < N * D; i++) {
        xi[i] = img[i] = (float)drand_pm1(&seed);
        xt[i] = txt[i] = (float)(drand_pm1(&seed) + (i % D == i / D % D ? 0.8 : 0)); /* some alignment */
    }
    const float ls = 1.3f;
    MlInfoNceActs a;
    MlError err = {0};
    CHECK_OK(ml_infonce_acts_alloc(&a, N, D, &err), &err);
    float loss = ml_infonce_forward(&a, img, txt, ls);
    CHECK_NEAR(loss, ref_infonce(xi, xt, ls, N, D), 1e-5);
    memset(dimg, 0, sizeof dimg);
    memset(dtxt, 0, sizeof dtxt);
    float dls = 0;
    const float dloss = 0.7f;
    ml_infonce_backward(dimg, dtxt, &dls, &a, dloss);
    const double h = 1e-6;
    double worst = 0;
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < N * D; i++) {
            double *x = side ? xt : xi, keep = x[i];
            x[i] = keep + h;
            double up = ref_infonce(xi, xt, ls, N, D);
            x[i] = keep - h;
            double down = ref_infonce(xi, xt, ls, N, D);
            x[i] = keep;
            double fd = dloss * (up - down) / (2 * h), got = side ? dtxt[i] : dimg[i];
            worst = fmax(worst, fabs(fd - got));
        }
    CHECK(worst < 2e-5);
    double fd_ls = dloss * (ref_infonce(xi, xt, ls + h, N, D) - ref_infonce(xi, xt, ls - h, N, D)) / (2 * h);
    CHECK_NEAR(dls, fd_ls, 2e-5);
    /* Gradients accumulate: a second backward doubles them. */
    float first = dimg[3], first_ls = dls;
    ml_infonce_backward(dimg, dtxt, &dls, &a, dloss);
    CHECK_NEAR(dimg[3], 2 * first, 1e-6);
    CHECK_NEAR(dls, 2 * first_ls, 1e-6);
    ml_infonce_acts_free(&a);
}

int main(void) {
    RUN(test_ce_hand);
    RUN(test_ce_gradient);
    RUN(test_infonce_hand);
    RUN(test_infonce_gradient);
    return test_summary("test_train_loss");
}
