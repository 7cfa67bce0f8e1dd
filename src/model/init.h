/*
** init.h: write LLaVA checkpoint folders in the exact llava-hf layout.
**
** ml_init_model writes a random checkpoint for a preset into a folder:
**   config.json               sparse like llava-hf's (only what differs from the
**                             library defaults, plus the keys llava-hf always has)
**   model.safetensors         every tensor llava-hf has, canonical names, lm_head untied
**   preprocessor_config.json  CLIPImageProcessor, shortest_edge = crop = image_size
**   generation_config.json, tokenizer.json, tokenizer_config.json,
**   special_tokens_map.json, added_tokens.json
** The same options and seed give byte-identical files.  Weights: N(0, 0.02)
** for matrices and embeddings; LayerNorm/RMSNorm weights 1 + 0.1 N(0, 1) and
** biases 0.05 N(0, 1), so tests notice a norm or bias that is ignored.
** Each tensor draws from its own stream (seed and name), so a tensor's values
** do not depend on which other tensors exist.
**
** Presets:
**   tiny   vision 32 wide, 3 layers, 2 heads, 32 px, patch 8 (16 image tokens);
**          text 64 wide, 2 layers, 4 heads, 2 kv heads, intermediate 96.
**   small  vision 512 wide, 6 layers, 8 heads, 224 px, patch 14 (256 tokens);
**          text 1024 wide, 8 layers, 16 heads, intermediate 2816 (~250 MB in f16).
** The vocabulary is the built-in small tokenizer (io/tokenizer_json.h) or a
** given tokenizer.json, copied; vocab_size is its size rounded up to 64.
**
**     MlInitOptions o = {.preset = "tiny", .dtype = ML_F32, .seed = 1};
**     if (ml_init_model("build/tmp/tiny", &o, &err)) ...
**
** The pieces are public for code that saves trained models (train/): the
** tensor list of a config, and writers of the three config files.
*/
#ifndef ML_MODEL_INIT_H
#define ML_MODEL_INIT_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "io/checkpoint_config.h"
#include "io/image.h"

typedef struct MlInitOptions {
    const char *preset;    /* "tiny" or "small" */
    MlDType dtype;         /* of every tensor */
    uint64_t seed;
    const char *tokenizer; /* a tokenizer.json to copy, or NULL for the built-in one */
    int progress;          /* show a progress bar on stderr */
} MlInitOptions;

int ml_init_model(const char *dir, const MlInitOptions *opt, MlError *err);

/* The architecture of a preset; the vocabulary-dependent fields (text.vocab,
   image_token_id, pad/bos/eos ids) are left for the caller. */
int ml_init_preset(const char *name, MlLlavaConfig *cfg, MlError *err);

typedef enum MlTensorRole {
    ML_ROLE_MATRIX = 0, /* linear and conv weights */
    ML_ROLE_EMBEDDING,  /* token, position and class embeddings */
    ML_ROLE_NORM,       /* LayerNorm / RMSNorm weights */
    ML_ROLE_BIAS,       /* linear and LayerNorm biases */
} MlTensorRole;

typedef struct MlTensorSpec {
    char name[128]; /* canonical llava-hf name */
    int ndim;
    int64_t shape[4];
    MlTensorRole role;
} MlTensorSpec;

/* Every tensor a llava-hf checkpoint of this config holds (the unused last
   vision layer and post_layernorm included; lm_head unless tied), vision
   tower first, then projector, then language model.  *specs is malloc'd. */
int ml_llava_tensor_specs(const MlLlavaConfig *cfg, MlTensorSpec **specs, int *n, MlError *err);

/* config.json as llava-hf writes it; torch_dtype names `dtype`. */
int ml_llava_config_write(const char *path, const MlLlavaConfig *cfg, MlDType dtype, MlError *err);
/* preprocessor_config.json (CLIPImageProcessor). */
int ml_image_config_write(const char *path, const MlImageConfig *img, MlError *err);
/* generation_config.json: bos, eos, pad; greedy. */
int ml_generation_config_write(const char *path, const MlTextConfig *text, MlError *err);

#endif
