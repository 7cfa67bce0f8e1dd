/* hallusionbench.c: HallusionBench questions, answers and accuracies. */
#include "eval/hallusionbench.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/records.h"
#include "eval/yesno.h"

/* The five fields of an item id, each an integer or a non-empty string (utils.py joins their str()). */
typedef struct Fields {
    char cat[ML_RECORD_ID_MAX + 1], sub[ML_RECORD_ID_MAX + 1], set[ML_RECORD_ID_MAX + 1];
    char fig[ML_RECORD_ID_MAX + 1], qid[ML_RECORD_ID_MAX + 1];
} Fields;

#define KEY_MAX (5 * (ML_RECORD_ID_MAX + 1))

static int read_fields(const cJSON *o, Fields *f, const char *where, size_t line, MlError *err) {
    int rc;
    if ((rc = ml_record_id(o, "category", f->cat, where, line, err)) ||
        (rc = ml_record_id(o, "subcategory", f->sub, where, line, err)) ||
        (rc = ml_record_id(o, "set_id", f->set, where, line, err)) ||
        (rc = ml_record_id(o, "figure_id", f->fig, where, line, err)) ||
        (rc = ml_record_id(o, "question_id", f->qid, where, line, err)))
        return rc;
    return ML_OK;
}

static void item_id(const Fields *f, char *buf) {
    snprintf(buf, KEY_MAX, "%s_%s_%s_%s_%s", f->cat, f->sub, f->set, f->fig, f->qid);
}

void ml_hallusionbench_free(MlHallusionSet *s) {
    free(s->q);
    free(s->where);
    ml_strmap_free(&s->ids);
    memset(s, 0, sizeof *s);
}

/* The group index of key, a new one when it is first seen. */
static int group(MlStrMap *m, const char *key, size_t *n, size_t *out) {
    const size_t *k = ml_strmap_get(m, key);
    if (k) {
        *out = *k;
        return ML_OK;
    }
    if (ml_strmap_put(m, key, *n, NULL, NULL)) return ML_ERR_NOMEM;
    *out = (*n)++;
    return ML_OK;
}

static int build(MlHallusionSet *s, MlRecords *recs, MlError *err) {
    const char *where = recs->where;
    MlStrMap pairs = {0}, figures = {0};
    char id[KEY_MAX], key[KEY_MAX];
    int rc = ML_OK;
    if (!recs->count) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no questions", where);
    else if (!(s->q = calloc(recs->count, sizeof *s->q)) || !(s->where = strdup(where)))
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    for (size_t i = 0; !rc && i < recs->count; i++) {
        const cJSON *o = recs->items[i].json;
        size_t line = recs->items[i].line;
        MlHallusionQuestion *q = &s->q[i];
        Fields f;
        char vis[ML_RECORD_ID_MAX + 1], gt[ML_RECORD_ID_MAX + 1];
        if ((rc = read_fields(o, &f, where, line, err)) || (rc = ml_record_id(o, "visual_input", vis, where, line, err)) ||
            (rc = ml_record_id(o, "gt_answer", gt, where, line, err)))
            break;
        if (strcmp(f.cat, "VD") && strcmp(f.cat, "VS")) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: category \"%.40s\" is neither VD nor VS", where, line, f.cat);
            break;
        }
        if (strcmp(gt, "0") && strcmp(gt, "1")) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: gt_answer \"%.40s\" is neither \"1\" nor \"0\"", where, line, gt);
            break;
        }
        q->index = i;
        q->vs = !strcmp(f.cat, "VS");
        q->no_figure = !strcmp(f.fig, "0");
        q->hard = !strcmp(vis, "2");
        q->gt_yes = gt[0] == '1';
        item_id(&f, id);
        int existed;
        if (ml_strmap_put(&s->ids, id, i, &existed, NULL)) rc = ML_ERR_NOMEM;
        else if (existed) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: item %.300s appears twice", where, line, id);
            break;
        }
        snprintf(key, sizeof key, "%s_%s_%s_%s", f.cat, f.sub, f.set, f.qid);
        if (!rc) rc = group(&pairs, key, &s->n_pairs, &q->pair);
        q->figure = SIZE_MAX;
        snprintf(key, sizeof key, "%s_%s_%s_%s", f.cat, f.sub, f.set, f.fig);
        if (!rc && !(q->vs && q->no_figure)) rc = group(&figures, key, &s->n_figures, &q->figure);
        if (rc) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
        s->count++;
    }
    ml_strmap_free(&pairs);
    ml_strmap_free(&figures);
    ml_records_free(recs);
    if (rc) ml_hallusionbench_free(s);
    return rc;
}

int ml_hallusionbench_load(const char *path, MlHallusionSet *s, MlError *err) {
    memset(s, 0, sizeof *s);
    MlRecords recs;
    int rc = ml_records_load(path, &recs, err);
    return rc ? rc : build(s, &recs, err);
}

int ml_hallusionbench_parse(const char *text, size_t len, const char *where, MlHallusionSet *s, MlError *err) {
    memset(s, 0, sizeof *s);
    MlRecords recs;
    int rc = ml_records_parse(text, len, where, &recs, err);
    return rc ? rc : build(s, &recs, err);
}

/* Python's round(x, 4): the correctly rounded decimal of the double, read back. */
static double round4(double x) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.4f", x);
    return strtod(buf, NULL);
}

static void finish(MlHallusionAcc *a) {
    a->percent = a->total ? round4(100.0 * (double)a->correct / (double)a->total) : NAN;
}

static void add(MlHallusionAcc *a, int correct) {
    a->correct += correct != 0;
    a->total++;
}

static void sum(MlHallusionAcc *to, const MlHallusionAcc *a, const MlHallusionAcc *b) {
    to->correct = a->correct + b->correct;
    to->total = a->total + b->total;
}

/* Per group: questions, correct ones, and the same for the easy and hard halves. */
typedef struct Tally {
    size_t n, c, easy_n, easy_c, hard_n, hard_c;
    int vs;
} Tally;

static void score(const MlHallusionSet *s, const int *correct, MlHallusionScore *out, Tally *pair, Tally *fig) {
    for (size_t i = 0; i < s->count; i++) {
        const MlHallusionQuestion *q = &s->q[i];
        add(q->vs ? &out->vs.aacc : &out->vd.aacc, correct[i]);
        Tally *p = &pair[q->pair];
        p->vs = q->vs;
        p->n++;
        p->c += correct[i] != 0;
        if (q->hard) p->hard_n++, p->hard_c += correct[i] != 0;
        else p->easy_n++, p->easy_c += correct[i] != 0;
        if (q->figure != SIZE_MAX) {
            fig[q->figure].vs = q->vs;
            fig[q->figure].n++;
            fig[q->figure].c += correct[i] != 0;
        }
    }
    for (size_t g = 0; g < s->n_pairs; g++) {
        MlHallusionPart *part = pair[g].vs ? &out->vs : &out->vd;
        add(&part->qacc, pair[g].c == pair[g].n);
        if (pair[g].easy_n) add(&part->easy, pair[g].easy_c == pair[g].easy_n);
        if (pair[g].hard_n) add(&part->hard, pair[g].hard_c == pair[g].hard_n);
    }
    for (size_t g = 0; g < s->n_figures; g++) add(fig[g].vs ? &out->vs.facc : &out->vd.facc, fig[g].c == fig[g].n);
    /* every group lies within one category, so the whole is the sum of VD and VS */
    sum(&out->all.aacc, &out->vd.aacc, &out->vs.aacc);
    sum(&out->all.qacc, &out->vd.qacc, &out->vs.qacc);
    sum(&out->all.facc, &out->vd.facc, &out->vs.facc);
    sum(&out->all.easy, &out->vd.easy, &out->vs.easy);
    sum(&out->all.hard, &out->vd.hard, &out->vs.hard);
    MlHallusionPart *parts[3] = {&out->vd, &out->vs, &out->all};
    for (int k = 0; k < 3; k++) {
        finish(&parts[k]->aacc);
        finish(&parts[k]->qacc);
        finish(&parts[k]->facc);
        finish(&parts[k]->easy);
        finish(&parts[k]->hard);
    }
}

static int score_records(const MlHallusionSet *s, MlRecords *recs, MlHallusionScore *out, MlError *err) {
    const char *where = recs->where;
    int rc = ML_OK;
    int *correct = malloc((s->count ? s->count : 1) * sizeof *correct);
    size_t *line_of = calloc(s->count ? s->count : 1, sizeof *line_of); /* 0 = no answer yet */
    Tally *pair = calloc(s->n_pairs ? s->n_pairs : 1, sizeof *pair);
    Tally *fig = calloc(s->n_figures ? s->n_figures : 1, sizeof *fig);
    if (!correct || !line_of || !pair || !fig) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    for (size_t i = 0; !rc && i < recs->count; i++) {
        const cJSON *o = recs->items[i].json;
        size_t line = recs->items[i].line;
        char id[KEY_MAX];
        const char *answer = NULL;
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(o, "index");
        const size_t *k = NULL;
        if (cJSON_GetObjectItemCaseSensitive(o, "id")) {
            if ((rc = ml_record_id(o, "id", id, where, line, err))) break;
        } else if (index) {
            double d = index->valuedouble;
            if (!cJSON_IsNumber(index) || !(d >= 0 && d < (double)s->count) || d != floor(d)) {
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: index: expected an integer in [0, %zu)", where, line,
                                  s->count);
                break;
            }
            k = &s->q[(size_t)d].index;
            snprintf(id, sizeof id, "question %zu", *k);
        } else {
            Fields f;
            if ((rc = read_fields(o, &f, where, line, err))) {
                rc = ml_error_set(err, rc, "%s:%zu: no \"id\" and no complete (category, subcategory, set_id, "
                                           "figure_id, question_id)", where, line);
                break;
            }
            item_id(&f, id);
        }
        const char *key = cJSON_GetObjectItemCaseSensitive(o, "answer") ? "answer" : "model_prediction";
        if ((rc = ml_record_str(o, key, &answer, where, line, err))) {
            if (rc == ML_ERR_MISSING) ml_error_set(err, rc, "%s:%zu: no \"answer\" or \"model_prediction\"", where, line);
            break;
        }
        if (!k) k = ml_strmap_get(&s->ids, id);
        if (!k) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: %.300s is not a question of %s", where, line, id, s->where);
            break;
        }
        if (line_of[*k]) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: %.300s answered twice (first on line %zu)", where, line, id,
                              line_of[*k]);
            break;
        }
        line_of[*k] = line;
        const MlHallusionQuestion *q = &s->q[*k];
        int v = ml_yesno_words(answer);
        int code = v < 0 ? 2 : v == q->gt_yes;
        out->yes += v == 1;
        out->no += v == 0;
        out->unclear += v < 0;
        correct[*k] = code == 1 || (q->vs && q->no_figure && code == 2);
    }
    size_t missing = 0, first = 0;
    for (size_t i = 0; !rc && i < s->count; i++)
        if (!line_of[i] && !missing++) first = i;
    if (!rc && missing) {
        const char *name = "?";
        for (size_t slot = 0; slot < s->ids.cap; slot++)
            if (s->ids.keys[slot] && s->ids.vals[slot] == first) name = s->ids.keys[slot];
        rc = ml_error_set(err, ML_ERR_MISSING, "%s: no answer for %.300s (%zu questions of %s unanswered)", where, name,
                          missing, s->where);
    }
    if (!rc) score(s, correct, out, pair, fig);
    free(correct);
    free(line_of);
    free(pair);
    free(fig);
    ml_records_free(recs);
    return rc;
}

int ml_hallusionbench_score_file(const MlHallusionSet *s, const char *answers_path, MlHallusionScore *out,
                                 MlError *err) {
    memset(out, 0, sizeof *out);
    MlRecords recs;
    int rc = ml_records_load(answers_path, &recs, err);
    return rc ? rc : score_records(s, &recs, out, err);
}

int ml_hallusionbench_score_text(const MlHallusionSet *s, const char *text, size_t len, const char *where,
                                 MlHallusionScore *out, MlError *err) {
    memset(out, 0, sizeof *out);
    MlRecords recs;
    int rc = ml_records_parse(text, len, where, &recs, err);
    return rc ? rc : score_records(s, &recs, out, err);
}
