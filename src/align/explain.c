/* explain.c: attention to the image, logit lens and image-vs-prior contribution (see explain.h). */
#include "align/explain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "decode/sampler.h"
#include "decode/session.h"

static const char *const condition_names[ML_EXPLAIN_N_CONDITIONS] = {"image", "no_image", "mean_image",
                                                                      "noise_image"};

const char *ml_explain_condition_name(MlExplainCondition c) {
    return c >= 0 && c < ML_EXPLAIN_N_CONDITIONS ? condition_names[c] : "?";
}

double ml_explain_head_mean(const MlExplanation *e, const double *mass, int layer) {
    double s = 0;
    for (int h = 0; h < e->n_heads; h++) s += mass[(size_t)layer * e->n_heads + h];
    return s / e->n_heads;
}

double ml_explain_logp_sum(const MlExplanation *e, MlExplainCondition c) {
    double s = 0;
    for (int64_t t = 0; t < e->n_answer; t++) s += e->logp[c][t];
    return s;
}

void ml_explanation_free(MlExplanation *e) {
    free(e->prompt);
    free(e->attn_image);
    free(e->attn_bos);
    free(e->attn_text);
    free(e->lens_top);
    free(e->lens_prob);
    free(e->answer_rank);
    free(e->answer_prob);
    free(e->answer);
    for (int c = 0; c < ML_EXPLAIN_N_CONDITIONS; c++) free(e->logp[c]);
    memset(e, 0, sizeof *e);
}

/* log softmax(logits)[id], in double. */
static double log_prob(const float *logits, int64_t V, int32_t id) {
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < V; j++) mx = logits[j] > mx ? logits[j] : mx;
    for (int64_t j = 0; j < V; j++) s += exp((double)logits[j] - mx);
    return (double)logits[id] - mx - log(s);
}

/* ---- what the hooks keep of the prompt's last position ---- */

typedef struct Capture {
    int64_t last, D, lo, hi;
    int has_bos, H;
    float *resid;             /* (L + 1, D) */
    double *img, *bos, *txt;  /* (L, H) */
    int n_resid, n_attn;
} Capture;

static void capture(const MlHookSite *s, float *data, void *user) {
    Capture *c = user;
    if (s->tower != ML_TOWER_TEXT) return;
    if (s->point == ML_HOOK_RESIDUAL) {
        if (c->last < s->pos0 || c->last >= s->pos0 + s->rows) return;
        memcpy(c->resid + (size_t)(s->layer + 1) * c->D, data + (size_t)(c->last - s->pos0) * s->width,
               sizeof(float) * (size_t)c->D);
        c->n_resid++;
    } else if (s->point == ML_HOOK_ATTN_PROBS) {
        if (s->rows != 1 || s->pos0 != c->last || s->heads != c->H) return; /* an earlier chunk's last row */
        for (int h = 0; h < s->heads; h++) {
            const float *p = data + (size_t)h * s->keys;
            double img = 0, bos = 0, txt = 0;
            for (int64_t j = 0; j < s->keys; j++) {
                if (j >= c->lo && j < c->hi) img += p[j];
                else if (j == 0 && c->has_bos) bos += p[j];
                else txt += p[j];
            }
            size_t at = (size_t)s->layer * c->H + h;
            c->img[at] = img;
            c->bos[at] = bos;
            c->txt[at] = txt;
        }
        c->n_attn++;
    }
}

/* ---- the counterfactual images ---- */

static void mean_image(float *dst, const float *src, int64_t plane) {
    for (int ch = 0; ch < 3; ch++) {
        double s = 0;
        for (int64_t i = 0; i < plane; i++) s += src[ch * plane + i];
        float mean = (float)(s / plane);
        for (int64_t i = 0; i < plane; i++) dst[ch * plane + i] = mean;
    }
}

/* xorshift64* uniforms in (0, 1) and Box-Muller pairs: the same seed gives the same image everywhere. */
static double uniform01(uint64_t *st) { return ((double)(ml_xorshift64s(st) >> 11) + 0.5) / 9007199254740992.0; }

static void noise_image(float *dst, int64_t n, uint64_t seed) {
    uint64_t st = seed * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
    if (!st) st = 1;
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = uniform01(&st), u2 = uniform01(&st), z0, z1;
        ml_box_muller(u1, u2, 1.0, &z0, &z1);
        dst[i] = (float)z0;
        if (i + 1 < n) dst[i + 1] = (float)z1;
    }
}

/* The prompt without the image: a user-placed "<image>" (and the newline after it) is taken out. */
static char *without_image_tag(const char *prompt) {
    char *s = strdup(prompt);
    char *tag = s ? strstr(s, "<image>") : NULL;
    if (tag) {
        size_t cut = strlen("<image>") + (tag[7] == '\n');
        memmove(tag, tag + cut, strlen(tag + cut) + 1);
    }
    return s;
}

/* ---- the parts of ml_explain ---- */

typedef struct Run {
    MlLvlm *m;
    MlSession *s;
    const MlExplainOptions *o;
    int64_t V, D, n_img, cap;
    float *logits;  /* (max(max_tokens, L + 1), V) */
    float *feats;   /* (n_img, D) */
    float *px;      /* a counterfactual image */
    int32_t eos;
} Run;

/* Prefill with the encoded image (r->feats), capturing attention and residuals of the last position; then the greedy answer. */
static int run_image(Run *r, MlExplanation *e, Capture *c, MlError *err) {
    int rc;
    MlHooks h = {.fn = capture, .user = c, .attn_rows = ML_HOOK_ROWS_LAST};
    ml_hooks_select_all(&h, ML_TOWER_TEXT, ML_HOOK_RESIDUAL);
    ml_hooks_select_all(&h, ML_TOWER_TEXT, ML_HOOK_ATTN_PROBS);
    if ((rc = ml_session_prefill(r->s, e->prompt, e->n_prompt, r->feats, r->n_img, &h, r->logits, err))) return rc;
    if (c->n_resid != e->n_layers + 1 || c->n_attn != e->n_layers)
        return ml_error_set(err, ML_ERR_FORMAT, "explain: the hooks saw %d residual and %d attention rows, want %d and %d",
                            c->n_resid, c->n_attn, e->n_layers + 1, e->n_layers);
    for (int64_t t = 0; t < r->o->max_tokens; t++) {
        int32_t id = ml_sampler_argmax(r->logits, (int)r->V);
        e->answer[t] = id;
        e->logp[ML_EXPLAIN_IMAGE][t] = log_prob(r->logits, r->V, id);
        e->n_answer = t + 1;
        if (id == r->eos || t + 1 == r->o->max_tokens || ml_session_length(r->s) >= r->cap) break;
        if ((rc = ml_session_prefill(r->s, &id, 1, NULL, 0, NULL, r->logits, err))) return rc;
    }
    return ML_OK;
}

/* Logit lens over the captured residual rows. */
static void lens(Run *r, MlExplanation *e, const float *resid) {
    const int rows = e->n_layers + 1, k = e->top_k;
    const int64_t V = r->V;
    ml_lvlm_logits(r->m, r->logits, resid, rows, e->lens_norm);
    const int32_t a = e->answer[0];
    for (int l = 0; l < rows; l++) {
        const float *lg = r->logits + (size_t)l * V;
        double mx = -INFINITY, s = 0;
        for (int64_t j = 0; j < V; j++) mx = lg[j] > mx ? lg[j] : mx;
        for (int64_t j = 0; j < V; j++) s += exp((double)lg[j] - mx);
        int64_t above = 0;
        for (int64_t j = 0; j < V; j++) above += lg[j] > lg[a];
        e->answer_rank[l] = above + 1;
        e->answer_prob[l] = exp((double)lg[a] - mx) / s;
        /* top k, best first, lower id first on ties: insertion into a short sorted list */
        int32_t *top = e->lens_top + (size_t)l * k;
        int n = 0;
        for (int64_t j = 0; j < V; j++) {
            if (n == k && !(lg[j] > lg[top[k - 1]])) continue;
            int at = n < k ? n++ : k - 1;
            while (at > 0 && lg[j] > lg[top[at - 1]]) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = (int32_t)j;
        }
        for (int i = 0; i < k; i++) e->lens_prob[(size_t)l * k + i] = (float)(exp((double)lg[top[i]] - mx) / s);
    }
}

/* log p of the answer's tokens after `ids` run with image features `feats` (NULL: none). */
static int score_condition(Run *r, const int32_t *ids, int64_t n, const float *feats, MlExplanation *e,
                           double *logp, MlError *err) {
    int rc = ml_session_rewind(r->s, 0, err);
    if (!rc) rc = ml_session_prefill(r->s, ids, n, feats, feats ? r->n_img : 0, NULL, r->logits, err);
    if (rc) return rc;
    logp[0] = log_prob(r->logits, r->V, e->answer[0]);
    if (e->n_answer == 1) return ML_OK;
    rc = ml_session_forward(r->s, e->answer, e->n_answer - 1, NULL, 0, NULL, r->logits, 1, err);
    if (rc) return rc;
    for (int64_t t = 1; t < e->n_answer; t++) logp[t] = log_prob(r->logits + (size_t)(t - 1) * r->V, r->V, e->answer[t]);
    return ML_OK;
}

static int alloc_all(MlExplanation *e, int64_t max_tokens) {
    const size_t LH = (size_t)e->n_layers * e->n_heads, rows = (size_t)e->n_layers + 1;
    e->attn_image = calloc(LH, sizeof(double));
    e->attn_bos = calloc(LH, sizeof(double));
    e->attn_text = calloc(LH, sizeof(double));
    e->lens_top = calloc(rows * e->top_k, sizeof(int32_t));
    e->lens_prob = calloc(rows * e->top_k, sizeof(float));
    e->answer_rank = calloc(rows, sizeof(int64_t));
    e->answer_prob = calloc(rows, sizeof(double));
    e->answer = calloc((size_t)max_tokens, sizeof(int32_t));
    int ok = e->attn_image && e->attn_bos && e->attn_text && e->lens_top && e->lens_prob && e->answer_rank &&
             e->answer_prob && e->answer;
    for (int c = 0; c < ML_EXPLAIN_N_CONDITIONS; c++) ok = (e->logp[c] = calloc((size_t)max_tokens, sizeof(double))) && ok;
    return ok;
}

int ml_explain(MlLvlm *m, const float *pixels, const char *prompt, const MlExplainOptions *opt, MlExplanation *out,
               MlError *err) {
    const MlExplainOptions o = opt ? *opt : ML_EXPLAIN_DEFAULTS;
    MlExplanation *e = out;
    memset(e, 0, sizeof *e);
    const int64_t V = ml_lvlm_vocab(m), D = ml_lvlm_hidden(m), max_pos = ml_lvlm_context(m);
    if (o.top_k < 1 || o.top_k > V)
        return ml_error_set(err, ML_ERR_ARG, "explain: top_k %d is outside 1..%lld", o.top_k, (long long)V);
    if (o.max_tokens < 1 || o.max_tokens > max_pos)
        return ml_error_set(err, ML_ERR_ARG, "explain: max_tokens %lld is outside 1..%lld", (long long)o.max_tokens,
                            (long long)max_pos);
    e->n_layers = ml_lvlm_layers(m);
    e->n_heads = ml_lvlm_heads(m);
    e->top_k = o.top_k;
    e->lens_norm = o.lens_norm;
    Run r = {.m = m, .o = &o, .V = V, .D = D, .eos = ml_lvlm_eos_id(m)};
    Capture c = {0};
    int32_t *ids_plain = NULL;
    char *plain_text = NULL;
    size_t n = 0, image_end = 0, n_plain = 0, unused;
    int rc;
    r.feats = malloc(sizeof(float) * (size_t)(ml_lvlm_max_image_tokens(m) * D));
    if (!r.feats) goto nomem;
    if ((rc = ml_lvlm_encode_image(m, r.feats, pixels, NULL, &r.n_img, err))) goto done;
    if ((rc = ml_lvlm_prompt(m, &o.prompt, prompt, r.n_img, &e->prompt, &n, &image_end, err))) goto done;
    e->n_prompt = (int64_t)n;
    e->image_hi = (int64_t)image_end;
    e->image_lo = e->image_hi - r.n_img;
    e->has_bos = n > 0 && e->prompt[0] == ml_lvlm_bos_id(m);
    if (e->n_prompt >= max_pos) {
        rc = ml_error_set(err, ML_ERR_RANGE, "the prompt has %lld tokens, leaving no room to answer in the context of %lld",
                          (long long)e->n_prompt, (long long)max_pos);
        goto done;
    }
    if (!(plain_text = without_image_tag(prompt))) goto nomem;
    if ((rc = ml_lvlm_prompt(m, &o.prompt, plain_text, 0, &ids_plain, &n_plain, &unused, err))) goto done;
    r.cap = e->n_prompt + o.max_tokens < max_pos ? e->n_prompt + o.max_tokens : max_pos;
    const int64_t rows = o.max_tokens > e->n_layers + 1 ? o.max_tokens : e->n_layers + 1;
    r.logits = malloc(sizeof(float) * (size_t)(rows * V));
    r.px = malloc(sizeof(float) * (size_t)ml_lvlm_pixel_floats(m));
    c = (Capture){.last = e->n_prompt - 1, .D = D, .lo = e->image_lo, .hi = e->image_hi, .has_bos = e->has_bos,
                  .H = e->n_heads, .resid = malloc(sizeof(float) * (size_t)((e->n_layers + 1) * D))};
    if (!r.logits || !r.px || !c.resid || !alloc_all(e, o.max_tokens)) goto nomem;
    c.img = e->attn_image;
    c.bos = e->attn_bos;
    c.txt = e->attn_text;
    if ((rc = ml_session_new(&r.s, m, r.cap, err))) goto done;
    if ((rc = run_image(&r, e, &c, err))) goto done;
    lens(&r, e, c.resid);
    if ((rc = score_condition(&r, ids_plain, (int64_t)n_plain, NULL, e, e->logp[ML_EXPLAIN_NO_IMAGE], err))) goto done;
    const int64_t plane = ml_lvlm_pixel_floats(m) / 3;
    for (int k = ML_EXPLAIN_MEAN_IMAGE; k <= ML_EXPLAIN_NOISE_IMAGE && !rc; k++) {
        if (k == ML_EXPLAIN_MEAN_IMAGE) mean_image(r.px, pixels, plane);
        else noise_image(r.px, 3 * plane, o.seed);
        int64_t rows;
        rc = ml_lvlm_encode_image(m, r.feats, r.px, NULL, &rows, err);
        if (!rc && rows != r.n_img)
            rc = ml_error_set(err, ML_ERR_SHAPE, "explain: a counterfactual image gave %lld tokens, the image %lld",
                              (long long)rows, (long long)r.n_img);
        if (!rc) rc = score_condition(&r, e->prompt, e->n_prompt, r.feats, e, e->logp[k], err);
    }
    goto done;
nomem:
    rc = ml_error_set(err, ML_ERR_NOMEM, "explain: out of memory");
done:
    if (r.s) ml_session_free(r.s);
    free(r.logits);
    free(r.feats);
    free(r.px);
    free(c.resid);
    free(ids_plain);
    free(plain_text);
    if (rc) ml_explanation_free(e);
    return rc;
}
