/*
** coco.h: CHAIR ground truth built from COCO's own annotation files, as the
** reference chair.py's get_annotations() builds it: per image id, the union of
**   - the categories of its instance (segmentation) annotations, each name
**     mapped through the synonym list to its canonical object ("dining table"
**     stays "dining table", a category the list does not know is an error), and
**   - the objects its ground-truth captions mention, found with the same rules
**     as generated captions (ml_chair_mentions: tokens, singulars, two-word
**     phrases, toilet seat, synonyms).
** Images listed in an "images" array but never annotated get an empty set
** (chair.py's lookups give them one too).
**
** The files are streamed: only "images", "annotations" and "categories"
** entries are looked at, one at a time, and only the object sets are kept.
**
**     MlChairTruth gt; MlError err = {0};
**     ml_coco_truth_load(&vocab, "coco/annotations", 1, &gt, &err);
**         reads instances_val2014.json and captions_val2014.json, and the
**         train2014 pair too when both of its files are there
**     ml_chair_score_file(&vocab, &gt, "captions.jsonl", "image_id", "caption", &s, &err);
**     ml_chair_truth_free(&gt);
**
** Lower level, for text already in memory (tests, fuzzing):
**
**     MlCocoBuilder b; ml_coco_begin(&b, &vocab);
**     ml_coco_add_instances(&b, text, len, "instances.json", NULL, &err);
**     ml_coco_add_captions(&b, text2, len2, "captions.json", NULL, &err);
**     ml_coco_finish(&b, "annotations", &gt, &err);   frees b, also on failure
**
** After an error from an add call, free the builder with ml_coco_abandon.
** The builder borrows the vocabulary; the truth owns its strings.
*/
#ifndef ML_EVAL_COCO_H
#define ML_EVAL_COCO_H

#include <stddef.h>

#include "core/error.h"
#include "core/progress.h"
#include "eval/chair.h"

typedef struct MlCocoImage {
    const char **names; /* distinct canonical objects, pointing into the vocabulary */
    size_t n, cap;
} MlCocoImage;

typedef struct MlCocoBuilder {
    const MlChairVocab *vocab;
    MlStrMap ids; /* image id ("%lld") -> index into images */
    MlCocoImage *images;
    size_t count, cap;
} MlCocoBuilder;

void ml_coco_begin(MlCocoBuilder *b, const MlChairVocab *v);
/* progress (may be NULL) is advanced by the bytes read, from `done` already
   counted before this file. */
int ml_coco_add_instances(MlCocoBuilder *b, const char *text, size_t len, const char *where, MlProgress *progress,
                          MlError *err);
int ml_coco_add_captions(MlCocoBuilder *b, const char *text, size_t len, const char *where, MlProgress *progress,
                         MlError *err);
int ml_coco_finish(MlCocoBuilder *b, const char *where, MlChairTruth *gt, MlError *err);
void ml_coco_abandon(MlCocoBuilder *b);

/* The whole directory; show_progress draws a progress bar over the bytes. */
int ml_coco_truth_load(const MlChairVocab *v, const char *dir, int show_progress, MlChairTruth *gt, MlError *err);

#endif
