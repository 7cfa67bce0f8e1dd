/*
** train/data.h: a training split of the scene world (`misalign scenes
** --split train`) in memory: the images as RGB bytes and, per image, its QA
** pairs and captions as text (tokenized when a batch is built).
**
**     MlTrainData d;
**     ml_train_data_load(&d, "build/organism/train", 0, &err);   // 0: every image
**     d.qa[d.qa_first[i] + j] ...                               // j < d.qa_count[i]
**     ml_train_data_free(&d);
*/
#ifndef ML_TRAIN_DATA_H
#define ML_TRAIN_DATA_H

#include <stdint.h>

#include "core/error.h"

/* QA families (the generator's "family"), for per-family training accuracy. */
enum { ML_TRAIN_FAMILY_EXISTENCE = 0, ML_TRAIN_FAMILY_ATTRIBUTE, ML_TRAIN_FAMILY_RELATION, ML_TRAIN_FAMILY_COUNT, ML_TRAIN_FAMILY_OTHER,
       ML_TRAIN_FAMILY_N };
extern const char *const ML_TRAIN_FAMILY_NAMES[ML_TRAIN_FAMILY_N];

typedef struct MlTrainPair {
    char *prompt, *answer; /* QA: question / answer; captions: the caption in answer */
    int family;            /* ML_FAMILY_*; captions: ML_TRAIN_FAMILY_OTHER */
    int yesno;             /* a yes/no question (the probes' kind), not an open one */
} MlTrainPair;

enum { ML_TRAIN_MAX_NAMES = 64 };

/* The per-object attributes kept: the scene graph's keys, in this order. */
enum { ML_TRAIN_ATTR_CATEGORY = 0, ML_TRAIN_ATTR_COLOR, ML_TRAIN_ATTR_SIZE, ML_TRAIN_ATTR_TEXTURE, ML_TRAIN_ATTR_N };
extern const char *const ML_TRAIN_ATTR_KEYS[ML_TRAIN_ATTR_N];

typedef struct MlTrainObject {
    int attr[ML_TRAIN_ATTR_N];      /* ids into names[attribute] */
    float cx, cy;             /* centre in pixels */
    int64_t visible;          /* visible pixels (the larger wins a shared patch) */
} MlTrainObject;

typedef struct MlTrainData {
    int64_t n_images;
    int side;                 /* pixels per side */
    uint8_t *rgb;             /* [n_images, side, side, 3] */
    MlTrainPair *qa, *cap;    /* grouped by image, in image order */
    int64_t n_qa, n_cap;
    int64_t *qa_first, *qa_count, *cap_first, *cap_count; /* [n_images] */
    /* the scene graphs' objects (for the per-patch labels of train/slots.h):
       names in order of first appearance, ids index them */
    int n_names[ML_TRAIN_ATTR_N];
    char *names[ML_TRAIN_ATTR_N][ML_TRAIN_MAX_NAMES];
    MlTrainObject *obj;       /* grouped by image, in image order */
    int64_t n_obj;
    int64_t *obj_first, *obj_count; /* [n_images] */
} MlTrainData;

/* max_images 0: all; otherwise the first max_images images of the split. */
int ml_train_data_load(MlTrainData *d, const char *dir, int64_t max_images, MlError *err);
void ml_train_data_free(MlTrainData *d);

/* The objects of DIR/scenes.jsonl for d->n_images images (data_load calls it). */
int ml_train_data_load_objects(MlTrainData *d, const char *dir, MlError *err);

/* The instruction that asks for a caption (the describe probe's text). */
extern const char ML_TRAIN_CAPTION_PROMPT[];

#endif
