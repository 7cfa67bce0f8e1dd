/*
** train/mention_head.h: training-only heads that read objects' positions
** from the LM's residual on relation questions ("Is the red circle left of
** the blue square?"):
**
**   mention head  at the word that ends each object mention ("circle",
**                 "square?"), after `mention_layer` layers: that object's
**                 centre (x, y);
**   answer head   at the answer position, after the last layer: both
**                 objects' centres.
**
** Why: a relation takes three steps in the LM: bind a mention's words to
** one object's slot and read that slot's position into the mention, gather
** both mentions' positions at the answer, and compare them.  The yes/no
** loss alone trains all of them only together (factors that start near
** zero and grow only together: a saddle), and the position stayed at
** chance for thousands of steps.  These heads give the first two steps
** direct, dense targets, so the yes/no loss has only the comparison left
** to learn.  They are dropped on save.
**
** Each head is a linear regression on the RMS-normalised residual, with a
** squared-error loss; centres are in patch units from the image's middle
** (-grid/2 .. grid/2).  Linear, so the LM must hold each coordinate as one
** direction: then "left of" is one difference of two such directions,
** which the last layer's gated MLP can compare (a classifier over columns
** let the coordinates be read without the comparison getting easier).
**
**     MlMentionWords mw;
**     ml_mention_words_init(&mw, tok, &data, &err);
**     int subject, object;
**     if (ml_mention_refs(&data, image, pair->prompt, &subject, &object)) ...
**     int64_t at_s = ml_mention_find(&mw, ids, from, to, category_of_subject, 0);
*/
#ifndef ML_TRAIN_MENTION_HEAD_H
#define ML_TRAIN_MENTION_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/tokenizer.h"
#include "train/data.h"

/* Per category, the tokens that can end its word in a question: the last
   piece of the word, and the single piece of the word with "?" (-1: none). */
typedef struct MlMentionWords {
    int n;
    int32_t last[ML_TRAIN_MAX_NAMES], question[ML_TRAIN_MAX_NAMES];
} MlMentionWords;

int ml_mention_words_init(MlMentionWords *mw, const MlTokenizer *tok, const MlTrainData *d, MlError *err);

/* The two objects of image `image` that a relation question names ("Is the
   {ref} {relation} the {ref}?", each ref the object's words, e.g. "small red
   circle"); 1 when both are found and each is the only match, else 0. */
int ml_mention_refs(const MlTrainData *d, int64_t image, const char *question, int *subject, int *object);

/* The position in ids[from, to) of the word of category `category`: the
   first such token, or with `last` the last one; -1 when there is none. */
int64_t ml_mention_find(const MlMentionWords *mw, const int32_t *ids, int64_t from, int64_t to, int category,
                        int last);

/* Floats of a head for width D and n_objects (1: the mention head, 2: the
   answer head): W [2 n_objects, D], then b [2 n_objects]; 0 for other counts. */
size_t ml_mention_head_size(int64_t D, int n_objects);

/* The object's targets t[0, 2): its centre, in patch units from the middle
   of a grid x grid layout. */
void ml_mention_head_targets(const MlTrainData *d, int64_t image, int object, int grid, float *t);

/* Forward and backward at one position: x [D] is the residual there, t the
   objects' targets (2 * n_objects); adds scale * d(loss) into G and into
   dx [D]; returns the loss, the summed squared error. */
double ml_mention_head_run(const float *P, float *G, const float *x, int64_t D, int n_objects, const float *t,
                           float scale, float *dx);

#endif
