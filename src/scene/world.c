/* world.c: world file defaults, parsing with key paths, validation, and writing back. */
#include "scene/world.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "scene/shapes.h"

/* ---- defaults ---------------------------------------------------------- */

static void set_prior_spec(MlWorld *w, const char *cat, MlAttr attr, const char *value, double p) {
    int c = ml_vocab_find(ML_VOCAB_CATEGORY, cat), v = ml_vocab_find(ml_attr_vocab(attr), value);
    ML_ASSERT(c >= 0 && v >= 0);
    w->category[c].prior_spec[attr][v] = p;
}

static void set_group(MlWorld *w, const char *const *names, int n) {
    for (int i = 0; i < n; i++) {
        int c = ml_vocab_find(ML_VOCAB_CATEGORY, names[i]);
        ML_ASSERT(c >= 0);
        w->category[c].group = w->n_groups;
    }
    w->n_groups++;
}

/* Mild versions of every bias knob, so the default corpus already shows
   each effect a little (docs/scenes.md, "Bias knobs"). Mirrors worlds/default.json. */
void ml_world_default(MlWorld *w) {
    memset(w, 0, sizeof *w);
    w->version = ML_WORLD_VERSION;
    w->image_size = 64;
    w->noise = 5;
    w->background_variation = 0.4;
    w->objects_min = 3;
    w->objects_max = 5;
    w->repeat = 0.2;
    w->min_visible_pixels = 20;
    w->max_occlusion = 0;
    w->min_gap = 0.03;
    w->margin = 0.08;
    w->near = 0.06;
    w->far = 0.15;
    for (int i = 0; i < ML_N_COLORS; i++) w->color_enabled[i] = 1;
    for (int i = 0; i < ML_N_TEXTURES; i++) w->texture_enabled[i] = 1;
    for (int c = 0; c < ML_N_CATEGORIES; c++) {
        MlWorldCategory *k = &w->category[c];
        k->enabled = 1;
        k->weight = 1;
        k->group = -1;
        for (int a = 0; a < ML_N_ATTRS; a++)
            for (int v = 0; v < ML_WORLD_MAX_VALUES; v++) k->prior_spec[a][v] = -1;
    }
    /* Mildly unequal frequencies give POPE's "popular" negatives something to find. */
    w->category[ml_vocab_find(ML_VOCAB_CATEGORY, "circle")].weight = 1.4;
    w->category[ml_vocab_find(ML_VOCAB_CATEGORY, "square")].weight = 1.4;
    w->category[ml_vocab_find(ML_VOCAB_CATEGORY, "triangle")].weight = 1.2;
    w->category[ml_vocab_find(ML_VOCAB_CATEGORY, "hourglass")].weight = 0.7;
    set_prior_spec(w, "heart", ML_ATTR_COLOR, "red", 0.6);
    set_prior_spec(w, "moon", ML_ATTR_COLOR, "yellow", 0.6);
    set_prior_spec(w, "house", ML_ATTR_TEXTURE, "checked", 0.6);
    w->cooc_strength = 0.3;
    static const char *const g0[] = {"circle", "ring", "moon"}, *const g1[] = {"square", "house", "cross"},
                             *const g2[] = {"triangle", "arrow", "diamond"},
                             *const g3[] = {"star", "heart", "hourglass"};
    set_group(w, g0, 3);
    set_group(w, g1, 3);
    set_group(w, g2, 3);
    set_group(w, g3, 3);
    w->yes_ratio = 0.55;
    w->captions_per_image = 2;
    w->qa_per_image = 8;
    w->caption_wrong = 0.02;
    w->caption_mismatched = 0.01;
    w->defect_blur = 0.02;
    w->defect_noise = 0.02;
    w->defect_crop = 0.02;
    MlError err = {0};
    int rc = ml_world_validate(w, "default world", &err);
    ML_ASSERT(rc == ML_OK);
}

/* ---- small helpers ----------------------------------------------------- */

int ml_world_n_values(const MlWorld *w, MlAttr attr) {
    int n = 0;
    for (int v = 0; v < ml_attr_count(attr); v++) n += ml_world_value_enabled(w, attr, v);
    return n;
}

int ml_world_value_enabled(const MlWorld *w, MlAttr attr, int value) {
    if (value < 0 || value >= ml_attr_count(attr)) return 0;
    if (attr == ML_ATTR_COLOR) return w->color_enabled[value];
    if (attr == ML_ATTR_TEXTURE) return w->texture_enabled[value];
    return 1;
}

int ml_world_n_categories(const MlWorld *w) {
    int n = 0;
    for (int c = 0; c < ML_N_CATEGORIES; c++) n += w->category[c].enabled;
    return n;
}

double ml_world_px(const MlWorld *w, double fraction) { return fraction * w->image_size; }

/* ---- parsing ----------------------------------------------------------- */

typedef struct Ctx {
    const char *where;
    MlError *err;
} Ctx;

static void join_path(char *out, size_t cap, const char *path, const char *key) {
    snprintf(out, cap, "%s%s%s", path, *path ? "." : "", key);
}

/* obj must be an object whose keys are all in `allowed` (NULL-terminated) and unique. */
static int check_object(const cJSON *obj, const char *path, const char *const *allowed, Ctx *c) {
    if (!cJSON_IsObject(obj))
        return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s: expected an object", c->where, *path ? path : "(top level)");
    for (const cJSON *it = obj->child; it; it = it->next) {
        char full[256];
        join_path(full, sizeof full, path, it->string ? it->string : "");
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string))
                return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s: duplicate key", c->where, full);
        if (!allowed) continue;
        int known = 0;
        for (const char *const *a = allowed; *a; a++) known |= !strcmp(*a, it->string);
        if (!known) {
            char list[512] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, *a, sizeof list - strlen(list) - 1);
                if (a[1]) strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s: unknown key (known: %s)", c->where, full, list);
        }
    }
    return ML_OK;
}

/* A number member, finite, in [lo, hi] and whole when `whole`; *v is NULL when absent. */
static int get_number(const cJSON *obj, const char *path, const char *key, double lo, double hi, int whole,
                      const cJSON **v, Ctx *c) {
    *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!*v) return ML_OK;
    char full[256];
    join_path(full, sizeof full, path, key);
    double x = (*v)->valuedouble;
    if (!cJSON_IsNumber(*v) || !isfinite(x) || (whole && x != floor(x)))
        return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s: expected %s", c->where, full,
                            whole ? "an integer" : "a number");
    if (x < lo || x > hi)
        return ml_error_set(c->err, ML_ERR_FORMAT,
                            whole ? "%s: %s: %g is outside [%.0f, %.0f]" : "%s: %s: %g is outside [%g, %g]", c->where,
                            full, x, lo, hi);
    return ML_OK;
}

/* Reads a number member if present (the default stays otherwise). */
static int get_num(const cJSON *obj, const char *path, const char *key, double lo, double hi, double *out, Ctx *c) {
    const cJSON *v;
    int rc = get_number(obj, path, key, lo, hi, 0, &v, c);
    if (!rc && v) *out = v->valuedouble;
    return rc;
}

static int get_int(const cJSON *obj, const char *path, const char *key, int lo, int hi, int *out, Ctx *c) {
    const cJSON *v;
    int rc = get_number(obj, path, key, lo, hi, 1, &v, c);
    if (!rc && v) *out = (int)v->valuedouble;
    return rc;
}

/* An optional sub-object; *sec is NULL when absent. */
static int get_section(const cJSON *obj, const char *path, const char *key, const char *const *allowed,
                       const cJSON **sec, Ctx *c) {
    *sec = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!*sec) return ML_OK;
    char full[256];
    join_path(full, sizeof full, path, key);
    return check_object(*sec, full, allowed, c);
}

/* "colors": ["red", ...] or "textures": [...]: which values exist. */
static int parse_value_list(const cJSON *root, const char *key, MlVocabKind kind, int *enabled, int n, Ctx *c) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!arr) return ML_OK;
    if (!cJSON_IsArray(arr))
        return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s: expected an array of names", c->where, key);
    for (int i = 0; i < n; i++) enabled[i] = 0;
    int idx = 0;
    for (const cJSON *it = arr->child; it; it = it->next, idx++) {
        int v = cJSON_IsString(it) ? ml_vocab_find(kind, it->valuestring) : -1;
        if (!cJSON_IsString(it))
            return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s[%d]: expected a name", c->where, key, idx);
        if (v < 0)
            return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s[%d]: unknown name \"%.40s\"", c->where, key, idx,
                                it->valuestring);
        if (enabled[v])
            return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s[%d]: \"%s\" is listed twice", c->where, key, idx,
                                it->valuestring);
        enabled[v] = 1;
    }
    return ML_OK;
}

static const char *const category_keys[] = {"weight", "color", "size", "texture", NULL};

static int parse_category(const cJSON *spec, int cat, MlWorld *w, Ctx *c) {
    char path[128];
    snprintf(path, sizeof path, "categories.%s", ml_category_name(cat));
    int rc = check_object(spec, path, category_keys, c);
    if (rc) return rc;
    MlWorldCategory *k = &w->category[cat];
    k->enabled = 1;
    if ((rc = get_num(spec, path, "weight", 1e-6, 1e6, &k->weight, c))) return rc;
    for (int a = 0; a < ML_N_ATTRS; a++) {
        const cJSON *prior;
        char ppath[160];
        join_path(ppath, sizeof ppath, path, ml_attr_name((MlAttr)a));
        if ((rc = get_section(spec, path, ml_attr_name((MlAttr)a), NULL, &prior, c))) return rc;
        if (!prior) continue;
        for (const cJSON *it = prior->child; it; it = it->next) {
            int v = ml_vocab_find(ml_attr_vocab((MlAttr)a), it->string);
            if (v < 0)
                return ml_error_set(c->err, ML_ERR_FORMAT, "%s: %s.%.40s: unknown %s", c->where, ppath, it->string,
                                    ml_attr_name((MlAttr)a));
            if ((rc = get_num(prior, ppath, it->string, 0, 1, &k->prior_spec[a][v], c))) return rc;
        }
    }
    return ML_OK;
}

static int parse_groups(const cJSON *sec, MlWorld *w, Ctx *c) {
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(sec, "groups");
    if (!groups) return ML_OK;
    if (!cJSON_IsArray(groups))
        return ml_error_set(c->err, ML_ERR_FORMAT, "%s: cooccurrence.groups: expected an array of arrays of categories",
                            c->where);
    for (int k = 0; k < ML_N_CATEGORIES; k++) w->category[k].group = -1;
    w->n_groups = 0;
    int gi = 0;
    for (const cJSON *g = groups->child; g; g = g->next, gi++) {
        if (!cJSON_IsArray(g))
            return ml_error_set(c->err, ML_ERR_FORMAT, "%s: cooccurrence.groups[%d]: expected an array of categories",
                                c->where, gi);
        int mi = 0;
        for (const cJSON *m = g->child; m; m = m->next, mi++) {
            int cat = cJSON_IsString(m) ? ml_vocab_find(ML_VOCAB_CATEGORY, m->valuestring) : -1;
            if (cat < 0)
                return ml_error_set(c->err, ML_ERR_FORMAT, "%s: cooccurrence.groups[%d][%d]: unknown category", c->where,
                                    gi, mi);
            if (w->category[cat].group >= 0)
                return ml_error_set(c->err, ML_ERR_FORMAT,
                                    "%s: cooccurrence.groups[%d][%d]: \"%s\" is already in group %d", c->where, gi, mi,
                                    m->valuestring, w->category[cat].group);
            w->category[cat].group = gi;
        }
        if (mi < 2)
            return ml_error_set(c->err, ML_ERR_FORMAT, "%s: cooccurrence.groups[%d]: a group needs at least 2 categories",
                                c->where, gi);
        w->n_groups = gi + 1;
    }
    return ML_OK;
}

static const char *const top_keys[] = {"version", "description", "image", "objects", "relations", "colors",
                                       "textures", "categories", "cooccurrence", "training", NULL};
static const char *const image_keys[] = {"size", "noise", "background_variation", NULL};
static const char *const objects_keys[] = {"min", "max", "repeat", "min_visible_pixels", "max_occlusion", "min_gap",
                                           NULL};
static const char *const relations_keys[] = {"margin", "near", "far", NULL};
static const char *const cooc_keys[] = {"strength", "groups", NULL};
static const char *const training_keys[] = {"yes_ratio", "captions_per_image", "qa_per_image", "caption_noise",
                                            "defects", NULL};
static const char *const caption_noise_keys[] = {"wrong", "mismatched", NULL};
static const char *const defects_keys[] = {"blur", "noise", "crop", NULL};

static int parse_tree(const cJSON *root, MlWorld *w, Ctx *c) {
    int rc;
    const cJSON *sec, *sub;
    if ((rc = check_object(root, "", top_keys, c))) return rc;
    if ((rc = get_int(root, "", "version", 1, 1000, &w->version, c))) return rc;
    if (w->version != ML_WORLD_VERSION)
        return ml_error_set(c->err, ML_ERR_UNSUPPORTED, "%s: version: %d is not supported (this build reads %d)",
                            c->where, w->version, ML_WORLD_VERSION);
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
    if (desc && !cJSON_IsString(desc))
        return ml_error_set(c->err, ML_ERR_FORMAT, "%s: description: expected a string", c->where);

    if ((rc = get_section(root, "", "image", image_keys, &sec, c))) return rc;
    if (sec) {
        if ((rc = get_int(sec, "image", "size", 32, 512, &w->image_size, c))) return rc;
        if ((rc = get_num(sec, "image", "noise", 0, 64, &w->noise, c))) return rc;
        if ((rc = get_num(sec, "image", "background_variation", 0, 1, &w->background_variation, c))) return rc;
    }
    if ((rc = get_section(root, "", "objects", objects_keys, &sec, c))) return rc;
    if (sec) {
        if ((rc = get_int(sec, "objects", "min", 1, ML_WORLD_MAX_OBJECTS, &w->objects_min, c))) return rc;
        if ((rc = get_int(sec, "objects", "max", 1, ML_WORLD_MAX_OBJECTS, &w->objects_max, c))) return rc;
        if ((rc = get_num(sec, "objects", "repeat", 0, 1, &w->repeat, c))) return rc;
        if ((rc = get_int(sec, "objects", "min_visible_pixels", 1, 1 << 20, &w->min_visible_pixels, c))) return rc;
        if ((rc = get_num(sec, "objects", "max_occlusion", 0, 0.9, &w->max_occlusion, c))) return rc;
        if ((rc = get_num(sec, "objects", "min_gap", 0, 0.25, &w->min_gap, c))) return rc;
    }
    if ((rc = get_section(root, "", "relations", relations_keys, &sec, c))) return rc;
    if (sec) {
        if ((rc = get_num(sec, "relations", "margin", 0.001, 0.5, &w->margin, c))) return rc;
        if ((rc = get_num(sec, "relations", "near", 0, 0.5, &w->near, c))) return rc;
        if ((rc = get_num(sec, "relations", "far", 0.001, 1, &w->far, c))) return rc;
    }
    if ((rc = parse_value_list(root, "colors", ML_VOCAB_COLOR, w->color_enabled, ML_N_COLORS, c))) return rc;
    if ((rc = parse_value_list(root, "textures", ML_VOCAB_TEXTURE, w->texture_enabled, ML_N_TEXTURES, c))) return rc;
    /* Built-in priors on values this file left out go with them (the file's own priors come next). */
    for (int k = 0; k < ML_N_CATEGORIES; k++)
        for (int a = 0; a < ML_N_ATTRS; a++)
            for (int v = 0; v < ml_attr_count((MlAttr)a); v++)
                if (!ml_world_value_enabled(w, (MlAttr)a, v)) w->category[k].prior_spec[a][v] = -1;

    if ((rc = get_section(root, "", "categories", NULL, &sec, c))) return rc;
    if (sec) {
        /* Listing categories replaces the default set, its priors and its groups. */
        w->n_groups = 0;
        for (int k = 0; k < ML_N_CATEGORIES; k++) {
            MlWorldCategory *cat = &w->category[k];
            cat->enabled = 0;
            cat->weight = 1;
            cat->group = -1;
            for (int a = 0; a < ML_N_ATTRS; a++)
                for (int v = 0; v < ML_WORLD_MAX_VALUES; v++) cat->prior_spec[a][v] = -1;
        }
        for (const cJSON *it = sec->child; it; it = it->next) {
            int cat = ml_vocab_find(ML_VOCAB_CATEGORY, it->string);
            if (cat < 0) {
                char list[256] = "";
                for (int k = 0; k < ML_N_CATEGORIES; k++) {
                    strncat(list, ml_category_name(k), sizeof list - strlen(list) - 1);
                    if (k + 1 < ML_N_CATEGORIES) strncat(list, ", ", sizeof list - strlen(list) - 1);
                }
                return ml_error_set(c->err, ML_ERR_FORMAT, "%s: categories.%.40s: unknown category (known: %s)",
                                    c->where, it->string, list);
            }
            if ((rc = parse_category(it, cat, w, c))) return rc;
        }
    }
    if ((rc = get_section(root, "", "cooccurrence", cooc_keys, &sec, c))) return rc;
    if (sec) {
        if ((rc = get_num(sec, "cooccurrence", "strength", 0, 1, &w->cooc_strength, c))) return rc;
        if ((rc = parse_groups(sec, w, c))) return rc;
    }
    if ((rc = get_section(root, "", "training", training_keys, &sec, c))) return rc;
    if (sec) {
        if ((rc = get_num(sec, "training", "yes_ratio", 0, 1, &w->yes_ratio, c))) return rc;
        if ((rc = get_int(sec, "training", "captions_per_image", 1, 10, &w->captions_per_image, c))) return rc;
        if ((rc = get_int(sec, "training", "qa_per_image", 0, 64, &w->qa_per_image, c))) return rc;
        if ((rc = get_section(sec, "training", "caption_noise", caption_noise_keys, &sub, c))) return rc;
        if (sub) {
            if ((rc = get_num(sub, "training.caption_noise", "wrong", 0, 1, &w->caption_wrong, c))) return rc;
            if ((rc = get_num(sub, "training.caption_noise", "mismatched", 0, 1, &w->caption_mismatched, c))) return rc;
        }
        if ((rc = get_section(sec, "training", "defects", defects_keys, &sub, c))) return rc;
        if (sub) {
            if ((rc = get_num(sub, "training.defects", "blur", 0, 1, &w->defect_blur, c))) return rc;
            if ((rc = get_num(sub, "training.defects", "noise", 0, 1, &w->defect_noise, c))) return rc;
            if ((rc = get_num(sub, "training.defects", "crop", 0, 1, &w->defect_crop, c))) return rc;
        }
    }
    return ML_OK;
}

int ml_world_parse(const char *text, size_t len, const char *where, MlWorld *w, MlError *err) {
    cJSON *root;
    int rc = ml_json_parse(text, len, where, &root, err);
    if (rc) return rc;
    ml_world_default(w);
    Ctx c = {where, err};
    rc = parse_tree(root, w, &c);
    cJSON_Delete(root);
    if (rc) return rc;
    return ml_world_validate(w, where, err);
}

static int parse_text(const char *text, size_t len, const char *where, void *w, MlError *err) {
    return ml_world_parse(text, len, where, w, err);
}

int ml_world_load(const char *path, MlWorld *w, MlError *err) { return ml_file_parse(path, parse_text, w, err); }

/* ---- validation -------------------------------------------------------- */

/* Pixels a lone object of this category and size covers (the layout's own rule). */
static int object_area(const MlWorld *w, int cat, int size) {
    double half = 0.5 * ml_world_px(w, ml_size_fraction(size));
    double cx = 0.5 * w->image_size, cy = cx;
    int n = 0;
    for (int y = (int)floor(cy - half) - 1; y <= (int)ceil(cy + half); y++)
        for (int x = (int)floor(cx - half) - 1; x <= (int)ceil(cx + half); x++)
            n += __builtin_popcount(ml_shape_coverage(cat, cx, cy, half, x, y)) >= ML_SHAPE_OWN_SAMPLES;
    return n;
}

static int resolve_priors(MlWorld *w, int cat, const char *where, MlError *err) {
    MlWorldCategory *k = &w->category[cat];
    for (int a = 0; a < ML_N_ATTRS; a++) {
        int nv = ml_attr_count((MlAttr)a), n_enabled = 0, n_rest = 0;
        double sum = 0;
        for (int v = 0; v < nv; v++) {
            int on = ml_world_value_enabled(w, (MlAttr)a, v);
            double p = k->prior_spec[a][v];
            n_enabled += on;
            if (p >= 0 && !on)
                return ml_error_set(err, ML_ERR_FORMAT, "%s: categories.%s.%s.%s: this %s is not in the world's list",
                                    where, ml_category_name(cat), ml_attr_name((MlAttr)a),
                                    ml_attr_value_name((MlAttr)a, v), ml_attr_name((MlAttr)a));
            if (p > 1 || (p < 0 && p != -1))
                return ml_error_set(err, ML_ERR_FORMAT, "%s: categories.%s.%s.%s: %g is outside [0, 1]", where,
                                    ml_category_name(cat), ml_attr_name((MlAttr)a), ml_attr_value_name((MlAttr)a, v),
                                    p);
            if (p >= 0) sum += p;
            else if (on) n_rest++;
        }
        if (sum > 1 + 1e-9)
            return ml_error_set(err, ML_ERR_FORMAT, "%s: categories.%s.%s: probabilities sum to %g (more than 1)", where,
                                ml_category_name(cat), ml_attr_name((MlAttr)a), sum);
        if (n_rest == 0 && fabs(sum - 1) > 1e-9)
            return ml_error_set(err, ML_ERR_FORMAT,
                                "%s: categories.%s.%s: every value is listed, so the probabilities must sum to 1 (not %g)",
                                where, ml_category_name(cat), ml_attr_name((MlAttr)a), sum);
        k->typical[a] = -1;
        double best = 1.0 / n_enabled;
        for (int v = 0; v < ML_WORLD_MAX_VALUES; v++) {
            double p = k->prior_spec[a][v];
            int on = ml_world_value_enabled(w, (MlAttr)a, v);
            k->prior[a][v] = !on ? 0 : p >= 0 ? p : (1 - sum) / n_rest;
            if (on && p >= 0 && p > best + 1e-12) {
                best = p;
                k->typical[a] = v;
            }
        }
    }
    return ML_OK;
}

int ml_world_validate(MlWorld *w, const char *where, MlError *err) {
    if (w->version != ML_WORLD_VERSION)
        return ml_error_set(err, ML_ERR_UNSUPPORTED, "%s: version: %d is not supported", where, w->version);
    if (w->image_size < 32 || w->image_size > 512)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: image.size: %d is outside [32, 512]", where, w->image_size);
    if (w->objects_min < 1 || w->objects_max > ML_WORLD_MAX_OBJECTS || w->objects_min > w->objects_max)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: objects.min: %d must be between 1 and objects.max (%d)", where,
                            w->objects_min, w->objects_max);
    if (!(w->near < w->far))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: relations.far: %g must be larger than relations.near (%g)", where,
                            w->far, w->near);
    if (ml_world_n_values(w, ML_ATTR_COLOR) < 2)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: colors: at least 2 colours are needed for colour probes", where);
    if (ml_world_n_values(w, ML_ATTR_TEXTURE) < 1)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: textures: at least 1 texture is needed", where);
    if (w->caption_wrong + w->caption_mismatched > 1 + 1e-9)
        return ml_error_set(err, ML_ERR_FORMAT,
                            "%s: training.caption_noise: wrong + mismatched is %g, more than every caption", where,
                            w->caption_wrong + w->caption_mismatched);
    for (int c = 0; c < ML_N_CATEGORIES; c++) {
        MlWorldCategory *k = &w->category[c];
        if (!k->enabled) continue;
        if (!(k->weight > 0) || !isfinite(k->weight))
            return ml_error_set(err, ML_ERR_FORMAT, "%s: categories.%s.weight: must be positive", where,
                                ml_category_name(c));
        int rc = resolve_priors(w, c, where, err);
        if (rc) return rc;
        int area = object_area(w, c, 0);
        if (w->min_visible_pixels > area)
            return ml_error_set(err, ML_ERR_FORMAT,
                                "%s: objects.min_visible_pixels: %d is more than a small %s covers (%d px)", where,
                                w->min_visible_pixels, ml_category_name(c), area);
        if (k->group >= 0 && k->group >= w->n_groups)
            return ml_error_set(err, ML_ERR_FORMAT, "%s: cooccurrence.groups: bad group index", where);
    }
    int n_cat = ml_world_n_categories(w);
    /* POPE asks about 3 absent categories per image, so even a full scene must leave 3 out. */
    if (n_cat < w->objects_max + 3)
        return ml_error_set(err, ML_ERR_FORMAT,
                            "%s: categories: %d categories are too few for scenes of up to %d objects (need objects.max "
                            "+ 3 = %d so POPE finds 3 absent ones)",
                            where, n_cat, w->objects_max, w->objects_max + 3);
    /* Feasibility: random placement reliably packs up to about 60% of the
       image with bounding squares plus clearance; beyond that layouts fail.
       Allowed overlap (no clearance then) lets each object claim less room. */
    double side = ml_world_px(w, ml_size_fraction(ML_N_SIZES - 1));
    if (w->max_occlusion <= 0) side += ml_world_px(w, w->min_gap);
    double room = 0.6 * w->image_size * (double)w->image_size;
    int fit = (int)floor(room / (side * side * (1 - w->max_occlusion)));
    if (w->objects_max > fit)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: objects.max: %d large objects do not fit in a %d px image (at most %d)",
                            where, w->objects_max, w->image_size, fit);
    for (int g = 0; g < w->n_groups; g++) {
        int members = 0;
        for (int c = 0; c < ML_N_CATEGORIES; c++)
            if (w->category[c].group == g) {
                if (!w->category[c].enabled)
                    return ml_error_set(err, ML_ERR_FORMAT,
                                        "%s: cooccurrence.groups[%d]: \"%s\" is not one of the world's categories", where,
                                        g, ml_category_name(c));
                members++;
            }
        if (members < 2)
            return ml_error_set(err, ML_ERR_FORMAT, "%s: cooccurrence.groups[%d]: a group needs at least 2 categories",
                                where, g);
    }
    return ML_OK;
}

/* ---- writing ----------------------------------------------------------- */

/* Shortest of %.15g..%.17g that reads back as the same double, so files stay
   readable ("0.4", not "0.40000000000000002") and round trips stay exact. */
static const char *num(char *buf, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

static void write_name_list(MlStrBuf *b, MlVocabKind kind, const int *enabled) {
    ml_strbuf_puts(b, "[");
    int first = 1;
    for (int i = 0; i < ml_vocab_count(kind); i++) {
        if (!enabled[i]) continue;
        ml_strbuf_printf(b, "%s\"%s\"", first ? "" : ", ", ml_vocab_name(kind, i));
        first = 0;
    }
    ml_strbuf_puts(b, "]");
}

void ml_world_to_json(const MlWorld *w, MlStrBuf *b) {
    char n1[32], n2[32], n3[32], n4[32], n5[32];
    ml_strbuf_printf(b, "{\n  \"version\": %d,\n", w->version);
    ml_strbuf_printf(b, "  \"image\": {\"size\": %d, \"noise\": %s, \"background_variation\": %s},\n",
                     w->image_size, num(n1, w->noise), num(n2, w->background_variation));
    ml_strbuf_printf(b,
                     "  \"objects\": {\"min\": %d, \"max\": %d, \"repeat\": %s, \"min_visible_pixels\": %d, "
                     "\"max_occlusion\": %s, \"min_gap\": %s},\n",
                     w->objects_min, w->objects_max, num(n1, w->repeat), w->min_visible_pixels,
                     num(n2, w->max_occlusion), num(n3, w->min_gap));
    ml_strbuf_printf(b, "  \"relations\": {\"margin\": %s, \"near\": %s, \"far\": %s},\n", num(n1, w->margin),
                     num(n2, w->near), num(n3, w->far));
    ml_strbuf_puts(b, "  \"colors\": ");
    write_name_list(b, ML_VOCAB_COLOR, w->color_enabled);
    ml_strbuf_puts(b, ",\n  \"textures\": ");
    write_name_list(b, ML_VOCAB_TEXTURE, w->texture_enabled);
    ml_strbuf_puts(b, ",\n  \"categories\": {");
    int first = 1;
    for (int c = 0; c < ML_N_CATEGORIES; c++) {
        const MlWorldCategory *k = &w->category[c];
        if (!k->enabled) continue;
        ml_strbuf_printf(b, "%s\n    \"%s\": {\"weight\": %s", first ? "" : ",", ml_category_name(c),
                         num(n1, k->weight));
        first = 0;
        for (int a = 0; a < ML_N_ATTRS; a++) {
            int any = 0;
            for (int v = 0; v < ml_attr_count((MlAttr)a); v++) {
                if (k->prior_spec[a][v] < 0) continue;
                if (!any) ml_strbuf_printf(b, ", \"%s\": {", ml_attr_name((MlAttr)a));
                ml_strbuf_printf(b, "%s\"%s\": %s", any ? ", " : "", ml_attr_value_name((MlAttr)a, v),
                                 num(n1, k->prior_spec[a][v]));
                any = 1;
            }
            if (any) ml_strbuf_puts(b, "}");
        }
        ml_strbuf_puts(b, "}");
    }
    ml_strbuf_printf(b, "\n  },\n  \"cooccurrence\": {\"strength\": %s, \"groups\": [", num(n1, w->cooc_strength));
    for (int g = 0; g < w->n_groups; g++) {
        ml_strbuf_puts(b, g ? ", [" : "[");
        int f = 1;
        for (int c = 0; c < ML_N_CATEGORIES; c++)
            if (w->category[c].group == g) {
                ml_strbuf_printf(b, "%s\"%s\"", f ? "" : ", ", ml_category_name(c));
                f = 0;
            }
        ml_strbuf_puts(b, "]");
    }
    ml_strbuf_printf(b, "]},\n  \"training\": {\"yes_ratio\": %s, \"captions_per_image\": %d, \"qa_per_image\": %d,\n",
                     num(n1, w->yes_ratio), w->captions_per_image, w->qa_per_image);
    ml_strbuf_printf(b, "    \"caption_noise\": {\"wrong\": %s, \"mismatched\": %s},\n", num(n1, w->caption_wrong),
                     num(n2, w->caption_mismatched));
    ml_strbuf_printf(b, "    \"defects\": {\"blur\": %s, \"noise\": %s, \"crop\": %s}}\n}\n", num(n3, w->defect_blur),
                     num(n4, w->defect_noise), num(n5, w->defect_crop));
}
