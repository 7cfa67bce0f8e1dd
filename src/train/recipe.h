/*
** train/recipe.h: a whole organism from one JSON file: the training split,
** the tokenizer, fresh weights, then the stages in order.
**
**   {"name": "organism", "seed": 1, "world": "worlds/default.json",
**    "work": "build/organism", "out": "models/organism",
**    "data": {"n": 20000, "max_images": 0},
**    "tokenizer": {"vocab_size": 1000},
**    "model": {"image_size": 64, "patch_size": 16, "vision_hidden": 96, "vision_layers": 3,
**              "vision_heads": 4, "vision_intermediate": 384, "text_hidden": 128,
**              "text_layers": 2, "text_heads": 4, "text_kv_heads": 4,
**              "text_intermediate": 344, "max_pos": 512},
**    "stages": [{"stage": 0, "steps": 200, "batch": 32, "lr": 2e-3, "warmup": 30,
**                "qa_turns": 6, "caption_prob": 0.3}, ...]}
**
** Stage keys for the plateau breakers (docs/training.md): slot_prob,
** empty_from, empty_to, qk_identity, families (stage 0/3), infonce,
** patch_head (stage 1), regress, image_qa (stage 2/3).
**
** "from": a llava-hf folder to start from instead of the split's tokenizer
** and fresh weights (a variant of a trained model, e.g. fine-tuned on a
** biased world); the "model" and "tokenizer" keys then do not apply.
**
** Every key but "stages" is optional (the values above are the defaults;
** a stage's other keys default to ml_stage_defaults).  The world's bias
** knobs and the model-size knobs are what variants change.  Steps that are
** done are reused: the split when WORK/train/scenes.jsonl exists, the
** tokenizer when WORK/tokenizer.json exists, and a stage resumes from its
** train state (WORK/state_K.safetensors) with its log (WORK/log_K.jsonl).
** The last stage writes OUT, with the recipe, the world and train_log.jsonl
** (the stage logs joined: the loss per logged step of every stage) beside it.
*/
#ifndef ML_TRAIN_RECIPE_H
#define ML_TRAIN_RECIPE_H

#include "core/error.h"

typedef struct MlRecipeOverrides {
    const char *out;   /* NULL: the recipe's */
    const char *work;  /* NULL: the recipe's */
    int threads;       /* 0: all */
    int progress;
} MlRecipeOverrides;

int ml_train_recipe(const char *path, const MlRecipeOverrides *ov, MlError *err);

#endif
