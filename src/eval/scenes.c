/* scenes.c: scene-probe files, answers per probe file, yes/no and describe scores. */
#include "eval/scenes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/json.h"
#include "core/strmap.h"
#include "eval/words.h"
#include "scene/vocab.h"

static const char *const file_names[ML_SCENES_FILES] = {"pope_random", "pope_popular", "pope_adversarial", "attribute",
                                                         "count",       "relation",     "describe"};
static const int file_family[ML_SCENES_FILES - 1] = {ML_FAM_OBJECT,    ML_FAM_OBJECT, ML_FAM_OBJECT,
                                                     ML_FAM_ATTRIBUTE, ML_FAM_COUNT,  ML_FAM_RELATION};
static const char *const family_names[ML_N_FAMS] = {"object", "attribute", "relation", "count"};
static const char *const claim_names[ML_N_CLAIMS] = {"object", "attribute", "count", "relation"};

const char *ml_scenes_file_name(int f) { return f >= 0 && f < ML_SCENES_FILES ? file_names[f] : "?"; }
const char *ml_scenes_family_name(int f) { return f >= 0 && f < ML_N_FAMS ? family_names[f] : "?"; }
const char *ml_scenes_claim_name(int k) { return k >= 0 && k < ML_N_CLAIMS ? claim_names[k] : "?"; }

void ml_scenes_free(MlSceneProbes *p) {
    for (int f = 0; f < ML_SCENES_FILES; f++) ml_records_free(&p->file[f]);
    free(p->dir);
    memset(p, 0, sizeof *p);
}

/* Checks the fields the scorer reads. */
static int check_probe(const MlRecord *r, int f, const char *where, MlError *err) {
    char id[ML_RECORD_ID_MAX + 1];
    int rc = ml_record_id(r->json, "question_id", id, where, r->line, err);
    if (rc) return rc;
    if (f == ML_SCENES_DESCRIBE) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(r->json, "truth");
        if (!cJSON_IsObject(t) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(t, "objects")))
            return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: truth: expected a scene graph with \"objects\"", where, r->line);
        return ML_OK;
    }
    const char *label;
    if ((rc = ml_record_str(r->json, "label", &label, where, r->line, err))) return rc;
    if (strcmp(label, "yes") && strcmp(label, "no"))
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: label: expected \"yes\" or \"no\"", where, r->line);
    const cJSON *sev = cJSON_GetObjectItemCaseSensitive(r->json, "severity");
    if (sev && (!cJSON_IsNumber(sev) || !(sev->valuedouble >= 0 && sev->valuedouble <= 100)))
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: severity: expected a number in [0, 100]", where, r->line);
    return ML_OK;
}

int ml_scenes_load(MlSceneProbes *p, const char *dir, MlError *err) {
    memset(p, 0, sizeof *p);
    if (!(p->dir = strdup(dir))) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    int found = 0, rc = ML_OK;
    char manifest[4200];
    snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
    if (ml_file_exists(manifest)) {
        cJSON *m = NULL;
        if ((rc = ml_json_load(manifest, &m, err))) {
            ml_scenes_free(p);
            return rc;
        }
        const cJSON *far = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "thresholds_px"), "far");
        if (cJSON_IsNumber(far) && far->valuedouble > 0 && far->valuedouble < 1e6) p->far_px = far->valuedouble;
        cJSON_Delete(m);
    }
    for (int f = 0; f < ML_SCENES_FILES && !rc; f++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/probes/%s.jsonl", dir, file_names[f]);
        if (!ml_file_exists(path)) continue;
        if ((rc = ml_records_load(path, &p->file[f], err))) break;
        found++;
        for (size_t i = 0; i < p->file[f].count && !rc; i++) rc = check_probe(&p->file[f].items[i], f, path, err);
    }
    if (!rc && !found)
        rc = ml_error_set(err, ML_ERR_MISSING, "%s/probes: no probe files (pope_*.jsonl, attribute.jsonl, ...)", dir);
    if (rc) ml_scenes_free(p);
    return rc;
}

/* ---- answers ---- */

typedef struct Answers {
    const char **text[ML_SCENES_FILES]; /* per probe: the answer, NULL when none */
    size_t *line[ML_SCENES_FILES];
    MlStrMap ids[ML_SCENES_FILES];      /* question id -> probe index */
    MlRecords recs[ML_SCENES_FILES + 1]; /* keep the answer texts alive */
} Answers;

static void answers_free(Answers *a) {
    for (int f = 0; f < ML_SCENES_FILES; f++) {
        free(a->text[f]);
        free(a->line[f]);
        ml_strmap_free(&a->ids[f]);
    }
    for (int f = 0; f <= ML_SCENES_FILES; f++) ml_records_free(&a->recs[f]);
}

static int answers_init(const MlSceneProbes *p, Answers *a, MlError *err) {
    memset(a, 0, sizeof *a);
    for (int f = 0; f < ML_SCENES_FILES; f++) {
        size_t n = p->file[f].count;
        a->text[f] = calloc(n ? n : 1, sizeof *a->text[f]);
        a->line[f] = calloc(n ? n : 1, sizeof *a->line[f]);
        if (!a->text[f] || !a->line[f]) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", p->dir);
        for (size_t i = 0; i < n; i++) {
            char id[ML_RECORD_ID_MAX + 1];
            ml_record_id(p->file[f].items[i].json, "question_id", id, "", 0, NULL);
            int existed;
            size_t first;
            if (ml_strmap_put(&a->ids[f], id, i, &existed, &first))
                return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", p->dir);
            if (existed)
                return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question_id %s repeats line %zu", p->file[f].where,
                                    p->file[f].items[i].line, id, p->file[f].items[first].line);
        }
    }
    return ML_OK;
}

static int take_answer(const MlSceneProbes *p, Answers *a, int f, const char *id, const MlRecord *r, const char *where,
                       MlError *err) {
    const char *text;
    int rc = ml_record_str(r->json, "text", &text, where, r->line, err);
    if (rc == ML_ERR_MISSING) rc = ml_record_str(r->json, "answer", &text, where, r->line, err);
    if (rc) return rc;
    if (!p->file[f].count && !p->file[f].where)
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: %s/%s: %s/probes has no %s.jsonl", where, r->line, file_names[f],
                            id, p->dir, file_names[f]);
    const size_t *i = ml_strmap_get(&a->ids[f], id);
    if (!i) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question %s/%s is not in %s", where, r->line, file_names[f], id,
                                p->file[f].where);
    if (a->text[f][*i])
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question %s/%s answered twice (first on line %zu)", where, r->line,
                            file_names[f], id, a->line[f][*i]);
    a->text[f][*i] = text;
    a->line[f][*i] = r->line;
    return ML_OK;
}

static int file_index(const char *name, size_t n) {
    for (int f = 0; f < ML_SCENES_FILES; f++)
        if (strlen(file_names[f]) == n && !strncmp(file_names[f], name, n)) return f;
    return -1;
}

static int read_answers(const MlSceneProbes *p, const char *path, Answers *a, MlError *err) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        /* a folder of per-file answers with the probes' own ids */
        int any = 0;
        for (int f = 0; f < ML_SCENES_FILES; f++) {
            char file[4200];
            snprintf(file, sizeof file, "%s/%s.jsonl", path, file_names[f]);
            if (!ml_file_exists(file)) continue;
            any = 1;
            int rc = ml_records_load(file, &a->recs[f], err);
            for (size_t i = 0; !rc && i < a->recs[f].count; i++) {
                const MlRecord *r = &a->recs[f].items[i];
                char id[ML_RECORD_ID_MAX + 1];
                if (!(rc = ml_record_id(r->json, "question_id", id, file, r->line, err)))
                    rc = take_answer(p, a, f, id, r, file, err);
            }
            if (rc) return rc;
        }
        if (!any) return ml_error_set(err, ML_ERR_MISSING, "%s: no answer files (<probe file>.jsonl)", path);
        return ML_OK;
    }
    MlRecords *recs = &a->recs[ML_SCENES_FILES];
    int rc = ml_records_load(path, recs, err);
    if (!rc && !recs->count) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no answers", path);
    for (size_t i = 0; !rc && i < recs->count; i++) {
        const MlRecord *r = &recs->items[i];
        char id[ML_RECORD_ID_MAX + 1];
        if ((rc = ml_record_id(r->json, "question_id", id, path, r->line, err))) break;
        const char *slash = strrchr(id, '/');
        int f = slash ? file_index(id, (size_t)(slash - id)) : -1;
        if (f < 0) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question_id \"%s\" is not \"<probe file>/<id>\" (e.g. relation/17)",
                              path, r->line, id);
            break;
        }
        rc = take_answer(p, a, f, slash + 1, r, path, err);
    }
    return rc;
}

/* ---- yes/no ---- */

static void tally_add(MlYesNoTally *t, int label_yes, int pred_yes, double severity) {
    ml_binary_add(&t->s, label_yes, pred_yes);
    if (!label_yes) {
        t->neg_severity += severity;
        if (pred_yes) t->fp_severity += severity;
    }
}

static void count_kind(MlSceneScore *s, const char *kind, int pred_yes) {
    size_t k = 0;
    while (k < s->n_kinds && strcmp(s->kind_name[k], kind)) k++;
    if (k == s->n_kinds) {
        if (s->n_kinds == ML_SCENES_MAX_KINDS) return;
        snprintf(s->kind_name[k], sizeof s->kind_name[k], "%s", kind);
        s->n_kinds++;
    }
    s->kind_n[k]++;
    s->kind_yes[k] += pred_yes != 0;
}

/* ---- describe ---- */

enum { REL_LEFT = 0, REL_RIGHT, REL_ABOVE, REL_BELOW, REL_NEXT, N_REL };
static const char *const rel_names[N_REL] = {"left of", "right of", "above", "below", "next to"};

typedef struct Obj {
    int category, attr[ML_N_ATTRS];
    double cx, cy;
    int bbox[4];
} Obj;

typedef struct Phrase {
    int category, attr[ML_N_ATTRS], count;
    size_t pos;
    int sentence;
} Phrase;

typedef struct RelMention {
    int rel;
    size_t pos;
    int sentence;
} RelMention;

/* The scene graph's facts: relation triples that hold and ambiguous ones. */
typedef struct Facts {
    const Obj *objs;
    int n_objs;
    const int (*rel)[3], (*amb)[3];
    int n_rel, n_amb;
    double far_px;
} Facts;

static int category_of(const char *w, int *plural) {
    int c = ml_vocab_find(ML_VOCAB_CATEGORY, w);
    *plural = 0;
    if (c >= 0) return c;
    for (int k = 0; k < ML_N_CATEGORIES; k++)
        if (!strcmp(w, ml_category_plural(k))) {
            *plural = 1;
            return k;
        }
    return -1;
}

static int number_of(const char *w) {
    for (int n = 1; n <= 10; n++) {
        char digits[16];
        snprintf(digits, sizeof digits, "%d", n);
        if (!strcmp(w, ml_number_word(n)) || !strcmp(w, digits)) return n;
    }
    return -1;
}

/* A relation phrase starting at token i; *len gets its length. */
static int relation_at(char **t, size_t n, size_t i, size_t *len) {
    int next_is_of = i + 1 < n && !strcmp(t[i + 1], "of");
    *len = 2;
    if (!strcmp(t[i], "left") && next_is_of) return REL_LEFT;
    if (!strcmp(t[i], "right") && next_is_of) return REL_RIGHT;
    if (!strcmp(t[i], "next") && i + 1 < n && !strcmp(t[i + 1], "to")) return REL_NEXT;
    *len = 1;
    if (!strcmp(t[i], "above")) return REL_ABOVE;
    if (!strcmp(t[i], "below")) return REL_BELOW;
    return -1;
}

/* Objects a phrase can mean: its category, and its attributes when some
   object has them all (else the attribute claim is the error, not this). */
static int matches(const Obj *o, const Phrase *ph, int use_attrs) {
    if (o->category != ph->category) return 0;
    for (int a = 0; use_attrs && a < ML_N_ATTRS; a++)
        if (ph->attr[a] >= 0 && o->attr[a] != ph->attr[a]) return 0;
    return 1;
}

static int any_match(const Facts *f, const Phrase *ph) {
    for (int i = 0; i < f->n_objs; i++)
        if (matches(&f->objs[i], ph, 1)) return 1;
    return 0;
}

static int listed(const int (*t)[3], int n, int i, int rel, int j) {
    for (int k = 0; k < n; k++)
        if (t[k][0] == i && t[k][1] == rel && t[k][2] == j) return 1;
    return 0;
}

/* docs/scenes.md's scale: a direction is severe when the true offset of a
   from b is 135 degrees or more from the claim; next-to when the boxes are at
   least twice `far` apart. */
static int relation_severity(const Facts *f, const Obj *a, const Obj *b, int rel) {
    if (rel == REL_NEXT) {
        int gx = b->bbox[0] - a->bbox[2], gx2 = a->bbox[0] - b->bbox[2];
        int gy = b->bbox[1] - a->bbox[3], gy2 = a->bbox[1] - b->bbox[3];
        int gap = gx > gx2 ? gx : gx2, g2 = gy > gy2 ? gy : gy2;
        if (g2 > gap) gap = g2;
        return gap < 2 * f->far_px ? 1 : 2; /* a negative gap (overlap) is near */
    }
    double dx = rel == REL_LEFT ? -1 : rel == REL_RIGHT ? 1 : 0, dy = rel == REL_ABOVE ? -1 : rel == REL_BELOW ? 1 : 0;
    double ox = a->cx - b->cx, oy = a->cy - b->cy;
    double along = ox * dx + oy * dy, across = fabs(ox * dy - oy * dx);
    return -along >= across ? 2 : 1;
}

/* 0: the claim holds; -1: only ambiguous pairs (not judged); else the
   smallest severity over the pairs the phrases can mean. */
static int judge_relation(const Facts *f, const Phrase *pa, const Phrase *pb, int rel) {
    int use_a = any_match(f, pa), use_b = any_match(f, pb), ambiguous = 0, best = 3;
    for (int i = 0; i < f->n_objs; i++) {
        if (!matches(&f->objs[i], pa, use_a)) continue;
        for (int j = 0; j < f->n_objs; j++) {
            if (j == i || !matches(&f->objs[j], pb, use_b)) continue;
            if (listed(f->rel, f->n_rel, i, rel, j)) return 0;
            if (listed(f->amb, f->n_amb, i, rel, j)) {
                ambiguous = 1;
                continue;
            }
            int sev = relation_severity(f, &f->objs[i], &f->objs[j], rel);
            if (sev < best) best = sev;
        }
    }
    if (best == 3) return ambiguous ? -1 : 1; /* no other pair at all: a mild error */
    return ambiguous ? -1 : best;
}

static void wrong(MlClaimTally *t, double severity, int *errors) {
    t->errors++;
    t->severity += severity;
    (*errors)++;
}

/* Reads [[i, "relation", j], ...] into t (entries naming no object are skipped). */
static int read_triples(const cJSON *list, int n_objs, int (*t)[3]) {
    int n = 0;
    for (const cJSON *r = list ? list->child : NULL; r; r = r->next) {
        const cJSON *a = cJSON_GetArrayItem(r, 0), *name = cJSON_GetArrayItem(r, 1), *b = cJSON_GetArrayItem(r, 2);
        if (!cJSON_IsNumber(a) || !cJSON_IsString(name) || !cJSON_IsNumber(b)) continue;
        if (!(a->valuedouble >= 0 && a->valuedouble < n_objs && b->valuedouble >= 0 && b->valuedouble < n_objs)) continue;
        int ia = (int)a->valuedouble, ib = (int)b->valuedouble, rel = -1;
        for (int k = 0; k < N_REL; k++)
            if (!strcmp(name->valuestring, rel_names[k])) rel = k;
        if (rel < 0 || a->valuedouble != ia || b->valuedouble != ib) continue;
        t[n][0] = ia, t[n][1] = rel, t[n][2] = ib;
        n++;
    }
    return n;
}

static void read_objects(const cJSON *objects, Obj *objs) {
    static const char *const keys[ML_N_ATTRS] = {"color", "size", "texture"};
    int i = 0;
    for (const cJSON *o = objects ? objects->child : NULL; o; o = o->next, i++) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "category");
        objs[i].category = cJSON_IsString(c) ? ml_vocab_find(ML_VOCAB_CATEGORY, c->valuestring) : -1;
        for (int a = 0; a < ML_N_ATTRS; a++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[a]);
            objs[i].attr[a] = cJSON_IsString(v) ? ml_vocab_find(ml_attr_vocab((MlAttr)a), v->valuestring) : -1;
        }
        const cJSON *cen = cJSON_GetObjectItemCaseSensitive(o, "center"), *box = cJSON_GetObjectItemCaseSensitive(o, "bbox");
        const cJSON *x = cJSON_GetArrayItem(cen, 0), *y = cJSON_GetArrayItem(cen, 1);
        objs[i].cx = cJSON_IsNumber(x) ? x->valuedouble : 0;
        objs[i].cy = cJSON_IsNumber(y) ? y->valuedouble : 0;
        for (int k = 0; k < 4; k++) {
            const cJSON *v = cJSON_GetArrayItem(box, k);
            double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
            objs[i].bbox[k] = d > -1e6 && d < 1e6 ? (int)d : 0;
        }
    }
}

int ml_scenes_describe(const char *text, const cJSON *truth, double far_px, MlClaimTally *claim) {
    const cJSON *objects = cJSON_GetObjectItemCaseSensitive(truth, "objects");
    const cJSON *relations = cJSON_GetObjectItemCaseSensitive(truth, "relations");
    const cJSON *ambiguous = cJSON_GetObjectItemCaseSensitive(truth, "ambiguous");
    int n_objs = cJSON_GetArraySize(objects);
    MlWords w = {0};
    Obj *objs = calloc((size_t)n_objs + 1, sizeof *objs);
    int(*rel)[3] = calloc((size_t)cJSON_GetArraySize(relations) + 1, sizeof *rel);
    int(*amb)[3] = calloc((size_t)cJSON_GetArraySize(ambiguous) + 1, sizeof *amb);
    Phrase *ph = NULL;
    RelMention *rm = NULL;
    int errors = -1;
    if (!objs || !rel || !amb || ml_words_tokenize(text, 1, &w)) goto done;
    ph = calloc(w.count + 1, sizeof *ph);
    rm = calloc(w.count + 1, sizeof *rm);
    if (!ph || !rm) goto done;
    read_objects(objects, objs);
    if (!(far_px > 0)) {
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(truth, "size");
        far_px = 0.15 * (cJSON_IsNumber(size) && size->valuedouble > 0 && size->valuedouble < 1e6 ? size->valuedouble : 64);
    }
    Facts f = {objs, n_objs, (const int(*)[3])rel, (const int(*)[3])amb, read_triples(relations, n_objs, rel),
               read_triples(ambiguous, n_objs, amb), far_px};
    /* noun phrases (modifiers in front of a category) and relation words */
    size_t n_ph = 0, n_rm = 0;
    int sentence = 0, pend_attr[ML_N_ATTRS] = {-1, -1, -1}, pend_count = -1;
#define RESET() (pend_attr[0] = pend_attr[1] = pend_attr[2] = -1, pend_count = -1)
    for (size_t k = 0; k < w.count; k++) {
        const char *t = w.word[k];
        size_t len;
        int plural, v, r = relation_at(w.word, w.count, k, &len), c = category_of(t, &plural);
        if (!strcmp(t, ".") || !strcmp(t, "!") || !strcmp(t, "?") || !strcmp(t, ";")) {
            sentence++;
            RESET();
        } else if (r >= 0) {
            rm[n_rm++] = (RelMention){r, k, sentence};
            k += len - 1;
            RESET();
        } else if (c >= 0) {
            ph[n_ph] = (Phrase){c, {pend_attr[0], pend_attr[1], pend_attr[2]}, pend_count, k, sentence};
            n_ph++;
            RESET();
        } else if ((v = number_of(t)) > 0) {
            pend_count = v;
        } else if (!strcmp(t, "a") || !strcmp(t, "an") || !strcmp(t, "the") || !strcmp(t, ",")) {
            /* articles and commas between adjectives keep the phrase open */
        } else {
            int is_attr = 0;
            for (int a = 0; a < ML_N_ATTRS && !is_attr; a++)
                if ((v = ml_vocab_find(ml_attr_vocab((MlAttr)a), t)) >= 0) pend_attr[a] = v, is_attr = 1;
            if (!is_attr) RESET();
        }
    }
#undef RESET
    errors = 0;
    for (size_t p = 0; p < n_ph; p++) {
        const Phrase *x = &ph[p];
        int how_many = 0;
        for (int o = 0; o < n_objs; o++) how_many += objs[o].category == x->category;
        claim[ML_CLAIM_OBJECT].claims++;
        if (!how_many) {
            wrong(&claim[ML_CLAIM_OBJECT], 2, &errors);
            continue;
        }
        for (int a = 0; a < ML_N_ATTRS; a++) {
            if (x->attr[a] < 0) continue;
            claim[ML_CLAIM_ATTRIBUTE].claims++;
            int best = 3;
            for (int o = 0; o < n_objs; o++)
                if (objs[o].category == x->category && objs[o].attr[a] >= 0) {
                    int sev = ml_attr_severity((MlAttr)a, objs[o].attr[a], x->attr[a]);
                    if (sev < best) best = sev;
                }
            if (best > 0) wrong(&claim[ML_CLAIM_ATTRIBUTE], best > 2 ? 2 : best, &errors);
        }
        if (x->count > 0) {
            claim[ML_CLAIM_COUNT].claims++;
            int diff = abs(x->count - how_many);
            if (diff) wrong(&claim[ML_CLAIM_COUNT], diff == 1 ? 1 : 2, &errors);
        }
    }
    for (size_t r = 0; r < n_rm; r++) {
        const Phrase *a = NULL, *b = NULL;
        for (size_t p = 0; p < n_ph; p++) {
            if (ph[p].sentence != rm[r].sentence) continue;
            if (ph[p].pos < rm[r].pos) a = &ph[p];
            else if (!b) b = &ph[p];
        }
        if (!a || !b) continue;
        int pa = 0, pb = 0;
        for (int o = 0; o < n_objs; o++) pa |= objs[o].category == a->category, pb |= objs[o].category == b->category;
        if (!pa || !pb) continue; /* already an object error */
        int sev = judge_relation(&f, a, b, rm[r].rel);
        if (sev < 0) continue; /* inside the ambiguity band: never asserted, never judged */
        claim[ML_CLAIM_RELATION].claims++;
        if (sev > 0) wrong(&claim[ML_CLAIM_RELATION], sev, &errors);
    }
done:
    ml_words_free(&w);
    free(objs);
    free(rel);
    free(amb);
    free(ph);
    free(rm);
    return errors;
}

/* ---- scoring ---- */

int ml_scenes_score(const MlSceneProbes *p, const char *answers, MlYesNoParser parser, MlSceneScore *out,
                    MlError *err) {
    memset(out, 0, sizeof *out);
    Answers a;
    int rc = answers_init(p, &a, err);
    if (!rc) rc = read_answers(p, answers, &a, err);
    for (int f = 0; f < ML_SCENES_FILES && !rc; f++) {
        const MlRecords *probes = &p->file[f];
        size_t got = 0;
        for (size_t i = 0; i < probes->count; i++) got += a.text[f][i] != NULL;
        if (!got) continue; /* this probe file was not run */
        if (got < probes->count) {
            size_t i = 0;
            while (a.text[f][i]) i++;
            char id[ML_RECORD_ID_MAX + 1];
            ml_record_id(probes->items[i].json, "question_id", id, "", 0, NULL);
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no answer for %s/%s (%s:%zu); %zu of %zu %s probes unanswered",
                              answers, file_names[f], id, probes->where, probes->items[i].line, probes->count - got,
                              probes->count, file_names[f]);
            break;
        }
        out->answered[f] = 1;
        for (size_t i = 0; i < probes->count && !rc; i++) {
            const cJSON *q = probes->items[i].json;
            if (f == ML_SCENES_DESCRIBE) {
                int wrong_claims =
                    ml_scenes_describe(a.text[f][i], cJSON_GetObjectItemCaseSensitive(q, "truth"), p->far_px, out->claim);
                if (wrong_claims < 0) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", answers);
                out->descriptions++;
                out->descriptions_wrong += wrong_claims > 0;
                continue;
            }
            int label_yes = !strcmp(cJSON_GetObjectItemCaseSensitive(q, "label")->valuestring, "yes");
            int pred = ml_yesno_parse(parser, a.text[f][i], label_yes);
            const cJSON *sev = cJSON_GetObjectItemCaseSensitive(q, "severity");
            double severity = cJSON_IsNumber(sev) ? sev->valuedouble : 1;
            tally_add(&out->file[f], label_yes, pred, severity);
            tally_add(&out->family[file_family[f]], label_yes, pred, severity);
            /* per family: a "random" wrong attribute is not a "random" absent object */
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(q, "negative_kind");
            char kind_key[sizeof out->kind_name[0]];
            snprintf(kind_key, sizeof kind_key, "%s/%s", family_names[file_family[f]],
                     cJSON_IsString(kind) ? kind->valuestring : "unknown");
            if (!label_yes) count_kind(out, kind_key, pred);
        }
    }
    answers_free(&a);
    for (int f = 0; f < ML_SCENES_FILES - 1; f++) ml_binary_finish(&out->file[f].s);
    for (int f = 0; f < ML_N_FAMS; f++) ml_binary_finish(&out->family[f].s);
    if (!rc) {
        int any = 0;
        for (int f = 0; f < ML_SCENES_FILES; f++) any |= out->answered[f];
        if (!any) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: answers none of the probes in %s", answers, p->dir);
    }
    return rc;
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void tally_json(cJSON *parent, const char *name, const MlYesNoTally *t) {
    cJSON *o = cJSON_AddObjectToObject(parent, name);
    if (!o) return;
    cJSON_AddNumberToObject(o, "n", (double)(t->s.tp + t->s.fp + t->s.tn + t->s.fn));
    ml_binary_add_json(o, &t->s);
    add_num(o, "fp_severity_weighted", ratio(t->fp_severity, t->neg_severity));
}

cJSON *ml_scenes_json(const MlSceneScore *s) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "benchmark", "scenes");
    cJSON *fam = cJSON_AddObjectToObject(o, "families");
    cJSON *files = cJSON_AddObjectToObject(o, "files");
    for (int f = 0; f < ML_N_FAMS; f++)
        if (s->family[f].s.tp + s->family[f].s.fp + s->family[f].s.tn + s->family[f].s.fn)
            tally_json(fam, family_names[f], &s->family[f]);
    for (int f = 0; f < ML_SCENES_FILES - 1; f++)
        if (s->answered[f]) tally_json(files, file_names[f], &s->file[f]);
    cJSON *kinds = cJSON_AddObjectToObject(o, "negative_kinds");
    for (size_t k = 0; k < s->n_kinds; k++) {
        cJSON *x = cJSON_AddObjectToObject(kinds, s->kind_name[k]);
        if (!x) continue;
        cJSON_AddNumberToObject(x, "n", (double)s->kind_n[k]);
        add_num(x, "yes_rate", ratio((double)s->kind_yes[k], (double)s->kind_n[k]));
    }
    if (s->answered[ML_SCENES_DESCRIBE]) {
        cJSON *d = cJSON_AddObjectToObject(o, "describe");
        if (d) {
            cJSON_AddNumberToObject(d, "n", (double)s->descriptions);
            add_num(d, "descriptions_with_error", ratio((double)s->descriptions_wrong, (double)s->descriptions));
            for (int k = 0; k < ML_N_CLAIMS; k++) {
                const MlClaimTally *t = &s->claim[k];
                cJSON *x = cJSON_AddObjectToObject(d, claim_names[k]);
                if (!x) continue;
                cJSON_AddNumberToObject(x, "claims", (double)t->claims);
                cJSON_AddNumberToObject(x, "errors", (double)t->errors);
                add_num(x, "rate", ratio((double)t->errors, (double)t->claims));
                add_num(x, "severity_weighted", ratio(t->severity, 2.0 * (double)t->claims));
            }
        }
    }
    return o;
}
