/* test_model.c: vision tower, projector and decoder on tiny random
   checkpoints (f32, f16, bf16) against the naive double-precision model in
   model_ref.h; chunked prefill; context and vocabulary errors; position ids. */
#include "test.h"

#include <unistd.h>

#include "core/file.h"
#include "decode/session.h"
#include "kernels/threads.h"
#include "model/lvlm.h"
#include "model_ref.h"

static uint64_t rs = 99;
static float frand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((rs >> 40) / 8388608.0 - 1.0);
}

static const char *model_dir(const char *name, MlDType dt) {
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", test_tmpdir("test_model"), name);
    if (ref_make_tiny(dir, dt, 7)) return NULL;
    return dir;
}

/* ids: BOS, a few words, the image tokens, a few more words. */
static int64_t make_prompt(const MlLvlm *m, int32_t *ids, int with_image, int n_words) {
    int64_t n = 0;
    ids[n++] = 1;
    for (int i = 0; i < n_words; i++) ids[n++] = 3 + (int32_t)(fabsf(frand()) * 400);
    if (with_image)
        for (int64_t i = 0; i < ml_lvlm_max_image_tokens(m); i++) ids[n++] = ml_lvlm_image_token_id(m);
    for (int i = 0; i < n_words; i++) ids[n++] = 3 + (int32_t)(fabsf(frand()) * 400);
    return n;
}

static double max_diff_fd(const float *a, const double *b, size_t n) {
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs(a[i] - b[i]));
    return w;
}

/* Image features and every position's logits against the reference. */
static void check_against_reference(const char *dir, double tol) {
    MlError err = {0};
    MlLvlm *m = NULL;
    CHECK_OK(ml_lvlm_open(&m, dir, &err), &err);
    if (!m) return;
    RefModel r;
    ref_load(&r, ml_lvlm_checkpoint(m));
    const int64_t D = ml_lvlm_hidden(m), V = ml_lvlm_vocab(m), n_img = ml_lvlm_max_image_tokens(m);
    float *px = malloc(sizeof(float) * ml_lvlm_pixel_floats(m));
    for (int64_t i = 0; i < ml_lvlm_pixel_floats(m); i++) px[i] = 2 * frand();
    float *feats = malloc(sizeof(float) * n_img * D);
    double *rfeats = malloc(sizeof(double) * n_img * D);
    int64_t rows = 0;
    CHECK_OK(ml_lvlm_encode_image(m, feats, px, NULL, &rows, &err), &err);
    CHECK(rows == ml_checkpoint_config(ml_lvlm_checkpoint(m))->image_seq_length);
    ref_image_features(&r, px, rfeats);
    double fd = max_diff_fd(feats, rfeats, (size_t)(n_img * D));
    if (fd > tol) fprintf(stderr, "  %s: image features differ by %g\n", dir, fd);
    CHECK(fd <= tol);
    int32_t ids[128];
    int64_t n = make_prompt(m, ids, 1, 5);
    float *logits = malloc(sizeof(float) * n * V);
    double *rlog = malloc(sizeof(double) * n * V);
    ref_logits(&r, ids, n, rfeats, NULL, rlog, NULL);
    MlSession *s;
    CHECK_OK(ml_session_new(&s, m, 0, &err), &err);
    CHECK_OK(ml_session_forward(s, ids, n, feats, n_img, NULL, logits, 1, &err), &err);
    double ld = max_diff_fd(logits, rlog, (size_t)(n * V));
    if (ld > tol) fprintf(stderr, "  %s: logits differ by %g\n", dir, ld);
    CHECK(ld <= tol);
    /* last-position logits alone are the last row of the above */
    float *last = malloc(sizeof(float) * V);
    MlSession *s2;
    CHECK_OK(ml_session_new(&s2, m, 0, &err), &err);
    CHECK_OK(ml_session_prefill(s2, ids, n, feats, n_img, NULL, last, &err), &err);
    CHECK(max_diff_fd(last, rlog + (n - 1) * V, (size_t)V) <= tol);
    ml_session_free(s2);
    ml_session_free(s);
    free(px), free(feats), free(rfeats), free(logits), free(rlog), free(last);
    ml_lvlm_close(m);
}

static void test_f32(void) {
    const char *dir = model_dir("f32", ML_F32);
    CHECK(dir != NULL);
    if (dir) check_against_reference(dir, 1e-4);
}

static void test_f16(void) {
    const char *dir = model_dir("f16", ML_F16);
    CHECK(dir != NULL);
    if (dir) check_against_reference(dir, 1e-4);
}

static void test_bf16(void) {
    const char *dir = model_dir("bf16", ML_BF16);
    CHECK(dir != NULL);
    if (dir) check_against_reference(dir, 1e-4);
}

/* Rewrites one "key": value pair of a checkpoint's config.json. */
static void edit_config(const char *dir, const char *from, const char *to) {
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    MlError err = {0};
    char *text;
    size_t n;
    CHECK_OK(ml_file_read(path, &text, &n, &err), &err);
    char *hit = strstr(text, from);
    CHECK(hit != NULL);
    if (!hit) {
        free(text);
        return;
    }
    size_t out_n = n - strlen(from) + strlen(to);
    char *out = malloc(out_n + 1);
    size_t pre = (size_t)(hit - text);
    memcpy(out, text, pre);
    memcpy(out + pre, to, strlen(to));
    strcpy(out + pre + strlen(to), hit + strlen(from));
    CHECK_OK(ml_file_write(path, out, out_n, &err), &err);
    free(text);
    free(out);
}

/* vision_feature_select_strategy "full" (CLS kept) and the last layer's features. */
static void test_full_strategy_last_layer(void) {
    const char *dir = model_dir("full", ML_F32);
    CHECK(dir != NULL);
    if (!dir) return;
    edit_config(dir, "\"vision_feature_select_strategy\": \"default\"", "\"vision_feature_select_strategy\": \"full\"");
    edit_config(dir, "\"image_seq_length\": 16", "\"image_seq_length\": 17");
    edit_config(dir, "\"vision_feature_layer\": -2", "\"vision_feature_layer\": -1");
    MlError err = {0};
    MlLvlm *m = NULL;
    CHECK_OK(ml_lvlm_open(&m, dir, &err), &err);
    if (m) {
        CHECK(ml_lvlm_max_image_tokens(m) == 17);
        CHECK(ml_lvlm_vision_layers(m) == 3);
        ml_lvlm_close(m);
    }
    check_against_reference(dir, 1e-4);
}

/* A prompt processed in chunks of 5 rows equals the reference too. */
static void test_chunked_prefill(void) {
    const char *dir = model_dir("chunk", ML_F16);
    MlError err = {0};
    MlLvlm *m = NULL;
    CHECK_OK(ml_lvlm_open(&m, dir, &err), &err);
    if (!m) return;
    RefModel r;
    ref_load(&r, ml_lvlm_checkpoint(m));
    const int64_t V = ml_lvlm_vocab(m);
    int32_t ids[64];
    int64_t n = make_prompt(m, ids, 0, 11);
    double *rlog = malloc(sizeof(double) * n * V);
    ref_logits(&r, ids, n, NULL, NULL, rlog, NULL);
    ml_lvlm_decoder_state(m)->max_rows = 5;
    float *logits = malloc(sizeof(float) * n * V);
    MlSession *s;
    CHECK_OK(ml_session_new(&s, m, 0, &err), &err);
    CHECK_OK(ml_session_forward(s, ids, n, NULL, 0, NULL, logits, 1, &err), &err);
    CHECK(max_diff_fd(logits, rlog, (size_t)(n * V)) <= 1e-4);
    /* token by token (the decode path) as well */
    MlSession *t;
    CHECK_OK(ml_session_new(&t, m, 0, &err), &err);
    for (int64_t i = 0; i < n; i++) {
        CHECK_OK(ml_session_prefill(t, ids + i, 1, NULL, 0, NULL, logits, &err), &err);
        CHECK(max_diff_fd(logits, rlog + i * V, (size_t)V) <= 1e-4);
    }
    CHECK(ml_session_length(t) == n && ml_session_token(t, 3) == ids[3]);
    ml_session_free(s);
    ml_session_free(t);
    free(logits), free(rlog);
    ml_lvlm_close(m);
}

static void test_errors(void) {
    const char *dir = model_dir("err", ML_F32);
    MlError err = {0};
    MlLvlm *m = NULL;
    CHECK_OK(ml_lvlm_open(&m, dir, &err), &err);
    if (!m) return;
    const int64_t max_pos = ml_lvlm_context(m), V = ml_lvlm_vocab(m);
    int32_t *ids = calloc((size_t)max_pos + 1, sizeof(int32_t));
    for (int64_t i = 0; i <= max_pos; i++) ids[i] = 5;
    float *logits = malloc(sizeof(float) * V);
    MlSession *s;
    CHECK_OK(ml_session_new(&s, m, 0, &err), &err);
    CHECK(ml_session_prefill(s, ids, max_pos + 1, NULL, 0, NULL, logits, &err) == ML_ERR_RANGE);
    CHECK(strstr(err.msg, "max_position_embeddings") != NULL);
    CHECK(ml_session_length(s) == 0);
    /* exactly the context fits, one more token does not */
    CHECK_OK(ml_session_prefill(s, ids, max_pos, NULL, 0, NULL, logits, &err), &err);
    CHECK(ml_session_prefill(s, ids, 1, NULL, 0, NULL, logits, &err) == ML_ERR_RANGE);
    ml_session_free(s);
    /* ids outside the vocabulary; image tokens without matching features */
    CHECK_OK(ml_session_new(&s, m, 0, &err), &err);
    int32_t bad[3] = {1, (int32_t)V, 4};
    CHECK(ml_session_prefill(s, bad, 3, NULL, 0, NULL, logits, &err) == ML_ERR_RANGE);
    CHECK(strstr(err.msg, "position 1") != NULL);
    int32_t img[3] = {1, ml_lvlm_image_token_id(m), 4};
    float feat[1024] = {0};
    CHECK(ml_session_prefill(s, img, 3, feat, 2, NULL, logits, &err) == ML_ERR_SHAPE);
    CHECK(ml_session_length(s) == 0);
    ml_session_free(s);
    free(ids), free(logits);
    ml_lvlm_close(m);
    /* a folder that is not a checkpoint */
    CHECK(ml_lvlm_open(&m, "build/no-such-model", &err) != ML_OK && m == NULL);
    CHECK(strstr(err.msg, "no-such-model") != NULL);
}

/* LLaVA's position ids are the token index on every axis; the decoder reads
   them: given explicitly they reproduce the cache-length run bit for bit,
   shifted by a constant they leave the logits (RoPE is relative), reversed
   they change them. */
static void test_positions(void) {
    const char *dir = model_dir("pos", ML_F32);
    MlError err = {0};
    MlLvlm *m = NULL;
    CHECK_OK(ml_lvlm_open(&m, dir, &err), &err);
    if (!m) return;
    enum { N = 6 };
    int32_t pos[ML_POS_AXES * N];
    ml_lvlm_positions(m, NULL, N, 7, pos);
    for (int a = 0; a < ML_POS_AXES; a++)
        for (int i = 0; i < N; i++) CHECK(pos[a * N + i] == 7 + i);
    const int64_t D = ml_lvlm_hidden(m), V = ml_lvlm_vocab(m);
    int32_t ids[N] = {1, 17, 42, 99, 5, 250};
    float *x = malloc(sizeof(float) * N * D), *base = malloc(sizeof(float) * V), *lg = malloc(sizeof(float) * V);
    CHECK_OK(ml_lvlm_embed(m, x, ids, N, NULL, 0, &err), &err);
    const MlDecoder *dec = ml_lvlm_decoder(m);
    MlDecoderState *st = ml_lvlm_decoder_state(m);
    MlKVCache kv;
    CHECK_OK(ml_lvlm_kv_init(m, &kv, NULL, N, &err), &err);
    CHECK_OK(ml_decoder_forward(dec, st, &kv, x, N, NULL, base, 0, &err), &err);
    int32_t p[ML_POS_AXES * N];
    for (int k = 0; k < 3; k++) {
        for (int a = 0; a < ML_POS_AXES; a++)
            for (int i = 0; i < N; i++) p[a * N + i] = k == 0 ? i : k == 1 ? 100 + i : N - 1 - i;
        kv.n = 0;
        CHECK_OK(ml_decoder_forward_at(dec, st, &kv, x, N, p, NULL, lg, 0, &err), &err);
        double d = 0;
        for (int64_t j = 0; j < V; j++) d = fmax(d, fabs((double)lg[j] - base[j]));
        if (k == 0) CHECK(d == 0);
        else if (k == 1) CHECK(d < 1e-3);
        else CHECK(d > 1e-3);
    }
    ml_kv_cache_free(&kv);
    free(x), free(base), free(lg);
    ml_lvlm_close(m);
}

int main(int argc, char **argv) {
    (void)argc;
    if (ml_threads_env_prepare()) execv("/proc/self/exe", argv);
    ml_threads_set(0);
    RUN(test_f32);
    RUN(test_f16);
    RUN(test_bf16);
    RUN(test_full_strategy_last_layer);
    RUN(test_chunked_prefill);
    RUN(test_errors);
    RUN(test_positions);
    return test_summary("test_model");
}
