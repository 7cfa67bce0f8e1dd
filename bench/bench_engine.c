/*
** bench_engine.c: how fast the engine runs LLaVA on this machine, against
** what the machine can do, in one run (see bench/README.md).
**
**     make bench                                  # small f16 checkpoint, made on first use
**     build/bench/bench_engine --model DIR [--threads N] [--decode-tokens N] [--out F.json]
**
** Engine figures: vision encode time; prefill GFLOP/s (FLOPs counted from
**   the config) of the whole prompt (BOS, image tokens, question); decode
**   tokens/s and the weight bytes/s it implies; prefix reuse for 6 questions
**   about one image (fork a session after the image vs recompute every
**   prompt); peak RSS vs weight bytes (the engine's alone: the mark is reset
**   after the first machine measurement, which is skipped where it cannot be).
** Machine figures, before and after the engine work (the better of the two):
** OpenBLAS sgemm peak (large square sgemm) and memory read bandwidth
** (streaming sum over a buffer far larger than the caches).
** Prints a table and writes build/bench/engine.json.  Every timing is the
** best of a few repetitions: the machine is shared, the best run is the one
** least disturbed.
*/
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/progress.h"
#include "decode/sampler.h"
#include "decode/session.h"
#include "kernels/threads.h"
#include "model/init.h"
#include "model/lvlm.h"
#include "model/prompt.h"
#include "bench_common.h"

#define DEFAULT_MODEL "build/bench/small-f16"
#define DEFAULT_OUT "build/bench/engine.json"
#define N_QUESTIONS 6
#define REPEATS 3

static const char *const QUESTIONS[N_QUESTIONS] = {
    "What's the content of the image?",
    "Is there a red circle in the image?",
    "How many objects can you see?",
    "Describe the picture in one sentence.",
    "What colour is the largest shape?",
    "Is anything on the left side of the image?",
};

typedef struct Options {
    const char *model, *out;
    int threads, decode_tokens;
} Options;

typedef struct Figures {
    const char *blas_core;
    int threads;
    double weight_bytes, decoder_bytes_per_token;
    int64_t image_tokens, prompt_tokens;
    double vision_s, vision_gflop;
    double prefill_s, prefill_gflop;
    double decode_tps;
    int64_t decode_steps;
    double reuse_recompute_s, reuse_fork_s, reuse_max_dlogit;
    double kv_bytes, peak_rss, rss_anon, rss_file;
    double sgemm_gflops, read_gbs;
} Figures;

/* ------------------------------------------------------------ FLOP counts from the config */

/* CLIP encode up to the selected layer, plus the projector. */
static double vision_flops(const MlLvlm *m) {
    const MlVision *v = ml_lvlm_vision(m);
    double N = v->n_tokens, D = v->cfg.hidden, inter = v->cfg.intermediate;
    double P = 3.0 * v->cfg.patch_size * v->cfg.patch_size, G = (double)v->grid * v->grid;
    double per_layer = 2 * N * 4 * D * D + 2 * N * 2 * D * inter + 2 * 2 * N * N * D;
    double Dt = (double)ml_lvlm_hidden(m);
    return 2 * G * P * D + v->n_run * per_layer + 2 * v->n_out * (D * Dt + Dt * Dt);
}

/* Decoder prefill of T tokens: projections, SwiGLU MLP, causal attention
   (query i reads i + 1 keys), and lm_head for the last row. */
static double prefill_flops(const MlLvlm *m, double T) {
    const MlTextConfig *c = &ml_lvlm_decoder(m)->cfg;
    double D = c->hidden, inter = c->intermediate, qd = (double)c->n_heads * c->head_dim,
           kvd = (double)c->n_kv_heads * c->head_dim;
    double proj = 2 * T * (D * qd + 2 * D * kvd + qd * D) + 2 * T * 3 * D * inter;
    double attn = 2.0 * qd * T * (T + 1); /* QK^T and PV: 2 * 2 * hd * H * T(T+1)/2 */
    return c->n_layers * (proj + attn) + 2 * D * c->vocab;
}

/* Bytes of weights one decode step reads: every decoder matrix and norm,
   the final norm and lm_head (the embedding contributes one row). */
static double decoder_bytes_per_token(const MlLvlm *m) {
    const MlDecoder *d = ml_lvlm_decoder(m);
    double b = (double)d->norm.nbytes + (double)d->lm_head.nbytes;
    for (int i = 0; i < d->cfg.n_layers; i++) {
        const MlDecoderLayer *L = &d->layers[i];
        b += (double)(L->in_norm.nbytes + L->q.nbytes + L->k.nbytes + L->v.nbytes + L->o.nbytes +
                      L->post_norm.nbytes + L->gate.nbytes + L->up.nbytes + L->down.nbytes);
    }
    return b;
}

static double kv_bytes(const MlLvlm *m, int64_t rows) {
    const MlTextConfig *c = &ml_lvlm_decoder(m)->cfg;
    return 2.0 * c->n_layers * (double)rows * c->n_kv_heads * c->head_dim * sizeof(float);
}

/* ------------------------------------------------------------ engine measurements */

/* A deterministic 320x240 picture (not square, so resize and crop both run). */
static int make_pixels(const MlLvlm *m, float *pixels, MlError *err) {
    MlImage img;
    int rc = ml_image_alloc(&img, 320, 240, err);
    if (rc) return rc;
    for (int y = 0; y < img.height; y++)
        for (int x = 0; x < img.width; x++) {
            uint8_t *p = img.rgb + 3 * ((size_t)y * img.width + x);
            p[0] = (uint8_t)(x * 255 / img.width);
            p[1] = (uint8_t)(y * 255 / img.height);
            p[2] = (uint8_t)((x / 16 + y / 16) % 2 ? 200 : 40);
        }
    rc = ml_image_preprocess(&img, ml_checkpoint_image_config(ml_lvlm_checkpoint(m)), ML_ASPECT_RESIZE, pixels, err);
    ml_image_free(&img);
    return rc;
}

static int build_prompt(const MlLvlm *m, const char *question, int32_t **ids, size_t *n, size_t *image_end,
                        MlError *err) {
    MlPromptOptions po = {ML_TEMPLATE_HF, NULL, 0};
    return ml_lvlm_prompt(m, &po, question, ml_lvlm_max_image_tokens(m), ids, n, image_end, err);
}

static double min_d(double a, double b) { return a < b ? a : b; }

/* Vision encode, prefill and decode of the first question. */
static int bench_single(MlLvlm *m, const Options *o, float *pixels, float *feats, float *logits, Figures *f,
                        MlError *err) {
    int32_t *ids = NULL, *out = NULL;
    size_t n = 0, image_end = 0;
    MlSession *s = NULL;
    MlSampler smp = {0};
    int rc = build_prompt(m, QUESTIONS[0], &ids, &n, &image_end, err);
    if (rc) return rc;
    const int64_t n_img = ml_lvlm_max_image_tokens(m);
    f->image_tokens = n_img;
    f->prompt_tokens = (int64_t)n;
    f->vision_gflop = vision_flops(m) / 1e9;
    f->prefill_gflop = prefill_flops(m, (double)n) / 1e9;
    f->vision_s = f->prefill_s = 1e30;
    for (int r = 0; r < REPEATS && !rc; r++) {
        double t0 = ml_time_now();
        rc = ml_lvlm_encode_image(m, feats, pixels, NULL, &(int64_t){0}, err);
        f->vision_s = min_d(f->vision_s, ml_time_now() - t0);
    }
    for (int r = 0; r < REPEATS && !rc; r++) {
        ml_session_free(s);
        s = NULL;
        rc = ml_session_new(&s, m, (int64_t)n + o->decode_tokens, err);
        if (rc) break;
        double t0 = ml_time_now();
        rc = ml_session_prefill(s, ids, (int64_t)n, feats, n_img, NULL, logits, err);
        f->prefill_s = min_d(f->prefill_s, ml_time_now() - t0);
    }
    f->kv_bytes = kv_bytes(m, (int64_t)n + o->decode_tokens);
    /* Greedy decode with no EOS, so every step runs; the first token comes
       from the prefill logits, each later one from one decode forward. */
    MlSamplerConfig sc = {0};
    if (!rc) rc = ml_sampler_init(&smp, &sc, (int)ml_lvlm_vocab(m), err);
    out = malloc(sizeof(int32_t) * (size_t)o->decode_tokens);
    if (!rc && !out) rc = ml_error_set(err, ML_ERR_NOMEM, "bench: out of memory");
    if (!rc) {
        int64_t n_out = 0;
        double t0 = ml_time_now();
        rc = ml_session_generate(s, &smp, logits, o->decode_tokens, -1, NULL, NULL, NULL, out, &n_out, err);
        double t = ml_time_now() - t0;
        f->decode_steps = n_out - 1;
        f->decode_tps = n_out > 1 ? (double)(n_out - 1) / t : 0;
    }
    free(out);
    ml_sampler_free(&smp);
    ml_session_free(s);
    free(ids);
    return rc;
}

/* 6 questions about one image: (a) recompute: encode the image and prefill
   each whole prompt in a fresh session; (b) reuse: encode and prefill BOS ...
   image tokens once, then fork a child per question that prefills only the
   question.  Both end with the logits of the last prompt position, which are
   compared afterwards (outside the timed parts). */
static int bench_reuse(MlLvlm *m, const float *pixels, float *feats, Figures *f, MlError *err) {
    const int64_t n_img = ml_lvlm_max_image_tokens(m), V = ml_lvlm_vocab(m);
    int32_t *ids[N_QUESTIONS] = {0};
    size_t n[N_QUESTIONS], image_end[N_QUESTIONS];
    int rc = 0;
    for (int q = 0; q < N_QUESTIONS && !rc; q++) rc = build_prompt(m, QUESTIONS[q], &ids[q], &n[q], &image_end[q], err);
    f->reuse_recompute_s = f->reuse_fork_s = 1e30;
    f->reuse_max_dlogit = 0;
    float *recomputed = malloc(sizeof(float) * (size_t)(V * N_QUESTIONS));
    float *forked = malloc(sizeof(float) * (size_t)(V * N_QUESTIONS));
    if (!rc && (!recomputed || !forked)) rc = ml_error_set(err, ML_ERR_NOMEM, "bench: out of memory");
    for (int r = 0; r < REPEATS && !rc; r++) {
        double t0 = ml_time_now();
        for (int q = 0; q < N_QUESTIONS && !rc; q++) {
            MlSession *s = NULL;
            rc = ml_lvlm_encode_image(m, feats, pixels, NULL, &(int64_t){0}, err);
            if (!rc) rc = ml_session_new(&s, m, (int64_t)n[q], err);
            if (!rc) rc = ml_session_prefill(s, ids[q], (int64_t)n[q], feats, n_img, NULL, recomputed + q * V, err);
            ml_session_free(s);
        }
        f->reuse_recompute_s = min_d(f->reuse_recompute_s, ml_time_now() - t0);
        if (rc) break;

        t0 = ml_time_now();
        MlSession *img = NULL;
        rc = ml_lvlm_encode_image(m, feats, pixels, NULL, &(int64_t){0}, err);
        if (!rc) rc = ml_session_new(&img, m, (int64_t)image_end[0], err);
        if (!rc) rc = ml_session_prefill(img, ids[0], (int64_t)image_end[0], feats, n_img, NULL, NULL, err);
        for (int q = 0; q < N_QUESTIONS && !rc; q++) {
            MlSession *child = NULL;
            int64_t rest = (int64_t)(n[q] - image_end[q]);
            rc = ml_session_fork(&child, img, rest, err);
            if (!rc) rc = ml_session_prefill(child, ids[q] + image_end[q], rest, NULL, 0, NULL, forked + q * V, err);
            ml_session_free(child);
        }
        ml_session_free(img);
        f->reuse_fork_s = min_d(f->reuse_fork_s, ml_time_now() - t0);
    }
    for (int64_t i = 0; i < V * N_QUESTIONS && !rc; i++) {
        double d = fabs((double)forked[i] - (double)recomputed[i]);
        if (d > f->reuse_max_dlogit) f->reuse_max_dlogit = d;
    }
    free(recomputed), free(forked);
    for (int q = 0; q < N_QUESTIONS; q++) free(ids[q]);
    return rc;
}

/* ------------------------------------------------------------ machine measurements */

/* Best of 5 large square sgemms (C = A B^T, as a linear layer runs). */
static double sgemm_peak_gflops(void) {
    const int n = 2048;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    for (long i = 0; i < (long)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double best = 1e30;
    /* The machine's peak uses every core: OpenBLAS gets the engine's thread count here
       (the engine itself runs OpenBLAS single-threaded inside its own OpenMP split). */
    openblas_set_num_threads(ml_threads_get());
    for (int r = 0; r < 5; r++) {
        double t0 = ml_time_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        best = min_d(best, ml_time_now() - t0);
    }
    openblas_set_num_threads(1);
    free(a), free(b), free(c);
    return 2.0 * n * n * n / best / 1e9;
}

/* ------------------------------------------------------------ driver */

static double peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0; /* Linux reports KiB */
}

/* Resets the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0);
   0 when not allowed. */
static int reset_peak_rss(void) {
    FILE *fp = fopen("/proc/self/clear_refs", "w");
    if (!fp) return 0;
    int ok = fputs("5", fp) >= 0;
    return fclose(fp) == 0 && ok;
}

/* Bytes of one /proc/self/status line: "RssAnon" (heap, stacks), "RssFile"
   (mapped files: the weights), "VmHWM" (peak RSS since the last reset); 0 when unavailable. */
static double rss_kind_bytes(const char *kind) {
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    size_t len = strlen(kind);
    while (fp && fgets(line, sizeof line, fp))
        if (!strncmp(line, kind, len) && line[len] == ':') kib = atof(line + len + 1);
    if (fp) fclose(fp);
    return kib * 1024.0;
}

static void print_table(const Figures *f, const char *model) {
    double prefill_gflops = f->prefill_gflop / f->prefill_s;
    double decode_gbs = f->decode_tps * f->decoder_bytes_per_token / 1e9;
    printf("bench_engine: %s, %d threads, OpenBLAS core %s\n", model, f->threads, f->blas_core);
    printf("  %-34s %10.1f GFLOP/s\n", "sgemm peak (2048^3)", f->sgemm_gflops);
    printf("  %-34s %10.2f GB/s\n", "memory read bandwidth (1 GiB sum)", f->read_gbs);
    printf("  %-34s %10.1f ms   (%.2f GFLOP, %.1f GFLOP/s)\n", "vision encode + projector", 1e3 * f->vision_s,
           f->vision_gflop, f->vision_gflop / f->vision_s);
    printf("  %-34s %10.1f ms   (%lld tokens, %lld image; %.2f GFLOP)\n", "prefill", 1e3 * f->prefill_s,
           (long long)f->prompt_tokens, (long long)f->image_tokens, f->prefill_gflop);
    printf("  %-34s %10.1f GFLOP/s = %.2f of sgemm peak (goal >= 0.6)\n", "prefill rate", prefill_gflops,
           prefill_gflops / f->sgemm_gflops);
    printf("  %-34s %10.1f tokens/s (%lld steps)\n", "decode", f->decode_tps, (long long)f->decode_steps);
    printf("  %-34s %10.2f GB/s = %.2f of read bandwidth (goal >= 0.7; %.1f MB/token)\n", "decode weight reads",
           decode_gbs, decode_gbs / f->read_gbs, f->decoder_bytes_per_token / 1e6);
    printf("  %-34s %10.1f ms recompute, %.1f ms fork = %.2fx (max |dlogit| %.1e)\n",
           "6 questions per image", 1e3 * f->reuse_recompute_s, 1e3 * f->reuse_fork_s,
           f->reuse_recompute_s / f->reuse_fork_s, f->reuse_max_dlogit);
    printf("  %-34s %10.1f MB = %.3f x weights %.1f MB (KV cache %.1f MB, rest %.1f MB; goal <= 1.15 x weights + KV)\n",
           "peak RSS", f->peak_rss / 1e6, f->peak_rss / f->weight_bytes, f->weight_bytes / 1e6, f->kv_bytes / 1e6,
           (f->peak_rss - f->weight_bytes - f->kv_bytes) / 1e6);
    printf("  %-34s %10.1f MB anonymous (heap, KV, scratch), %.1f MB file-backed (weights, libraries)\n",
           "RSS after the engine work", f->rss_anon / 1e6, f->rss_file / 1e6);
}

static int write_json(const char *path, const Figures *f, const char *model, MlError *err) {
    FILE *fp = fopen(path, "w");
    if (!fp) return ml_error_set(err, ML_ERR_IO, "%s: cannot write", path);
    double prefill_gflops = f->prefill_gflop / f->prefill_s;
    double decode_gbs = f->decode_tps * f->decoder_bytes_per_token / 1e9;
    fprintf(fp,
            "{\"model\": \"%s\", \"threads\": %d, \"openblas_core\": \"%s\",\n"
            " \"sgemm_peak_gflops\": %.3f, \"read_bandwidth_gbs\": %.3f,\n"
            " \"vision_encode_seconds\": %.6f, \"vision_gflop\": %.4f, \"image_tokens\": %lld,\n"
            " \"prefill_tokens\": %lld, \"prefill_seconds\": %.6f, \"prefill_gflop\": %.4f, \"prefill_gflops\": %.3f,\n"
            " \"prefill_over_sgemm_peak\": %.4f,\n"
            " \"decode_tokens_per_second\": %.3f, \"decode_steps\": %lld, \"decode_bytes_per_token\": %.0f,\n"
            " \"decode_weight_gbs\": %.3f, \"decode_over_read_bandwidth\": %.4f,\n"
            " \"reuse_questions\": %d, \"reuse_recompute_seconds\": %.6f, \"reuse_fork_seconds\": %.6f,\n"
            " \"reuse_speedup\": %.4f, \"reuse_max_abs_dlogit\": %.3e,\n"
            " \"peak_rss_bytes\": %.0f, \"weight_bytes\": %.0f, \"kv_cache_bytes\": %.0f, \"rss_over_weights\": %.4f,\n"
            " \"rss_anon_bytes\": %.0f, \"rss_file_bytes\": %.0f}\n",
            model, f->threads, f->blas_core, f->sgemm_gflops, f->read_gbs, f->vision_s, f->vision_gflop,
            (long long)f->image_tokens, (long long)f->prompt_tokens, f->prefill_s, f->prefill_gflop, prefill_gflops,
            prefill_gflops / f->sgemm_gflops, f->decode_tps, (long long)f->decode_steps, f->decoder_bytes_per_token,
            decode_gbs, decode_gbs / f->read_gbs, N_QUESTIONS, f->reuse_recompute_s, f->reuse_fork_s,
            f->reuse_recompute_s / f->reuse_fork_s, f->reuse_max_dlogit, f->peak_rss, f->weight_bytes, f->kv_bytes,
            f->peak_rss / f->weight_bytes, f->rss_anon, f->rss_file);
    if (fclose(fp) != 0) return ml_error_set(err, ML_ERR_IO, "%s: write failed", path);
    return ML_OK;
}

static int usage(int code) {
    fprintf(code ? stderr : stdout,
            "usage: bench_engine [--model DIR] [--threads N] [--decode-tokens N] [--out F.json]\n"
            "  --model DIR          LLaVA checkpoint folder  [%s, written with init-model small f16 if absent]\n"
            "  --threads N          threads, 0 = all cores  [0]\n"
            "  --decode-tokens N    greedy tokens to time  [64]\n"
            "  --out F.json         figures as JSON  [%s]\n",
            DEFAULT_MODEL, DEFAULT_OUT);
    return code;
}

static int parse(int argc, char **argv, Options *o) {
    *o = (Options){DEFAULT_MODEL, DEFAULT_OUT, 0, 64};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) exit(usage(0));
        if (!v) return usage(2);
        i++;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--decode-tokens")) o->decode_tokens = atoi(v);
        else return usage(2);
    }
    if (o->threads < 0 || o->decode_tokens < 2) return usage(2);
    return 0;
}

int main(int argc, char **argv) {
    /* The same runtime environment as the CLI (OpenBLAS core, OpenMP wait policy). */
    if (ml_threads_env_prepare()) {
        execv("/proc/self/exe", argv);
        perror("bench_engine: re-exec");
        return 1;
    }
    Options o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    MlError err = {0};
    Figures f = {0};
    MlLvlm *m = NULL;
    float *pixels = NULL, *feats = NULL, *logits = NULL;
    if ((rc = bench_ensure_small_model("bench_engine", o.model, &err))) goto fail;
    f.threads = ml_threads_set(o.threads);
    f.blas_core = ml_blas_corename();
    /* Machine figures before and after the engine work, so a burst of load from
       other users during one of them does not skew the ratios.  The first set
       runs only if the peak-RSS mark can be reset after it (its 1 GiB buffer
       must not count as the engine's). */
    int hwm_reset = reset_peak_rss();
    if (hwm_reset) {
        f.sgemm_gflops = sgemm_peak_gflops();
        f.read_gbs = bench_read_bandwidth_gbs((size_t)1 << 28, 5);
        hwm_reset = reset_peak_rss();
    }
    if ((rc = ml_lvlm_open(&m, o.model, &err))) goto fail;
    f.weight_bytes = (double)ml_checkpoint_weight_bytes(ml_lvlm_checkpoint(m));
    f.decoder_bytes_per_token = decoder_bytes_per_token(m);
    pixels = malloc(sizeof(float) * (size_t)ml_lvlm_pixel_floats(m));
    feats = malloc(sizeof(float) * (size_t)(ml_lvlm_max_image_tokens(m) * ml_lvlm_hidden(m)));
    logits = malloc(sizeof(float) * (size_t)ml_lvlm_vocab(m));
    if (!pixels || !feats || !logits) {
        rc = ml_error_set(&err, ML_ERR_NOMEM, "bench: out of memory");
        goto fail;
    }
    if ((rc = make_pixels(m, pixels, &err)) || (rc = bench_single(m, &o, pixels, feats, logits, &f, &err)) ||
        (rc = bench_reuse(m, pixels, feats, &f, &err)))
        goto fail;
    f.peak_rss = hwm_reset ? rss_kind_bytes("VmHWM") : peak_rss_bytes();
    f.rss_anon = rss_kind_bytes("RssAnon");
    f.rss_file = rss_kind_bytes("RssFile");
    /* The yardsticks are capacities: keep the better of before and after. */
    double sgemm_after = sgemm_peak_gflops(), read_after = bench_read_bandwidth_gbs((size_t)1 << 28, 5);
    f.sgemm_gflops = sgemm_after > f.sgemm_gflops ? sgemm_after : f.sgemm_gflops;
    f.read_gbs = read_after > f.read_gbs ? read_after : f.read_gbs;
    if (f.sgemm_gflops <= 0 || f.read_gbs <= 0) {
        rc = ml_error_set(&err, ML_ERR_NOMEM, "bench: machine measurement failed (out of memory?)");
        goto fail;
    }
    print_table(&f, o.model);
    if ((rc = write_json(o.out, &f, o.model, &err))) goto fail;
    printf("  figures written to %s\n", o.out);
fail:
    if (rc) fprintf(stderr, "bench_engine: error: %s\n", err.msg);
    free(pixels), free(feats), free(logits);
    ml_lvlm_close(m);
    return rc ? 1 : 0;
}
