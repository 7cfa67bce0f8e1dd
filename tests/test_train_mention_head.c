/* test_train_mention_head.c: the mention position head (train/mention_head.h):
   the objects a relation question names, found in a hand-made scene (and
   refused when a reference is ambiguous, missing or malformed); the words
   that end the mentions found among token ids; their targets worked out by
   hand; and the heads' loss and gradients (weights and the residual row,
   through the RMS normalisation) against central differences of a double
   reference written from the definition. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "train/mention_head.h"

/* names: category 0 circle, 1 square; colour 0 red, 1 blue; size 0 small; texture 0 solid */
static char *names_cat[] = {"circle", "square"}, *names_col[] = {"red", "blue"}, *names_size[] = {"small"},
            *names_tex[] = {"solid"};

static MlTrainData scene(MlTrainObject *obj, int64_t *first, int64_t *count) {
    MlTrainData d = {.n_images = 1, .side = 64, .obj = obj, .n_obj = *count, .obj_first = first, .obj_count = count};
    d.n_names[ML_TRAIN_ATTR_CATEGORY] = 2;
    d.n_names[ML_TRAIN_ATTR_COLOR] = 2;
    d.n_names[ML_TRAIN_ATTR_SIZE] = 1;
    d.n_names[ML_TRAIN_ATTR_TEXTURE] = 1;
    for (int i = 0; i < 2; i++) {
        d.names[ML_TRAIN_ATTR_CATEGORY][i] = names_cat[i];
        d.names[ML_TRAIN_ATTR_COLOR][i] = names_col[i];
    }
    d.names[ML_TRAIN_ATTR_SIZE][0] = names_size[0];
    d.names[ML_TRAIN_ATTR_TEXTURE][0] = names_tex[0];
    return d;
}

static void test_refs_and_labels(void) {
    MlTrainObject obj[3] = {
        {.attr = {0, 0, 0, 0}, .cx = 10.0f, .cy = 50.0f}, /* red circle: patch column 0, row 3 */
        {.attr = {0, 1, 0, 0}, .cx = 40.0f, .cy = 20.0f}, /* blue circle: column 2, row 1 */
        {.attr = {1, 1, 0, 0}, .cx = 63.9f, .cy = 0.0f},  /* blue square: column 3, row 0 */
    };
    int64_t first = 0, count = 3;
    MlTrainData d = scene(obj, &first, &count);
    int s = -1, o = -1;
    CHECK(ml_mention_refs(&d, 0, "Is the red circle left of the square?", &s, &o) && s == 0 && o == 2);
    CHECK(ml_mention_refs(&d, 0, "Is the square next to the small blue circle?", &s, &o) && s == 2 && o == 1);
    CHECK(ml_mention_refs(&d, 0, "Is the blue square above the red solid circle?", &s, &o) && s == 2 && o == 0);
    /* "circle" alone names two objects; "green" none; the same object twice is no relation */
    CHECK(!ml_mention_refs(&d, 0, "Is the circle below the square?", &s, &o));
    CHECK(!ml_mention_refs(&d, 0, "Is the green circle below the square?", &s, &o));
    CHECK(!ml_mention_refs(&d, 0, "Is the square right of the blue square?", &s, &o));
    /* not a relation question */
    CHECK(!ml_mention_refs(&d, 0, "Is there a square in the image?", &s, &o));
    CHECK(!ml_mention_refs(&d, 0, "Is the red circle left of the square", &s, &o));
    CHECK(!ml_mention_refs(&d, 0, "Is the ", &s, &o));
    CHECK(!ml_mention_refs(&d, 0, "", &s, &o));
    /* centres in patch units from the middle: 64 px, 4 patches of 16 */
    float t[2];
    ml_mention_head_targets(&d, 0, 0, 4, t);
    CHECK_NEAR(t[0], 10.0 / 16 - 2, 1e-6);
    CHECK_NEAR(t[1], 50.0 / 16 - 2, 1e-6);
    ml_mention_head_targets(&d, 0, 2, 4, t);
    CHECK_NEAR(t[0], 63.9 / 16 - 2, 1e-5);
    CHECK_NEAR(t[1], -2.0, 1e-6);
    ml_mention_head_targets(&d, 0, 1, 2, t); /* a 2x2 grid: patches of 32 */
    CHECK_NEAR(t[0], 40.0 / 32 - 1, 1e-6);
    CHECK_NEAR(t[1], 20.0 / 32 - 1, 1e-6);
}

/* Token ids stand for words: circle 7, "circle?" 8, square 9 (no "?" piece). */
static void test_find(void) {
    const MlMentionWords mw = {.n = 2, .last = {7, 9}, .question = {8, -1}};
    /* "USER: Is the red circle left of the circle? ASSISTANT:" with made-up ids */
    const int32_t ids[] = {1, 2, 3, 4, 5, 7, 11, 12, 4, 8, 13};
    CHECK(ml_mention_find(&mw, ids, 3, 11, 0, 0) == 5);
    CHECK(ml_mention_find(&mw, ids, 3, 11, 0, 1) == 9);
    CHECK(ml_mention_find(&mw, ids, 6, 11, 0, 0) == 9); /* the range is respected */
    CHECK(ml_mention_find(&mw, ids, 0, 5, 0, 0) == -1);
    CHECK(ml_mention_find(&mw, ids, 0, 11, 1, 0) == -1); /* no square */
    CHECK(ml_mention_find(&mw, ids, 0, 11, 2, 0) == -1); /* no such category */
    CHECK(ml_mention_find(&mw, ids, 0, 11, -1, 1) == -1);
}

static double drand_pm1(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
}

/* The definition: y = x / sqrt(mean(x^2) + 1e-5); K = 2 outputs per
   object, pred = W y + b, loss = sum (pred - t)^2. */
static double ref_loss(const double *P, const double *x, int D, int K, const float *t) {
    double ss = 0, y[16], loss = 0;
    for (int j = 0; j < D; j++) ss += x[j] * x[j];
    for (int j = 0; j < D; j++) y[j] = x[j] / sqrt(ss / D + 1e-5);
    for (int k = 0; k < K; k++) {
        double pred = P[K * D + k];
        for (int j = 0; j < D; j++) pred += P[k * D + j] * y[j];
        loss += (pred - t[k]) * (pred - t[k]);
    }
    return loss;
}

/* The mention head (one object) and the answer head (two). */
static void test_head_gradient(void) {
    enum { D = 6, MAX_NP = 4 * (D + 1) };
    for (int objects = 1; objects <= 2; objects++) {
        const int K = 2 * objects, NP = K * (D + 1);
        CHECK(ml_mention_head_size(D, objects) == (size_t)NP);
        const float t[4] = {1.5f, -0.25f, -2.0f, 0.75f};
        float P[MAX_NP], G[MAX_NP], x[D], dx[D];
        double Pd[MAX_NP], xd[D];
        uint64_t r = 5 + (uint64_t)objects;
        for (int i = 0; i < NP; i++) Pd[i] = P[i] = (float)(0.8 * drand_pm1(&r));
        for (int j = 0; j < D; j++) xd[j] = x[j] = (float)(3.0 * drand_pm1(&r)); /* not unit RMS: the norm matters */
        memset(G, 0, sizeof G);
        memset(dx, 0, sizeof dx);
        const float scale = 0.25f;
        double loss = ml_mention_head_run(P, G, x, D, objects, t, scale, dx);
        CHECK_NEAR(loss, ref_loss(Pd, xd, D, K, t), 1e-5);
        /* every parameter, then every input entry: the central difference of the reference */
        double worst = 0;
        for (int i = 0; i < NP + D; i++) {
            double *v = i < NP ? &Pd[i] : &xd[i - NP], keep = *v, h = 1e-4;
            *v = keep + h;
            double up = ref_loss(Pd, xd, D, K, t);
            *v = keep - h;
            double down = ref_loss(Pd, xd, D, K, t);
            *v = keep;
            worst = fmax(worst, fabs(scale * (up - down) / (2 * h) - (i < NP ? G[i] : dx[i - NP])));
        }
        CHECK(worst < 5e-5);
        /* the row's scale does not change the loss (the head reads its direction) */
        float x3[D];
        for (int j = 0; j < D; j++) x3[j] = 3.0f * x[j];
        CHECK_NEAR(ml_mention_head_run(P, G, x3, D, objects, t, scale, dx), loss, 1e-4);
    }
    /* only one or two objects */
    CHECK(ml_mention_head_size(D, 0) == 0 && ml_mention_head_size(D, 3) == 0);
}

int main(void) {
    RUN(test_refs_and_labels);
    RUN(test_find);
    RUN(test_head_gradient);
    return test_summary("test_train_mention_head");
}
