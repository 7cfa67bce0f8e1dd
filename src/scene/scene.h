/*
** scene.h: one synthetic scene: sampled objects with exact ground truth,
** rendered into an image.
**
** ml_scene_sample draws the objects of scene `index` of a split (category,
** colour, size, texture, position) from the world's distribution and places
** them so each keeps its visible pixels; ml_scene_render draws it.  Both are
** pure functions of (world, seed, split, index): the same inputs give the
** same scene and the same bytes, whichever thread runs them.
**
**     MlScene s; MlImage img; MlError err = {0};
**     ml_scene_sample(&world, seed, ML_SPLIT_TEST, i, &s, &err);
**     ml_image_alloc(&img, world.image_size, world.image_size, &err);
**     ml_scene_render(&world, &s, &img, &err);
**     MlStrBuf line = {0}; ml_scene_graph_json(&world, &s, &line);  // one scenes.jsonl line
**
** Coordinates are pixels, x to the right, y down, (0, 0) the top-left corner
** of the top-left pixel.  Centres are multiples of 1/8 px so that the
** printed scene graph holds the exact values relations were computed from.
*/
#ifndef ML_SCENE_SCENE_H
#define ML_SCENE_SCENE_H

#include <stdint.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "io/image.h"
#include "scene/world.h"

typedef enum MlSplit { ML_SPLIT_TRAIN = 0, ML_SPLIT_TEST = 1, ML_SPLIT_CONFLICT = 2 } MlSplit;

const char *ml_split_name(MlSplit split); /* "train", "test", "conflict" */
int ml_split_find(const char *name);     /* -1 when unknown */

/* Image defects (training split only), bit flags. */
enum { ML_DEFECT_BLUR = 1, ML_DEFECT_NOISE = 2, ML_DEFECT_CROP = 4 };

typedef struct MlSceneObject {
    int category;
    int attr[ML_N_ATTRS]; /* colour, size, texture (vocab indices) */
    double cx, cy;        /* centre, px (multiples of 1/8) */
    double half;          /* half the side of the bounding square, px */
    int bbox[4];          /* x0, y0, x1, y1 of the pixels it covers (ends exclusive) */
    int area_pixels;      /* pixels it covers on its own */
    int visible_pixels;   /* pixels where it is the top object */
    unsigned atypical;    /* bit a set when attr[a] differs from the category's typical value */
} MlSceneObject;

typedef struct MlScene {
    int64_t index;
    MlSplit split;
    int n_objects;
    MlSceneObject obj[ML_WORLD_MAX_OBJECTS]; /* in drawing order (later ones on top) */
    unsigned defects;                        /* ML_DEFECT_* */
    uint64_t seed;                           /* the corpus seed, for the render stream */
} MlScene;

/* Fails (ML_ERR_RANGE) only when the objects cannot be placed after many
   tries, which ml_world_validate makes rare; the message says which scene. */
int ml_scene_sample(const MlWorld *w, uint64_t seed, MlSplit split, int64_t index, MlScene *s, MlError *err);

/* img must be world->image_size square; fails only when out of memory. */
int ml_scene_render(const MlWorld *w, const MlScene *s, MlImage *img, MlError *err);

/* Number of objects of a category; distinct categories in order of first appearance. */
int ml_scene_count(const MlScene *s, int category);
int ml_scene_categories(const MlScene *s, int *out); /* returns how many */

/* "<split>_<index, 6 digits>" and the image file name "<id>.png". */
void ml_scene_id(const MlScene *s, char *out, int cap);
void ml_scene_image_name(const MlScene *s, char *out, int cap);

/* One scene graph as a single JSON line (no newline); see docs/scenes.md. */
void ml_scene_graph_json(const MlWorld *w, const MlScene *s, MlStrBuf *out);

#endif
