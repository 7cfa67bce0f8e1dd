/* train/slots.c: per-patch scene labels and slot embeddings (see slots.h). */
#include "train/slots.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "train/step.h"

/* Position codes for a tokenizer without position words: N(0, 0.03), the
   same in every stage (fixed seed), so the projector can regress onto the
   codes stage 0 taught the LM.  Empty patches are zero: nothing for a
   question's attention to find there. */
enum { SLOT_POS_SEED = 0x5107 };
static const double SLOT_POS_STD = 0.03;

static int name_tokens(const MlTokenizer *tok, const char *name, int32_t *ids, int *n, MlError *err) {
    int32_t buf[16];
    size_t k = 0;
    int rc = ml_tokenizer_encode(tok, name, strlen(name), buf, 16, &k, err);
    if (rc) return rc;
    if (k < 1 || k > ML_SLOT_MAX_TOKENS)
        return ml_error_set(err, ML_ERR_RANGE, "slots: the word '%s' is %zu tokens (1..%d allowed)", name, k,
                            ML_SLOT_MAX_TOKENS);
    memcpy(ids, buf, k * sizeof *buf);
    *n = (int)k;
    return ML_OK;
}

/* The word as it ends a question ("circle?") is its own piece in a BPE
   trained on the corpus; the slot carries both, so either form matches. */
static void add_question_form(const MlTokenizer *tok, const char *name, int32_t *ids, int *n) {
    char buf[128];
    int32_t q[4];
    size_t k = 0;
    MlError e = {0};
    snprintf(buf, sizeof buf, "%s?", name);
    if (*n < ML_SLOT_MAX_TOKENS && !ml_tokenizer_encode(tok, buf, strlen(buf), q, 4, &k, &e) && k == 1 &&
        q[0] != ids[0])
        ids[(*n)++] = q[0];
}

void ml_train_position_word(int axis, int k, char *buf, size_t cap) {
    snprintf(buf, cap, "<%c%d>", axis ? 'y' : 'x', k);
}

int ml_train_position_words(int grid, char (*names)[16], const char **list) {
    if (grid < 1 || grid > ML_SLOT_MAX_GRID) return 0;
    for (int k = 0; k < 2 * grid; k++) {
        ml_train_position_word(k / grid, k % grid, names[k], sizeof names[k]);
        list[k] = names[k];
    }
    return 2 * grid;
}

/* 1 when the tokenizer has every position word of the grid (ids in s->pos_word). */
static int find_position_words(MlTrainSlots *s, const MlTokenizer *tok) {
    if (s->grid > ML_SLOT_MAX_GRID) return 0;
    for (int axis = 0; axis < 2; axis++)
        for (int k = 0; k < s->grid; k++) {
            char name[16];
            ml_train_position_word(axis, k, name, sizeof name);
            if ((s->pos_word[axis][k] = ml_tokenizer_token_id(tok, name)) < 0) return 0;
        }
    return 1;
}

int ml_train_slots_init(MlTrainSlots *s, const MlTrainModel *m, const MlTrainData *d, MlError *err) {
    memset(s, 0, sizeof *s);
    s->grid = m->vis.grid;
    s->n = (int64_t)s->grid * s->grid;
    s->D = m->dec.cfg.hidden;
    if (m->vis.n_out != s->n)
        return ml_error_set(err, ML_ERR_SHAPE, "slots: the model gives %d image tokens, not the %lld patches",
                            m->vis.n_out, (long long)s->n);
    if (s->n > ML_SLOT_MAX_PATCHES || s->D > ML_SLOT_MAX_WIDTH)
        return ml_error_set(err, ML_ERR_RANGE, "slots: %lld patches of width %lld exceed %d / %d", (long long)s->n,
                            (long long)s->D, ML_SLOT_MAX_PATCHES, ML_SLOT_MAX_WIDTH);
    if (d->n_names[ML_TRAIN_ATTR_CATEGORY] < 1)
        return ml_error_set(err, ML_ERR_ARG, "slots: the training split has no objects");
    int rc;
    for (int a = 0; a < ML_TRAIN_ATTR_N; a++) {
        s->n_names[a] = d->n_names[a];
        for (int i = 0; i < d->n_names[a]; i++)
        {
            if ((rc = name_tokens(m->tok, d->names[a][i], s->tok[a][i], &s->ntok[a][i], err))) return rc;
            add_question_form(m->tok, d->names[a][i], s->tok[a][i], &s->ntok[a][i]);
        }
    }
    if ((s->has_pos_words = find_position_words(s, m->tok))) return ML_OK;
    s->pos = malloc(sizeof(float) * (size_t)(s->n * s->D));
    if (!s->pos) return ml_error_set(err, ML_ERR_NOMEM, "slots: out of memory");
    uint64_t r = SLOT_POS_SEED;
    for (int64_t i = 0; i < s->n * s->D; i++) {
        s->pos[i] = (float)ml_rng_normal(&r, SLOT_POS_STD);
    }
    return ML_OK;
}

void ml_train_slots_free(MlTrainSlots *s) {
    free(s->pos);
    memset(s, 0, sizeof *s);
}

void ml_train_slot_labels(const MlTrainData *d, int64_t image, int grid, int *lab) {
    int64_t best[ML_SLOT_MAX_PATCHES];
    const int n = grid * grid;
    for (int p = 0; p < n * ML_TRAIN_ATTR_N; p++) lab[p] = -1;
    for (int p = 0; p < n && p < ML_SLOT_MAX_PATCHES; p++) best[p] = -1;
    const float scale = (float)grid / (float)d->side;
    for (int64_t k = 0; k < d->obj_count[image]; k++) {
        const MlTrainObject *o = &d->obj[d->obj_first[image] + k];
        int gx = (int)floorf(o->cx * scale), gy = (int)floorf(o->cy * scale);
        if (gx < 0 || gy < 0 || gx >= grid || gy >= grid) continue;
        int p = gy * grid + gx;
        if (p >= ML_SLOT_MAX_PATCHES || o->visible <= best[p]) continue;
        best[p] = o->visible;
        for (int a = 0; a < ML_TRAIN_ATTR_N; a++) lab[p * ML_TRAIN_ATTR_N + a] = o->attr[a];
    }
}

void ml_train_patch_labels(const MlTrainData *d, int64_t image, int grid, int *lab) {
    int slot[ML_SLOT_MAX_PATCHES * ML_TRAIN_ATTR_N];
    ml_train_slot_labels(d, image, grid, slot);
    for (int p = 0; p < grid * grid && p < ML_SLOT_MAX_PATCHES; p++) {
        for (int a = 0; a < ML_TRAIN_ATTR_N; a++) lab[p * ML_PATCH_GROUPS + a] = slot[p * ML_TRAIN_ATTR_N + a];
        lab[p * ML_PATCH_GROUPS + ML_TRAIN_ATTR_N] = p % grid;
        lab[p * ML_PATCH_GROUPS + ML_TRAIN_ATTR_N + 1] = p / grid;
    }
}

void ml_train_slot_embed(const MlTrainSlots *s, const MlTrainModel *m, const int *lab, float *rows) {
    const int64_t D = s->D;
    float e[ML_SLOT_MAX_WIDTH];
    for (int64_t p = 0; p < s->n; p++) {
        float *r = rows + p * D;
        if (lab[p * ML_TRAIN_ATTR_N] < 0) {
            memset(r, 0, sizeof(float) * (size_t)D);
            continue;
        }
        if (s->has_pos_words) {
            ml_tensor_row_f32(r, &m->dec.embed, s->pos_word[0][p % s->grid]);
            ml_tensor_row_f32(e, &m->dec.embed, s->pos_word[1][p / s->grid]);
            for (int64_t j = 0; j < D; j++) r[j] += e[j];
        } else {
            memcpy(r, s->pos + p * D, sizeof(float) * (size_t)D);
        }
        for (int a = 0; a < ML_TRAIN_ATTR_N; a++) {
            const int id = lab[p * ML_TRAIN_ATTR_N + a];
            if (id < 0) continue;
            for (int t = 0; t < s->ntok[a][id]; t++) {
                ml_tensor_row_f32(e, &m->dec.embed, s->tok[a][id][t]);
                for (int64_t j = 0; j < D; j++) r[j] += e[j];
            }
        }
    }
}

void ml_train_slot_embed_backward(const MlTrainSlots *s, float *dembed, const int *lab, const float *drows) {
    const int64_t D = s->D;
    for (int64_t p = 0; p < s->n; p++) {
        if (lab[p * ML_TRAIN_ATTR_N] < 0) continue;
        for (int axis = 0; s->has_pos_words && axis < 2; axis++) {
            const int32_t id = s->pos_word[axis][axis ? p / s->grid : p % s->grid];
            for (int64_t j = 0; j < D; j++) dembed[(size_t)id * D + j] += drows[p * D + j];
        }
        for (int a = 0; a < ML_TRAIN_ATTR_N; a++) {
            const int id = lab[p * ML_TRAIN_ATTR_N + a];
            if (id < 0) continue;
            for (int t = 0; t < s->ntok[a][id]; t++)
                for (int64_t j = 0; j < D; j++) dembed[(size_t)s->tok[a][id][t] * D + j] += drows[p * D + j];
        }
    }
}
