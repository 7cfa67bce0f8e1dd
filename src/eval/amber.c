/* amber.c: AMBER annotations, discriminative and generative scores. */
#include "eval/amber.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "eval/records.h"
#include "eval/words.h"

static const struct {
    const char *name;
    MlAmberKind kind;
} kinds[] = {
    {"generative", ML_AMBER_GENERATIVE},
    {"discriminative-hallucination", ML_AMBER_EXISTENCE},
    {"discriminative-attribute-state", ML_AMBER_STATE},
    {"discriminative-attribute-number", ML_AMBER_NUMBER},
    {"discriminative-attribute-action", ML_AMBER_ACTION},
    {"discriminative-relation", ML_AMBER_RELATION},
    {"relation", ML_AMBER_RELATION},
};

static void free_list(char **l) {
    for (char **p = l; p && *p; p++) free(*p);
    free(l);
}

void ml_amber_free(MlAmber *a) {
    for (size_t i = 0; i < a->count; i++) {
        free_list(a->entries[i].truth);
        free_list(a->entries[i].hallu);
    }
    for (size_t i = 0; i < a->n_assoc; i++) free_list(a->assoc_words[i]);
    free(a->entries);
    free(a->assoc_words);
    ml_strmap_free(&a->assoc);
    ml_strmap_free(&a->vocab);
    ml_strmap_free(&a->safe);
    memset(a, 0, sizeof *a);
}

/* A JSON list of strings -> NULL-terminated copy. */
static int string_list(const cJSON *arr, char ***out, size_t *n, const char *where, const char *what, MlError *err) {
    *out = NULL;
    *n = 0;
    if (!cJSON_IsArray(arr)) return ml_error_set(err, ML_ERR_FORMAT, "%s: %s: expected a list of strings", where, what);
    size_t k = (size_t)cJSON_GetArraySize(arr);
    char **l = calloc(k + 1, sizeof *l);
    if (!l) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    size_t i = 0;
    for (const cJSON *x = arr->child; x; x = x->next, i++) {
        if (!cJSON_IsString(x)) {
            free_list(l);
            return ml_error_set(err, ML_ERR_FORMAT, "%s: %s: expected a list of strings", where, what);
        }
        if (!(l[i] = strdup(x->valuestring))) {
            free_list(l);
            return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
        }
    }
    *out = l;
    *n = k;
    return ML_OK;
}

static int load_relation(MlAmber *a, const char *path, MlError *err) {
    cJSON *root = NULL;
    int rc = ml_json_load(path, &root, err);
    if (rc) return rc;
    if (!cJSON_IsObject(root)) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected {\"word\": [associated words]}", path);
    size_t n = rc ? 0 : (size_t)cJSON_GetArraySize(root);
    if (!rc && !(a->assoc_words = calloc(n ? n : 1, sizeof *a->assoc_words)))
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    for (const cJSON *e = rc ? NULL : root->child; e && !rc; e = e->next) {
        char key[80];
        snprintf(key, sizeof key, "\"%.60s\"", e->string);
        size_t k;
        if ((rc = string_list(e, &a->assoc_words[a->n_assoc], &k, path, key, err))) break;
        int existed;
        if (ml_strmap_put(&a->assoc, e->string, a->n_assoc++, &existed, NULL) ||
            ml_strmap_put(&a->vocab, e->string, 0, NULL, NULL))
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
        else if (existed)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: \"%.60s\" appears twice", path, e->string);
        for (char **w = a->assoc_words[a->n_assoc - 1]; !rc && *w; w++)
            if (ml_strmap_put(&a->vocab, *w, 0, NULL, NULL)) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    }
    cJSON_Delete(root);
    return rc;
}

static int load_safe(MlAmber *a, const char *path, MlError *err) {
    char *text;
    size_t len;
    int rc = ml_file_read(path, &text, &len, err);
    if (rc) return rc;
    /* Python: each line up to its '\n' (a final line without one counts too) */
    for (size_t pos = 0; pos < len && !rc;) {
        char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        text[end] = 0;
        if (ml_strmap_put(&a->safe, text + pos, 0, NULL, NULL)) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
        pos = end + 1;
    }
    free(text);
    return rc;
}

static int parse_entry(MlAmber *a, const MlRecord *r, size_t index, const char *path, const char *rel_path, MlError *err) {
    MlAmberEntry *e = &a->entries[index];
    long long id;
    const char *type;
    int rc = ml_json_int(r->json, "id", -1, 1, 1LL << 53, &id, path, err);
    if (rc) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: id: expected an integer", path, r->line);
    if (id != (long long)index + 1)
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: id %lld is entry %zu (entries must be in id order from 1)", path,
                            r->line, id, index + 1);
    if ((rc = ml_record_str(r->json, "type", &type, path, r->line, err))) return rc;
    size_t k = 0;
    while (k < sizeof kinds / sizeof kinds[0] && strcmp(kinds[k].name, type)) k++;
    if (k == sizeof kinds / sizeof kinds[0])
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: unknown type \"%.60s\"", path, r->line, type);
    e->kind = kinds[k].kind;
    const cJSON *truth = cJSON_GetObjectItemCaseSensitive(r->json, "truth");
    if (e->kind != ML_AMBER_GENERATIVE) {
        if (!cJSON_IsString(truth) || (strcmp(truth->valuestring, "yes") && strcmp(truth->valuestring, "no")))
            return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: truth: expected \"yes\" or \"no\"", path, r->line);
        e->truth_yes = truth->valuestring[0] == 'y';
        return ML_OK;
    }
    char what[64];
    snprintf(what, sizeof what, "line %zu: truth", r->line);
    if ((rc = string_list(truth, &e->truth, &e->n_truth, path, what, err))) return rc;
    snprintf(what, sizeof what, "line %zu: hallu", r->line);
    if ((rc = string_list(cJSON_GetObjectItemCaseSensitive(r->json, "hallu"), &e->hallu, &e->n_hallu, path, what, err)))
        return rc;
    /* the reference looks each object up in relation.json (a KeyError there) */
    for (int pass = 0; pass < 2; pass++)
        for (char **w = pass ? e->hallu : e->truth; *w; w++)
            if (!ml_strmap_get(&a->assoc, *w))
                return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: object \"%.60s\" is not in %s", path, r->line, *w,
                                    rel_path);
    return ML_OK;
}

/* NAME in the folder of path into buf. */
static const char *beside(const char *path, const char *name, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    snprintf(buf, cap, "%.*s/%s", slash ? (int)(slash - path) : 1, slash ? path : ".", name);
    return buf;
}

int ml_amber_load(MlAmber *a, const char *annotations, const char *relation, const char *safe_words, MlError *err) {
    memset(a, 0, sizeof *a);
    char rel_buf[4200], safe_buf[4200];
    if (!relation) relation = beside(annotations, "relation.json", rel_buf, sizeof rel_buf);
    if (!safe_words) safe_words = beside(annotations, "safe_words.txt", safe_buf, sizeof safe_buf);
    int rc = load_relation(a, relation, err);
    if (!rc) rc = load_safe(a, safe_words, err);
    MlRecords recs = {0};
    if (!rc) rc = ml_records_load(annotations, &recs, err);
    if (!rc && recs.count == 0) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no entries", annotations);
    if (!rc && !(a->entries = calloc(recs.count, sizeof *a->entries)))
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", annotations);
    if (!rc) a->count = recs.count;
    for (size_t i = 0; !rc && i < recs.count; i++) rc = parse_entry(a, &recs.items[i], i, annotations, relation, err);
    ml_records_free(&recs);
    if (rc) ml_amber_free(a);
    return rc;
}

double ml_amber_round1(double x) {
    char buf[400];
    snprintf(buf, sizeof buf, "%.1f", x); /* glibc rounds the exact value, ties to even, like Python */
    return strtod(buf, NULL);
}

double ml_amber_f1(double p, double r, double eps) {
    return ml_amber_round1(2 * (p / 100) * (r / 100) / ((p / 100) + (r / 100) + eps) * 100);
}

/* The reference's counters for one group of discriminative queries. */
typedef struct Tally {
    double correct_num, correct_score, no_num, no_score, ans_no_num, ans_no_score;
    size_t n;
} Tally;

static void tally_init(Tally *t) {
    memset(t, 0, sizeof *t);
    t->correct_num = t->no_num = t->ans_no_num = 0.001; /* data/metrics.txt */
}

static void tally_add(Tally *t, int truth_yes, const char *response) {
    int yes = !strcmp(response, "Yes"), no = !strcmp(response, "No");
    t->n++;
    t->correct_num += 1;
    if (truth_yes) {
        if (yes) t->correct_score += 1;
    } else {
        t->no_num += 1;
        if (no) {
            t->correct_score += 1;
            t->no_score += 1;
        }
    }
    if (no) {
        t->ans_no_num += 1;
        if (!truth_yes) t->ans_no_score += 1;
    }
}

static void disc_from(MlAmberDisc *d, double correct_score, double correct_num, double ans_no_score, double ans_no_num,
                      double no_score, double no_num, size_t n, double eps) {
    d->n = n;
    if (!n) {
        d->accuracy = d->precision = d->recall = d->f1 = NAN;
        return;
    }
    d->accuracy = ml_amber_round1(correct_score / correct_num * 100);
    d->precision = ml_amber_round1(ans_no_score / ans_no_num * 100);
    d->recall = ml_amber_round1(no_score / no_num * 100);
    d->f1 = ml_amber_f1(d->precision, d->recall, eps);
}

static void disc_tally(MlAmberDisc *d, const Tally *t, double eps) {
    disc_from(d, t->correct_score, t->correct_num, t->ans_no_score, t->ans_no_num, t->no_score, t->no_num, t->n, eps);
}

/* Generative counters (data/metrics.txt starts the *_num at 0.001). */
typedef struct GenTally {
    double chair_score, chair_num, cover_score, cover_num, cog_score, cog_num, non_hallu_score, non_hallu_num;
} GenTally;

/* Marks the object a matched word stands for, as the reference indexes it:
   words[0..n_assoc) are associations of object list[j], words[n_assoc..) the
   objects themselves. */
static void mark(const char *noun, char *const *words, const size_t *owner, size_t n_words, size_t n_objects,
                 int *flags) {
    size_t n_assoc = n_words - n_objects;
    for (size_t j = 0; j < n_words; j++)
        if (!strcmp(noun, words[j])) {
            flags[j < n_assoc ? owner[j] : j - n_assoc] = 1;
            return;
        }
}

static int contains(char *const *words, size_t n, const char *w) {
    for (size_t j = 0; j < n; j++)
        if (!strcmp(words[j], w)) return 1;
    return 0;
}

/* safe/ha word lists: associations of each object, then the objects. */
static int object_words(const MlAmber *a, char **objs, size_t n_obj, char ***words, size_t **owner, size_t *n) {
    size_t total = n_obj;
    for (size_t i = 0; i < n_obj; i++)
        for (char **w = a->assoc_words[*ml_strmap_get(&a->assoc, objs[i])]; *w; w++) total++;
    *words = malloc((total + 1) * sizeof **words);
    *owner = malloc((total + 1) * sizeof **owner);
    if (!*words || !*owner) return ML_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n_obj; i++)
        for (char **w = a->assoc_words[*ml_strmap_get(&a->assoc, objs[i])]; *w; w++) {
            (*words)[k] = *w;
            (*owner)[k++] = i;
        }
    for (size_t i = 0; i < n_obj; i++) {
        (*words)[k] = objs[i];
        (*owner)[k++] = i;
    }
    *n = total;
    return ML_OK;
}

static int score_generative(const MlAmber *a, const MlAmberEntry *e, const char *response, GenTally *g) {
    MlWords w = {0};
    char **safe_words = NULL, **ha_words = NULL;
    size_t *safe_owner = NULL, *ha_owner = NULL, n_safe = 0, n_ha = 0;
    int *safe_flags = calloc(e->n_truth + 1, sizeof *safe_flags), *ha_flags = calloc(e->n_hallu + 1, sizeof *ha_flags);
    int rc = ML_OK;
    if (!safe_flags || !ha_flags || ml_words_tokenize(response, 0, &w) ||
        object_words(a, e->truth, e->n_truth, &safe_words, &safe_owner, &n_safe) ||
        object_words(a, e->hallu, e->n_hallu, &ha_words, &ha_owner, &n_ha)) {
        rc = ML_ERR_NOMEM;
        goto done;
    }
    size_t nouns = 0, hallucinated = 0;
    for (size_t i = 0; i < w.count; i++) {
        char noun[256];
        ml_words_singular(w.word[i], noun, sizeof noun);
        if (!ml_strmap_get(&a->vocab, noun)) continue;
        nouns++;
        if (ml_strmap_get(&a->safe, noun)) continue;
        if (contains(safe_words, n_safe, noun)) {
            mark(noun, safe_words, safe_owner, n_safe, e->n_truth, safe_flags);
            continue;
        }
        mark(noun, ha_words, ha_owner, n_ha, e->n_hallu, ha_flags);
        hallucinated++;
    }
    size_t covered = 0, named = 0;
    for (size_t i = 0; i < e->n_truth; i++) covered += safe_flags[i];
    for (size_t i = 0; i < e->n_hallu; i++) named += ha_flags[i];
    g->chair_score += (double)hallucinated;
    g->chair_num += (double)nouns;
    g->cover_score += (double)covered;
    g->cover_num += (double)e->n_truth;
    g->cog_score += (double)named;
    g->cog_num += (double)e->n_hallu;
    if (!hallucinated) g->non_hallu_score += 1;
    g->non_hallu_num += 1;
done:
    ml_words_free(&w);
    free(safe_words);
    free(ha_words);
    free(safe_owner);
    free(ha_owner);
    free(safe_flags);
    free(ha_flags);
    return rc;
}

static int check_queries(const MlAmber *a, const char *queries, const unsigned char *answered, const char *responses,
                         MlError *err) {
    MlRecords q;
    int rc = ml_records_load(queries, &q, err);
    if (rc) return rc;
    unsigned char *asked = calloc(a->count + 1, 1);
    if (!asked) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", queries);
    for (size_t i = 0; !rc && i < q.count; i++) {
        long long id;
        if (ml_json_int(q.items[i].json, "id", -1, 1, (long long)a->count, &id, queries, err) || id < 1)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: id: expected an integer in [1, %zu]", queries, q.items[i].line,
                              a->count);
        else if (!answered[id])
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no response for id %lld (%s:%zu)", responses, id, queries,
                              q.items[i].line);
        else
            asked[id] = 1;
    }
    for (size_t id = 1; !rc && id <= a->count; id++)
        if (answered[id] && !asked[id])
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: id %zu was answered but is not in %s", responses, id, queries);
    free(asked);
    ml_records_free(&q);
    return rc;
}

int ml_amber_score_file(const MlAmber *a, const char *responses, const char *queries, MlAmberScore *out, MlError *err) {
    memset(out, 0, sizeof *out);
    MlRecords recs;
    int rc = ml_records_load(responses, &recs, err);
    if (rc) return rc;
    Tally t[ML_AMBER_N_KINDS], all;
    for (int k = 0; k < ML_AMBER_N_KINDS; k++) tally_init(&t[k]);
    tally_init(&all);
    GenTally g = {0, 0.001, 0, 0.001, 0, 0.001, 0, 0.001};
    size_t *line_of = calloc(a->count + 1, sizeof *line_of);
    unsigned char *answered = calloc(a->count + 1, 1);
    if (!line_of || !answered) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", responses);
    else if (recs.count == 0) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no responses", responses);
    for (size_t i = 0; !rc && i < recs.count; i++) {
        const MlRecord *r = &recs.items[i];
        long long id;
        const char *text;
        if (ml_json_int(r->json, "id", -1, 1, (long long)a->count, &id, responses, err) || id < 1) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: id: expected an integer in [1, %zu]", responses, r->line, a->count);
            break;
        }
        if ((rc = ml_record_str(r->json, "response", &text, responses, r->line, err))) break;
        if (answered[id]) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: id %lld answered twice (first on line %zu)", responses, r->line,
                              id, line_of[id]);
            break;
        }
        answered[id] = 1;
        line_of[id] = r->line;
        const MlAmberEntry *e = &a->entries[id - 1];
        if (e->kind == ML_AMBER_GENERATIVE) {
            out->n_generative++;
            if (score_generative(a, e, text, &g)) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", responses);
        } else {
            out->n_discriminative++;
            tally_add(&all, e->truth_yes, text);
            tally_add(&t[e->kind], e->truth_yes, text);
        }
    }
    if (!rc && queries) rc = check_queries(a, queries, answered, responses, err);
    free(line_of);
    free(answered);
    ml_records_free(&recs);
    if (rc) return rc;
    if (out->n_generative) {
        out->chair = ml_amber_round1(g.chair_score / g.chair_num * 100);
        out->cover = ml_amber_round1(g.cover_score / g.cover_num * 100);
        out->cog = ml_amber_round1(g.cog_score / g.cog_num * 100);
        out->hal = ml_amber_round1(100 - g.non_hallu_score / g.non_hallu_num * 100);
    } else {
        out->chair = out->cover = out->cog = out->hal = NAN;
    }
    disc_tally(&out->overall, &all, 0.0001);
    disc_tally(&out->existence, &t[ML_AMBER_EXISTENCE], 0.001);
    disc_tally(&out->state, &t[ML_AMBER_STATE], 0.0001);
    disc_tally(&out->number, &t[ML_AMBER_NUMBER], 0.0001);
    disc_tally(&out->action, &t[ML_AMBER_ACTION], 0.0001);
    disc_tally(&out->relation, &t[ML_AMBER_RELATION], 0.0001);
    const Tally *s = &t[ML_AMBER_STATE], *n = &t[ML_AMBER_NUMBER], *c = &t[ML_AMBER_ACTION];
    disc_from(&out->attribute, s->correct_score + n->correct_score + c->correct_score,
              s->correct_num + n->correct_num + c->correct_num, s->ans_no_score + n->ans_no_score + c->ans_no_score,
              s->ans_no_num + n->ans_no_num + c->ans_no_num, s->no_score + n->no_score + c->no_score,
              s->no_num + n->no_num + c->no_num, s->n + n->n + c->n, 0.0001);
    out->amber = out->n_generative && out->n_discriminative ? ml_amber_round1((100 - out->chair + out->overall.f1) / 2) : NAN;
    return ML_OK;
}
