/*
** train/loop.h: one training stage of the organism, start to end.
**
**   stage 0  language model on the corpus text (QA and captions, no image);
**            vision and projector untouched
**   stage 1  CLIP-style InfoNCE of the ViT against a small text encoder
**            (mean of its own token embeddings, then a linear layer; both
**            training-only and not saved), learnable temperature
**            and/or a per-patch attribute head (train/patch_head.h)
**   stage 2  projector only, on captioning (ViT and LLM frozen), optionally
**            on QA and with regression onto the slots (train/slots.h)
**   stage 3  everything, on QA and captions (instruction tuning)
**
** Each step draws `batch` images (a pure function of seed and step, so a
** resumed run draws what an unbroken one draws), runs one example per image
** with one worker per thread, sums the workers' gradients in worker order
** (the same bits for a given seed and thread count), averages over the
** counted answer tokens, clips, and takes an AdamW step under warm-up +
** cosine.  A progress line shows loss, tokens/s and ETA; the loss per
** log_every steps goes to log_path (JSONL); a train state is saved every
** save_every steps and resumed from when present.  The state records a
** fingerprint of the starting weights and of the settings (seed, steps, lr,
** ... and the split's size), and another run's state is refused.
**
**     MlStageOptions o = ml_stage_defaults(3);
**     o.steps = 600; o.in_dir = "build/s2"; o.out_dir = "build/s3"; o.data = &data;
**     if (ml_train_stage(&o, &result, &err)) ...
*/
#ifndef ML_TRAIN_LOOP_H
#define ML_TRAIN_LOOP_H

#include <stdint.h>

#include "core/error.h"
#include "train/data.h"
#include "train/step.h"

typedef struct MlStageOptions {
    int stage;                 /* 0..3 */
    const char *in_dir;        /* llava-hf folder to start from */
    const char *out_dir;       /* llava-hf folder written at the end */
    const char *state_path;    /* train state for save/resume; NULL: none */
    const char *log_path;      /* JSONL loss log (appended; on resume, this stage's last lines past the
                                  saved step are dropped first); NULL: none */
    const MlTrainData *data;
    int64_t steps, batch, warmup;
    double lr, min_ratio, weight_decay, beta1, beta2, clip;
    uint64_t seed;
    int threads;               /* workers; 0: OpenMP's default */
    int qa_turns;              /* stages 0, 3 */
    double caption_prob;       /* stages 0, 3 */
    int log_every, save_every; /* steps */
    /* the plateau breakers (train/slots.h, train/patch_head.h); 0 = off */
    double slot_prob;          /* stages 0, 3: chance an example's image tokens are its scene's slots */
    double empty_from, empty_to; /* text scenes keep no empty slots until this fraction of the steps,
                                  then a linearly growing share, all from empty_to on (default 0, 0) */
    double regress;            /* stages 2, 3: weight of projector-onto-slots regression */
    double infonce;            /* stage 1: weight of InfoNCE (default 1) */
    double patch_head;         /* stage 1: weight of the per-patch category/colour head */
    double mention_head;       /* stages 0, 2, 3: weights of the mention and answer heads (train/mention_head.h) */
    double answer_head;
    int mention_layer;         /* the LM layers before the mention head (0: all but the last) */
    double qk_identity;        /* stage 0 from fresh weights: W_q = W_k = this * I in the LM's first layer,
                                  so its attention starts as content matching (word to slot) */
    unsigned family_mask;      /* QA families drawn (bits of ML_TRAIN_FAMILY_*); 0: all */
    int image_qa;              /* stage 2: QA turns (qa_turns, caption_prob) instead of one caption */
    int progress;              /* progress line on stderr */
} MlStageOptions;

typedef struct MlStageResult {
    double first_loss, last_loss; /* means over the first and the last log_every steps */
    double last_accuracy;         /* answer-token argmax accuracy over the last log_every steps
                                     (stage 1 with a patch head: its per-patch accuracy) */
    double last_aux;              /* regression or patch-head loss over the last log_every steps */
    double seconds, tokens_per_s;
    int64_t tokens;               /* tokens run forward and backward */
} MlStageResult;

MlStageOptions ml_stage_defaults(int stage);
int ml_train_stage(const MlStageOptions *o, MlStageResult *r, MlError *err);

#endif
