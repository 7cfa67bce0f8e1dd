/* train/mention_head.c: the training-only mention and answer heads (see mention_head.h). */
#include "train/mention_head.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scene/relations.h"

/* The one object of the image whose attribute words include every word of
   ref[0, len), or -1 (none, or more than one). */
static int find_object(const MlTrainData *d, int64_t image, const char *ref, size_t len) {
    int found = -1;
    for (int64_t k = 0; k < d->obj_count[image]; k++) {
        const MlTrainObject *o = &d->obj[d->obj_first[image] + k];
        int all = len > 0;
        for (size_t at = 0; at < len && all;) {
            size_t end = at;
            while (end < len && ref[end] != ' ') end++;
            int match = 0;
            for (int a = 0; a < ML_TRAIN_ATTR_N && !match; a++) {
                const char *name = d->names[a][o->attr[a]];
                match = strlen(name) == end - at && !memcmp(name, ref + at, end - at);
            }
            all = match;
            at = end + 1;
        }
        if (!all) continue;
        if (found >= 0) return -1;
        found = (int)k;
    }
    return found;
}

int ml_mention_refs(const MlTrainData *d, int64_t image, const char *question, int *subject, int *object) {
    static const char prefix[] = "Is the ";
    const size_t n = strlen(question);
    if (n < sizeof prefix || strncmp(question, prefix, sizeof prefix - 1) || question[n - 1] != '?') return 0;
    const char *a = question + sizeof prefix - 1;
    for (int r = 0; r < ML_N_RELATIONS; r++) {
        char sep[32];
        snprintf(sep, sizeof sep, " %s the ", ml_relation_name((MlRelation)r));
        const char *at = strstr(a, sep);
        if (!at) continue;
        const char *b = at + strlen(sep);
        *subject = find_object(d, image, a, (size_t)(at - a));
        *object = find_object(d, image, b, (size_t)(question + n - 1 - b));
        return *subject >= 0 && *object >= 0 && *subject != *object;
    }
    return 0;
}

/* The last token of text, or with `single` its only one; -1 when there is none. */
static int32_t last_token(const MlTokenizer *tok, const char *text, int single) {
    int32_t ids[16];
    size_t n = 0;
    MlError e = {0};
    if (ml_tokenizer_encode(tok, text, strlen(text), ids, 16, &n, &e) || n < 1 || (single && n != 1)) return -1;
    return ids[n - 1];
}

int ml_mention_words_init(MlMentionWords *mw, const MlTokenizer *tok, const MlTrainData *d, MlError *err) {
    memset(mw, 0, sizeof *mw);
    mw->n = d->n_names[ML_TRAIN_ATTR_CATEGORY];
    for (int c = 0; c < mw->n; c++) {
        const char *name = d->names[ML_TRAIN_ATTR_CATEGORY][c];
        char q[128];
        snprintf(q, sizeof q, "%s?", name);
        mw->last[c] = last_token(tok, name, 0);
        mw->question[c] = last_token(tok, q, 1);
        if (mw->last[c] < 0)
            return ml_error_set(err, ML_ERR_FORMAT, "mention head: the category '%s' does not tokenize", name);
    }
    return ML_OK;
}

int64_t ml_mention_find(const MlMentionWords *mw, const int32_t *ids, int64_t from, int64_t to, int category,
                        int last) {
    if (category < 0 || category >= mw->n) return -1;
    int64_t at = -1;
    for (int64_t i = from; i < to; i++)
        if (ids[i] == mw->last[category] || (mw->question[category] >= 0 && ids[i] == mw->question[category])) {
            at = i;
            if (!last) break;
        }
    return at;
}

enum { MAX_OUTPUTS = 4 };

size_t ml_mention_head_size(int64_t D, int n_objects) {
    if (n_objects < 1 || 2 * n_objects > MAX_OUTPUTS) return 0;
    return (size_t)(2 * n_objects) * (size_t)(D + 1);
}

void ml_mention_head_targets(const MlTrainData *d, int64_t image, int object, int grid, float *t) {
    const float scale = (float)grid / (float)d->side;
    const MlTrainObject *o = &d->obj[d->obj_first[image] + object];
    t[0] = o->cx * scale - 0.5f * (float)grid;
    t[1] = o->cy * scale - 0.5f * (float)grid;
}

double ml_mention_head_run(const float *P, float *G, const float *x, int64_t D, int n_objects, const float *t,
                           float scale, float *dx) {
    enum { MAX_D = 4096 };
    const int K = 2 * n_objects;
    float y[MAX_D], dy[MAX_D];
    if (D > MAX_D || n_objects < 1 || K > MAX_OUTPUTS) return NAN;
    /* y = x / rms(x): the head sees the direction, not the residual's growing scale */
    double ss = 0.0;
    for (int64_t j = 0; j < D; j++) ss += (double)x[j] * x[j];
    const float inv = (float)(1.0 / sqrt(ss / (double)D + 1e-5));
    for (int64_t j = 0; j < D; j++) {
        y[j] = x[j] * inv;
        dy[j] = 0.0f;
    }
    const float *W = P, *b = P + K * D;
    float *GW = G, *Gb = G + K * D;
    double loss = 0.0;
    for (int k = 0; k < K; k++) {
        double pred = b[k];
        for (int64_t j = 0; j < D; j++) pred += (double)W[k * D + j] * y[j];
        const double e = pred - t[k];
        loss += e * e;
        const float g = (float)(2.0 * e) * scale;
        Gb[k] += g;
        for (int64_t j = 0; j < D; j++) {
            GW[k * D + j] += g * y[j];
            dy[j] += g * W[k * D + j];
        }
    }
    double dot = 0.0;
    for (int64_t j = 0; j < D; j++) dot += (double)dy[j] * y[j];
    for (int64_t j = 0; j < D; j++) dx[j] += inv * (dy[j] - y[j] * (float)(dot / (double)D));
    return loss;
}
