/* test_explain.c: ml_explain on a tiny random checkpoint against independent expectations.
   Attention masses are in [0, 1], image + BOS + text = 1 per head, and layer 0's image mass equals
   the softmax recomputed here from the weights; the logit lens at the last layer is the model's own
   output distribution (a separate plain prefill), at earlier layers it equals the naive model's
   residual through norm + lm_head (model_ref.h), with and without the norm; the log-probabilities of
   the greedy answer under image / no image / mean-colour image equal the naive model's; the noise
   image follows its seed; bad options and over-long prompts fail cleanly. */
#include "test.h"

#include <unistd.h>

#include "align/explain.h"
#include "decode/session.h"
#include "kernels/threads.h"
#include "core/file.h"
#include "model_ref.h"

static MlLvlm *model;
static RefModel ref;
static float *pixels;
static const char *PROMPT = "Is there a red star in the picture?";

static uint64_t rs = 5151;
static float frand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((rs >> 40) / 8388608.0 - 1.0);
}

static MlExplainOptions opts(int lens_norm) {
    MlExplainOptions o = ML_EXPLAIN_DEFAULTS;
    o.max_tokens = 6;
    o.top_k = 5;
    o.lens_norm = lens_norm;
    o.seed = 7;
    return o;
}

/* log softmax of row `row` of double logits (n, V) at id. */
static double ref_logp(const double *logits, int64_t V, int64_t row, int32_t id) {
    const double *l = logits + row * V;
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < V; j++) mx = fmax(mx, l[j]);
    for (int64_t j = 0; j < V; j++) s += exp(l[j] - mx);
    return l[id] - mx - log(s);
}

/* The naive model's log p of each answer token after ids (with image rows feats or NULL). */
static void ref_answer_logp(const int32_t *ids, int64_t n, const double *feats, const MlExplanation *e, double *out) {
    const int64_t V = ml_lvlm_vocab(model), D = ml_lvlm_hidden(model), total = n + e->n_answer - 1;
    int32_t *all = malloc(sizeof(int32_t) * total);
    memcpy(all, ids, sizeof(int32_t) * n);
    memcpy(all + n, e->answer, sizeof(int32_t) * (e->n_answer - 1));
    double *logits = malloc(sizeof(double) * total * V);
    RefEdits none = ref_no_edits();
    ref_logits(&ref, all, total, feats, &none, logits, NULL);
    for (int64_t t = 0; t < e->n_answer; t++) out[t] = ref_logp(logits, V, n - 1 + t, e->answer[t]);
    (void)D;
    free(all), free(logits);
}

/* Invariants of the attention masses, and layer 0's recomputed by hand, for one model and prompt. */
static void check_attention(MlLvlm *model, const RefModel *rf, const char *prompt) {
    RefModel ref = *rf;
    MlExplainOptions o = opts(1);
    MlExplanation e;
    MlError err = {0};
    if (ml_explain(model, pixels, prompt, &o, &e, &err)) {
        CHECK_OK(1, &err);
        return;
    }
    const int L = e.n_layers, H = e.n_heads;
    CHECK(L == ml_lvlm_layers(model) && H == ml_lvlm_heads(model));
    CHECK(e.has_bos && e.image_hi - e.image_lo == ml_lvlm_max_image_tokens(model));
    for (int64_t i = e.image_lo; i < e.image_hi; i++) CHECK(e.prompt[i] == ml_lvlm_image_token_id(model));
    for (int i = 0; i < L * H; i++) {
        CHECK(e.attn_image[i] >= 0 && e.attn_image[i] <= 1);
        CHECK(e.attn_bos[i] >= 0 && e.attn_bos[i] <= 1);
        CHECK(e.attn_text[i] >= 0 && e.attn_text[i] <= 1);
        CHECK_NEAR(e.attn_image[i] + e.attn_bos[i] + e.attn_text[i], 1, 1e-5);
    }
    for (int l = 0; l < L; l++)
        CHECK_NEAR(ml_explain_head_mean(&e, e.attn_image, l) + ml_explain_head_mean(&e, e.attn_bos, l) +
                       ml_explain_head_mean(&e, e.attn_text, l), 1, 1e-5);
    /* layer 0 by hand: the last row's softmax over the embeddings (image rows = projector output) */
    const MlTextConfig *c = &ref.c.text;
    const int64_t D = c->hidden, n = e.n_prompt, V = c->vocab, nimg = ml_lvlm_max_image_tokens(model);
    const int KVH = c->n_kv_heads, hd = c->head_dim;
    double *feats = malloc(sizeof(double) * nimg * D), *emb = ref_t(&ref, "language_model.model.embed_tokens.weight", 2, V, D, 0, 0);
    ref_image_features(&ref, pixels, feats);
    double *x = malloc(sizeof(double) * n * D), *h = malloc(sizeof(double) * n * D);
    for (int64_t i = 0, used = 0; i < n; i++)
        memcpy(x + i * D, e.prompt[i] == ml_lvlm_image_token_id(model) ? feats + (used++) * D : emb + (int64_t)e.prompt[i] * D,
               sizeof(double) * D);
    double *nw = ref_t(&ref, "language_model.model.layers.0.input_layernorm.weight", 1, D, 0, 0, 0);
    double *wq = ref_t(&ref, "language_model.model.layers.0.self_attn.q_proj.weight", 2, H * hd, D, 0, 0);
    double *wk = ref_t(&ref, "language_model.model.layers.0.self_attn.k_proj.weight", 2, KVH * hd, D, 0, 0);
    ref_rmsnorm(h, x, nw, n, D, c->rms_eps);
    double *q = malloc(sizeof(double) * H * hd), *k = malloc(sizeof(double) * n * KVH * hd), *s = malloc(sizeof(double) * n);
    ref_linear(q, h + (n - 1) * D, wq, NULL, 1, D, H * hd);
    ref_linear(k, h, wk, NULL, n, D, KVH * hd);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < hd / 2; j++) {
            double ang = (double)i * pow(c->rope_theta, -2.0 * j / hd), cs = cos(ang), sn = sin(ang);
            for (int v = 0; v < KVH + (i == n - 1 ? H : 0); v++) {
                double *vec = v < KVH ? k + (i * KVH + v) * hd : q + (v - KVH) * hd;
                double x0 = vec[j], x1 = vec[j + hd / 2];
                vec[j] = x0 * cs - x1 * sn;
                vec[j + hd / 2] = x1 * cs + x0 * sn;
            }
        }
    for (int hh = 0; hh < H; hh++) {
        int kh = hh / (H / KVH);
        double mx = -INFINITY, sum = 0, img = 0;
        for (int64_t j = 0; j < n; j++) {
            double d = 0;
            for (int cc = 0; cc < hd; cc++) d += q[hh * hd + cc] * k[(j * KVH + kh) * hd + cc];
            s[j] = d / sqrt((double)hd);
            mx = fmax(mx, s[j]);
        }
        for (int64_t j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
        for (int64_t j = e.image_lo; j < e.image_hi; j++) img += s[j] / sum;
        CHECK_NEAR(e.attn_image[hh], img, 1e-5);
        CHECK_NEAR(e.attn_bos[hh], s[0] / sum, 1e-5);
    }
    free(feats), free(emb), free(x), free(h), free(nw), free(wq), free(wk), free(q), free(k), free(s);
    ml_explanation_free(&e);
}

static void test_attention_masses(void) { check_attention(model, &ref, PROMPT); }

/* A prompt longer than one prefill chunk: the hooks must keep the last position of the last chunk. */
static void test_long_prompt_chunks(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/long", test_tmpdir("test_explain"));
    MlLvlm *lm = ref_open_long_context(dir, ML_F32, 33);
    CHECK(lm != NULL);
    if (!lm) return;
    RefModel lr;
    ref_load(&lr, ml_lvlm_checkpoint(lm));
    char *prompt = malloc(8000);
    prompt[0] = 0;
    for (int i = 0; i < 90; i++) strcat(prompt, i % 2 ? "red star " : "blue ring ");
    strcat(prompt, "Is it there?");
    MlExplainOptions o = opts(1);
    MlExplanation e;
    MlError err = {0};
    if (ml_explain(lm, pixels, prompt, &o, &e, &err)) {
        CHECK_OK(1, &err);
        free(prompt);
        ml_lvlm_close(lm);
        return;
    }
    CHECK(e.n_prompt > ML_DECODER_CHUNK + 20);
    check_attention(lm, &lr, prompt);
    /* the last lens layer and the first answer token against a plain prefill of the same ids */
    const int64_t V = ml_lvlm_vocab(lm), D = ml_lvlm_hidden(lm), nimg = ml_lvlm_max_image_tokens(lm);
    float *real = malloc(sizeof(float) * V), *f32 = malloc(sizeof(float) * nimg * D);
    MlSession *s;
    CHECK_OK(ml_lvlm_encode_image(lm, f32, pixels, NULL, &(int64_t){0}, &err), &err);
    CHECK_OK(ml_session_new(&s, lm, e.n_prompt, &err), &err);
    CHECK_OK(ml_session_prefill(s, e.prompt, e.n_prompt, f32, nimg, NULL, real, &err), &err);
    int64_t am = 0;
    for (int64_t j = 0; j < V; j++) am = real[j] > real[am] ? j : am;
    CHECK(e.answer[0] == am && e.lens_top[e.n_layers * e.top_k] == am && e.answer_rank[e.n_layers] == 1);
    double mx = real[am], sum = 0;
    for (int64_t j = 0; j < V; j++) sum += exp((double)real[j] - mx);
    CHECK_NEAR(e.logp[ML_EXPLAIN_IMAGE][0], -log(sum), 1e-5);
    ml_session_free(s);
    free(real), free(f32), free(prompt);
    ml_explanation_free(&e);
    ml_lvlm_close(lm);
}

static void test_logit_lens(void) {
    MlError err = {0};
    for (int norm = 1; norm >= 0; norm--) {
        MlExplainOptions o = opts(norm);
        MlExplanation e;
        CHECK_OK(ml_explain(model, pixels, PROMPT, &o, &e, &err), &err);
        CHECK(e.lens_norm == norm);
        const int L = e.n_layers, K = e.top_k;
        const int64_t V = ml_lvlm_vocab(model), D = ml_lvlm_hidden(model), n = e.n_prompt;
        for (int l = 0; l <= L; l++) {
            CHECK(e.answer_rank[l] >= 1 && e.answer_rank[l] <= V);
            for (int i = 1; i < K; i++) CHECK(e.lens_prob[l * K + i] <= e.lens_prob[l * K + i - 1]);
            for (int i = 0; i < K; i++)
                if (e.lens_top[l * K + i] == e.answer[0]) {
                    CHECK(e.answer_rank[l] == i + 1);
                    CHECK_NEAR(e.answer_prob[l], e.lens_prob[l * K + i], 1e-6);
                }
        }
        /* the naive model's residual at the last position of layer l (row l + 1) through norm + lm_head */
        double *feats = malloc(sizeof(double) * ml_lvlm_max_image_tokens(model) * D);
        double *logits = malloc(sizeof(double) * n * V), *resid = malloc(sizeof(double) * L * n * D);
        ref_image_features(&ref, pixels, feats);
        RefEdits none = ref_no_edits();
        ref_logits(&ref, e.prompt, n, feats, &none, logits, resid);
        double *fw = ref_t(&ref, "language_model.model.norm.weight", 1, D, 0, 0, 0);
        double *lm = ref_t(&ref, "language_model.lm_head.weight", 2, V, D, 0, 0);
        double *hn = malloc(sizeof(double) * D), *lens = malloc(sizeof(double) * V);
        for (int l = 0; l < L; l++) {
            const double *hrow = resid + ((size_t)l * n + (n - 1)) * D;
            if (norm) ref_rmsnorm(hn, hrow, fw, 1, D, ref.c.text.rms_eps);
            else memcpy(hn, hrow, sizeof(double) * D);
            ref_linear(lens, hn, lm, NULL, 1, D, V);
            int64_t best = 0;
            for (int64_t j = 1; j < V; j++) best = lens[j] > lens[best] ? j : best;
            CHECK(e.lens_top[(l + 1) * K] == best);
            CHECK_NEAR(e.lens_prob[(l + 1) * K], exp(ref_logp(lens, V, 0, (int32_t)best)), 1e-5);
            CHECK_NEAR(e.answer_prob[l + 1], exp(ref_logp(lens, V, 0, e.answer[0])), 1e-5);
        }
        /* the greedy answer starts with the naive model's argmax */
        int64_t best = 0;
        for (int64_t j = 1; j < V; j++) best = logits[(n - 1) * V + j] > logits[(n - 1) * V + best] ? j : best;
        CHECK(e.answer[0] == best);
        if (norm) {
            /* the last layer with the norm is the model's own distribution: a separate prefill's logits */
            float *real = malloc(sizeof(float) * V), *f32 = malloc(sizeof(float) * ml_lvlm_max_image_tokens(model) * D);
            MlSession *s;
            CHECK_OK(ml_lvlm_encode_image(model, f32, pixels, NULL, &(int64_t){0}, &err), &err);
            CHECK_OK(ml_session_new(&s, model, n, &err), &err);
            CHECK_OK(ml_session_prefill(s, e.prompt, n, f32, ml_lvlm_max_image_tokens(model), NULL, real, &err), &err);
            double mx = -INFINITY, sum = 0;
            int64_t am = 0;
            for (int64_t j = 0; j < V; j++) {
                mx = fmax(mx, real[j]);
                am = real[j] > real[am] ? j : am;
            }
            for (int64_t j = 0; j < V; j++) sum += exp(real[j] - mx);
            CHECK(e.lens_top[L * K] == am && e.answer[0] == am && e.answer_rank[L] == 1);
            for (int i = 0; i < K; i++)
                CHECK_NEAR(e.lens_prob[L * K + i], exp(real[e.lens_top[L * K + i]] - mx) / sum, 1e-6);
            CHECK_NEAR(log(e.answer_prob[L]), e.logp[ML_EXPLAIN_IMAGE][0], 1e-5);
            ml_session_free(s);
            free(real), free(f32);
        }
        free(feats), free(logits), free(resid), free(fw), free(lm), free(hn), free(lens);
        ml_explanation_free(&e);
    }
}

static void test_contributions(void) {
    MlExplainOptions o = opts(1);
    MlExplanation e;
    MlError err = {0};
    CHECK_OK(ml_explain(model, pixels, PROMPT, &o, &e, &err), &err);
    const int64_t D = ml_lvlm_hidden(model), nimg = ml_lvlm_max_image_tokens(model), P = ml_lvlm_pixel_floats(model);
    CHECK(e.n_answer >= 1 && e.n_answer <= o.max_tokens);
    for (int64_t t = 0; t + 1 < e.n_answer; t++) CHECK(e.answer[t] != ml_tokenizer_eos_id(ml_lvlm_tokenizer(model)));
    double *want = malloc(sizeof(double) * e.n_answer), *feats = malloc(sizeof(double) * nimg * D);
    /* with the image */
    ref_image_features(&ref, pixels, feats);
    ref_answer_logp(e.prompt, e.n_prompt, feats, &e, want);
    for (int64_t t = 0; t < e.n_answer; t++) CHECK_NEAR(e.logp[ML_EXPLAIN_IMAGE][t], want[t], 1e-4);
    /* without: the template without "<image>\n" */
    int32_t *plain;
    size_t np, ie;
    MlPromptOptions po = {.tmpl = ML_TEMPLATE_HF};
    CHECK_OK(ml_prompt_build(ml_lvlm_tokenizer(model), &po, PROMPT, 0, ml_lvlm_image_token_id(model), (int)nimg, &plain, &np, &ie, &err), &err);
    CHECK(ie == 0 && (int64_t)np < e.n_prompt);
    ref_answer_logp(plain, (int64_t)np, NULL, &e, want);
    for (int64_t t = 0; t < e.n_answer; t++) CHECK_NEAR(e.logp[ML_EXPLAIN_NO_IMAGE][t], want[t], 1e-4);
    /* the mean-colour image: every pixel of a channel set to that channel's mean */
    float *mean = malloc(sizeof(float) * P);
    for (int ch = 0; ch < 3; ch++) {
        double s = 0;
        for (int64_t i = 0; i < P / 3; i++) s += pixels[ch * (P / 3) + i];
        for (int64_t i = 0; i < P / 3; i++) mean[ch * (P / 3) + i] = (float)(s / (P / 3));
    }
    ref_image_features(&ref, mean, feats);
    ref_answer_logp(e.prompt, e.n_prompt, feats, &e, want);
    for (int64_t t = 0; t < e.n_answer; t++) CHECK_NEAR(e.logp[ML_EXPLAIN_MEAN_IMAGE][t], want[t], 1e-4);
    /* the conditions differ from each other, so the test can tell them apart */
    CHECK(fabs(ml_explain_logp_sum(&e, ML_EXPLAIN_IMAGE) - ml_explain_logp_sum(&e, ML_EXPLAIN_NO_IMAGE)) > 1e-6);
    CHECK(fabs(ml_explain_logp_sum(&e, ML_EXPLAIN_IMAGE) - ml_explain_logp_sum(&e, ML_EXPLAIN_MEAN_IMAGE)) > 1e-6);
    /* noise follows the seed */
    MlExplanation e2, e3;
    CHECK_OK(ml_explain(model, pixels, PROMPT, &o, &e2, &err), &err);
    o.seed = 8;
    CHECK_OK(ml_explain(model, pixels, PROMPT, &o, &e3, &err), &err);
    CHECK(ml_explain_logp_sum(&e, ML_EXPLAIN_NOISE_IMAGE) == ml_explain_logp_sum(&e2, ML_EXPLAIN_NOISE_IMAGE));
    CHECK(ml_explain_logp_sum(&e, ML_EXPLAIN_NOISE_IMAGE) != ml_explain_logp_sum(&e3, ML_EXPLAIN_NOISE_IMAGE));
    CHECK(ml_explain_logp_sum(&e, ML_EXPLAIN_IMAGE) == ml_explain_logp_sum(&e3, ML_EXPLAIN_IMAGE));
    CHECK_STR(ml_explain_condition_name(ML_EXPLAIN_NO_IMAGE), "no_image");
    free(want), free(feats), free(plain), free(mean);
    ml_explanation_free(&e);
    ml_explanation_free(&e2);
    ml_explanation_free(&e3);
}

/* A raw prompt that places <image> itself: the no-image condition takes the tag (and its newline) out. */
static void test_raw_prompt(void) {
    MlExplainOptions o = opts(1);
    o.prompt.tmpl = ML_TEMPLATE_RAW;
    MlExplanation e;
    MlError err = {0};
    CHECK_OK(ml_explain(model, pixels, "<image>\nIs it red?", &o, &e, &err), &err);
    int32_t *plain;
    size_t np, ie;
    CHECK_OK(ml_prompt_build(ml_lvlm_tokenizer(model), &o.prompt, "Is it red?", 0, ml_lvlm_image_token_id(model), 16, &plain, &np, &ie,
                             &err), &err);
    double *want = malloc(sizeof(double) * e.n_answer);
    ref_answer_logp(plain, (int64_t)np, NULL, &e, want);
    for (int64_t t = 0; t < e.n_answer; t++) CHECK_NEAR(e.logp[ML_EXPLAIN_NO_IMAGE][t], want[t], 1e-4);
    free(plain), free(want);
    ml_explanation_free(&e);
}

static void test_bad_input(void) {
    MlExplainOptions o = opts(1);
    MlExplanation e;
    MlError err = {0};
    o.max_tokens = 0;
    CHECK(ml_explain(model, pixels, PROMPT, &o, &e, &err) == ML_ERR_ARG);
    CHECK(strstr(err.msg, "max_tokens") != NULL);
    o = opts(1);
    o.top_k = 0;
    CHECK(ml_explain(model, pixels, PROMPT, &o, &e, &err) == ML_ERR_ARG);
    o = opts(1);
    char *longp = malloc(4000);
    longp[0] = 0;
    for (int i = 0; i < 300; i++) strcat(longp, "red star ");
    err = (MlError){0};
    CHECK(ml_explain(model, pixels, longp, &o, &e, &err) == ML_ERR_RANGE);
    CHECK(strstr(err.msg, "context") != NULL);
    free(longp);
}

int main(int argc, char **argv) {
    (void)argc;
    if (ml_threads_env_prepare()) execv("/proc/self/exe", argv);
    ml_threads_set(0);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tiny", test_tmpdir("test_explain"));
    MlError err = {0};
    if (ref_make_tiny(dir, ML_F32, 33) || ml_lvlm_open(&model, dir, &err)) {
        fprintf(stderr, "cannot build the tiny model: %s\n", err.msg);
        return test_summary("test_explain") | 1;
    }
    ref_load(&ref, ml_lvlm_checkpoint(model));
    pixels = malloc(sizeof(float) * ml_lvlm_pixel_floats(model));
    for (int64_t i = 0; i < ml_lvlm_pixel_floats(model); i++) pixels[i] = 2 * frand();
    RUN(test_attention_masses);
    RUN(test_logit_lens);
    RUN(test_contributions);
    RUN(test_raw_prompt);
    RUN(test_bad_input);
    RUN(test_long_prompt_chunks);
    free(pixels);
    ml_lvlm_close(model);
    return test_summary("test_explain");
}
