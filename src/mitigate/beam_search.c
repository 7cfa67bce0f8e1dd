/* beam_search.c: beam search over a tree of forked sessions (beam_search.h). */
#include "mitigate/beam_search.h"

#include <stdlib.h>
#include <string.h>

#include "model/lvlm.h"

/* A session in the tree.  refs: running beams on it plus child nodes
   forked from it; at 0 it is freed and its parent loses a ref. */
typedef struct Node {
    MlSession *s;
    int64_t start, cap; /* tokens before its own rows, and room for them */
    int parent; /* -1: the root */
    int refs;
} Node;

typedef struct Tree {
    Node *node;
    int n, cap;
    int *free_ids; /* reusable node ids */
    int n_free;
} Tree;

static int tree_add(Tree *t, MlSession *s, int64_t cap, int parent) {
    int id;
    if (t->n_free) {
        id = t->free_ids[--t->n_free];
    } else {
        if (t->n == t->cap) {
            int cap = t->cap ? 2 * t->cap : 64;
            Node *n = realloc(t->node, sizeof(Node) * (size_t)cap);
            int *f = n ? realloc(t->free_ids, sizeof(int) * (size_t)cap) : NULL;
            if (n) t->node = n;
            if (!f) return -1;
            t->free_ids = f, t->cap = cap;
        }
        id = t->n++;
    }
    t->node[id] = (Node){s, ml_session_length(s), cap, parent, 1};
    if (parent >= 0) t->node[parent].refs++;
    return id;
}

/* Drops one ref; frees the session (never the root's, node 0) and walks up. */
static void tree_release(Tree *t, int id) {
    while (id > 0 && --t->node[id].refs == 0) {
        int up = t->node[id].parent;
        ml_session_free(t->node[id].s);
        t->node[id].s = NULL;
        t->free_ids[t->n_free++] = id;
        id = up;
    }
    if (id == 0) t->node[0].refs--;
}

/* Everything one search holds. */
typedef struct Search {
    const MlBeamConfig *bc;
    const MlBeamSearchHooks *h;
    MlSession *root;
    const float *root_logits;
    int64_t V;
    Tree t;
    MlBeam *b;
    float *buf, *lg[ML_BEAM_MAX];
    int at[ML_BEAM_MAX]; /* each running beam's node */
    /* roll-back: the search before each step, and per step the (beam, token)
       pairs it may no longer choose */
    MlBeam **snap;
    int64_t **reject, *n_reject;
} Search;

static const MlHooks *hooks_of(const Search *s, int j) {
    return s->h->beam_hooks ? s->h->beam_hooks(s->h->user, j) : NULL;
}

/* Rows a fork holds: small blocks keep allocations cheap; a beam that
   fills its block continues in a fork of it. */
#define FORK_ROWS 16

static int64_t room(const Search *s, int id) {
    MlSession *x = s->t.node[id].s;
    return s->t.node[id].cap - (ml_session_length(x) - s->t.node[id].start);
}

/* Beam j continues beam ml_beam_parent(b, j): in place where it alone reads
   that beam's session, else in a fork; then each is fed its token. */
static int advance(Search *s, MlError *err) {
    const int B = s->bc->beams;
    const int64_t len = ml_beam_length(s->b);
    int count[ML_BEAM_MAX] = {0}, next[ML_BEAM_MAX], rc = ML_OK;
    for (int j = 0; j < B; j++) count[ml_beam_parent(s->b, j)]++;
    for (int j = 0; j < B && !rc; j++) {
        int p = ml_beam_parent(s->b, j), id = s->at[p];
        if (count[p] == 1 && id != 0 && s->t.node[id].refs == 1 && room(s, id) > 0) {
            next[j] = id;
            continue;
        }
        MlSession *f;
        int64_t left = s->bc->max_tokens - len, cap = left < FORK_ROWS ? left : FORK_ROWS;
        rc = ml_session_fork(&f, s->t.node[id].s, cap, err);
        if (!rc && (next[j] = tree_add(&s->t, f, cap, id)) < 0) {
            ml_session_free(f);
            rc = ml_error_set(err, ML_ERR_NOMEM, "beam: out of memory");
        }
        if (rc)
            while (--j >= 0)
                if (next[j] != s->at[ml_beam_parent(s->b, j)]) tree_release(&s->t, next[j]);
    }
    if (rc) return rc;
    /* the old beams' refs: kept by the one continuing in place, dropped by the others */
    int kept[ML_BEAM_MAX] = {0};
    for (int j = 0; j < B; j++)
        if (next[j] == s->at[ml_beam_parent(s->b, j)]) kept[ml_beam_parent(s->b, j)] = 1;
    for (int i = 0; i < B; i++)
        if (!kept[i]) tree_release(&s->t, s->at[i]);
    for (int j = 0; j < B; j++) s->at[j] = next[j];
    for (int j = 0; j < B && !rc; j++) {
        int32_t tok = ml_beam_token(s->b, j);
        rc = ml_session_forward(s->t.node[s->at[j]].s, &tok, 1, NULL, 0, hooks_of(s, j), s->lg[j], 0, err);
    }
    return rc;
}

static int add_reject(Search *s, int64_t pos, int64_t flat) {
    int64_t *r = realloc(s->reject[pos], sizeof(int64_t) * (size_t)(s->n_reject[pos] + 1));
    if (!r) return -1;
    s->reject[pos] = r;
    r[s->n_reject[pos]++] = flat;
    return 0;
}

/* OPERA's retrospection to pos (as its code does: the search as it stood
   min(pos, step - 1) tokens ago, the choice made then rejected). */
static int go_back(Search *s, int64_t pos, MlError *err) {
    const int B = s->bc->beams;
    const int64_t step = ml_beam_length(s->b), r = pos < step - 1 ? pos : step - 1;
    if (r < 0 || pos > s->bc->max_tokens)
        return ml_error_set(err, ML_ERR_ARG, "beam: no step %lld to go back to", (long long)pos);
    for (int j = 0; j < B; j++)
        if (add_reject(s, pos, (int64_t)ml_beam_parent(s->snap[r + 1], j) * s->V + ml_beam_token(s->snap[r + 1], j)))
            return ml_error_set(err, ML_ERR_NOMEM, "beam: out of memory");
    if (pos + 1 <= s->bc->max_tokens) s->n_reject[pos + 1] = 0;
    ml_beam_copy(s->b, s->snap[r]);
    for (int i = 0; i < B; i++) tree_release(&s->t, s->at[i]), s->at[i] = 0;
    s->t.node[0].refs += B;
    int rc = ML_OK;
    for (int j = 0; j < B && !rc; j++) {
        MlSession *f;
        if ((rc = ml_session_fork(&f, s->root, s->bc->max_tokens + 1, err))) break;
        int id = tree_add(&s->t, f, s->bc->max_tokens + 1, 0);
        if (id < 0) {
            ml_session_free(f);
            rc = ml_error_set(err, ML_ERR_NOMEM, "beam: out of memory");
            break;
        }
        tree_release(&s->t, s->at[j]);
        s->at[j] = id;
        if (r) rc = ml_session_forward(f, ml_beam_tokens(s->b, j), r, NULL, 0, hooks_of(s, j), s->lg[j], 0, err);
        else memcpy(s->lg[j], s->root_logits, sizeof(float) * (size_t)s->V);
    }
    if (rc) return rc;
    for (int j = 0; j < B; j++) {
        float *x = s->lg[j], mn = x[0];
        for (int64_t v = 1; v < s->V; v++)
            if (x[v] < mn) mn = x[v];
        for (int64_t v = 0; v < s->V; v++) x[v] -= 999.0f + mn;
    }
    for (int64_t k = 0; k < s->n_reject[pos]; k++) s->lg[s->reject[pos][k] / s->V][s->reject[pos][k] % s->V] = -999.0f;
    return ML_OK;
}

/* Keeps the search as it stands before this step. */
static int snapshot(Search *s, MlError *err) {
    int64_t step = ml_beam_length(s->b);
    if (!s->snap[step]) {
        int rc = ml_beam_new(&s->snap[step], s->bc, s->V, err);
        if (rc) return rc;
    }
    ml_beam_copy(s->snap[step], s->b);
    return ML_OK;
}

static void search_free(Search *s) {
    for (int i = 0; s->t.n > 0 && i < s->bc->beams; i++) tree_release(&s->t, s->at[i]);
    for (int64_t k = 0; s->snap && k <= s->bc->max_tokens; k++) ml_beam_free(s->snap[k]);
    for (int64_t k = 0; s->reject && k <= s->bc->max_tokens; k++) free(s->reject[k]);
    free(s->snap), free(s->reject), free(s->n_reject);
    free(s->buf), free(s->t.node), free(s->t.free_ids), ml_beam_free(s->b);
}

int ml_beam_search(MlSession *root, const float *logits, const MlBeamConfig *bc, const MlBeamSearchHooks *h,
                   int32_t *out, int64_t *n_out, double *score, MlError *err) {
    *n_out = 0, *score = 0;
    MlLvlm *m = ml_session_model(root);
    const int64_t V = ml_lvlm_vocab(m), ctx = ml_lvlm_context(m), used = ml_session_length(root);
    if (bc->max_tokens >= 1 && used + bc->max_tokens - 1 > ctx)
        return ml_error_set(err, ML_ERR_RANGE,
                            "beam: the prompt's %lld tokens leave no room for %lld generated tokens in the context of %lld",
                            (long long)used, (long long)bc->max_tokens, (long long)ctx);
    Search s = {.bc = bc, .h = h, .root = root, .root_logits = logits, .V = V};
    int rc = ml_beam_new(&s.b, bc, V, err);
    if (rc) return rc;
    const int B = bc->beams;
    const size_t steps = (size_t)bc->max_tokens + 1;
    s.buf = malloc(sizeof(float) * (size_t)V * (size_t)B);
    int ok = s.buf && tree_add(&s.t, root, 0, -1) == 0;
    if (ok && h->rollback) {
        s.snap = calloc(steps, sizeof *s.snap);
        s.reject = calloc(steps, sizeof *s.reject);
        s.n_reject = calloc(steps, sizeof *s.n_reject);
        ok = s.snap && s.reject && s.n_reject;
    }
    if (!ok) {
        search_free(&s);
        return ml_error_set(err, ML_ERR_NOMEM, "beam: out of memory");
    }
    s.t.node[0].refs = B; /* every beam starts on the root */
    for (int i = 0; i < B; i++) {
        s.lg[i] = s.buf + (size_t)i * (size_t)V;
        memcpy(s.lg[i], logits, sizeof(float) * (size_t)V);
    }
    for (;;) {
        MlSession *sess[ML_BEAM_MAX];
        for (int i = 0; i < B; i++) sess[i] = s.t.node[s.at[i]].s;
        if (h->rescore && (rc = h->rescore(h->user, sess, s.lg, ml_beam_length(s.b), err))) break;
        if (h->rollback) {
            if ((rc = snapshot(&s, err))) break;
            int64_t pos = h->rollback(h->user, ml_beam_length(s.b));
            if (pos >= 0 && (rc = go_back(&s, pos, err))) break;
        }
        int done = ml_beam_step(s.b, s.lg);
        if (h->chosen) h->chosen(h->user, s.b);
        if (done || ml_beam_length(s.b) == bc->max_tokens || (rc = advance(&s, err))) break;
    }
    if (!rc) ml_beam_result(s.b, out, n_out, score);
    search_free(&s);
    return rc;
}
