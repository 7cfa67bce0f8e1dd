/*
** checkpoint.h: a Hugging Face LLaVA checkpoint folder, opened unchanged.
**
**   DIR/config.json                    -> MlLlavaConfig (library defaults filled in)
**   DIR/preprocessor_config.json       -> MlImageConfig
**   DIR/model.safetensors              single file, or
**   DIR/model.safetensors.index.json   + shards listed in its weight_map
**   DIR/tokenizer.json                 (read by io/tokenizer.h)
**
** Weights stay memory-mapped: tensors are views into the mapped files and
** are valid until ml_checkpoint_close.  Names are canonical llava-hf names
** ("language_model.model.layers.0.self_attn.q_proj.weight",
** "vision_tower.vision_model.embeddings.patch_embedding.weight",
** "multi_modal_projector.linear_1.weight", "language_model.lm_head.weight");
** checkpoints saved by newer transformers ("model.language_model.*",
** "model.vision_tower.*", "model.multi_modal_projector.*", "lm_head.weight")
** are mapped to them on open.
**
**     MlCheckpoint *ck; MlError err = {0};
**     if (ml_checkpoint_open(&ck, "models/organism", &err)) { puts(err.msg); ... }
**     MlTensor t;
**     ml_checkpoint_get(ck, "language_model.model.norm.weight", 1, (int64_t[]){4096}, &t, &err);
**     ml_checkpoint_close(ck);
*/
#ifndef ML_IO_CHECKPOINT_H
#define ML_IO_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "io/checkpoint_config.h"
#include "io/image.h"

typedef struct MlCheckpoint MlCheckpoint;

int ml_checkpoint_open(MlCheckpoint **out, const char *dir, MlError *err);
void ml_checkpoint_close(MlCheckpoint *ck);

const MlLlavaConfig *ml_checkpoint_config(const MlCheckpoint *ck);
const MlImageConfig *ml_checkpoint_image_config(const MlCheckpoint *ck);
const char *ml_checkpoint_dir(const MlCheckpoint *ck);

/* Looks up a tensor by canonical name (new-style names are mapped too) and
   checks its shape (ndim dims; ndim < 0 or shape NULL skips the check).
   Fails with ML_ERR_MISSING / ML_ERR_SHAPE naming the tensor and file.
   The view has the file's dtype (F32, F16 or BF16), row-major. */
int ml_checkpoint_get(const MlCheckpoint *ck, const char *name, int ndim, const int64_t *shape, MlTensor *out,
                      MlError *err);
/* Like ml_checkpoint_get, but an absent tensor is not an error: *found = 0. */
int ml_checkpoint_find(const MlCheckpoint *ck, const char *name, int ndim, const int64_t *shape, MlTensor *out,
                       int *found, MlError *err);

/* Total bytes of tensor data across all shards. */
uint64_t ml_checkpoint_weight_bytes(const MlCheckpoint *ck);

/* Parses config.json / preprocessor_config.json text (exposed for tests and fuzzing).
   Absent keys take the transformers defaults (LlamaConfig, CLIPVisionConfig,
   LlavaConfig, CLIPImageProcessor); pad_token_id and tie_word_embeddings fall
   back to the top level; image_seq_length, when given, must equal the
   (image_size / patch_size)^2 (+1 for "full") features the tower yields.
   Inconsistent or unsupported values fail naming the key ("text_config.hidden_size"). */
int ml_llava_config_parse(const char *text, size_t len, const char *where, MlLlavaConfig *cfg, MlError *err);
int ml_image_config_parse(const char *text, size_t len, const char *where, MlImageConfig *cfg, MlError *err);

/* Every tensor, in canonical-name order (0 <= i < count): for tools that
   walk the whole checkpoint (training, conversion). */
int ml_checkpoint_tensor_count(const MlCheckpoint *ck);
void ml_checkpoint_tensor_at(const MlCheckpoint *ck, int i, const char **name, MlTensor *out);

/* Maps a new-style name ("model.language_model.X", "lm_head.weight", ...) to
   its canonical llava-hf name; other names are copied.  Fails if it does not fit. */
int ml_checkpoint_canonical_name(const char *name, char *out, size_t cap);

/* model.safetensors.index.json: which shard file holds each tensor. */
typedef struct MlCheckpointIndex {
    int n_tensors;
    char **names;       /* as written in the file */
    int *shard_of;      /* index into shards */
    int n_shards;
    char **shards;      /* file names, in order of first appearance */
    int64_t total_size; /* metadata.total_size, -1 when absent */
} MlCheckpointIndex;

int ml_checkpoint_index_parse(const char *text, size_t len, const char *where, MlCheckpointIndex *idx, MlError *err);
void ml_checkpoint_index_free(MlCheckpointIndex *idx);

#endif
