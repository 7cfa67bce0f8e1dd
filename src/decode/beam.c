/* beam.c: the beam search scorer (beam.h), step for step as transformers' BeamSearchScorer. */
#include "decode/beam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Hyp {
    double score;
    int64_t n;
    int32_t *ids; /* max_tokens */
} Hyp;

typedef struct Cand {
    float s;
    int64_t flat; /* beam * vocab + token */
} Cand;

struct MlBeam {
    MlBeamConfig c;
    int64_t vocab, len;
    int done;
    float score[ML_BEAM_MAX];
    int parent[ML_BEAM_MAX];
    int32_t token[ML_BEAM_MAX];
    int32_t *tok, *tok_next; /* beams x max_tokens each */
    Hyp hyp[ML_BEAM_MAX + 1];
    int n_hyp;
    double worst;
    Cand cand[2 * ML_BEAM_MAX];
};

int ml_beam_new(MlBeam **out, const MlBeamConfig *c, int64_t vocab, MlError *err) {
    *out = NULL;
    if (c->beams < 1 || c->beams > ML_BEAM_MAX)
        return ml_error_set(err, ML_ERR_ARG, "beam: %d beams, expected 1..%d", c->beams, ML_BEAM_MAX);
    if (c->max_tokens < 1) return ml_error_set(err, ML_ERR_ARG, "beam: max_tokens must be at least 1");
    if (vocab < 2) return ml_error_set(err, ML_ERR_ARG, "beam: a vocabulary of %lld tokens", (long long)vocab);
    MlBeam *b = calloc(1, sizeof *b);
    size_t n = (size_t)c->beams * (size_t)c->max_tokens;
    int ok = b != NULL;
    if (ok) {
        b->c = *c, b->vocab = vocab, b->worst = 1e9;
        b->tok = malloc(n * sizeof(int32_t));
        b->tok_next = malloc(n * sizeof(int32_t));
        ok = b->tok && b->tok_next;
        for (int i = 0; ok && i <= c->beams; i++) ok = (b->hyp[i].ids = malloc((size_t)c->max_tokens * sizeof(int32_t))) != NULL;
    }
    if (!ok) {
        ml_beam_free(b);
        return ml_error_set(err, ML_ERR_NOMEM, "beam: out of memory for %d beams of %lld tokens", c->beams,
                            (long long)c->max_tokens);
    }
    for (int i = 1; i < c->beams; i++) b->score[i] = -1e9f;
    *out = b;
    return ML_OK;
}

void ml_beam_free(MlBeam *b) {
    if (!b) return;
    for (int i = 0; i <= ML_BEAM_MAX; i++) free(b->hyp[i].ids);
    free(b->tok), free(b->tok_next), free(b);
}

/* log_softmax in place: (x - max) - log(sum exp(x - max)), the exponentials
   in float as torch takes them, their sum and the rest in double. */
static void log_softmax(float *x, int64_t n) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += expf(x[i] - mx);
    double ls = log(sum);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(((double)x[i] - (double)mx) - ls);
}

/* Inserts into the sorted best-k list (descending; the lower index first on ties). */
static void consider(Cand *c, int *n, int k, float s, int64_t flat) {
    if (isnan(s)) return;
    if (*n == k && !(s > c[k - 1].s)) return;
    int i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && s > c[i - 1].s) c[i] = c[i - 1], i--;
    c[i] = (Cand){s, flat};
}

/* BeamHypotheses.add: keep at most B, evicting the worst (the earliest on ties). */
static void add_hyp(MlBeam *b, const int32_t *ids, int64_t n, double sum_logprobs) {
    double score = sum_logprobs / pow((double)n, b->c.length_penalty);
    int B = b->c.beams;
    if (b->n_hyp == B && !(score > b->worst)) return;
    Hyp *h = &b->hyp[b->n_hyp++];
    memcpy(h->ids, ids, (size_t)n * sizeof(int32_t));
    h->n = n, h->score = score;
    if (b->n_hyp <= B) {
        if (score < b->worst) b->worst = score;
        return;
    }
    int lo = 0;
    for (int i = 1; i < b->n_hyp; i++)
        if (b->hyp[i].score < b->hyp[lo].score) lo = i;
    Hyp gone = b->hyp[lo];
    memmove(&b->hyp[lo], &b->hyp[lo + 1], (size_t)(b->n_hyp - lo - 1) * sizeof(Hyp));
    b->hyp[--b->n_hyp] = gone; /* keeps its buffer */
    b->worst = INFINITY;
    for (int i = 0; i < b->n_hyp; i++)
        if (b->hyp[i].score < b->worst) b->worst = b->hyp[i].score;
}

static int is_done(const MlBeam *b, double best_sum, int64_t cur_len) {
    if (b->n_hyp < b->c.beams) return 0;
    if (b->c.early_stopping == ML_BEAM_STOP_EARLY) return 1;
    double lp = b->c.length_penalty;
    int64_t len = b->c.early_stopping == ML_BEAM_STOP_NEVER && lp > 0 ? b->c.max_tokens : cur_len;
    return b->worst >= best_sum / pow((double)len, lp);
}

int ml_beam_step(MlBeam *b, float *const *logits) {
    const int B = b->c.beams, K = 2 * B;
    int n = 0;
    for (int i = 0; i < B; i++) {
        float *x = logits[i];
        log_softmax(x, b->vocab);
        for (int64_t v = 0; v < b->vocab; v++) {
            x[v] += b->score[i];
            consider(b->cand, &n, K, x[v], (int64_t)i * b->vocab + v);
        }
    }
    const int64_t len = b->len, cur_len = len + 1, T = b->c.max_tokens;
    int filled = 0;
    float next_score[ML_BEAM_MAX];
    for (int r = 0; r < n && filled < B; r++) {
        int src = (int)(b->cand[r].flat / b->vocab);
        int32_t t = (int32_t)(b->cand[r].flat % b->vocab);
        if (t == b->c.eos_id) {
            if (r >= B) continue;
            int32_t *ids = b->tok_next; /* scratch: this beam's tokens and the EOS */
            memcpy(ids, b->tok + (size_t)src * (size_t)T, (size_t)len * sizeof(int32_t));
            ids[len] = t;
            add_hyp(b, ids, cur_len, b->cand[r].s);
            continue;
        }
        b->parent[filled] = src, b->token[filled] = t, next_score[filled] = b->cand[r].s;
        filled++;
    }
    for (int j = 0; j < filled; j++) {
        int32_t *dst = b->tok_next + (size_t)j * (size_t)T;
        memcpy(dst, b->tok + (size_t)b->parent[j] * (size_t)T, (size_t)len * sizeof(int32_t));
        dst[len] = b->token[j];
        b->score[j] = next_score[j];
    }
    int32_t *swap = b->tok;
    b->tok = b->tok_next, b->tok_next = swap;
    b->len = cur_len;
    b->done = b->done || is_done(b, (double)b->cand[0].s, cur_len);
    return b->done;
}

void ml_beam_copy(MlBeam *dst, const MlBeam *src) {
    ML_ASSERT(dst->c.beams == src->c.beams && dst->c.max_tokens == src->c.max_tokens && dst->vocab == src->vocab);
    int32_t *tok = dst->tok, *tok_next = dst->tok_next, *ids[ML_BEAM_MAX + 1];
    for (int i = 0; i <= src->c.beams; i++) ids[i] = dst->hyp[i].ids;
    *dst = *src;
    dst->tok = tok, dst->tok_next = tok_next;
    size_t n = (size_t)src->c.beams * (size_t)src->c.max_tokens;
    memcpy(dst->tok, src->tok, n * sizeof(int32_t));
    for (int i = 0; i <= src->c.beams; i++) {
        dst->hyp[i].ids = ids[i];
        memcpy(ids[i], src->hyp[i].ids, (size_t)src->hyp[i].n * sizeof(int32_t));
    }
}

int64_t ml_beam_length(const MlBeam *b) { return b->len; }
int ml_beam_parent(const MlBeam *b, int j) { return b->parent[j]; }
int32_t ml_beam_token(const MlBeam *b, int j) { return b->token[j]; }
const int32_t *ml_beam_tokens(const MlBeam *b, int j) { return b->tok + (size_t)j * (size_t)b->c.max_tokens; }
float ml_beam_score(const MlBeam *b, int j) { return b->score[j]; }

void ml_beam_result(MlBeam *b, int32_t *out, int64_t *n_out, double *score) {
    if (!b->done && b->len > 0)
        for (int j = 0; j < b->c.beams; j++) add_hyp(b, ml_beam_tokens(b, j), b->len, (double)b->score[j]);
    *n_out = 0, *score = -INFINITY;
    int best = -1;
    for (int i = 0; i < b->n_hyp; i++)
        if (best < 0 || b->hyp[i].score >= b->hyp[best].score) best = i;
    if (best < 0) return;
    memcpy(out, b->hyp[best].ids, (size_t)b->hyp[best].n * sizeof(int32_t));
    *n_out = b->hyp[best].n, *score = b->hyp[best].score;
}
