/*
** qwen2vl_config.h: the numbers that define a Qwen2-VL model, read from an
** unchanged Hugging Face folder with the transformers defaults filled in.
**
**   config.json               -> MlQwen2VLConfig: the old flat layout (text
**                                keys at the top, as Qwen2-VL-2B ships it) and
**                                the nested one (`text_config`), as
**                                Qwen2VLConfig reads both; vision_config and
**                                the special ids.
**   preprocessor_config.json  -> MlQwen2VLImageConfig (Qwen2VLImageProcessor)
**
** Only what a single image needs is accepted: rope_scaling must be M-RoPE
** with an mrope_section of three that sums to head_dim / 2, and video-only
** settings that change image tokens are refused.  Every error is one line
** naming the file and the key ("config.json: rope_scaling.mrope_section: ...").
**
**     MlQwen2VLConfig cfg; MlError err = {0};
**     if (ml_qwen2vl_config_parse(text, len, "config.json", &cfg, &err)) { puts(err.msg); ... }
**     int merge = cfg.vision.spatial_merge_size;    // 2: 2x2 patches per decoder token
*/
#ifndef ML_IO_QWEN2VL_CONFIG_H
#define ML_IO_QWEN2VL_CONFIG_H

#include <stddef.h>

#include "core/error.h"
#include "kernels/activation.h"

typedef struct MlQwen2VLVisionConfig {
    int depth;               /* transformer blocks */
    int embed_dim;           /* width of the tower */
    int hidden;              /* hidden_size: width after the patch merger (= text hidden) */
    int mlp_ratio;           /* MLP width = embed_dim * mlp_ratio */
    int n_heads;             /* num_heads */
    int in_channels;         /* in_channels (or in_chans, as the 2B file writes it): 3 */
    int patch_size;          /* pixels per patch side */
    int spatial_merge_size;  /* patches merged per side into one token */
    int temporal_patch_size; /* frames per patch: a still image is repeated this often */
    MlActivation act;        /* hidden_act, default quick_gelu */
} MlQwen2VLVisionConfig;

typedef struct MlQwen2VLTextConfig {
    int hidden, intermediate, n_layers, n_heads, n_kv_heads, head_dim, vocab, max_pos;
    float rms_eps;
    double rope_theta;
    int mrope_section[3]; /* rotary pairs per axis (temporal, height, width); sum = head_dim / 2 */
    int tie_word_embeddings;
    MlActivation act; /* hidden_act, silu */
} MlQwen2VLTextConfig;

typedef struct MlQwen2VLConfig {
    MlQwen2VLTextConfig text;
    MlQwen2VLVisionConfig vision;
    int image_token_id, video_token_id, vision_start_id, vision_end_id;
    int bos_id, eos_id; /* -1 when the file names none */
} MlQwen2VLConfig;

/* preprocessor_config.json */
typedef struct MlQwen2VLImageConfig {
    int do_resize, do_rescale, do_normalize, do_convert_rgb;
    long long min_pixels, max_pixels;
    int patch_size, temporal_patch_size, merge_size;
    int resample;         /* PIL code; 3 = bicubic is the only one supported */
    float rescale_factor; /* 1/255 */
    float mean[3], std[3];
} MlQwen2VLImageConfig;

int ml_qwen2vl_config_parse(const char *text, size_t len, const char *where, MlQwen2VLConfig *cfg, MlError *err);
int ml_qwen2vl_image_config_parse(const char *text, size_t len, const char *where, MlQwen2VLImageConfig *cfg,
                                  MlError *err);

#endif
