/* train/data.c: a training split in memory (see data.h). */
#include "train/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "io/image.h"

const char ML_TRAIN_CAPTION_PROMPT[] =
    "Describe this image in detail. Include specific objects, their attributes, and relationships.";

const char *const ML_TRAIN_FAMILY_NAMES[ML_TRAIN_FAMILY_N] = {"existence", "attribute", "relation", "count", "other"};

static int family_of(const cJSON *f) {
    if (cJSON_IsString(f))
        for (int i = 0; i < ML_TRAIN_FAMILY_OTHER; i++)
            if (!strcmp(f->valuestring, ML_TRAIN_FAMILY_NAMES[i])) return i;
    return ML_TRAIN_FAMILY_OTHER;
}

/* Image index from a name like "train_000042.png"; -1 when it has none. */
static int64_t image_index(const char *name) {
    const char *u = strrchr(name, '_');
    if (!u) return -1;
    char *end;
    long long v = strtoll(u + 1, &end, 10);
    return end == u + 1 || v < 0 ? -1 : v;
}

/* DIR/file read whole into *text (path gets its name), with its count of '\n'. */
static int read_lines(const char *dir, const char *file, char path[2048], char **text, size_t *len, int64_t *lines,
                      MlError *err) {
    int rc = ml_path_join(path, 2048, dir, file, err);
    if (rc || (rc = ml_file_read(path, text, len, err))) return rc;
    *lines = 0;
    for (size_t i = 0; i < *len; i++) *lines += (*text)[i] == '\n';
    return ML_OK;
}

/* Reads DIR/file (JSONL) and keeps records whose image is below n_images,
   in file order; key_q NULL: captions (prompt = the caption instruction). */
static int load_pairs(const char *dir, const char *file, const char *key_q, const char *key_a, int64_t n_images,
                      MlTrainPair **out, int64_t *n_out, int64_t *first, int64_t *count, MlError *err) {
    char path[2048], *text;
    size_t len;
    int64_t lines;
    int rc = read_lines(dir, file, path, &text, &len, &lines, err);
    if (rc) return rc;
    MlTrainPair *p = calloc((size_t)lines + 1, sizeof *p);
    if (!p) {
        free(text);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    }
    int64_t n = 0, line_no = 0, last = -1;
    for (char *s = text; s < text + len;) {
        char *e = memchr(s, '\n', (size_t)(text + len - s));
        if (!e) e = text + len;
        line_no++;
        if (e > s) {
            cJSON *o = cJSON_ParseWithLength(s, (size_t)(e - s));
            const cJSON *im = cJSON_GetObjectItemCaseSensitive(o, "image");
            const cJSON *q = key_q ? cJSON_GetObjectItemCaseSensitive(o, key_q) : NULL;
            const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key_a);
            int64_t idx = cJSON_IsString(im) ? image_index(im->valuestring) : -1;
            if (!o || idx < 0 || !cJSON_IsString(a) || (key_q && !cJSON_IsString(q)) || idx < last) {
                cJSON_Delete(o);
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%lld: not a %s record of a training split (in image order)",
                                  path, (long long)line_no, key_q ? "QA" : "caption");
                break;
            }
            last = idx;
            if (idx < n_images) {
                p[n].prompt = strdup(key_q ? q->valuestring : ML_TRAIN_CAPTION_PROMPT);
                p[n].answer = strdup(a->valuestring);
                p[n].family = family_of(cJSON_GetObjectItemCaseSensitive(o, "family"));
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
                p[n].yesno = cJSON_IsString(type) && !strcmp(type->valuestring, "yesno");
                if (!p[n].prompt || !p[n].answer) {
                    free(p[n].prompt);
                    free(p[n].answer);
                    cJSON_Delete(o);
                    rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
                if (count[idx]++ == 0) first[idx] = n;
                n++;
            }
            cJSON_Delete(o);
        }
        s = e + 1;
    }
    free(text);
    *out = p;
    *n_out = n;
    return rc;
}

int ml_train_data_load(MlTrainData *d, const char *dir, int64_t max_images, MlError *err) {
    memset(d, 0, sizeof *d);
    char path[2048], name[64], *text;
    size_t len;
    int64_t n;
    int rc = read_lines(dir, "scenes.jsonl", path, &text, &len, &n, err);
    if (rc) return rc;
    free(text);
    if (max_images > 0 && max_images < n) n = max_images;
    if (n <= 0) return ml_error_set(err, ML_ERR_FORMAT, "%s: no scenes", path);
    d->n_images = n;
    d->qa_first = calloc((size_t)n, sizeof(int64_t));
    d->qa_count = calloc((size_t)n, sizeof(int64_t));
    d->cap_first = calloc((size_t)n, sizeof(int64_t));
    d->cap_count = calloc((size_t)n, sizeof(int64_t));
    if (!d->qa_first || !d->qa_count || !d->cap_first || !d->cap_count) {
        ml_train_data_free(d);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    }
    for (int64_t i = 0; i < n; i++) {
        MlImage img = {0};
        snprintf(name, sizeof name, "images/train_%06lld.png", (long long)i);
        if ((rc = ml_path_join(path, sizeof path, dir, name, err)) || (rc = ml_image_load(path, &img, err))) break;
        if (i == 0) {
            d->side = img.width;
            d->rgb = malloc((size_t)n * (size_t)img.width * (size_t)img.width * 3);
            if (!d->rgb) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory for %lld images", dir, (long long)n);
        }
        if (!rc && (img.width != d->side || img.height != d->side))
            rc = ml_error_set(err, ML_ERR_SHAPE, "%s: %dx%d, but the first image is %dx%d", path, img.width,
                              img.height, d->side, d->side);
        if (!rc) memcpy(d->rgb + (size_t)i * d->side * d->side * 3, img.rgb, (size_t)d->side * d->side * 3);
        ml_image_free(&img);
        if (rc) break;
    }
    if (!rc)
        rc = load_pairs(dir, "qa.jsonl", "question", "answer", n, &d->qa, &d->n_qa, d->qa_first, d->qa_count, err);
    if (!rc)
        rc = load_pairs(dir, "captions.jsonl", NULL, "caption", n, &d->cap, &d->n_cap, d->cap_first, d->cap_count,
                        err);
    if (!rc) rc = ml_train_data_load_objects(d, dir, err);
    if (rc) ml_train_data_free(d);
    return rc;
}

static void free_pairs(MlTrainPair *p, int64_t n) {
    if (!p) return;
    for (int64_t i = 0; i < n; i++) {
        free(p[i].prompt);
        free(p[i].answer);
    }
    free(p);
}

void ml_train_data_free(MlTrainData *d) {
    free(d->rgb);
    /* pairs were allocated with one extra zeroed slot: free up to the first empty one */
    if (d->qa) {
        int64_t k = 0;
        while (d->qa[k].prompt) k++;
        free_pairs(d->qa, k);
    }
    if (d->cap) {
        int64_t k = 0;
        while (d->cap[k].prompt) k++;
        free_pairs(d->cap, k);
    }
    free(d->qa_first);
    free(d->qa_count);
    free(d->cap_first);
    free(d->cap_count);
    free(d->obj);
    free(d->obj_first);
    free(d->obj_count);
    for (int a = 0; a < ML_TRAIN_ATTR_N; a++)
        for (int i = 0; i < d->n_names[a]; i++) free(d->names[a][i]);
    memset(d, 0, sizeof *d);
}
