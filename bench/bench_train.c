/* bench_train: training throughput of the organism's shapes (recipes/organism.json
   model) against OpenBLAS sgemm peak measured in the same run.
   Prints one JSON line: tokens/s, achieved GFLOP/s of the stage-3 step
   (6 x weights x the tokens each weight sees: the ViT's on its patches and
   class token, the projector's on the image tokens, the LM's on the whole
   sequence; embedding tables are lookups and do not count) and the sgemm
   peak: the best of 256^3 .. 1024^3 products with the same thread count,
   each thread running its own product, as the training workers do. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/progress.h"
#include "io/tokenizer_json.h"
#include "kernels/threads.h"
#include "model/init.h"
#include "train/loss.h"
#include "train/model.h"
#include "train/step.h"

static double sgemm_peak_at(int threads, int n) {
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = ml_time_now();
        int iters = n >= 1024 ? 2 : n >= 512 ? 8 : 40;
#pragma omp parallel num_threads(threads)
        for (int it = 0; it < iters; it++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double s = ml_time_now() - t0, g = 2.0 * n * n * n * iters * threads / s / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static double sgemm_peak(int threads) {
    double best = 0;
    for (int n = 256; n <= 1024; n *= 2) {
        double g = sgemm_peak_at(threads, n);
        if (g > best) best = g;
    }
    return best;
}

int main(int argc, char **argv) {
    if (ml_threads_env_prepare()) { /* the CLI's runtime settings (OpenMP wait policy, OpenBLAS core) */
        execv("/proc/self/exe", argv);
        perror("bench_train: re-exec");
        return 1;
    }
    int threads = ml_threads_set(argc > 1 ? atoi(argv[1]) : 2); /* OpenBLAS single-threaded inside each worker */
    MlError err = {0};
    char *json;
    size_t len;
    const char *dir = "build/bench_train", *tok = "build/bench_train.tok.json";
    if (ml_tokenizer_json_builtin(&json, &len, &err) || ml_file_write(tok, json, len, &err)) goto fail;
    free(json);
    MlLlavaConfig cfg;
    if (ml_init_preset("tiny", &cfg, &err)) goto fail;
    cfg.vision = (MlVisionConfig){.hidden = 96, .intermediate = 384, .n_layers = 3, .n_heads = 4, .image_size = 64,
                                  .patch_size = 16, .n_channels = 3, .projection_dim = 96, .layer_norm_eps = 1e-5f,
                                  .act = ML_ACT_QUICK_GELU};
    cfg.text.hidden = 128;
    cfg.text.intermediate = 344;
    cfg.text.n_layers = 3;
    cfg.text.n_heads = cfg.text.n_kv_heads = 8;
    cfg.text.head_dim = 16;
    cfg.vision_feature_layer = -1;
    MlTrainModel m;
    if (ml_train_init_folder(dir, cfg, tok, 1, &err) || ml_train_model_open(&m, dir, 0, &err)) goto fail;
    static uint8_t rgb[64 * 64 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (uint8_t)(i * 37);
    int64_t zero = 0;
    MlTrainData d = {.n_images = 1, .side = 64, .rgb = rgb, .qa_first = &zero, .qa_count = &zero,
                     .cap_first = &zero, .cap_count = &zero};
    MlTrainWorker *w = calloc((size_t)threads, sizeof *w);
    for (int k = 0; k < threads; k++)
        if (ml_train_worker_init(&w[k], &m, 128, &err)) goto fail;
    /* one image + 6 packed QA turns is about 110 tokens (see docs/training.md) */
    const int64_t T = 110, examples = 512;
    size_t params = 0;
    double flops_per_example = 0; /* forward + backward */
    for (int i = 0; i < m.n_tensors; i++) {
        const MlTrainTensor *t = &m.tensors[i];
        params += t->count;
        if (t->ndim != 2 || strstr(t->name, "embed_tokens") || strstr(t->name, "position_embedding")) continue;
        const MlTrainPart part = ml_train_tensor_part(t);
        const double tokens = part == ML_PART_VISION ? m.vis.n_tokens : part == ML_PART_PROJECTOR ? m.vis.n_out : T;
        flops_per_example += 6.0 * (double)t->count * tokens;
    }
    MlTrainParts all = {1, 1, 1};
    omp_set_max_active_levels(1);
    double t0 = ml_time_now();
#pragma omp parallel num_threads(threads)
    {
        int k = omp_get_thread_num();
        omp_set_num_threads(1);
        for (int64_t e = k; e < examples; e += threads) {
            MlTrainWorker *x = &w[k];
            x->T = 0;
            x->ids[x->T++] = 1;
            for (int i = 0; i < m.vis.n_out; i++) x->ids[x->T++] = m.cfg.image_token_id;
            for (; x->T < T; x->T++) x->ids[x->T] = 10 + (int32_t)(x->T % 50);
            for (int64_t i = 0; i < T; i++) x->targets[i] = i % 4 == 0 && i + 1 < T ? x->ids[i + 1] : ML_LOSS_IGNORE;
            x->image = 0;
            MlError e2 = {0};
            ml_train_example_run(x, &m, &d, &all, 1.0f, &e2);
        }
    }
    double s = ml_time_now() - t0;
    double tok_s = (double)(examples * T) / s, gflops = flops_per_example * examples / s / 1e9,
           peak = sgemm_peak(threads);
    printf("{\"bench\":\"train\",\"threads\":%d,\"params\":%zu,\"tokens_per_s\":%.0f,\"gflops\":%.2f,"
           "\"sgemm_peak_gflops\":%.2f,\"fraction_of_peak\":%.3f}\n",
           threads, params, tok_s, gflops, peak, gflops / peak);
    for (int k = 0; k < threads; k++) ml_train_worker_free(&w[k]);
    free(w);
    ml_train_model_close(&m);
    return 0;
fail:
    fprintf(stderr, "bench_train: %s\n", err.msg);
    return 1;
}
