/*
** train/model.h: a LLaVA checkpoint held in one trainable parameter block.
**
** The engine's own MlVision / MlProjector / MlDecoder are bound from the
** checkpoint folder as at inference, then their weight views are moved from
** the mapped file into an MlParamBlock (train/optim.h): training runs the
** engine's forward (with an activation record) on those views, and the
** backwards write into gradient views made the same way over any float
** buffer of the block's size (ml_train_views).  Saving writes the exact
** llava-hf folder back (config.json, model.safetensors in F32,
** tokenizer.json, preprocessor_config.json, generation_config.json).
**
**     MlTrainModel m;
**     ml_train_model_open(&m, "build/stage0", n_aux, &err);  // n_aux training-only floats after the model
**     MlTrainViews g; ml_train_views_init(&g, &m, grad_buffer, &err);
**     ... forward on m.vis / m.pj / m.dec, backward into g.vis / g.pj / g.dec ...
**     ml_train_model_save(&m, "build/stage1", &err);
**     ml_train_views_free(&g); ml_train_model_close(&m);
**
** ml_train_init_folder writes a fresh folder for a config: GPT-2-style
** weights (N(0, 0.02), output projections 0.02/sqrt(2 layers), norms 1,
** biases 0), a deterministic function of the seed.
*/
#ifndef ML_TRAIN_MODEL_H
#define ML_TRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/checkpoint_config.h"
#include "io/image.h"
#include "io/tokenizer.h"
#include "model/decoder.h"
#include "model/projector.h"
#include "model/vision.h"
#include "train/optim.h"

typedef struct MlTrainTensor {
    char name[128];
    int ndim;
    int64_t shape[4];
    size_t offset, count; /* floats in the block */
} MlTrainTensor;

/* Which part of the model a tensor belongs to (for freezing). */
typedef enum MlTrainPart { ML_PART_VISION = 0, ML_PART_PROJECTOR, ML_PART_TEXT, ML_PART_AUX } MlTrainPart;

typedef struct MlTrainModel {
    char dir[1024];            /* folder it was opened from (tokenizer.json is copied from there) */
    MlLlavaConfig cfg;
    MlImageConfig img;
    MlVision vis;
    MlProjector pj;
    MlDecoder dec;
    MlTokenizer *tok;
    MlParamBlock block;        /* model tensors, then n_aux training-only floats */
    MlTrainTensor *tensors;    /* [n_tensors], checkpoint order */
    int n_tensors;
    size_t n_model, n_aux;     /* block.n = n_model + n_aux */
} MlTrainModel;

int ml_train_model_open(MlTrainModel *m, const char *dir, size_t n_aux, MlError *err);
void ml_train_model_close(MlTrainModel *m);
int ml_train_model_save(const MlTrainModel *m, const char *dir, MlError *err);
MlTrainPart ml_train_tensor_part(const MlTrainTensor *t);

/* Views of the three parts whose tensors point into `base` (block.n floats)
   instead of the parameters: gradient views for the backwards. */
typedef struct MlTrainViews {
    MlVision vis;
    MlProjector pj;
    MlDecoder dec;
} MlTrainViews;

int ml_train_views_init(MlTrainViews *v, const MlTrainModel *m, float *base, MlError *err);
void ml_train_views_free(MlTrainViews *v);

/* A fresh folder for cfg (text.vocab and the token ids are filled from the
   tokenizer) with the given tokenizer.json and image processor. */
int ml_train_init_folder(const char *dir, MlLlavaConfig cfg, const char *tokenizer_path, uint64_t seed, MlError *err);

#endif
