/* test_train_optim.c: AdamW, the schedule and clipping (train/optim.h) against
   NumPy-computed steps, hand-worked values, a double-precision textbook
   AdamW (llm.c's formulation, not PyTorch's operation order the code uses),
   and thread-count invariance. */
#include <omp.h>
#include <stdint.h>

#include "test.h"
#include "train/optim.h"

/* Deterministic pseudo-random floats in [-1, 1). */
static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

/* Three steps on two parameters, the first with weight decay, the second
   without; rates 0.01, 0.02, 0.005.  Expected values from NumPy (float64):
     p=[.5,-1]; m=v=0; b1,b2,eps,wd=.9,.999,1e-8,.1; decay=[1,0]
     for t,(g,lr) in enumerate(zip([[.1,-.2],[-.3,.05],[.2,.4]],[.01,.02,.005]),1):
       m=b1*m+(1-b1)*g; v=b2*v+(1-b2)*g*g; mh=m/(1-b1**t); vh=v/(1-b2**t)
       p=p-lr*(mh/(sqrt(vh)+eps)+wd*decay*p)
   Step 1 by hand: m/(1-b1) = g and v/(1-b2) = g^2, so each parameter moves by
   lr * g/|g| (up to eps) plus lr * wd * p: 0.5 - 0.01 * (1 + 0.05) = 0.4895. */
static void test_adamw_three_steps(void) {
    MlParamBlock b;
    MlError err = {0};
    CHECK_OK(ml_param_block_alloc(&b, 2, &err), &err);
    b.params[0] = 0.5f;
    b.params[1] = -1.0f;
    const float grads[3][2] = {{0.1f, -0.2f}, {-0.3f, 0.05f}, {0.2f, 0.4f}};
    const float lrs[3] = {0.01f, 0.02f, 0.005f};
    const double want_p[3][2] = {{0.4895000009999999, -0.9900000004999999},
                                 {0.4984047972220132, -0.9806106377200894},
                                 {0.49806165635569566, -0.9826197606254587}};
    const double want_m3[2] = {0.0011000000000000038, 0.028299999999999992};
    const double want_v3[2] = {0.0001398900100000001, 0.0002024175400000002};
    MlAdamWConfig cfg = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1};
    MlParamGroup groups[2] = {{0, 1, 1}, {1, 1, 0}};
    for (int t = 0; t < 3; t++) {
        b.grads[0] = grads[t][0];
        b.grads[1] = grads[t][1];
        ml_adamw_step(&cfg, lrs[t], t + 1, groups, 2, &b);
        CHECK_NEAR(b.params[0], want_p[t][0], 2e-6);
        CHECK_NEAR(b.params[1], want_p[t][1], 2e-6);
    }
    for (int i = 0; i < 2; i++) {
        CHECK_NEAR(b.m[i], want_m3[i], 1e-8);
        CHECK_NEAR(b.v[i], want_v3[i], 1e-10);
    }
    ml_param_block_free(&b);
}

/* With zero gradients only decay acts: p * (1 - lr * wd) in decay groups, nothing elsewhere. */
static void test_decay_groups(void) {
    MlParamBlock b;
    MlError err = {0};
    CHECK_OK(ml_param_block_alloc(&b, 6, &err), &err);
    for (int i = 0; i < 6; i++) b.params[i] = (float)(i + 1);
    MlAdamWConfig cfg = ml_adamw_defaults();
    cfg.weight_decay = 0.5;
    MlParamGroup groups[2] = {{0, 2, 0}, {2, 4, 1}};
    ml_adamw_step(&cfg, 0.1f, 1, groups, 2, &b);
    CHECK(b.params[0] == 1.0f && b.params[1] == 2.0f);
    for (int i = 2; i < 6; i++) CHECK_NEAR(b.params[i], (i + 1) * 0.95, 1e-6);
    ml_param_block_free(&b);
}

/* Textbook AdamW in double (llm.c's formula) over many parameters and steps. */
static void test_adamw_matches_textbook(void) {
    const size_t n = 100003; /* above the parallel threshold, not a multiple of anything */
    MlParamBlock b;
    MlError err = {0};
    CHECK_OK(ml_param_block_alloc(&b, n, &err), &err);
    double *p = malloc(n * sizeof *p), *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v);
    uint64_t seed = 7;
    for (size_t i = 0; i < n; i++) p[i] = b.params[i] = frand(&seed);
    MlAdamWConfig cfg = {.beta1 = 0.9, .beta2 = 0.98, .eps = 1e-6, .weight_decay = 0.05};
    MlParamGroup groups[2] = {{0, 50000, 1}, {50000, n - 50000, 0}};
    double worst = 0;
    for (int t = 1; t <= 5; t++) {
        double lr = 2e-3 * t;
        for (size_t i = 0; i < n; i++) b.grads[i] = frand(&seed) * (i % 7 == 0 ? 1e-3f : 1.0f);
        ml_adamw_step(&cfg, lr, t, groups, 2, &b);
        double b1 = cfg.beta1, b2 = cfg.beta2;
        for (size_t i = 0; i < n; i++) {
            double g = b.grads[i], wd = i < 50000 ? cfg.weight_decay : 0.0;
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double mh = m[i] / (1 - pow(b1, t)), vh = v[i] / (1 - pow(b2, t));
            p[i] -= lr * (mh / (sqrt(vh) + cfg.eps) + wd * p[i]);
            double d = fabs(p[i] - b.params[i]);
            if (d > worst) worst = d;
        }
    }
    CHECK(worst < 2e-6);
    free(p);
    free(m);
    free(v);
    ml_param_block_free(&b);
}

/* One thread or two: the same bits. */
static void test_thread_invariance(void) {
    const size_t n = 300000;
    MlParamBlock a[2];
    MlError err = {0};
    double norms[2];
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        CHECK_OK(ml_param_block_alloc(&a[r], n, &err), &err);
        uint64_t seed = 11;
        for (size_t i = 0; i < n; i++) {
            a[r].params[i] = frand(&seed);
            a[r].grads[i] = frand(&seed);
        }
        MlAdamWConfig cfg = ml_adamw_defaults();
        MlParamGroup g = {0, n, 1};
        for (int t = 1; t <= 3; t++) {
            norms[r] = ml_grad_clip(a[r].grads, n, 10.0f);
            ml_adamw_step(&cfg, 1e-3f, t, &g, 1, &a[r]);
        }
    }
    omp_set_num_threads(2);
    CHECK(norms[0] == norms[1]);
    CHECK(!memcmp(a[0].params, a[1].params, n * sizeof(float)));
    CHECK(!memcmp(a[0].v, a[1].v, n * sizeof(float)));
    for (int r = 0; r < 2; r++) ml_param_block_free(&a[r]);
}

static void test_schedule(void) {
    MlLrSchedule s = {.lr_max = 1e-3, .min_ratio = 0.1, .warmup_steps = 10, .total_steps = 110};
    CHECK_NEAR(ml_lr_at(&s, 0), 1e-4, 1e-15);    /* (0+1)/10 of the peak */
    CHECK_NEAR(ml_lr_at(&s, 4), 5e-4, 1e-15);
    CHECK_NEAR(ml_lr_at(&s, 9), 1e-3, 1e-15);    /* warm-up ends at the peak */
    CHECK_NEAR(ml_lr_at(&s, 10), 1e-3, 1e-15);   /* cosine starts at the peak */
    CHECK_NEAR(ml_lr_at(&s, 60), 5.5e-4, 1e-15); /* halfway: floor + half the range */
    CHECK_NEAR(ml_lr_at(&s, 35), 1e-4 + 9e-4 * 0.5 * (1 + cos(M_PI / 4)), 1e-15);
    CHECK_NEAR(ml_lr_at(&s, 110), 1e-4, 1e-15);
    CHECK_NEAR(ml_lr_at(&s, 1000), 1e-4, 1e-15);
    double prev = ml_lr_at(&s, 10);
    for (int64_t t = 11; t < 120; t++) {
        double lr = ml_lr_at(&s, t);
        CHECK(lr <= prev);
        prev = lr;
    }
    MlLrSchedule flat = {.lr_max = 3e-4, .min_ratio = 1.0, .warmup_steps = 0, .total_steps = 0};
    CHECK_NEAR(ml_lr_at(&flat, 0), 3e-4, 1e-15);
    CHECK_NEAR(ml_lr_at(&flat, 50), 3e-4, 1e-15);
}

static void test_clip(void) {
    float g[2] = {3.0f, 4.0f};
    CHECK(ml_grad_clip(g, 2, 10.0f) == 5.0);
    CHECK(g[0] == 3.0f && g[1] == 4.0f); /* under the limit: untouched */
    CHECK(ml_grad_clip(g, 2, 1.0f) == 5.0);
    CHECK_NEAR(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    CHECK_NEAR(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
    CHECK_NEAR(ml_grad_norm(g, 2), 1.0, 1e-6);
    float bad[3] = {1.0f, NAN, 2.0f};
    CHECK(isnan(ml_grad_clip(bad, 3, 1.0f)));
    CHECK(bad[0] == 1.0f && bad[2] == 2.0f);
    /* A long vector: the chunked double sum equals a plain double sum to rounding. */
    const size_t n = 1000001;
    float *big = malloc(n * sizeof *big);
    uint64_t seed = 3;
    double ref = 0;
    for (size_t i = 0; i < n; i++) {
        big[i] = frand(&seed);
        ref += (double)big[i] * big[i];
    }
    CHECK_NEAR(ml_grad_norm(big, n), sqrt(ref), 1e-9 * sqrt(ref));
    free(big);
}

static void test_block(void) {
    MlParamBlock b;
    MlError err = {0};
    CHECK_OK(ml_param_block_alloc(&b, 37, &err), &err);
    CHECK(((uintptr_t)b.params % 64) == 0 && ((uintptr_t)b.grads % 64) == 0);
    CHECK(((uintptr_t)b.m % 64) == 0 && ((uintptr_t)b.v % 64) == 0);
    CHECK(b.grads >= b.params + 37 && b.m >= b.grads + 37 && b.v >= b.m + 37);
    int zero = 1;
    for (int i = 0; i < 37; i++) zero &= b.params[i] == 0 && b.grads[i] == 0 && b.m[i] == 0 && b.v[i] == 0;
    CHECK(zero);
    for (int i = 0; i < 37; i++) b.grads[i] = 1.0f;
    ml_param_block_zero_grad(&b);
    CHECK(b.grads[0] == 0 && b.grads[36] == 0);
    ml_param_block_free(&b);
    CHECK(ml_param_block_alloc(&b, 0, &err) == ML_ERR_NOMEM);
    CHECK(ml_param_block_alloc(&b, SIZE_MAX / 2, &err) == ML_ERR_NOMEM);
}

int main(void) {
    RUN(test_adamw_three_steps);
    RUN(test_decay_groups);
    RUN(test_adamw_matches_textbook);
    RUN(test_thread_invariance);
    RUN(test_schedule);
    RUN(test_clip);
    RUN(test_block);
    return test_summary("test_train_optim");
}
