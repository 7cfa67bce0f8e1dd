/*
** train/slots.h: the scene graph as the LM's own words, per image patch.
**
** The notes (ORGANISM-NOTES.md) found the organism's plateau is the decoder
** learning to look a question word up among the image tokens.  These are
** the training-only tools that break it, all from the scene graph:
**
**   labels   per patch, the attributes (category, colour, size, texture)
**            of the object whose centre lies in it (the one with more
**            visible pixels when two do), else empty (-1);
**   slots    per patch, the sum of the LM's embeddings of those four
**            words (each word also as the single piece it is when it ends
**            a question, "circle?", when the tokenizer has one) and of the
**            patch's two position words (empty patches are zero).
**
** Position words are special tokens of the recipe's tokenizer: "<x0>" ..
** for the patch column, "<y0>" .. for the row.  Being the LM's own
** embeddings, they are learned like any word, which is what lets the LM
** carry a slot's position on to the words that name its object (a fixed
** code was dropped by the value projections: docs/training.md).  A
** tokenizer without them gets a fixed random code per patch instead.
**
** Stage 0 feeds slots where the image tokens go ("text scenes"), so the LM
** learns the lookup on clean input; stage 1 trains a per-patch category and
** colour head on the ViT from the labels; stages 2-3 regress the
** projector's output onto the slots (the LM frozen as target), so image
** tokens read like the words the LM learned.  Nothing here is saved.
**
**     MlTrainSlots s;
**     ml_train_slots_init(&s, &model, &data, &err);
**     int lab[16 * ML_TRAIN_ATTR_N];
**     ml_train_slot_labels(&data, image, s.grid, lab);
**     ml_train_slot_embed(&s, &model, lab, rows);             // rows [s.n, D]
**     ml_train_slots_free(&s);
*/
#ifndef ML_TRAIN_SLOTS_H
#define ML_TRAIN_SLOTS_H

#include <stdint.h>

#include "core/error.h"
#include "train/data.h"
#include "train/model.h"

enum { ML_SLOT_MAX_TOKENS = 8, ML_SLOT_MAX_PATCHES = 1024, ML_SLOT_MAX_WIDTH = 4096, ML_SLOT_MAX_GRID = 32 };

/* The position word of patch column k (axis 0) or row k (axis 1): "<x3>", "<y0>". */
void ml_train_position_word(int axis, int k, char *buf, size_t cap);

/* All 2 * grid position words of a grid (columns, then rows), for a
   tokenizer's added tokens: names[k] holds word k and list[k] points at
   it.  Returns their count, 0 when grid is not 1..ML_SLOT_MAX_GRID. */
int ml_train_position_words(int grid, char (*names)[16], const char **list);

typedef struct MlTrainSlots {
    int grid;              /* patches per side */
    int64_t n, D;          /* image tokens (grid^2), LM width */
    int n_names[ML_TRAIN_ATTR_N];
    int32_t tok[ML_TRAIN_ATTR_N][ML_TRAIN_MAX_NAMES][ML_SLOT_MAX_TOKENS]; /* the words' tokens */
    int ntok[ML_TRAIN_ATTR_N][ML_TRAIN_MAX_NAMES];
    int32_t pos_word[2][ML_SLOT_MAX_GRID]; /* the position words' ids, [axis][k] */
    int has_pos_words;     /* the tokenizer has them all; else: */
    float *pos;            /* [n, D] fixed position codes */
} MlTrainSlots;

/* Fails when the model's image tokens are not the grid^2 patches (CLS kept)
   or a name does not tokenize into at most ML_SLOT_MAX_TOKENS tokens. */
int ml_train_slots_init(MlTrainSlots *s, const MlTrainModel *m, const MlTrainData *d, MlError *err);
void ml_train_slots_free(MlTrainSlots *s);

/* lab [grid^2, ML_TRAIN_ATTR_N]: attribute ids of the object centred in each
   patch, all -1 when none. */
void ml_train_slot_labels(const MlTrainData *d, int64_t image, int grid, int *lab);

/* Stage 1's per-patch head (train/patch_head.h) has these groups: the four
   attributes, then the patch's column and row, so the ViT's output keeps
   where each patch is (the projector turns it into the position words). */
enum { ML_PATCH_GROUPS = ML_TRAIN_ATTR_N + 2 };

/* lab [grid^2, ML_PATCH_GROUPS]: the slot labels, then each patch's column
   and row (grid^2 <= ML_SLOT_MAX_PATCHES, as ml_train_slots_init checks). */
void ml_train_patch_labels(const MlTrainData *d, int64_t image, int grid, int *lab);

/* rows [n, D] = sum of E[attribute words] + E[position words] (or the fixed
   code), from the model's embedding table. */
void ml_train_slot_embed(const MlTrainSlots *s, const MlTrainModel *m, const int *lab, float *rows);

/* The embedding table's gradient (dembed [V, D], +=) from drows [n, D]. */
void ml_train_slot_embed_backward(const MlTrainSlots *s, float *dembed, const int *lab, const float *drows);

#endif
