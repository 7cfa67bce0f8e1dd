/* test_sampler.c: greedy, temperature, top-k and top-p on hand-made logits;
   determinism for a seed; draws that follow the distribution. */
#include "test.h"

#include "decode/sampler.h"

static void test_greedy(void) {
    float l[5] = {0.1f, 2.0f, -1.0f, 2.0f, NAN};
    CHECK(ml_sampler_argmax(l, 5) == 1); /* the first of the tied maxima */
    float nan_first[3] = {NAN, -5.0f, -7.0f};
    CHECK(ml_sampler_argmax(nan_first, 3) == 1);
    MlSampler s;
    MlError err = {0};
    MlSamplerConfig c = {.temperature = 0, .top_k = 1, .top_p = 0.5f, .seed = 3};
    CHECK_OK(ml_sampler_init(&s, &c, 5, &err), &err);
    for (int i = 0; i < 10; i++) CHECK(ml_sampler_sample(&s, l) == 1);
    float p[5];
    ml_sampler_probs(&s, l, p);
    CHECK(p[1] == 1.0f && p[0] == 0.0f && p[3] == 0.0f);
    ml_sampler_free(&s);
}

/* logits whose softmax is exactly 0.5, 0.3, 0.15, 0.05 */
static void quarter_logits(float *l) {
    const double p[4] = {0.5, 0.3, 0.15, 0.05};
    for (int i = 0; i < 4; i++) l[i] = (float)log(p[i]);
}

static void test_temperature(void) {
    float l[4];
    quarter_logits(l);
    MlSampler s;
    MlError err = {0};
    MlSamplerConfig c = {.temperature = 2.0f, .top_p = 1.0f};
    CHECK_OK(ml_sampler_init(&s, &c, 4, &err), &err);
    float p[4];
    ml_sampler_probs(&s, l, p);
    /* p_i ∝ sqrt(q_i) */
    double z = sqrt(0.5) + sqrt(0.3) + sqrt(0.15) + sqrt(0.05);
    CHECK_NEAR(p[0], sqrt(0.5) / z, 1e-6);
    CHECK_NEAR(p[3], sqrt(0.05) / z, 1e-6);
    ml_sampler_free(&s);
}

static void test_top_k(void) {
    float l[6] = {1.0f, 3.0f, 2.0f, 2.0f, 0.0f, -1.0f};
    MlSampler s;
    MlError err = {0};
    MlSamplerConfig c = {.temperature = 1.0f, .top_k = 2};
    CHECK_OK(ml_sampler_init(&s, &c, 6, &err), &err);
    float p[6];
    ml_sampler_probs(&s, l, p);
    /* k = 2: the best (3) and everything tied with the 2nd best (2, 2) */
    double z = exp(3.0) + 2 * exp(2.0);
    CHECK_NEAR(p[1], exp(3.0) / z, 1e-6);
    CHECK_NEAR(p[2], exp(2.0) / z, 1e-6);
    CHECK_NEAR(p[3], exp(2.0) / z, 1e-6);
    CHECK(p[0] == 0.0f && p[4] == 0.0f && p[5] == 0.0f);
    for (int i = 0; i < 200; i++) {
        int32_t t = ml_sampler_sample(&s, l);
        CHECK(t == 1 || t == 2 || t == 3);
    }
    ml_sampler_free(&s);
}

static void test_top_p(void) {
    float l[4];
    quarter_logits(l);
    MlError err = {0};
    /* keep a token while the mass before it is below p (HF: drop when the mass above is >= p) */
    const float ps[4] = {0.4f, 0.7f, 0.79f, 0.81f};
    const int kept[4] = {1, 2, 2, 3};
    for (int k = 0; k < 4; k++) {
        MlSampler s;
        MlSamplerConfig c = {.temperature = 1.0f, .top_p = ps[k]};
        CHECK_OK(ml_sampler_init(&s, &c, 4, &err), &err);
        float p[4];
        ml_sampler_probs(&s, l, p);
        int nz = 0;
        for (int i = 0; i < 4; i++) nz += p[i] > 0;
        CHECK(nz == kept[k]);
        if (kept[k] == 2) {
            CHECK_NEAR(p[0], 0.5 / 0.8, 1e-6);
            CHECK_NEAR(p[1], 0.3 / 0.8, 1e-6);
        }
        ml_sampler_free(&s);
    }
    /* top-k first, then top-p on the renormalised rest */
    MlSampler s;
    MlSamplerConfig c = {.temperature = 1.0f, .top_k = 2, .top_p = 0.6f};
    CHECK_OK(ml_sampler_init(&s, &c, 4, &err), &err);
    float p[4];
    ml_sampler_probs(&s, l, p); /* after top-k: 0.625, 0.375; mass before the 2nd = 0.625 >= 0.6 */
    CHECK(p[0] == 1.0f && p[1] == 0.0f);
    ml_sampler_free(&s);
}

static void test_determinism_and_frequencies(void) {
    float l[4];
    quarter_logits(l);
    MlError err = {0};
    MlSampler a, b, c2;
    MlSamplerConfig c = {.temperature = 1.0f, .seed = 1234};
    CHECK_OK(ml_sampler_init(&a, &c, 4, &err), &err);
    CHECK_OK(ml_sampler_init(&b, &c, 4, &err), &err);
    c.seed = 1235;
    CHECK_OK(ml_sampler_init(&c2, &c, 4, &err), &err);
    int same = 1, differs = 0, counts[4] = {0};
    const int n = 40000;
    for (int i = 0; i < n; i++) {
        int32_t x = ml_sampler_sample(&a, l), y = ml_sampler_sample(&b, l), z = ml_sampler_sample(&c2, l);
        same &= x == y;
        differs |= x != z;
        counts[x]++;
    }
    CHECK(same);
    CHECK(differs);
    /* frequencies within 5 standard deviations of the probabilities */
    const double q[4] = {0.5, 0.3, 0.15, 0.05};
    for (int i = 0; i < 4; i++) CHECK(fabs(counts[i] - n * q[i]) < 5 * sqrt(n * q[i] * (1 - q[i])));
    /* uniforms lie in [0, 1) */
    for (int i = 0; i < 1000; i++) {
        float u = ml_sampler_uniform(&a);
        CHECK(u >= 0.0f && u < 1.0f);
    }
    ml_sampler_free(&a), ml_sampler_free(&b), ml_sampler_free(&c2);
}

static void test_bad_config(void) {
    MlSampler s;
    MlError err = {0};
    MlSamplerConfig bad_t = {.temperature = -1.0f};
    CHECK(ml_sampler_init(&s, &bad_t, 4, &err) == ML_ERR_ARG && strstr(err.msg, "temperature"));
    MlSamplerConfig bad_p = {.temperature = 1.0f, .top_p = 1.5f};
    CHECK(ml_sampler_init(&s, &bad_p, 4, &err) == ML_ERR_ARG && strstr(err.msg, "top_p"));
    MlSamplerConfig bad_k = {.temperature = 1.0f, .top_k = -2};
    CHECK(ml_sampler_init(&s, &bad_k, 4, &err) == ML_ERR_ARG && strstr(err.msg, "top_k"));
    MlSamplerConfig inf_t = {.temperature = INFINITY};
    CHECK(ml_sampler_init(&s, &inf_t, 4, &err) == ML_ERR_ARG);
    /* everything -inf: the sampler still returns a valid id */
    MlSamplerConfig ok = {.temperature = 1.0f};
    CHECK_OK(ml_sampler_init(&s, &ok, 3, &err), &err);
    float l[3] = {-INFINITY, -INFINITY, -INFINITY};
    int32_t t = ml_sampler_sample(&s, l);
    CHECK(t >= 0 && t < 3);
    ml_sampler_free(&s);
}

int main(void) {
    RUN(test_greedy);
    RUN(test_temperature);
    RUN(test_top_k);
    RUN(test_top_p);
    RUN(test_determinism_and_frequencies);
    RUN(test_bad_config);
    return test_summary("test_sampler");
}
