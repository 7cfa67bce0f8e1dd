/* test_train_step: the whole model's gradient (vision, projector, decoder,
   embeddings, through the image rows) against central differences of the
   engine's own forward, on a tiny config; the recorded forward gives the
   same logits as the inference forward, bit for bit. */
#include <omp.h>

#include "core/file.h"
#include "core/rng.h"
#include "io/tokenizer_json.h"
#include "model/init.h"
#include "train/loss.h"
#include "train/mention_head.h"
#include "train/model.h"
#include "train/step.h"
#include "test.h"

static char g_dir[1024];
static MlTrainModel g_m;
static MlTrainData g_d;
static uint8_t g_rgb[32 * 32 * 3];

static int setup(void) {
    MlError err = {0};
    char tok[1100], *json;
    size_t len;
    snprintf(g_dir, sizeof g_dir, "%s/model", test_tmpdir("train_step"));
    snprintf(tok, sizeof tok, "%s/tok.json", test_tmpdir("train_step"));
    if (ml_tokenizer_json_builtin(&json, &len, &err) || ml_file_write(tok, json, len, &err)) return 1;
    free(json);
    MlLlavaConfig cfg;
    if (ml_init_preset("tiny", &cfg, &err)) return 1;
    cfg.vision_feature_layer = -1;
    cfg.vision.n_layers = 2;
    if (ml_train_init_folder(g_dir, cfg, tok, 7, &err)) {
        printf("%s\n", err.msg);
        return 1;
    }
    if (ml_train_model_open(&g_m, g_dir, 0, &err)) {
        printf("%s\n", err.msg);
        return 1;
    }
    /* norms and biases away from 1 and 0 so a dropped term shows */
    uint64_t s = 99;
    for (int i = 0; i < g_m.n_tensors; i++) {
        MlTrainTensor *t = &g_m.tensors[i];
        if (t->ndim != 1) continue;
        for (size_t j = 0; j < t->count; j++)
            g_m.block.params[t->offset + j] += 0.1f * (float)((int)(ml_splitmix64(&s) % 2001) - 1000) / 1000.0f;
    }
    for (size_t i = 0; i < sizeof g_rgb; i++) g_rgb[i] = (uint8_t)(ml_splitmix64(&s) & 255);
    static int64_t zero = 0, one = 1;
    g_d = (MlTrainData){.n_images = 1, .side = 32, .rgb = g_rgb, .qa_first = &zero, .qa_count = &one,
                        .cap_first = &zero, .cap_count = &zero};
    return 0;
}

/* The example: <s>USER: <image>x16\n... with five target tokens. */
static void build(MlTrainWorker *w) {
    int32_t ids[] = {1, 10, 20};
    w->T = 0;
    for (int i = 0; i < 3; i++) w->ids[w->T++] = ids[i];
    for (int i = 0; i < g_m.vis.n_out; i++) w->ids[w->T++] = g_m.cfg.image_token_id;
    int32_t tail[] = {30, 40, 50, 60, 70, 80, 90};
    for (int i = 0; i < 7; i++) w->ids[w->T++] = tail[i];
    for (int64_t i = 0; i < w->T; i++) w->targets[i] = ML_LOSS_IGNORE;
    for (int64_t i = w->T - 6; i < w->T - 1; i++) w->targets[i] = w->ids[i + 1];
    w->image = 0;
}

static double loss_at(MlTrainWorker *w) {
    MlTrainParts none = {0, 0, 0};
    MlError err = {0};
    build(w);
    w->loss_sum = 0;
    ml_train_example_run(w, &g_m, &g_d, &none, 1.0f, &err);
    return w->loss_sum;
}

static void test_whole_model_gradient(void) {
    MlError err = {0};
    MlTrainWorker w, probe;
    CHECK_OK(ml_train_worker_init(&w, &g_m, 64, &err), &err);
    CHECK_OK(ml_train_worker_init(&probe, &g_m, 64, &err), &err);
    build(&w);
    MlTrainParts all = {1, 1, 1};
    CHECK_OK(ml_train_example_run(&w, &g_m, &g_d, &all, 1.0f, &err), &err);
    int checked = 0, bad = 0, parts_seen[3] = {0};
    for (int i = 0; i < g_m.n_tensors; i++) {
        MlTrainTensor *t = &g_m.tensors[i];
        /* the unused post_layernorm gets no gradient: skip it */
        if (strstr(t->name, "post_layernorm")) continue;
        /* the entries with the largest gradient, plus one fixed entry */
        size_t best = 0;
        for (size_t j = 1; j < t->count; j++)
            if (fabsf(w.grad[t->offset + j]) > fabsf(w.grad[t->offset + best])) best = j;
        size_t picks[2] = {best, t->count / 3};
        for (int p = 0; p < 2; p++) {
            float *x = &g_m.block.params[t->offset + picks[p]];
            float keep = *x, h = 1e-2f * (fabsf(keep) > 1.0f ? fabsf(keep) : 1.0f);
            *x = keep + h;
            double lp = loss_at(&probe);
            *x = keep - h;
            double lm = loss_at(&probe);
            *x = keep;
            double fd = (lp - lm) / (2.0 * h), g = w.grad[t->offset + picks[p]];
            int ok = fabs(fd - g) <= 2e-3 + 3e-2 * fabs(fd);
            if (!ok) {
                bad++;
                printf("  %s[%zu]: backward %.6g, central difference %.6g\n", t->name, picks[p], g, fd);
            }
            if (p == 0 && fabs(g) > 1e-4) parts_seen[ml_train_tensor_part(t) < 3 ? ml_train_tensor_part(t) : 0] = 1;
            checked++;
        }
    }
    CHECK(bad == 0);
    CHECK(checked > 60);
    /* the gradient really reaches the vision tower through the image rows */
    CHECK(parts_seen[ML_PART_VISION] && parts_seen[ML_PART_PROJECTOR] && parts_seen[ML_PART_TEXT]);
    ml_train_worker_free(&w);
    ml_train_worker_free(&probe);
}

static void test_record_keeps_logits(void) {
    MlError err = {0};
    MlTrainWorker w;
    CHECK_OK(ml_train_worker_init(&w, &g_m, 64, &err), &err);
    build(&w);
    const int64_t T = w.T, D = g_m.dec.cfg.hidden, V = g_m.dec.cfg.vocab;
    for (int64_t i = 0; i < T; i++) ml_tensor_row_f32(w.x + i * D, &g_m.dec.embed, w.ids[i]);
    float *a = malloc(sizeof(float) * (size_t)(T * V)), *b = malloc(sizeof(float) * (size_t)(T * V));
    w.kv.n = 0;
    CHECK_OK(ml_decoder_forward(&g_m.dec, &w.dst, &w.kv, w.x, T, NULL, a, 1, &err), &err);
    w.kv.n = 0;
    CHECK_OK(ml_decoder_forward_rec(&g_m.dec, &w.dst, &w.kv, w.x, T, NULL, b, 1, &w.drec, &err), &err);
    CHECK(memcmp(a, b, sizeof(float) * (size_t)(T * V)) == 0);
    float *f1 = malloc(sizeof(float) * (size_t)(g_m.vis.n_out * g_m.vis.cfg.hidden)),
          *f2 = malloc(sizeof(float) * (size_t)(g_m.vis.n_out * g_m.vis.cfg.hidden));
    CHECK_OK(ml_train_pixels(&g_m, &g_d, 0, w.pixels, &err), &err);
    CHECK_OK(ml_vision_forward(&g_m.vis, &w.vst, f1, w.pixels, NULL, &err), &err);
    CHECK_OK(ml_vision_forward_rec(&g_m.vis, &w.vst, f2, w.pixels, NULL, &w.vrec, &err), &err);
    CHECK(memcmp(f1, f2, sizeof(float) * (size_t)(g_m.vis.n_out * g_m.vis.cfg.hidden)) == 0);
    /* a recorded forward must start at position 0 */
    w.kv.n = 1;
    CHECK(ml_decoder_forward_rec(&g_m.dec, &w.dst, &w.kv, w.x, 2, NULL, b, 1, &w.drec, &err) == ML_ERR_ARG);
    free(a);
    free(b);
    free(f1);
    free(f2);
    ml_train_worker_free(&w);
}

/* The mention head (train/mention_head.h) reads the residual after the
   first layer at two text positions, the answer head the last layer's
   output at a third: their losses' gradients, added inside the decoder's
   backward, match central differences of the total loss, in the heads and
   in the layers below them. */
static double mention_loss_at(MlTrainWorker *w, MlTrainModel *m, const MlTrainData *d) {
    MlTrainParts none = {0, 0, 0};
    MlError err = {0};
    build(w);
    w->loss_sum = w->mention_sum = w->answer_sum = 0;
    ml_train_example_run(w, m, d, &none, 1.0f, &err);
    return w->loss_sum + (double)w->mention_weight * w->mention_sum + (double)w->answer_weight * w->answer_sum;
}

static void test_mention_gradient(void) {
    MlError err = {0};
    MlTrainModel m;
    const size_t n_mention = ml_mention_head_size(g_m.dec.cfg.hidden, 1),
                 n_aux = n_mention + ml_mention_head_size(g_m.dec.cfg.hidden, 2);
    CHECK(n_mention > 0 && n_aux > n_mention);
    CHECK_OK(ml_train_model_open(&m, g_dir, n_aux, &err), &err);
    memcpy(m.block.params, g_m.block.params, sizeof(float) * g_m.n_model);
    uint64_t s = 5;
    for (size_t i = 0; i < n_aux; i++)
        m.block.params[m.n_model + i] = 0.5f * (float)((int)(ml_splitmix64(&s) % 2001) - 1000) / 1000.0f;
    MlTrainObject obj[2] = {{.cx = 3.0f, .cy = 30.0f}, {.cx = 20.0f, .cy = 9.0f}};
    int64_t zero = 0, two = 2;
    MlTrainData d = g_d;
    d.obj = obj;
    d.n_obj = 2;
    d.obj_first = &zero;
    d.obj_count = &two;
    MlTrainWorker w, probe;
    CHECK_OK(ml_train_worker_init(&w, &m, 64, &err), &err);
    CHECK_OK(ml_train_worker_init(&probe, &m, 64, &err), &err);
    for (MlTrainWorker *x = &w; x; x = x == &w ? &probe : NULL) {
        x->mention_head = m.n_model;
        x->answer_head = m.n_model + n_mention;
        x->mention_weight = 0.7f;
        x->answer_weight = 0.4f;
        x->mention_layers = 1;
        x->n_relations = 1;
        x->mention_at[0] = 3 + m.vis.n_out + 2; /* text tokens after the image */
        x->mention_at[1] = 3 + m.vis.n_out + 4;
        x->answer_at[0] = 3 + m.vis.n_out + 5;
        x->relation_object[0] = 0;
        x->relation_object[1] = 1;
    }
    CHECK(m.dec.cfg.n_layers > 1); /* so the head sits below the last layer */
    build(&w);
    MlTrainParts all = {1, 1, 1};
    CHECK_OK(ml_train_example_run(&w, &m, &d, &all, 1.0f, &err), &err);
    CHECK(w.mention_n == 2 && w.answer_n == 1);
    int checked = 0, bad = 0;
    for (int i = 0; i <= m.n_tensors; i++) {
        /* the heads' floats (i == n_tensors), then the text tensors */
        size_t off = i < m.n_tensors ? m.tensors[i].offset : m.n_model,
               count = i < m.n_tensors ? m.tensors[i].count : n_aux;
        if (i < m.n_tensors && ml_train_tensor_part(&m.tensors[i]) != ML_PART_TEXT) continue;
        size_t best = 0;
        for (size_t j = 1; j < count; j++)
            if (fabsf(w.grad[off + j]) > fabsf(w.grad[off + best])) best = j;
        float *x = &m.block.params[off + best];
        float keep = *x, h = 1e-2f * (fabsf(keep) > 1.0f ? fabsf(keep) : 1.0f);
        *x = keep + h;
        double lp = mention_loss_at(&probe, &m, &d);
        *x = keep - h;
        double lm = mention_loss_at(&probe, &m, &d);
        *x = keep;
        double fd = (lp - lm) / (2.0 * h), g = w.grad[off + best];
        if (fabs(fd - g) > 2e-3 + 3e-2 * fabs(fd)) {
            bad++;
            printf("  %s[%zu]: backward %.6g, central difference %.6g\n", i < m.n_tensors ? m.tensors[i].name : "head",
                   best, g, fd);
        }
        checked++;
    }
    CHECK(bad == 0);
    CHECK(checked > 10);
    ml_train_worker_free(&w);
    ml_train_worker_free(&probe);
    ml_train_model_close(&m);
}

/* A saved model reloads to the same parameters. */
static void test_save_roundtrip(void) {
    MlError err = {0};
    char out[1100];
    snprintf(out, sizeof out, "%s/saved", test_tmpdir("train_step"));
    CHECK_OK(ml_train_model_save(&g_m, out, &err), &err);
    MlTrainModel m2;
    CHECK_OK(ml_train_model_open(&m2, out, 0, &err), &err);
    CHECK(m2.n_model == g_m.n_model);
    CHECK(memcmp(m2.block.params, g_m.block.params, sizeof(float) * g_m.n_model) == 0);
    ml_train_model_close(&m2);
}

int main(void) {
    omp_set_num_threads(1);
    if (setup()) {
        printf("test_train_step: setup failed\n");
        return 1;
    }
    RUN(test_record_keeps_logits);
    RUN(test_whole_model_gradient);
    RUN(test_mention_gradient);
    RUN(test_save_roundtrip);
    ml_train_model_close(&g_m);
    return test_summary("test_train_step");
}
