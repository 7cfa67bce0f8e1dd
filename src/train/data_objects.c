/* train/data_objects.c: the objects of each training scene graph
   (scenes.jsonl), kept for the per-patch labels of train/slots.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "train/data.h"

const char *const ML_TRAIN_ATTR_KEYS[ML_TRAIN_ATTR_N] = {"category", "color", "size", "texture"};

/* Id of name in names (added when new); -1 when the table is full. */
static int name_id(char **names, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i], name)) return i;
    if (*n >= ML_TRAIN_MAX_NAMES) return -1;
    names[*n] = strdup(name);
    return names[*n] ? (*n)++ : -1;
}

/* Reads DIR/scenes.jsonl: line i is image i (the generator's order). */
int ml_train_data_load_objects(MlTrainData *d, const char *dir, MlError *err) {
    char path[2048];
    int rc = ml_path_join(path, sizeof path, dir, "scenes.jsonl", err);
    if (rc) return rc;
    char *text;
    size_t len;
    if ((rc = ml_file_read(path, &text, &len, err))) return rc;
    d->obj_first = calloc((size_t)d->n_images, sizeof(int64_t));
    d->obj_count = calloc((size_t)d->n_images, sizeof(int64_t));
    int64_t cap = 0;
    char *s = text;
    for (int64_t i = 0; i < d->n_images && !rc; i++) {
        if (!d->obj_first || !d->obj_count) {
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        char *e = s < text + len ? memchr(s, '\n', (size_t)(text + len - s)) : NULL;
        if (!e) e = text + len;
        cJSON *o = s < text + len ? cJSON_ParseWithLength(s, (size_t)(e - s)) : NULL;
        const cJSON *objs = cJSON_GetObjectItemCaseSensitive(o, "objects");
        if (!cJSON_IsArray(objs)) {
            cJSON_Delete(o);
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%lld: not a scene record with an objects array", path,
                              (long long)i + 1);
            break;
        }
        d->obj_first[i] = d->n_obj;
        const cJSON *it;
        cJSON_ArrayForEach(it, objs) {
            const cJSON *attr[ML_TRAIN_ATTR_N];
            int strings = 1;
            for (int a = 0; a < ML_TRAIN_ATTR_N; a++) {
                attr[a] = cJSON_GetObjectItemCaseSensitive(it, ML_TRAIN_ATTR_KEYS[a]);
                strings &= cJSON_IsString(attr[a]);
            }
            const cJSON *ctr = cJSON_GetObjectItemCaseSensitive(it, "center");
            const cJSON *vis = cJSON_GetObjectItemCaseSensitive(it, "visible_pixels");
            if (!strings || !cJSON_IsArray(ctr) || cJSON_GetArraySize(ctr) != 2 ||
                !cJSON_IsNumber(cJSON_GetArrayItem(ctr, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(ctr, 1)) ||
                !cJSON_IsNumber(vis)) {
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%lld: an object lacks category, color, size, "
                                  "texture, center or visible_pixels", path, (long long)i + 1);
                break;
            }
            if (d->n_obj == cap) {
                int64_t nc = cap ? 2 * cap : 1024;
                MlTrainObject *p = realloc(d->obj, (size_t)nc * sizeof *p);
                if (!p) {
                    rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
                d->obj = p;
                cap = nc;
            }
            MlTrainObject *ob = &d->obj[d->n_obj];
            int full = 0;
            for (int a = 0; a < ML_TRAIN_ATTR_N; a++) {
                ob->attr[a] = name_id(d->names[a], &d->n_names[a], attr[a]->valuestring);
                full |= ob->attr[a] < 0;
            }
            if (full) {
                rc = ml_error_set(err, ML_ERR_RANGE, "%s:%lld: more than %d distinct values of an attribute", path,
                                  (long long)i + 1, ML_TRAIN_MAX_NAMES);
                break;
            }
            ob->cx = (float)cJSON_GetArrayItem(ctr, 0)->valuedouble;
            ob->cy = (float)cJSON_GetArrayItem(ctr, 1)->valuedouble;
            ob->visible = (int64_t)vis->valuedouble;
            d->n_obj++;
            d->obj_count[i]++;
        }
        cJSON_Delete(o);
        s = e + 1;
    }
    free(text);
    return rc;
}
