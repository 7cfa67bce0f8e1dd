/* dola.c: DoLa, Decoding by Contrasting Layers (voidism/DoLa, as its LLaVA
   path runs it).  Each step reads the last row of the residual stream after
   the candidate layers (hidden_states 0, 2, ..., L-2; 0 = the embeddings),
   takes their logits through lm_head WITHOUT the final norm, picks the layer
   whose distribution has the largest Jensen-Shannon divergence (mean over
   the vocabulary) from the final one, and scores log_softmax(final) minus
   log_softmax(premature) on the tokens the relative-top filter keeps.  One
   forward per token; the lm_head products per candidate are the extra cost. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mitigate/method.h"

/* The official mask value for the premature scores of filtered tokens. */
#define DOLA_FILTERED (-1000.0)

static const MlParamSpec params[] = {
    {"relative_top", 0.1, 0, 1, 0,
     "keep tokens with p >= relative_top * max p of the final layer; 0 = no filter, raw logit difference", NULL},
    {"premature_layer", -1, -1, ML_HOOK_MAX_LAYERS - 1, 1,
     "-1: the candidate (even layers below L, 0 = embeddings) of largest JSD; else this layer, 0..L", NULL},
};

typedef struct Dola {
    MlHooks hooks;
    int n_cand;
    int cand[ML_HOOK_MAX_LAYERS];  /* hidden_states index of each candidate */
    int slot[ML_HOOK_MAX_LAYERS];  /* candidate slot of hidden_states index j, -1: none */
    int64_t width, vocab;
    float *hidden;  /* [n_cand, width]: the last row seen after each candidate */
    float *logits;  /* [n_cand, vocab] */
    double *final;  /* [vocab] log_softmax of the final layer */
    double *base;   /* [vocab] log_softmax of the premature layer */
} Dola;

/* Residual after layer `layer` is hidden_states[layer + 1]: keep its last row
   (a prefill in chunks calls again; the last chunk's row stays). */
static void keep_last_row(const MlHookSite *s, float *x, void *user) {
    Dola *d = user;
    int slot = d->slot[s->layer + 1];
    if (slot >= 0 && s->rows > 0)
        memcpy(d->hidden + (size_t)slot * (size_t)d->width, x + (size_t)(s->rows - 1) * (size_t)s->width,
               sizeof(float) * (size_t)d->width);
}

static void dola_free(MlMethodRun *run) {
    Dola *d = run->state;
    if (!d) return;
    free(d->hidden);
    free(d->logits);
    free(d->final);
    free(d->base);
    free(d);
    run->state = NULL;
}

static int dola_new(MlMethodRun *run, MlError *err) {
    const int L = ml_lvlm_layers(run->m);
    const int forced = (int)ml_method_param(run->cfg, "premature_layer");
    if (forced > L)
        return ml_error_set(err, ML_ERR_ARG, "dola: premature_layer %d does not exist (the model has layers 0..%d)",
                            forced, L);
    if (L + 1 > ML_HOOK_MAX_LAYERS)
        return ml_error_set(err, ML_ERR_ARG, "dola: %d layers is more than hooks can name (%d)", L,
                            ML_HOOK_MAX_LAYERS - 1);
    Dola *d = calloc(1, sizeof *d);
    if (!d) return ml_error_set(err, ML_ERR_NOMEM, "dola: out of memory");
    run->state = d;
    d->width = ml_lvlm_hidden(run->m);
    d->vocab = ml_lvlm_vocab(run->m);
    for (int j = 0; j < ML_HOOK_MAX_LAYERS; j++) d->slot[j] = -1;
    /* the final layer needs no hook: its logits are the model's own */
    if (forced >= 0 && forced < L) d->cand[d->n_cand++] = forced;
    for (int j = 0; forced < 0 && j < L; j += 2) d->cand[d->n_cand++] = j;
    d->hooks.fn = keep_last_row;
    d->hooks.user = d;
    for (int c = 0; c < d->n_cand; c++) {
        d->slot[d->cand[c]] = c;
        ml_hooks_select(&d->hooks, ML_TOWER_TEXT, ML_HOOK_RESIDUAL, d->cand[c] - 1);
    }
    const size_t n = d->n_cand ? (size_t)d->n_cand : 1;
    d->hidden = malloc(sizeof(float) * n * (size_t)d->width);
    d->logits = malloc(sizeof(float) * n * (size_t)d->vocab);
    d->final = malloc(sizeof(double) * (size_t)d->vocab);
    d->base = malloc(sizeof(double) * (size_t)d->vocab);
    if (!d->hidden || !d->logits || !d->final || !d->base) {
        dola_free(run);
        return ml_error_set(err, ML_ERR_NOMEM, "dola: out of memory");
    }
    return ML_OK;
}

/* The image and prefix need no reads (the prompt's last row comes later), so shared
   prefixes stay shared. */
static const MlHooks *dola_hooks(MlMethodRun *run, int pass, int64_t step) {
    Dola *d = run->state;
    if (pass != 0 || step < ML_STEP_PROMPT || d->n_cand == 0) return NULL;
    return &d->hooks;
}

static void log_softmax(double *out, const float *x, int64_t n) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int64_t i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    const double lse = mx + log(sum);
    for (int64_t i = 0; i < n; i++) out[i] = (double)x[i] - lse;
}

/* JSD(p, q) as the official code computes it: 0.5 (KL(M||p) + KL(M||q)),
   each KL the mean (not the sum) over the vocabulary, M = (p + q) / 2. */
static double jsd_mean(const double *lp, const double *lq, int64_t n) {
    double kl1 = 0, kl2 = 0;
    for (int64_t i = 0; i < n; i++) {
        const double m = 0.5 * (exp(lp[i]) + exp(lq[i]));
        if (m <= 0) continue; /* torch's kl_div: a zero target adds 0 */
        kl1 += m * (log(m) - lp[i]);
        kl2 += m * (log(m) - lq[i]);
    }
    return 0.5 * (kl1 / (double)n + kl2 / (double)n);
}

static void dola_combine(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                         void *user) {
    (void)n_passes, (void)step;
    MlMethodRun *run = user;
    Dola *d = run->state;
    const double rt = ml_method_param(run->cfg, "relative_top");
    const float *base = logits[0]; /* premature_layer = L: the final layer itself */
    if (d->n_cand > 0) {
        ml_lvlm_logits(run->m, d->logits, d->hidden, d->n_cand, 0);
        base = d->logits;
    }
    log_softmax(d->final, logits[0], vocab);
    if (d->n_cand > 1) {
        int best = 0;
        double best_js = -INFINITY;
        for (int c = 0; c < d->n_cand; c++) {
            log_softmax(d->base, d->logits + (size_t)c * (size_t)vocab, vocab);
            const double js = jsd_mean(d->final, d->base, vocab);
            if (js > best_js) best_js = js, best = c; /* the first maximum, as torch.argmax */
        }
        base = d->logits + (size_t)best * (size_t)vocab;
    }
    if (rt <= 0) { /* the official code without the filter: raw logits */
        for (int64_t i = 0; i < vocab; i++) scores[i] = (float)((double)logits[0][i] - (double)base[i]);
        return;
    }
    log_softmax(d->base, base, vocab);
    double mx = -INFINITY;
    for (int64_t i = 0; i < vocab; i++) mx = d->final[i] > mx ? d->final[i] : mx;
    const double thresh = mx + log(rt);
    for (int64_t i = 0; i < vocab; i++) {
        const double f = d->final[i] < thresh ? -INFINITY : d->final[i];
        const double b = f < DOLA_FILTERED ? DOLA_FILTERED : d->base[i];
        scores[i] = (float)(f - b);
    }
}

const MlMethod ml_method_dola = {
    ML_METHOD_ID("dola", "DoLa: contrast the final layer with the premature layer of largest JSD (relative top 0.1), greedy",
                 ""),
    .n_passes = 1,
    ML_METHOD_PARAMS(params),
    .state_new = dola_new,
    .state_free = dola_free,
    .pass_hooks = dola_hooks,
    .combine = dola_combine,
};
