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

typedef struct MlTrainPair {
    char *prompt, *answer; /* QA: question / answer; captions: the caption in answer */
} MlTrainPair;

typedef struct MlTrainData {
    int64_t n_images;
    int side;                 /* pixels per side */
    uint8_t *rgb;             /* [n_images, side, side, 3] */
    MlTrainPair *qa, *cap;    /* grouped by image, in image order */
    int64_t n_qa, n_cap;
    int64_t *qa_first, *qa_count, *cap_first, *cap_count; /* [n_images] */
} MlTrainData;

/* max_images 0: all; otherwise the first max_images images of the split. */
int ml_train_data_load(MlTrainData *d, const char *dir, int64_t max_images, MlError *err);
void ml_train_data_free(MlTrainData *d);

/* The instruction that asks for a caption (the describe probe's text). */
extern const char ML_TRAIN_CAPTION_PROMPT[];

#endif
