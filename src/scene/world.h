/*
** world.h: the world file, which says what scenes look like and which
** data-level biases the generator injects.
**
** A world file is a JSON object; every key is optional (the built-in
** default is worlds/default.json) and unknown keys are errors.  Sections:
** image, objects, relations, colors, textures, categories, cooccurrence,
** training.  docs/scenes.md lists every key, its range and its default.
** Lengths in `objects` and `relations` are fractions of the image side, so
** one world works at 64 and at 96 px.
**
**     MlWorld w; MlError err = {0};
**     if (ml_world_load("worlds/default.json", &w, &err)) { puts(err.msg); ... }
**     // or ml_world_default(&w);  w is plain data: copy it, no free needed
**     MlStrBuf b = {0}; ml_world_to_json(&w, &b);   // the resolved world, loadable again
**
** Errors name the file and the key path: "w.json: objects.max: 12 large
** objects do not fit in a 64 px image (at most 6)".
*/
#ifndef ML_SCENE_WORLD_H
#define ML_SCENE_WORLD_H

#include <stddef.h>

#include "core/error.h"
#include "core/strbuf.h"
#include "scene/vocab.h"

#define ML_WORLD_VERSION 1
#define ML_WORLD_MAX_OBJECTS 10
#define ML_WORLD_MAX_VALUES 8 /* the largest attribute vocabulary (colours) */

typedef struct MlWorldCategory {
    int enabled;
    double weight; /* relative frequency when a category is drawn */
    /* As written in the file: probability of a value, or -1 where unspecified. */
    double prior_spec[ML_N_ATTRS][ML_WORLD_MAX_VALUES];
    /* Resolved: specified values keep their probability, the rest of the mass
       is shared equally by the other enabled values; sums to 1. */
    double prior[ML_N_ATTRS][ML_WORLD_MAX_VALUES];
    /* The value a prior favours (probability above uniform), or -1. */
    int typical[ML_N_ATTRS];
    int group; /* co-occurrence group index, -1 for none */
} MlWorldCategory;

typedef struct MlWorld {
    int version;
    /* image */
    int image_size;              /* pixels per side */
    double noise;                /* per-pixel uniform noise amplitude, in 8-bit levels */
    double background_variation; /* 0..1: spread of background grey, tint and gradient */
    /* objects */
    int objects_min, objects_max;
    double repeat;          /* chance that a further object repeats an existing category */
    int min_visible_pixels; /* each object keeps at least this many pixels on top */
    double max_occlusion;   /* largest hidden fraction of an object; 0 = no overlap */
    double min_gap;         /* clearance between objects when max_occlusion is 0 */
    /* relations (fractions of the image side) */
    double margin; /* left/right/above/below hold when the centre offset exceeds this */
    double near;   /* next to: bounding boxes at most this far apart */
    double far;    /* not next to: bounding boxes at least this far apart */
    int color_enabled[ML_N_COLORS];
    int texture_enabled[ML_N_TEXTURES];
    MlWorldCategory category[ML_N_CATEGORIES];
    /* cooccurrence */
    double cooc_strength; /* chance a further object is drawn from the first object's group */
    int n_groups;
    /* training split only */
    double yes_ratio; /* share of "yes" answers among yes/no QA pairs */
    int captions_per_image, qa_per_image;
    double caption_wrong;      /* share of captions with one wrong attribute or object */
    double caption_mismatched; /* share of captions that describe another image */
    double defect_blur, defect_noise, defect_crop; /* share of images with each defect */
} MlWorld;

void ml_world_default(MlWorld *w);

/* `where` names the source in messages (usually the file name). */
int ml_world_parse(const char *text, size_t len, const char *where, MlWorld *w, MlError *err);
int ml_world_load(const char *path, MlWorld *w, MlError *err);

/* Checks ranges and feasibility and fills the resolved fields (prior, typical).
   ml_world_parse calls it; call it yourself after editing a world in code. */
int ml_world_validate(MlWorld *w, const char *where, MlError *err);

/* The world as a complete world file (every key), loadable by ml_world_parse. */
void ml_world_to_json(const MlWorld *w, MlStrBuf *out);

/* Helpers shared by the generator. */
int ml_world_n_values(const MlWorld *w, MlAttr attr);          /* enabled values of an attribute */
int ml_world_value_enabled(const MlWorld *w, MlAttr attr, int value);
int ml_world_n_categories(const MlWorld *w);                   /* enabled categories */
double ml_world_px(const MlWorld *w, double fraction);          /* fraction of the side in pixels */

#endif
