/* coco.c: CHAIR ground truth from COCO instances and captions files, streamed. */
#include "eval/coco.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/file.h"

/* A cursor over one file's text: the top-level object is walked by hand so
   that each array entry can be parsed, used and freed on its own. */
typedef struct Scan {
    const char *s;
    size_t n, pos;
    const char *where;
    MlProgress *progress;
    int64_t base; /* progress->done when this file started */
    MlError *err;
} Scan;

static void skip_ws(Scan *c) {
    while (c->pos < c->n && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' || c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
        c->pos++;
}

static int bad(Scan *c, const char *what) {
    return ml_error_set(c->err, ML_ERR_FORMAT, "%s: byte %zu: %s", c->where, c->pos, what);
}

/* Skips whitespace, then consumes ch; 0 when the next byte is not ch. */
static int eat(Scan *c, char ch) {
    skip_ws(c);
    if (c->pos < c->n && c->s[c->pos] == ch) {
        c->pos++;
        return 1;
    }
    return 0;
}

/* One JSON value at the cursor. */
static int value(Scan *c, cJSON **out) {
    skip_ws(c);
    const char *end = NULL;
    *out = c->pos < c->n ? cJSON_ParseWithLengthOpts(c->s + c->pos, c->n - c->pos, &end, 0) : NULL;
    if (!*out) {
        if (end && end >= c->s + c->pos && end <= c->s + c->n) c->pos = (size_t)(end - c->s);
        return bad(c, "malformed JSON");
    }
    c->pos = (size_t)(end - c->s);
    return ML_OK;
}

/* An integral JSON number below 2^53 in magnitude, as the COCO ids are. */
static int int_member(Scan *c, const cJSON *obj, const char *key, const char *section, long long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return ml_error_set(c->err, ML_ERR_FORMAT, "%s: byte %zu: a \"%s\" entry has no \"%s\"", c->where, c->pos,
                                section, key);
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || d != floor(d) || fabs(d) >= 9007199254740992.0)
        return ml_error_set(c->err, ML_ERR_FORMAT, "%s: byte %zu: \"%s\" entry: %s is not an integer", c->where, c->pos,
                            section, key);
    *out = (long long)d;
    return ML_OK;
}

static int image_index(MlCocoBuilder *b, long long id, size_t *out) {
    char key[32];
    snprintf(key, sizeof key, "%lld", id);
    const size_t *k = ml_strmap_get(&b->ids, key);
    if (k) {
        *out = *k;
        return ML_OK;
    }
    if (b->count == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 1024;
        MlCocoImage *im = realloc(b->images, ncap * sizeof *im);
        if (!im) return ML_ERR_NOMEM;
        b->images = im;
        b->cap = ncap;
    }
    if (ml_strmap_put(&b->ids, key, b->count, NULL, NULL)) return ML_ERR_NOMEM;
    memset(&b->images[b->count], 0, sizeof b->images[b->count]);
    *out = b->count++;
    return ML_OK;
}

/* Set union: names are few per image, a linear scan is enough. */
static int add_object(MlCocoImage *im, const char *name) {
    for (size_t i = 0; i < im->n; i++)
        if (!strcmp(im->names[i], name)) return ML_OK;
    if (im->n == im->cap) {
        size_t ncap = im->cap ? im->cap * 2 : 8;
        const char **p = realloc(im->names, ncap * sizeof *p);
        if (!p) return ML_ERR_NOMEM;
        im->names = p;
        im->cap = ncap;
    }
    im->names[im->n++] = name;
    return ML_OK;
}

typedef struct Segment {
    long long category;
    size_t image;
} Segment;

/* What one file contributes while it is walked. */
typedef struct Visit {
    MlCocoBuilder *b;
    int captions; /* captions file, else instances */
    Segment *seg; /* instances: (image, category) pairs, resolved once categories are known */
    size_t n_seg, cap_seg;
    MlStrMap cat; /* category id ("%lld") -> index into the vocabulary's names */
} Visit;

static int grow(void **p, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return ML_OK;
    size_t ncap = *cap ? *cap * 2 : 256;
    void *q = realloc(*p, ncap * size);
    if (!q) return ML_ERR_NOMEM;
    *p = q;
    *cap = ncap;
    return ML_OK;
}

static int nomem(Scan *c) { return ml_error_set(c->err, ML_ERR_NOMEM, "%s: out of memory", c->where); }

static int on_image(Scan *c, Visit *v, const cJSON *e) {
    long long id;
    size_t idx;
    int rc = int_member(c, e, "id", "images", &id);
    if (rc) return rc;
    return image_index(v->b, id, &idx) ? nomem(c) : ML_OK;
}

static int on_category(Scan *c, Visit *v, const cJSON *e) {
    long long id;
    int rc = int_member(c, e, "id", "categories", &id);
    if (rc) return rc;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "name");
    if (!cJSON_IsString(name)) return bad(c, "a \"categories\" entry has no string \"name\"");
    const size_t *k = ml_strmap_get(&v->b->vocab->synonym, name->valuestring);
    if (!k)
        return ml_error_set(c->err, ML_ERR_FORMAT, "%s: category \"%.60s\" is not in the CHAIR synonym list", c->where,
                            name->valuestring);
    char key[32];
    int existed;
    snprintf(key, sizeof key, "%lld", id);
    if (ml_strmap_put(&v->cat, key, *k, &existed, NULL)) return nomem(c);
    if (existed) return ml_error_set(c->err, ML_ERR_FORMAT, "%s: category id %lld appears twice", c->where, id);
    return ML_OK;
}

static int on_annotation(Scan *c, Visit *v, const cJSON *e) {
    long long image_id;
    size_t idx;
    int rc = int_member(c, e, "image_id", "annotations", &image_id);
    if (rc) return rc;
    if (image_index(v->b, image_id, &idx)) return nomem(c);
    if (!v->captions) {
        long long cat;
        if ((rc = int_member(c, e, "category_id", "annotations", &cat))) return rc;
        if (grow((void **)&v->seg, &v->cap_seg, v->n_seg, sizeof *v->seg)) return nomem(c);
        v->seg[v->n_seg++] = (Segment){cat, idx};
        return ML_OK;
    }
    const cJSON *cap = cJSON_GetObjectItemCaseSensitive(e, "caption");
    if (!cJSON_IsString(cap)) return bad(c, "an \"annotations\" entry has no string \"caption\"");
    MlChairMentions m;
    if ((rc = ml_chair_mentions(v->b->vocab, cap->valuestring, &m, c->err))) return rc;
    for (size_t i = 0; i < m.count && !rc; i++)
        if (add_object(&v->b->images[idx], m.node[i])) rc = nomem(c);
    ml_chair_mentions_free(&m);
    return rc;
}

/* The entries of one array section, each handed to fn. */
static int walk_array(Scan *c, Visit *v, int (*fn)(Scan *, Visit *, const cJSON *), const char *section) {
    if (!eat(c, '[')) return ml_error_set(c->err, ML_ERR_FORMAT, "%s: \"%s\" is not a list", c->where, section);
    if (eat(c, ']')) return ML_OK;
    for (size_t i = 0;; i++) {
        cJSON *e;
        int rc = value(c, &e);
        if (rc) return rc;
        rc = cJSON_IsObject(e) ? fn(c, v, e)
                               : ml_error_set(c->err, ML_ERR_FORMAT, "%s: byte %zu: a \"%s\" entry is not an object",
                                              c->where, c->pos, section);
        cJSON_Delete(e);
        if (rc) return rc;
        if (c->progress && i % 4096 == 0) ml_progress_update(c->progress, c->base + (int64_t)c->pos);
        if (eat(c, ']')) return ML_OK;
        if (!eat(c, ',')) return bad(c, "expected ',' or ']'");
    }
}

static int walk(Scan *c, Visit *v) {
    int seen_images = 0, seen_ann = 0, seen_cat = 0, rc = ML_OK;
    if (c->n >= 3 && !memcmp(c->s, "\xEF\xBB\xBF", 3)) c->pos = 3;
    if (!eat(c, '{')) return bad(c, "expected a JSON object");
    if (!eat(c, '}'))
        for (;;) {
            cJSON *key;
            skip_ws(c);
            if (c->pos >= c->n || c->s[c->pos] != '"') return bad(c, "expected a key");
            if ((rc = value(c, &key))) return rc;
            const char *k = key->valuestring;
            int *seen = !strcmp(k, "images") ? &seen_images
                        : !strcmp(k, "annotations") ? &seen_ann
                        : !strcmp(k, "categories") && !v->captions ? &seen_cat
                                                                    : NULL;
            if (seen && *seen) rc = ml_error_set(c->err, ML_ERR_FORMAT, "%s: \"%s\" appears twice", c->where, k);
            else if (!eat(c, ':')) rc = bad(c, "expected ':'");
            else if (seen == &seen_images) rc = walk_array(c, v, on_image, "images");
            else if (seen == &seen_ann) rc = walk_array(c, v, on_annotation, "annotations");
            else if (seen == &seen_cat) rc = walk_array(c, v, on_category, "categories");
            else {
                cJSON *skip;
                if (!(rc = value(c, &skip))) cJSON_Delete(skip);
            }
            if (seen) *seen = 1;
            cJSON_Delete(key);
            if (rc) return rc;
            if (eat(c, '}')) break;
            if (!eat(c, ',')) return bad(c, "expected ',' or '}'");
        }
    skip_ws(c);
    if (c->pos != c->n) return bad(c, "text after the JSON object");
    if (!seen_ann) return ml_error_set(c->err, ML_ERR_FORMAT, "%s: no \"annotations\"", c->where);
    if (!v->captions && !seen_cat) return ml_error_set(c->err, ML_ERR_FORMAT, "%s: no \"categories\"", c->where);
    return ML_OK;
}

static int add_file(MlCocoBuilder *b, int captions, const char *text, size_t len, const char *where,
                    MlProgress *progress, MlError *err) {
    Scan c = {text, len, 0, where, progress, progress ? progress->done : 0, err};
    Visit v = {.b = b, .captions = captions};
    int rc = walk(&c, &v);
    for (size_t i = 0; !rc && i < v.n_seg; i++) {
        char key[32];
        snprintf(key, sizeof key, "%lld", v.seg[i].category);
        const size_t *k = ml_strmap_get(&v.cat, key);
        if (!k)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: an annotation has category_id %lld, which \"categories\" lacks",
                              where, v.seg[i].category);
        else if (add_object(&b->images[v.seg[i].image], b->vocab->names[*k]))
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    }
    if (progress) ml_progress_update(progress, c.base + (int64_t)len);
    free(v.seg);
    ml_strmap_free(&v.cat);
    return rc;
}

void ml_coco_begin(MlCocoBuilder *b, const MlChairVocab *v) {
    memset(b, 0, sizeof *b);
    b->vocab = v;
}

int ml_coco_add_instances(MlCocoBuilder *b, const char *text, size_t len, const char *where, MlProgress *progress,
                          MlError *err) {
    return add_file(b, 0, text, len, where, progress, err);
}

int ml_coco_add_captions(MlCocoBuilder *b, const char *text, size_t len, const char *where, MlProgress *progress,
                         MlError *err) {
    return add_file(b, 1, text, len, where, progress, err);
}

void ml_coco_abandon(MlCocoBuilder *b) {
    for (size_t i = 0; i < b->count; i++) free(b->images[i].names);
    free(b->images);
    ml_strmap_free(&b->ids);
    memset(b, 0, sizeof *b);
}

int ml_coco_finish(MlCocoBuilder *b, const char *where, MlChairTruth *gt, MlError *err) {
    memset(gt, 0, sizeof *gt);
    int rc = ML_OK;
    if (!b->count) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no images", where);
    else if (!(gt->objects = calloc(b->count, sizeof *gt->objects)) || !(gt->path = strdup(where)))
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    for (size_t i = 0; !rc && i < b->count; i++) {
        const MlCocoImage *im = &b->images[i];
        char **list = calloc(im->n + 1, sizeof *list);
        if (!list) rc = ML_ERR_NOMEM;
        else gt->objects[gt->count++] = list;
        for (size_t j = 0; !rc && j < im->n; j++)
            if (!(list[j] = strdup(im->names[j]))) rc = ML_ERR_NOMEM;
        if (rc) ml_error_set(err, rc, "%s: out of memory", where);
    }
    if (!rc) {
        gt->ids = b->ids; /* same indices */
        memset(&b->ids, 0, sizeof b->ids);
    } else {
        ml_chair_truth_free(gt);
    }
    ml_coco_abandon(b);
    return rc;
}

/* The val2014 pair, then the train2014 pair when both of its files exist
   (chair.py requires both pairs; val alone is what CHAIR evaluations use). */
int ml_coco_truth_load(const MlChairVocab *v, const char *dir, int show_progress, MlChairTruth *gt, MlError *err) {
    static const char *const names[4] = {"instances_val2014.json", "captions_val2014.json", "instances_train2014.json",
                                         "captions_train2014.json"};
    char path[4][4096];
    MlMapping map[4] = {{0}};
    memset(gt, 0, sizeof *gt);
    int rc = ML_OK, n_files = 2;
    for (int i = 0; i < 4 && !rc; i++) rc = ml_path_join(path[i], sizeof path[i], dir, names[i], err);
    if (!rc && (ml_file_exists(path[2]) || ml_file_exists(path[3]))) {
        n_files = 4;
        for (int i = 2; i < 4 && !rc; i++)
            if (!ml_file_exists(path[i]))
                rc = ml_error_set(err, ML_ERR_MISSING, "%s: missing (the train2014 pair needs both files)", path[i]);
    }
    int64_t total = 0;
    for (int i = 0; i < n_files && !rc; i++)
        if (!(rc = ml_file_map(path[i], &map[i], err))) total += (int64_t)map[i].size;
    MlCocoBuilder b;
    ml_coco_begin(&b, v);
    MlProgress progress;
    if (!rc && show_progress) ml_progress_start(&progress, "COCO annotations (bytes)", total);
    MlProgress *p = !rc && show_progress ? &progress : NULL;
    for (int i = 0; i < n_files && !rc; i++)
        rc = (i % 2 ? ml_coco_add_captions : ml_coco_add_instances)(&b, map[i].data, map[i].size, path[i], p, err);
    if (p) ml_progress_finish(p);
    for (int i = 0; i < n_files; i++) ml_file_unmap(&map[i]);
    if (rc) {
        ml_coco_abandon(&b);
        return rc;
    }
    return ml_coco_finish(&b, dir, gt, err);
}
