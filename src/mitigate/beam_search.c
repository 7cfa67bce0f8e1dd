/* beam_search.c: beam search over a tree of forked sessions (beam_search.h). */
#include "mitigate/beam_search.h"

#include <stdlib.h>
#include <string.h>

#include "model/lvlm.h"

/* A session in the tree.  refs: running beams on it plus child nodes
   forked from it; at 0 it is freed and its parent loses a ref. */
typedef struct Node {
    MlSession *s;
    int parent; /* -1: the root */
    int refs;
} Node;

typedef struct Tree {
    Node *node;
    int n, cap;
    int *free_ids; /* reusable node ids */
    int n_free;
} Tree;

static int tree_add(Tree *t, MlSession *s, int parent) {
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
    t->node[id] = (Node){s, parent, 1};
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

int ml_beam_search(MlSession *root, const float *logits, const MlBeamConfig *bc, const MlBeamSearchHooks *h,
                   int32_t *out, int64_t *n_out, double *score, MlError *err) {
    *n_out = 0, *score = 0;
    MlLvlm *m = ml_session_model(root);
    const int64_t V = ml_lvlm_vocab(m), ctx = ml_lvlm_context(m), used = ml_session_length(root);
    if (bc->max_tokens >= 1 && used + bc->max_tokens - 1 > ctx)
        return ml_error_set(err, ML_ERR_RANGE,
                            "beam: the prompt's %lld tokens leave no room for %lld generated tokens in the context of %lld",
                            (long long)used, (long long)bc->max_tokens, (long long)ctx);
    MlBeam *b;
    int rc = ml_beam_new(&b, bc, V, err);
    if (rc) return rc;
    const int B = bc->beams;
    Tree t = {0};
    float *buf = malloc(sizeof(float) * (size_t)V * (size_t)B);
    float *lg[ML_BEAM_MAX];
    int at[ML_BEAM_MAX], next[ML_BEAM_MAX];
    MlSession *sess[ML_BEAM_MAX];
    if (!buf || tree_add(&t, root, -1) != 0) {
        free(buf), free(t.node), free(t.free_ids), ml_beam_free(b);
        return ml_error_set(err, ML_ERR_NOMEM, "beam: out of memory");
    }
    t.node[0].refs = B; /* every beam starts on the root */
    for (int i = 0; i < B; i++) {
        lg[i] = buf + (size_t)i * (size_t)V;
        memcpy(lg[i], logits, sizeof(float) * (size_t)V);
        at[i] = 0;
    }
    for (;;) {
        for (int i = 0; i < B; i++) sess[i] = t.node[at[i]].s;
        if (h->rescore && (rc = h->rescore(h->user, sess, lg, ml_beam_length(b), err))) break;
        int done = ml_beam_step(b, lg);
        if (h->chosen) h->chosen(h->user, b);
        const int64_t len = ml_beam_length(b);
        if (done || len == bc->max_tokens) break;
        int count[ML_BEAM_MAX] = {0};
        for (int j = 0; j < B; j++) count[ml_beam_parent(b, j)]++;
        /* continue in place where one new beam alone reads its parent, else fork */
        for (int j = 0; j < B && !rc; j++) {
            int p = ml_beam_parent(b, j), id = at[p];
            if (count[p] == 1 && id != 0 && t.node[id].refs == 1) {
                next[j] = id;
                continue;
            }
            MlSession *f;
            rc = ml_session_fork(&f, t.node[id].s, bc->max_tokens - len, err);
            if (!rc && (next[j] = tree_add(&t, f, id)) < 0) {
                ml_session_free(f);
                rc = ml_error_set(err, ML_ERR_NOMEM, "beam: out of memory");
            }
            if (rc)
                while (--j >= 0)
                    if (next[j] != at[ml_beam_parent(b, j)]) tree_release(&t, next[j]);
        }
        if (rc) break;
        /* the old beams' refs: kept by the one that continues in place, dropped by the others */
        int kept[ML_BEAM_MAX] = {0};
        for (int j = 0; j < B; j++)
            if (next[j] == at[ml_beam_parent(b, j)]) kept[ml_beam_parent(b, j)] = 1;
        for (int i = 0; i < B; i++)
            if (!kept[i]) tree_release(&t, at[i]);
        for (int j = 0; j < B; j++) at[j] = next[j];
        for (int j = 0; j < B && !rc; j++) {
            int32_t tok = ml_beam_token(b, j);
            rc = ml_session_forward(t.node[at[j]].s, &tok, 1, NULL, 0, h->hooks, lg[j], 0, err);
        }
        if (rc) break;
    }
    if (!rc) ml_beam_result(b, out, n_out, score);
    for (int i = 0; i < B; i++) tree_release(&t, at[i]);
    free(buf), free(t.node), free(t.free_ids), ml_beam_free(b);
    return rc;
}
