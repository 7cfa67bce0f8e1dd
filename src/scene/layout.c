/* layout.c: drawing a scene's objects from the world's distribution and placing them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scene/rng.h"
#include "scene/scene.h"
#include "scene/shapes.h"

#define TRIES_PER_OBJECT 200
#define TRIES_PER_SCENE 50

const char *ml_split_name(MlSplit split) {
    static const char *const names[] = {"train", "test", "conflict"};
    return (unsigned)split < 3 ? names[split] : "?";
}

int ml_split_find(const char *name) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(ml_split_name((MlSplit)i), name)) return i;
    return -1;
}

/* ---- what the objects are ---------------------------------------------- */

static int draw_category(const MlWorld *w, MlRng *r, int group, int need_typical) {
    double weights[ML_N_CATEGORIES];
    for (int c = 0; c < ML_N_CATEGORIES; c++) {
        const MlWorldCategory *k = &w->category[c];
        int ok = k->enabled && (group < 0 || k->group == group);
        if (need_typical)
            ok = ok && (k->typical[0] >= 0 || k->typical[1] >= 0 || k->typical[2] >= 0);
        weights[c] = ok ? k->weight : 0;
    }
    return ml_rng_weighted(r, weights, ML_N_CATEGORIES);
}

/* Turns object o into an atypical one: one attribute that has a typical
   value takes another value (drawn from the prior without the typical one). */
static void make_atypical(const MlWorld *w, MlRng *r, MlSceneObject *o) {
    const MlWorldCategory *k = &w->category[o->category];
    int attrs[ML_N_ATTRS], n = 0;
    for (int a = 0; a < ML_N_ATTRS; a++)
        if (k->typical[a] >= 0) attrs[n++] = a;
    int a = attrs[ml_rng_below(r, n)];
    double weights[ML_WORLD_MAX_VALUES];
    int nv = ml_attr_count((MlAttr)a), any = 0;
    for (int v = 0; v < nv; v++) {
        weights[v] = v == k->typical[a] ? 0 : k->prior[a][v];
        any |= weights[v] > 0;
    }
    if (!any) /* the prior gives the typical value probability 1: any other enabled value */
        for (int v = 0; v < nv; v++) weights[v] = v != k->typical[a] && ml_world_value_enabled(w, (MlAttr)a, v);
    o->attr[a] = ml_rng_weighted(r, weights, nv);
}

static void draw_objects(const MlWorld *w, MlSplit split, MlRng *r, MlScene *s) {
    int n = w->objects_min + ml_rng_below(r, w->objects_max - w->objects_min + 1);
    /* The conflict split puts one object with an atypical attribute in every scene. */
    int forced = split == ML_SPLIT_CONFLICT ? ml_rng_below(r, n) : -1;
    s->n_objects = n;
    for (int k = 0; k < n; k++) {
        MlSceneObject *o = &s->obj[k];
        memset(o, 0, sizeof *o);
        int first_group = k > 0 ? w->category[s->obj[0].category].group : -1;
        if (k == forced) o->category = draw_category(w, r, -1, 1);
        else if (k > 0 && ml_rng_uniform(r) < w->repeat) o->category = s->obj[ml_rng_below(r, k)].category;
        else if (first_group >= 0 && ml_rng_uniform(r) < w->cooc_strength)
            o->category = draw_category(w, r, first_group, 0);
        else o->category = draw_category(w, r, -1, 0);
        const MlWorldCategory *cat = &w->category[o->category];
        for (int a = 0; a < ML_N_ATTRS; a++) o->attr[a] = ml_rng_weighted(r, cat->prior[a], ml_attr_count((MlAttr)a));
        if (k == forced) make_atypical(w, r, o);
        for (int a = 0; a < ML_N_ATTRS; a++)
            if (cat->typical[a] >= 0 && o->attr[a] != cat->typical[a]) o->atypical |= 1u << a;
        o->half = 0.5 * ml_world_px(w, ml_size_fraction(o->attr[ML_ATTR_SIZE]));
    }
}

/* ---- where they go ----------------------------------------------------- */

typedef struct Scratch {
    int size;
    uint8_t *owner;   /* object index on top at each pixel, 0xFF for background */
    uint8_t *blocked; /* pixels within the clearance of a placed object */
    int *pixels;      /* the candidate's covered pixels */
} Scratch;

/* Covered pixels (>= half the samples) of an object at its current centre.
   With `blocked`, stops and returns -1 at the first covered pixel that is blocked. */
static int object_pixels(const MlSceneObject *o, int size, const uint8_t *blocked, int *out) {
    int n = 0;
    MlPixelBox b = ml_shape_box(o->cx, o->cy, o->half, size);
    for (int y = b.y0; y < b.y1; y++)
        for (int x = b.x0; x < b.x1; x++) {
            if (!ml_shape_covers(o->category, o->cx, o->cy, o->half, x, y)) continue;
            if (blocked && blocked[y * size + x]) return -1;
            out[n++] = y * size + x;
        }
    return n;
}

static double quantize_eighth(double v) { return floor(v * 8 + 0.5) / 8; }

static int try_position(const MlWorld *w, Scratch *sc, MlScene *s, int k, MlRng *r) {
    MlSceneObject *o = &s->obj[k];
    int size = sc->size;
    /* Keep a 1 px border so no object touches the frame. */
    double lo = o->half + 1, hi = size - o->half - 1;
    o->cx = quantize_eighth(lo + ml_rng_uniform(r) * (hi - lo));
    o->cy = quantize_eighth(lo + ml_rng_uniform(r) * (hi - lo));
    /* Without overlap, a blocked centre rejects at once (the usual case in a busy scene). */
    int centre = (int)o->cy * size + (int)o->cx;
    if (w->max_occlusion <= 0 && sc->blocked[centre]) return 0;
    int n = object_pixels(o, size, w->max_occlusion <= 0 ? sc->blocked : NULL, sc->pixels);
    if (n < w->min_visible_pixels) return 0;
    if (w->max_occlusion > 0) {
        int hidden[ML_WORLD_MAX_OBJECTS] = {0};
        for (int i = 0; i < n; i++)
            if (sc->owner[sc->pixels[i]] != 0xFF) hidden[sc->owner[sc->pixels[i]]]++;
        for (int j = 0; j < k; j++) {
            const MlSceneObject *p = &s->obj[j];
            int keep = (int)ceil((1 - w->max_occlusion) * p->area_pixels - 1e-9);
            if (keep < w->min_visible_pixels) keep = w->min_visible_pixels;
            if (p->visible_pixels - hidden[j] < keep) return 0;
        }
    }
    /* Accepted: claim the pixels, update what the others still show, note the clearance. */
    int gap = (int)ceil(ml_world_px(w, w->min_gap) - 1e-9);
    o->area_pixels = o->visible_pixels = n;
    o->bbox[0] = o->bbox[1] = size;
    o->bbox[2] = o->bbox[3] = 0;
    for (int i = 0; i < n; i++) {
        int p = sc->pixels[i], x = p % size, y = p / size;
        if (sc->owner[p] != 0xFF) s->obj[sc->owner[p]].visible_pixels--;
        sc->owner[p] = (uint8_t)k;
        if (x < o->bbox[0]) o->bbox[0] = x;
        if (y < o->bbox[1]) o->bbox[1] = y;
        if (x + 1 > o->bbox[2]) o->bbox[2] = x + 1;
        if (y + 1 > o->bbox[3]) o->bbox[3] = y + 1;
        for (int dy = -gap; dy <= gap; dy++)
            for (int dx = -gap; dx <= gap; dx++) {
                int xx = x + dx, yy = y + dy;
                if (xx >= 0 && yy >= 0 && xx < size && yy < size) sc->blocked[yy * size + xx] = 1;
            }
    }
    return 1;
}

static int place_objects(const MlWorld *w, Scratch *sc, MlScene *s, MlRng *r) {
    size_t npx = (size_t)sc->size * (size_t)sc->size;
    memset(sc->owner, 0xFF, npx);
    memset(sc->blocked, 0, npx);
    for (int k = 0; k < s->n_objects; k++) {
        int placed = 0;
        for (int t = 0; t < TRIES_PER_OBJECT && !placed; t++) placed = try_position(w, sc, s, k, r);
        if (!placed) return 0;
    }
    return 1;
}

int ml_scene_sample(const MlWorld *w, uint64_t seed, MlSplit split, int64_t index, MlScene *s, MlError *err) {
    memset(s, 0, sizeof *s);
    s->index = index;
    s->split = split;
    s->seed = seed;
    if (split == ML_SPLIT_CONFLICT) {
        int any = 0;
        for (int c = 0; c < ML_N_CATEGORIES; c++) {
            const MlWorldCategory *k = &w->category[c];
            any |= k->enabled && (k->typical[0] >= 0 || k->typical[1] >= 0 || k->typical[2] >= 0);
        }
        if (!any)
            return ml_error_set(err, ML_ERR_ARG,
                                "conflict split: the world gives no category a typical colour, size or texture "
                                "(set categories.<name>.color etc.)");
    }
    MlRng r;
    ml_rng_init(&r, seed, (uint64_t)split, (uint64_t)index, ML_STREAM_LAYOUT);
    Scratch sc = {.size = w->image_size};
    size_t npx = (size_t)w->image_size * (size_t)w->image_size;
    sc.owner = malloc(npx);
    sc.blocked = malloc(npx);
    sc.pixels = malloc(npx * sizeof *sc.pixels);
    int rc = ML_OK;
    if (!sc.owner || !sc.blocked || !sc.pixels) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "scene %lld: out of memory", (long long)index);
        goto done;
    }
    int placed = 0;
    for (int t = 0; t < TRIES_PER_SCENE && !placed; t++) {
        draw_objects(w, split, &r, s);
        placed = place_objects(w, &sc, s, &r);
    }
    if (!placed) {
        rc = ml_error_set(err, ML_ERR_RANGE,
                          "scene %lld: could not place %d objects in a %d px image after %d tries; lower objects.max "
                          "or raise image.size",
                          (long long)index, s->n_objects, w->image_size, TRIES_PER_SCENE);
        goto done;
    }
    if (split == ML_SPLIT_TRAIN) {
        /* Defects are training-data imperfections; test images stay clean so probe labels hold. */
        if (ml_rng_uniform(&r) < w->defect_blur) s->defects |= ML_DEFECT_BLUR;
        if (ml_rng_uniform(&r) < w->defect_noise) s->defects |= ML_DEFECT_NOISE;
        if (ml_rng_uniform(&r) < w->defect_crop) s->defects |= ML_DEFECT_CROP;
    }
done:
    free(sc.owner);
    free(sc.blocked);
    free(sc.pixels);
    return rc;
}

int ml_scene_count(const MlScene *s, int category) {
    int n = 0;
    for (int k = 0; k < s->n_objects; k++) n += s->obj[k].category == category;
    return n;
}

int ml_scene_categories(const MlScene *s, int *out) {
    int n = 0;
    for (int k = 0; k < s->n_objects; k++) {
        int seen = 0;
        for (int i = 0; i < n; i++) seen |= out[i] == s->obj[k].category;
        if (!seen) out[n++] = s->obj[k].category;
    }
    return n;
}

void ml_scene_id(const MlScene *s, char *out, int cap) {
    snprintf(out, (size_t)cap, "%s_%06lld", ml_split_name(s->split), (long long)s->index);
}

void ml_scene_image_name(const MlScene *s, char *out, int cap) {
    snprintf(out, (size_t)cap, "%s_%06lld.png", ml_split_name(s->split), (long long)s->index);
}
