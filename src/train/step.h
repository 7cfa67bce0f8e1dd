/*
** train/step.h: one training example through the engine's forward and the
** backwards, on one thread (the loop runs one worker per thread, each with
** its own activations and gradient buffer: the notes' "one thread per
** example" for small GEMMs).
**
** An example is one image (or none, for text-only LM training) followed by
** several conversation turns in llava-hf's template:
**   <s>USER: <image>xN\n{q1} ASSISTANT: {a1}</s>USER: {q2} ASSISTANT: {a2}</s>...
** The loss counts only answer tokens and their </s>.  The first turn is
** exactly what `misalign generate` / `misalign eval` prefill for one question.
**
**     MlTrainWorker w;
**     ml_train_worker_init(&w, &model, 512, &err);
**     ml_train_example_build(&w, &model, &data, image, &opts, rng_state, &ex_err);
**     ml_train_example_run(&w, &model, &data, &parts, dloss, &err);  // grads += into w.grad
**     ml_train_worker_free(&w);
**
** Text scenes and projector regression (train/slots.h) need w.slots set
** (and w.regress > 0 for the regression); the loop sets both per stage.
*/
#ifndef ML_TRAIN_STEP_H
#define ML_TRAIN_STEP_H

#include <stdint.h>

#include "core/error.h"
#include "train/data.h"
#include "train/mention_head.h"
#include "train/model.h"
#include "train/slots.h"

typedef struct MlExampleOptions {
    int with_image;      /* 0: text only (stage 0) */
    int qa_turns;        /* QA turns per example (at most the image's QA count) */
    double caption_prob; /* chance of one caption turn */
    double slot_prob;    /* chance the image tokens are the scene's slots (train/slots.h) instead of the
                            image: a "text scene" (the image tokens are then present even in stage 0) */
    double empty_keep;   /* in a text scene, the chance each empty slot is kept (the rest are left out:
                            the notes' compact scenes, a curriculum against the haystack plateau) */
    int grid;            /* patches per side (for the slot labels at build time) */
    unsigned family_mask; /* QA families drawn (bit ML_TRAIN_FAMILY_*); 0: all */
} MlExampleOptions;

/* Which parts get gradients. */
typedef struct MlTrainParts {
    int vision, projector, text;
} MlTrainParts;

typedef struct MlTrainWorker {
    int64_t cap;                      /* longest sequence */
    MlVisionState vst;
    MlVisionRecord vrec;
    MlProjectorRecord prec;
    MlDecoderState dst;
    MlDecoderRecord drec;
    MlKVCache kv;
    MlTrainViews g;                   /* gradient views into grad */
    float *grad;                      /* [block.n] */
    float *pixels, *feats, *proj, *ptmp, *pvec, *dproj, *dfeat;
    float *x, *logits, *dlogits, *dx, *dresid, *dfinal, *losses; /* dresid, dfinal: the heads' gradients */
    int32_t *ids, *targets;
    int64_t T, image;                 /* the built example */
    int use_slots;                    /* its image tokens are slots */
    const MlTrainSlots *slots;        /* set by the caller: needed by slot examples and regress */
    float regress;                    /* set by the caller: > 0 adds regress * sum ||proj - slots||^2 / D
                                         over the image tokens (slots a constant target; into the
                                         projector and ViT) */
    int *slot_lab;                    /* [n_out, ML_TRAIN_ATTR_N] labels of the image */
    int *slot_keep, n_keep;           /* text scene: the slots present, in order */
    float *target;                    /* [n_out, D] regression target */
    int n_turns, turn_family[64], turn_open[64]; /* the built turns' families, open (not yes/no) or not, and
                                                    first answer positions */
    int64_t turn_pos[64];
    /* the mention and answer heads (train/mention_head.h), set by the caller: the words, each head's
       floats in the block and weight (> 0 adds weight * its loss per mention or answer), and the layers
       the mention head's residual has passed */
    const MlMentionWords *mention_words;
    size_t mention_head, answer_head;
    float mention_weight, answer_weight;
    int mention_layers;
    /* the built relation turns whose objects were found: per turn k, the objects (subject 2k, object
       2k + 1), their words' positions and the answer position */
    int n_relations, relation_object[64];
    int64_t mention_at[64], answer_at[32];
    double mention_sum, answer_sum;   /* squared errors summed (2 per object); mentions and answers */
    int64_t mention_n, answer_n;
    int64_t fam_n[2][ML_TRAIN_FAMILY_N], fam_right[2][ML_TRAIN_FAMILY_N]; /* first answer token right, per
                                                                            [yes/no, open][family] */
    double aux_sum;                   /* regression loss (mean per image token) summed over examples */
    int64_t aux_n;
    double loss_sum;                  /* over this worker's examples since reset */
    int64_t n_counted, n_correct;
} MlTrainWorker;

int ml_train_worker_init(MlTrainWorker *w, const MlTrainModel *m, int64_t cap, MlError *err);
void ml_train_worker_free(MlTrainWorker *w);

/* Tokenizes the example of `image` into w->ids / w->targets (random turns
   drawn from *rng).  Returns the answer tokens that count. */
int64_t ml_train_example_build(MlTrainWorker *w, const MlTrainModel *m, const MlTrainData *d, int64_t image,
                               const MlExampleOptions *o, uint64_t *rng, MlError *err);

/* Forward and backward of the built example; gradients of dloss * (sum of
   its token losses) are added into w->grad for the parts named. */
int ml_train_example_run(MlTrainWorker *w, const MlTrainModel *m, const MlTrainData *d, const MlTrainParts *parts,
                         float dloss, MlError *err);

/* Pixels of image i as the checkpoint's processor prepares them. */
int ml_train_pixels(const MlTrainModel *m, const MlTrainData *d, int64_t i, float *px, MlError *err);

#endif
