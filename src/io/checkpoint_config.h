/*
** checkpoint_config.h: the numbers that define a LLaVA model, read from
** config.json with the Hugging Face library defaults filled in (see
** io/checkpoint.h).  Plain integers and floats only; no pointers.  The image
** processor's settings (preprocessor_config.json) are MlImageConfig in io/image.h.
*/
#ifndef ML_IO_CHECKPOINT_CONFIG_H
#define ML_IO_CHECKPOINT_CONFIG_H

#include "kernels/activation.h"

typedef struct MlVisionConfig {
    int hidden;          /* hidden_size, 1024 for CLIP ViT-L */
    int intermediate;    /* intermediate_size */
    int n_layers;        /* num_hidden_layers */
    int n_heads;         /* num_attention_heads */
    int image_size;      /* pixels per side */
    int patch_size;      /* pixels per patch side */
    int n_channels;      /* 3 */
    int projection_dim;  /* unused by LLaVA; kept for completeness */
    float layer_norm_eps;
    MlActivation act;    /* hidden_act, default quick_gelu */
} MlVisionConfig;

typedef struct MlTextConfig {
    int hidden;          /* hidden_size */
    int intermediate;    /* intermediate_size */
    int n_layers;        /* num_hidden_layers */
    int n_heads;         /* num_attention_heads */
    int n_kv_heads;      /* num_key_value_heads (GQA when < n_heads) */
    int head_dim;        /* hidden / n_heads unless config says otherwise */
    int vocab;           /* vocab_size */
    int max_pos;         /* max_position_embeddings */
    float rms_eps;       /* rms_norm_eps */
    float rope_theta;
    int bos_id, eos_id, pad_id; /* pad_id -1 when absent */
    MlActivation act;    /* hidden_act, default silu */
    int tie_word_embeddings;
} MlTextConfig;

typedef struct MlLlavaConfig {
    MlVisionConfig vision;
    MlTextConfig text;
    int image_token_id;        /* image_token_index, 32000 */
    int image_seq_length;      /* tokens per image after feature selection, 576 */
    int vision_feature_layer;  /* as in config: negative counts from the end of hidden_states */
    int select_full;           /* vision_feature_select_strategy: 0 "default" (drop CLS), 1 "full" */
    MlActivation projector_act;
    int projector_bias;        /* multimodal_projector_bias */
} MlLlavaConfig;

#endif
