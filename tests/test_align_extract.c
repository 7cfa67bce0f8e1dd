/* test_align_extract.c: per-layer representations read through hooks equal what a hook-free, naive
   computation gives (model_ref.h and the vision embedding recomputed here from the weights): vision
   layers -1 and 0, decoder layer -1 (embedding rows / projector output) and every decoder layer for
   captions and the image-only prompt.  Also: layer lists, repeat runs, subsets, errors, and the
   alignment identities on extracted features (A = A gives 1, a consistent permutation changes nothing). */
#include "test.h"

#include <unistd.h>

#include "align/extract.h"
#include "align/metrics.h"
#include "kernels/threads.h"
#include "core/file.h"
#include "model_ref.h"

static MlLvlm *model;
static RefModel ref;
static float *pixels;

static uint64_t rs = 977;
static float frand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((rs >> 40) / 8388608.0 - 1.0);
}

static void random_pixels(float *px) {
    for (int64_t i = 0; i < ml_lvlm_pixel_floats(model); i++) px[i] = 2 * frand();
}

static MlLayerList all_text(void) {
    MlLayerList l;
    MlError err = {0};
    CHECK_OK(ml_layers_parse("all", -1, ml_lvlm_layers(model) - 1, &l, &err), &err);
    return l;
}

static MlLayerList all_vision(void) {
    MlLayerList l;
    MlError err = {0};
    CHECK_OK(ml_layers_parse("all", -1, ml_extract_vision_layers(model) - 1, &l, &err), &err);
    return l;
}

static void test_layer_lists(void) {
    MlLayerList l;
    MlError err = {0};
    CHECK_OK(ml_layers_parse("all", -1, 2, &l, &err), &err);
    CHECK(l.n == 4 && l.layer[0] == -1 && l.layer[3] == 2);
    CHECK_OK(ml_layers_parse("2,-1,0", -1, 5, &l, &err), &err);
    CHECK(l.n == 3 && l.layer[0] == -1 && l.layer[1] == 0 && l.layer[2] == 2);
    CHECK_OK(ml_layers_parse("none", -1, 5, &l, &err), &err);
    CHECK(l.n == 0);
    const char *bad[] = {"6", "-2", "1,1", "a", "1,", ",1", "1,,2", "", "1.5", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = (MlError){0};
        CHECK(ml_layers_parse(bad[i], -1, 5, &l, &err) == ML_ERR_ARG);
        CHECK(strstr(err.msg, "layers") != NULL);
    }
}

/* Mean over patch rows of the ViT residual after layer `upto` (-1: pre_layrnorm), in double, from the weights. */
static void vision_by_hand(const float *px, int upto, double *mean) {
    const MlVisionConfig *c = &ref.c.vision;
    const int64_t D = c->hidden, I = c->intermediate, p = c->patch_size, S = c->image_size, G = S / p, N = G * G + 1;
    double *x = calloc((size_t)(N * D), sizeof(double));
    double *pw = ref_t(&ref, "vision_tower.vision_model.embeddings.patch_embedding.weight", 4, D, 3, p, p);
    double *cls = ref_t(&ref, "vision_tower.vision_model.embeddings.class_embedding", 1, D, 0, 0, 0);
    double *pos = ref_t(&ref, "vision_tower.vision_model.embeddings.position_embedding.weight", 2, N, D, 0, 0);
    double *lw = ref_t(&ref, "vision_tower.vision_model.pre_layrnorm.weight", 1, D, 0, 0, 0);
    double *lb = ref_t(&ref, "vision_tower.vision_model.pre_layrnorm.bias", 1, D, 0, 0, 0);
    for (int64_t g = 0; g < G * G; g++)
        for (int64_t o = 0; o < D; o++) {
            double s = 0;
            for (int ch = 0; ch < 3; ch++)
                for (int64_t ky = 0; ky < p; ky++)
                    for (int64_t kx = 0; kx < p; kx++)
                        s += px[(ch * S + (g / G) * p + ky) * S + (g % G) * p + kx] * pw[((o * 3 + ch) * p + ky) * p + kx];
            x[(1 + g) * D + o] = s;
        }
    for (int64_t o = 0; o < D; o++) x[o] = cls[o];
    for (int64_t i = 0; i < N * D; i++) x[i] += pos[i];
    ref_layernorm(x, x, lw, lb, N, D, c->layer_norm_eps);
    double *h = malloc(sizeof(double) * N * I), *q = malloc(sizeof(double) * N * D), *k = malloc(sizeof(double) * N * D),
           *v = malloc(sizeof(double) * N * D), *a = malloc(sizeof(double) * N * D), *m = malloc(sizeof(double) * N * I);
#define VL "vision_tower.vision_model.encoder.layers.%d."
    for (int l = 0; l <= upto; l++) {
        double *w[12];
        const char *names[12] = {VL "layer_norm1.weight", VL "layer_norm1.bias", VL "self_attn.q_proj.weight",
                                 VL "self_attn.q_proj.bias", VL "self_attn.k_proj.weight", VL "self_attn.k_proj.bias",
                                 VL "self_attn.v_proj.weight", VL "self_attn.v_proj.bias", VL "self_attn.out_proj.weight",
                                 VL "self_attn.out_proj.bias", VL "layer_norm2.weight", VL "layer_norm2.bias"};
        for (int t = 0; t < 12; t++) w[t] = ref_tl(&ref, names[t], l, (t % 2 == 0 && t >= 2 && t <= 8) ? 2 : 1, D, D);
        ref_layernorm(h, x, w[0], w[1], N, D, c->layer_norm_eps);
        ref_linear(q, h, w[2], w[3], N, D, D);
        ref_linear(k, h, w[4], w[5], N, D, D);
        ref_linear(v, h, w[6], w[7], N, D, D);
        ref_attention(a, q, k, v, N, c->n_heads, c->n_heads, (int)(D / c->n_heads), 0, NULL, -1);
        ref_linear(h, a, w[8], w[9], N, D, D);
        for (int64_t i = 0; i < N * D; i++) x[i] += h[i];
        ref_layernorm(h, x, w[10], w[11], N, D, c->layer_norm_eps);
        double *f1 = ref_tl(&ref, VL "mlp.fc1.weight", l, 2, I, D), *f1b = ref_tl(&ref, VL "mlp.fc1.bias", l, 1, I, 0);
        double *f2 = ref_tl(&ref, VL "mlp.fc2.weight", l, 2, D, I), *f2b = ref_tl(&ref, VL "mlp.fc2.bias", l, 1, D, 0);
        ref_linear(m, h, f1, f1b, N, D, I);
        for (int64_t i = 0; i < N * I; i++) m[i] = ref_act(m[i], c->act);
        ref_linear(h, m, f2, f2b, N, I, D);
        for (int64_t i = 0; i < N * D; i++) x[i] += h[i];
        for (int t = 0; t < 12; t++) free(w[t]);
        free(f1), free(f1b), free(f2), free(f2b);
    }
#undef VL
    for (int64_t o = 0; o < D; o++) {
        double s = 0;
        for (int64_t t = 1; t < N; t++) s += x[t * D + o];
        mean[o] = s / (double)(N - 1);
    }
    free(x), free(pw), free(cls), free(pos), free(lw), free(lb), free(h), free(q), free(k), free(v), free(a), free(m);
}

static double max_abs_diff(const float *a, const double *b, int64_t n) {
    double w = 0;
    for (int64_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]));
    return w;
}

static void test_vision_layers_by_hand(void) {
    MlError err = {0};
    MlLayerList lv = all_vision(), lt = all_text();
    MlExtractor x;
    CHECK_OK(ml_extract_init(&x, model, &lv, &lt, NULL, 64, &err), &err);
    const int64_t Dv = ml_lvlm_vision_hidden(model);
    float *vis = malloc(sizeof(float) * lv.n * Dv);
    double *want = malloc(sizeof(double) * Dv);
    CHECK_OK(ml_extract_image(&x, pixels, vis, NULL, &err), &err);
    CHECK(lv.n == ml_lvlm_vision_layers(model) + 1 && lv.layer[0] == -1);
    vision_by_hand(pixels, -1, want);
    CHECK_NEAR(max_abs_diff(vis, want, Dv), 0, 1e-5);
    vision_by_hand(pixels, 0, want);
    CHECK_NEAR(max_abs_diff(vis + Dv, want, Dv), 0, 1e-4);
    /* the two differ: the test can tell layer -1 from layer 0 */
    CHECK(max_abs_diff(vis, want, Dv) > 1e-3);
    free(vis), free(want);
    ml_extract_free(&x);
}

/* Caption: layer -1 is the mean of the embedding rows; every layer the naive decoder's residual mean. */
static void test_caption_layers(void) {
    MlError err = {0};
    MlLayerList lv = all_vision(), lt = all_text();
    MlExtractor x;
    CHECK_OK(ml_extract_init(&x, model, &lv, &lt, NULL, 64, &err), &err);
    const char *caption = "a red star left of a small blue circle";
    const int64_t D = ml_lvlm_hidden(model), L = ml_lvlm_layers(model), V = ml_lvlm_vocab(model);
    float *cap = malloc(sizeof(float) * lt.n * D);
    CHECK_OK(ml_extract_caption(&x, caption, cap, &err), &err);
    int32_t ids[128];
    size_t n;
    CHECK_OK(ml_tokenizer_encode(ml_lvlm_tokenizer(model), caption, strlen(caption), ids + 1, 127, &n, &err), &err);
    ids[0] = ml_tokenizer_bos_id(ml_lvlm_tokenizer(model));
    CHECK(ids[0] >= 0 && n > 3);
    int64_t nt = (int64_t)n;
    CHECK_OK(ml_extract_caption_tokens(model, caption, &nt, &err), &err);
    CHECK(nt == (int64_t)n);
    double *emb = ref_t(&ref, "language_model.model.embed_tokens.weight", 2, V, D, 0, 0);
    double *want = calloc((size_t)D, sizeof(double));
    for (size_t t = 1; t <= n; t++)
        for (int64_t i = 0; i < D; i++) want[i] += emb[(int64_t)ids[t] * D + i] / (double)n;
    CHECK_NEAR(max_abs_diff(cap, want, D), 0, 1e-6);
    double *logits = malloc(sizeof(double) * (n + 1) * V), *resid = malloc(sizeof(double) * L * (n + 1) * D);
    RefEdits none = ref_no_edits();
    ref_logits(&ref, ids, (int64_t)n + 1, NULL, &none, logits, resid);
    for (int64_t l = 0; l < L; l++) {
        for (int64_t i = 0; i < D; i++) {
            double s = 0;
            for (size_t t = 1; t <= n; t++) s += resid[((size_t)l * (n + 1) + t) * D + i];
            want[i] = s / (double)n;
        }
        CHECK_NEAR(max_abs_diff(cap + (l + 1) * D, want, D), 0, 1e-4);
    }
    /* a caption longer than the extractor allows, and an empty one */
    char longer[600];
    memset(longer, 0, sizeof longer);
    for (int i = 0; i < 60; i++) strcat(longer, "star ");
    err = (MlError){0};
    CHECK(ml_extract_caption(&x, longer, cap, &err) == ML_ERR_RANGE);
    CHECK(strstr(err.msg, "more than the 64 allowed") != NULL);
    CHECK(ml_extract_caption(&x, "", cap, &err) == ML_ERR_ARG);
    free(cap), free(emb), free(want), free(logits), free(resid);
    ml_extract_free(&x);
}

/* The image-only prompt: layer -1 is the projector output's mean; every layer the naive decoder's mean
   over the image positions of BOS "USER:" <image>x16. */
static void test_image_layers(void) {
    MlError err = {0};
    MlLayerList lv = all_vision(), lt = all_text();
    MlExtractor x;
    CHECK_OK(ml_extract_init(&x, model, &lv, &lt, NULL, 64, &err), &err);
    const int64_t D = ml_lvlm_hidden(model), L = ml_lvlm_layers(model), V = ml_lvlm_vocab(model);
    const int64_t nimg = ml_lvlm_max_image_tokens(model);
    float *img = malloc(sizeof(float) * lt.n * D);
    CHECK_OK(ml_extract_image(&x, pixels, NULL, img, &err), &err);
    double *feats = malloc(sizeof(double) * nimg * D), *want = calloc((size_t)D, sizeof(double));
    ref_image_features(&ref, pixels, feats);
    for (int64_t t = 0; t < nimg; t++)
        for (int64_t i = 0; i < D; i++) want[i] += feats[t * D + i] / (double)nimg;
    CHECK_NEAR(max_abs_diff(img, want, D), 0, 1e-4);
    /* the prefix, spelled out: BOS, the template's "USER:" pieces, then the image tokens */
    int32_t ids[64];
    size_t nu;
    ids[0] = ml_tokenizer_bos_id(ml_lvlm_tokenizer(model));
    CHECK_OK(ml_tokenizer_encode(ml_lvlm_tokenizer(model), "USER: ", 6, ids + 1, 40, &nu, &err), &err);
    int64_t n = 1 + (int64_t)nu;
    CHECK(x.n_prefix == n + nimg && x.img_lo == n && x.img_hi == n + nimg);
    for (int64_t i = 0; i < n && i < x.n_prefix; i++) CHECK(x.prefix[i] == ids[i]);
    for (int64_t t = 0; t < nimg; t++) ids[n + t] = ml_lvlm_image_token_id(model);
    n += nimg;
    double *logits = malloc(sizeof(double) * n * V), *resid = malloc(sizeof(double) * L * n * D);
    RefEdits none = ref_no_edits();
    ref_logits(&ref, ids, n, feats, &none, logits, resid);
    for (int64_t l = 0; l < L; l++) {
        for (int64_t i = 0; i < D; i++) {
            double s = 0;
            for (int64_t t = n - nimg; t < n; t++) s += resid[((size_t)l * n + t) * D + i];
            want[i] = s / (double)nimg;
        }
        CHECK_NEAR(max_abs_diff(img + (l + 1) * D, want, D), 0, 1e-4);
    }
    free(img), free(feats), free(want), free(logits), free(resid);
    ml_extract_free(&x);
}

/* Rewound passes do not leak into each other; a layer subset gives the same rows as "all". */
static void test_repeat_and_subsets(void) {
    MlError err = {0};
    MlLayerList lv = all_vision(), lt = all_text(), sv, st;
    const int64_t D = ml_lvlm_hidden(model), Dv = ml_lvlm_vision_hidden(model);
    CHECK_OK(ml_layers_parse("0", -1, ml_extract_vision_layers(model) - 1, &sv, &err), &err);
    CHECK_OK(ml_layers_parse("1,-1", -1, ml_lvlm_layers(model) - 1, &st, &err), &err);
    MlExtractor a, b;
    CHECK_OK(ml_extract_init(&a, model, &lv, &lt, NULL, 64, &err), &err);
    CHECK_OK(ml_extract_init(&b, model, &sv, &st, NULL, 64, &err), &err);
    float *v1 = malloc(sizeof(float) * lv.n * Dv), *i1 = malloc(sizeof(float) * lt.n * D);
    float *v2 = malloc(sizeof(float) * lv.n * Dv), *i2 = malloc(sizeof(float) * lt.n * D);
    float *c1 = malloc(sizeof(float) * lt.n * D), *c2 = malloc(sizeof(float) * lt.n * D);
    CHECK_OK(ml_extract_image(&a, pixels, v1, i1, &err), &err);
    CHECK_OK(ml_extract_caption(&a, "two green hearts", c1, &err), &err);
    CHECK_OK(ml_extract_caption(&a, "a much longer caption about a large yellow checked house", c2, &err), &err);
    CHECK_OK(ml_extract_image(&a, pixels, v2, i2, &err), &err);
    CHECK(!memcmp(v1, v2, sizeof(float) * lv.n * Dv));
    CHECK(!memcmp(i1, i2, sizeof(float) * lt.n * D));
    CHECK_OK(ml_extract_caption(&a, "two green hearts", c2, &err), &err);
    CHECK(!memcmp(c1, c2, sizeof(float) * lt.n * D));
    CHECK_OK(ml_extract_image(&b, pixels, v2, i2, &err), &err);
    CHECK(!memcmp(v2, v1 + Dv, sizeof(float) * Dv));   /* vision layer 0 is row 1 of "all" */
    CHECK(!memcmp(i2, i1, sizeof(float) * D));         /* layer -1 */
    CHECK(!memcmp(i2 + D, i1 + 2 * D, sizeof(float) * D)); /* layer 1 */
    CHECK_OK(ml_extract_caption(&b, "two green hearts", c2, &err), &err);
    CHECK(!memcmp(c2 + D, c1 + 2 * D, sizeof(float) * D));
    free(v1), free(v2), free(i1), free(i2), free(c1), free(c2);
    ml_extract_free(&a);
    ml_extract_free(&b);
    /* layers that do not exist, captions that cannot fit */
    MlLayerList bad = {.n = 1, .layer = {ml_lvlm_layers(model)}};
    MlExtractor c;
    err = (MlError){0};
    CHECK(ml_extract_init(&c, model, &lv, &bad, NULL, 64, &err) == ML_ERR_ARG);
    CHECK(strstr(err.msg, "decoder layer") != NULL);
    bad.layer[0] = ml_extract_vision_layers(model);
    CHECK(ml_extract_init(&c, model, &bad, &lt, NULL, 64, &err) == ML_ERR_ARG);
    CHECK(ml_extract_init(&c, model, &lv, &lt, NULL, ml_lvlm_context(model), &err) == ML_ERR_RANGE);
}

/* Extracted features of N pairs: A against A gives 1 (CKA, mutual kNN, cosine) and gap 0; permuting the
   pairs consistently changes no metric; mismatching them lowers the matched cosine to the mismatched one. */
static void test_alignment_identities(void) {
    enum { N = 12 };
    MlError err = {0};
    MlLayerList lv = all_vision(), lt = all_text();
    MlExtractor x;
    CHECK_OK(ml_extract_init(&x, model, &lv, &lt, NULL, 64, &err), &err);
    const int64_t D = ml_lvlm_hidden(model), L1 = lt.n;
    const char *words[] = {"red", "blue", "green", "star", "ring", "heart", "small", "large", "left", "above"};
    float *img = malloc(sizeof(float) * N * L1 * D), *cap = malloc(sizeof(float) * N * L1 * D);
    float *px = malloc(sizeof(float) * ml_lvlm_pixel_floats(model));
    for (int i = 0; i < N; i++) {
        char caption[128];
        /* captions all differ: two equal captions give equal rows, whose exact kNN ties are broken by
           index, and then permuting the pairs does change mutual kNN and CKNNA */
        snprintf(caption, sizeof caption, "a %s %s %s", words[i % 10], words[(i * 3 + 1) % 10],
                 words[(i * 7 + 2 + i / 10) % 10]);
        random_pixels(px);
        CHECK_OK(ml_extract_image(&x, px, NULL, img + (size_t)i * L1 * D, &err), &err);
        CHECK_OK(ml_extract_caption(&x, caption, cap + (size_t)i * L1 * D, &err), &err);
    }
    int perm[N];
    for (int i = 0; i < N; i++) perm[i] = (i * 5 + 3) % N;
    float *X = malloc(sizeof(float) * N * D), *Y = malloc(sizeof(float) * N * D);
    float *Xp = malloc(sizeof(float) * N * D), *Yp = malloc(sizeof(float) * N * D);
    MlAlignOptions o = {.k = 3, .sigma = 1.0};
    for (int64_t l = 0; l < L1; l++) {
        for (int i = 0; i < N; i++) {
            memcpy(X + i * D, img + ((size_t)i * L1 + l) * D, sizeof(float) * D);
            memcpy(Y + i * D, cap + ((size_t)i * L1 + l) * D, sizeof(float) * D);
            memcpy(Xp + i * D, img + ((size_t)perm[i] * L1 + l) * D, sizeof(float) * D);
            memcpy(Yp + i * D, cap + ((size_t)perm[i] * L1 + l) * D, sizeof(float) * D);
        }
        MlAlignScores same, s, sp;
        CHECK_OK(ml_align_scores(X, X, N, D, D, &o, &same, &err), &err);
        /* CKA(A, A) = h / (h + 1e-6) with h = HSIC(K, K): exactly 1 but for the reference's epsilon, which
           matters here because mean-pooled rows of a random model share one dominant direction */
        double *F = malloc(sizeof(double) * N * D), *K = malloc(sizeof(double) * N * N);
        for (int64_t i = 0; i < N * D; i++) F[i] = X[i];
        ml_align_normalize_rows(F, N, D);
        ml_align_gram_linear(F, N, D, K);
        double hb = ml_align_hsic_biased(K, K, N), hu = ml_align_hsic_unbiased(K, K, N);
        CHECK_NEAR(same.cka_linear, hb / (hb + 1e-6), 1e-9);
        CHECK_NEAR(same.cka_unbiased, hu / (hu + 1e-6), 1e-9);
        CHECK_OK(ml_align_gram_rbf(F, N, D, 1.0, K, &err), &err);
        double hr = ml_align_hsic_biased(K, K, N);
        CHECK_NEAR(same.cka_rbf, hr / (hr + 1e-6), 1e-9);
        CHECK(same.cknna > 0.999 && same.cknna <= 1);
        free(F), free(K);
        CHECK_NEAR(same.mutual_knn, 1, 0);
        CHECK_NEAR(same.cos_matched, 1, 1e-9);
        CHECK_NEAR(same.modality_gap, 0, 1e-9);
        CHECK_OK(ml_align_scores(X, Y, N, D, D, &o, &s, &err), &err);
        CHECK_OK(ml_align_scores(Xp, Yp, N, D, D, &o, &sp, &err), &err);
        CHECK_NEAR(s.cos_matched, sp.cos_matched, 1e-9);
        CHECK_NEAR(s.cos_mismatched, sp.cos_mismatched, 1e-9);
        CHECK_NEAR(s.mutual_knn, sp.mutual_knn, 1e-12);
        CHECK_NEAR(s.cka_linear, sp.cka_linear, 1e-9);
        CHECK_NEAR(s.cka_rbf, sp.cka_rbf, 1e-9);
        CHECK_NEAR(s.cka_unbiased, sp.cka_unbiased, 1e-9);
        CHECK_NEAR(s.cknna, sp.cknna, 1e-9);
        CHECK_NEAR(s.modality_gap, sp.modality_gap, 1e-9);
        /* permuting only the captions turns matched pairs into mismatched ones */
        MlAlignScores mis;
        CHECK_OK(ml_align_scores(X, Yp, N, D, D, &o, &mis, &err), &err);
        CHECK(fabs(mis.cos_matched - s.cos_matched) > 1e-7);
        CHECK_NEAR(mis.modality_gap, s.modality_gap, 1e-9);
    }
    free(img), free(cap), free(px), free(X), free(Y), free(Xp), free(Yp);
    ml_extract_free(&x);
}

/* A caption longer than one prefill chunk: every chunk's rows count towards the mean. */
static void test_long_caption_chunks(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/long", test_tmpdir("test_align_extract"));
    MlLvlm *lm = ref_open_long_context(dir, ML_F32, 21);
    CHECK(lm != NULL);
    if (!lm) return;
    RefModel lr;
    ref_load(&lr, ml_lvlm_checkpoint(lm));
    MlError err = {0};
    MlLayerList lv = {.n = 0}, lt;
    CHECK_OK(ml_layers_parse("all", -1, ml_lvlm_layers(lm) - 1, &lt, &err), &err);
    char *caption = malloc(8000);
    caption[0] = 0;
    for (int i = 0; i < 70; i++) strcat(caption, i % 3 ? "red star " : "a small checked heart ");
    int64_t n;
    CHECK_OK(ml_extract_caption_tokens(lm, caption, &n, &err), &err);
    CHECK(n > ML_DECODER_CHUNK + 50);
    MlExtractor x;
    if (ml_extract_init(&x, lm, &lv, &lt, NULL, n, &err)) {
        CHECK_OK(1, &err);
        free(caption);
        ml_lvlm_close(lm);
        return;
    }
    const int64_t D = ml_lvlm_hidden(lm), L = ml_lvlm_layers(lm), V = ml_lvlm_vocab(lm);
    float *cap = malloc(sizeof(float) * lt.n * D);
    CHECK_OK(ml_extract_caption(&x, caption, cap, &err), &err);
    int32_t *ids = malloc(sizeof(int32_t) * (n + 1));
    size_t got;
    CHECK_OK(ml_tokenizer_encode(ml_lvlm_tokenizer(lm), caption, strlen(caption), ids + 1, (size_t)n, &got, &err), &err);
    ids[0] = ml_tokenizer_bos_id(ml_lvlm_tokenizer(lm));
    double *logits = malloc(sizeof(double) * (n + 1) * V), *resid = malloc(sizeof(double) * L * (n + 1) * D);
    double *want = malloc(sizeof(double) * D);
    RefEdits none = ref_no_edits();
    ref_logits(&lr, ids, n + 1, NULL, &none, logits, resid);
    for (int64_t l = 0; l < L; l++) {
        for (int64_t i = 0; i < D; i++) {
            double s = 0;
            for (int64_t t = 1; t <= n; t++) s += resid[((size_t)l * (n + 1) + t) * D + i];
            want[i] = s / (double)n;
        }
        CHECK_NEAR(max_abs_diff(cap + (l + 1) * D, want, D), 0, 1e-4);
    }
    free(caption), free(cap), free(ids), free(logits), free(resid), free(want);
    ml_extract_free(&x);
    ml_lvlm_close(lm);
}

int main(int argc, char **argv) {
    (void)argc;
    if (ml_threads_env_prepare()) execv("/proc/self/exe", argv);
    ml_threads_set(0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tiny", test_tmpdir("test_align_extract"));
    MlError err = {0};
    if (ref_make_tiny(dir, ML_F32, 21) || ml_lvlm_open(&model, dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_align_extract") | 1;
    }
    ref_load(&ref, ml_lvlm_checkpoint(model));
    pixels = malloc(sizeof(float) * ml_lvlm_pixel_floats(model));
    random_pixels(pixels);
    RUN(test_layer_lists);
    RUN(test_vision_layers_by_hand);
    RUN(test_caption_layers);
    RUN(test_image_layers);
    RUN(test_repeat_and_subsets);
    RUN(test_alignment_identities);
    RUN(test_long_caption_chunks);
    free(pixels);
    ml_lvlm_close(model);
    return test_summary("test_align_extract");
}
