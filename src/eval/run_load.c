/* run_load.c: benchmark question files -> MlEvalSet (see run.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "core/json.h"
#include "core/strmap.h"
#include "eval/pope.h"
#include "eval/records.h"
#include "eval/run.h"

static const char *const bench_names[] = {"pope", "scenes", "amber", "chair"};

int ml_eval_benchmark_parse(const char *name, MlEvalBenchmark *out) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, bench_names[i])) {
            *out = (MlEvalBenchmark)i;
            return 0;
        }
    return -1;
}

const char *ml_eval_benchmark_name(MlEvalBenchmark b) { return (unsigned)b < 4 ? bench_names[b] : "?"; }

void ml_eval_set_free(MlEvalSet *s) {
    for (size_t i = 0; i < s->count; i++) {
        free(s->items[i].id);
        free(s->items[i].image);
        free(s->items[i].text);
    }
    free(s->items);
    free(s->where);
    if (s->probes) ml_scenes_free(s->probes);
    free(s->probes);
    memset(s, 0, sizeof *s);
}

/* An id is written back as a number when it reads as one ("17", "-3"). */
static int looks_numeric(const char *id) {
    const char *p = id + (*id == '-');
    if (!*p || (*p == '0' && p[1])) return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return strlen(id) < 16;
}

static int set_start(MlEvalSet *s, MlEvalBenchmark b, const char *where, size_t cap, MlError *err) {
    memset(s, 0, sizeof *s);
    s->bench = b;
    s->where = strdup(where);
    s->items = calloc(cap ? cap : 1, sizeof *s->items);
    if (!s->where || !s->items) {
        ml_eval_set_free(s);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    }
    return ML_OK;
}

/* Appends an item with copies of the strings. */
static int add_item(MlEvalSet *s, const char *id, int id_is_number, const char *image, const char *text, int label,
                    MlEvalKind kind, size_t line, MlError *err) {
    MlEvalItem *it = &s->items[s->count];
    it->id = strdup(id);
    it->image = strdup(image);
    it->text = strdup(text);
    it->id_is_number = id_is_number;
    it->label = label;
    it->kind = kind;
    it->where = s->where;
    it->line = line;
    s->count++;
    if (!it->id || !it->image || !it->text) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", s->where);
    if (!image[0]) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: image: missing or empty", s->where, line);
    return ML_OK;
}

int ml_eval_load_pope(MlEvalSet *s, const char *path, size_t limit, MlError *err) {
    memset(s, 0, sizeof *s);
    MlPopeSet qs;
    int rc = ml_pope_questions_load(path, &qs, err);
    if (rc) return rc;
    size_t n = limit && limit < qs.count ? limit : qs.count;
    if (!(rc = set_start(s, ML_EVAL_POPE, path, n, err))) {
        for (size_t i = 0; i < n && !rc; i++) {
            const MlPopeQuestion *q = &qs.q[i];
            rc = add_item(s, q->id, looks_numeric(q->id), q->image, q->text, q->label_yes, ML_ITEM_YESNO, q->line, err);
        }
        if (rc) ml_eval_set_free(s);
    }
    ml_pope_questions_free(&qs);
    return rc;
}

/* Keeps the first `keep` records of a probe file (scoring then expects answers to exactly those). */
static void trim_records(MlRecords *r, size_t keep) {
    for (size_t i = keep; i < r->count; i++) cJSON_Delete(r->items[i].json);
    if (keep < r->count) r->count = keep;
}

int ml_eval_load_scenes(MlEvalSet *s, const char *dir, unsigned files, size_t limit, MlError *err) {
    memset(s, 0, sizeof *s);
    MlSceneProbes *p = calloc(1, sizeof *p);
    if (!p) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    int rc = ml_scenes_load(p, dir, err);
    if (rc) {
        free(p);
        return rc;
    }
    size_t total = 0;
    for (int f = 0; f < ML_SCENES_FILES; f++) {
        MlRecords *r = &p->file[f];
        if (files && !(files & (1u << f))) trim_records(r, 0);
        else if (limit) trim_records(r, limit);
        total += r->count;
    }
    if (!total) {
        ml_scenes_free(p);
        free(p);
        return ml_error_set(err, ML_ERR_MISSING, "%s/probes: none of the chosen probe files has questions", dir);
    }
    if ((rc = set_start(s, ML_EVAL_SCENES, dir, total, err))) {
        ml_scenes_free(p);
        free(p);
        return rc;
    }
    s->probes = p;
    for (int f = 0; f < ML_SCENES_FILES && !rc; f++) {
        const MlRecords *r = &p->file[f];
        for (size_t i = 0; i < r->count && !rc; i++) {
            const MlRecord *rec = &r->items[i];
            char id[ML_RECORD_ID_MAX + 1], full[ML_RECORD_ID_MAX + 40];
            const char *image, *text, *label = NULL;
            if ((rc = ml_record_id(rec->json, "question_id", id, r->where, rec->line, err)) ||
                (rc = ml_record_str(rec->json, "image", &image, r->where, rec->line, err)) ||
                (rc = ml_record_str(rec->json, "text", &text, r->where, rec->line, err)))
                break;
            if (f != ML_SCENES_DESCRIBE && (rc = ml_record_str(rec->json, "label", &label, r->where, rec->line, err)))
                break;
            snprintf(full, sizeof full, "%s/%s", ml_scenes_file_name(f), id);
            rc = add_item(s, full, 0, image, text, label ? label[0] == 'y' : -1,
                          f == ML_SCENES_DESCRIBE ? ML_ITEM_OPEN : ML_ITEM_YESNO, rec->line, err);
            /* messages name the probe file, not the folder */
            if (!rc) s->items[s->count - 1].where = r->where;
        }
    }
    if (rc) ml_eval_set_free(s);
    return rc;
}

/* The records of path, the first *n of them (limit, 0 = all) kept, and s started for them.
   recs is freeable whatever happens; `noun` names the records in the error for an empty file. */
static int start_from_records(MlEvalSet *s, MlEvalBenchmark bench, const char *path, size_t limit, const char *noun,
                              MlRecords *recs, size_t *n, MlError *err) {
    memset(s, 0, sizeof *s);
    *n = 0;
    int rc = ml_records_load(path, recs, err);
    if (rc) return rc;
    *n = limit && limit < recs->count ? limit : recs->count;
    if (!recs->count) return ml_error_set(err, ML_ERR_FORMAT, "%s: no %s", path, noun);
    return set_start(s, bench, path, *n, err);
}

int ml_eval_load_amber(MlEvalSet *s, const char *queries, const MlAmber *amber, size_t limit, MlError *err) {
    MlRecords recs;
    size_t n;
    int rc = start_from_records(s, ML_EVAL_AMBER, queries, limit, "queries", &recs, &n, err);
    MlStrMap seen = {0};
    for (size_t i = 0; i < n && !rc; i++) {
        const MlRecord *r = &recs.items[i];
        long long id;
        const char *image, *query;
        if ((rc = ml_json_int(r->json, "id", -1, 1, (long long)amber->count, &id, queries, err))) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: id: expected an integer in [1, %zu] (the annotations' ids)",
                              queries, r->line, amber->count);
            break;
        }
        if ((rc = ml_record_str(r->json, "image", &image, queries, r->line, err)) ||
            (rc = ml_record_str(r->json, "query", &query, queries, r->line, err)))
            break;
        char key[32];
        snprintf(key, sizeof key, "%lld", id);
        int existed;
        if (ml_strmap_put(&seen, key, r->line, &existed, NULL)) {
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", queries);
            break;
        }
        if (existed) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: id %lld appears twice", queries, r->line, id);
            break;
        }
        const MlAmberEntry *e = &amber->entries[id - 1];
        int open = e->kind == ML_AMBER_GENERATIVE;
        rc = add_item(s, key, 1, image, query, open ? -1 : e->truth_yes, open ? ML_ITEM_OPEN : ML_ITEM_YESNO_EXACT, r->line,
                      err);
        if (!rc) s->items[s->count - 1].amber_id = id;
    }
    ml_strmap_free(&seen);
    if (rc && s->where) ml_eval_set_free(s);
    ml_records_free(&recs);
    return rc;
}

int ml_eval_load_chair(MlEvalSet *s, const char *path, const char *prompt, size_t limit, MlError *err) {
    MlRecords recs;
    size_t n;
    int rc = start_from_records(s, ML_EVAL_CHAIR, path, limit, "images", &recs, &n, err);
    MlStrMap seen = {0};
    for (size_t i = 0; i < n && !rc; i++) {
        const MlRecord *r = &recs.items[i];
        char id[ML_RECORD_ID_MAX + 1], file[ML_RECORD_ID_MAX + 40];
        const char *image = NULL;
        if ((rc = ml_record_id(r->json, "image_id", id, path, r->line, err))) break;
        rc = ml_record_str(r->json, "image", &image, path, r->line, err);
        if (rc == ML_ERR_MISSING) {
            /* the COCO val2014 file name the CHAIR scripts build from the id */
            if (!looks_numeric(id) || id[0] == '-') {
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: image_id %s: not a COCO id and no \"image\" given", path,
                                  r->line, id);
                break;
            }
            snprintf(file, sizeof file, "COCO_val2014_%012lld.jpg", strtoll(id, NULL, 10));
            image = file;
            rc = ML_OK;
        }
        if (rc) break;
        int existed;
        size_t first;
        if (ml_strmap_put(&seen, id, r->line, &existed, &first)) {
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        if (existed) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: image_id %s repeats line %zu", path, r->line, id, first);
            break;
        }
        rc = add_item(s, id, looks_numeric(id), image, prompt, -1, ML_ITEM_OPEN, r->line, err);
    }
    ml_strmap_free(&seen);
    if (rc && s->where) ml_eval_set_free(s);
    ml_records_free(&recs);
    return rc;
}

int ml_eval_check_images(const MlEvalSet *s, const char *images, MlError *err) {
    MlStrMap seen = {0};
    int rc = ML_OK;
    for (size_t i = 0; i < s->count && !rc; i++) {
        const MlEvalItem *it = &s->items[i];
        int existed;
        if (ml_strmap_put(&seen, it->image, i, &existed, NULL)) {
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", s->where);
            break;
        }
        if (existed) continue;
        char path[4096];
        if ((rc = ml_path_join(path, sizeof path, images, it->image, err))) break;
        struct stat st;
        if (stat(path, &st) != 0)
            rc = ml_error_set(err, ML_ERR_MISSING, "%s: image not found: %s (needed by %s:%zu)", path, strerror(errno),
                              it->where, it->line);
        else if (!S_ISREG(st.st_mode))
            rc = ml_error_set(err, ML_ERR_MISSING, "%s: not a regular file (needed by %s:%zu)", path, it->where, it->line);
    }
    ml_strmap_free(&seen);
    return rc;
}
