/*
** qwen2vl_positions.h: Qwen2-VL's multimodal rotary position ids for a
** prompt, as transformers' Qwen2VLModel.get_rope_index computes them for
** images (no video, no padding).
**
** Text counts up on all three axes.  An image is found where
** <|vision_start|> is followed by the image token; its merged grid
** (t, h/m, w/m) of tokens takes ids (text before it) + (t, row, column),
** in the patches' merge-block order; text after an image resumes at the
** largest id so far + 1.  Tokens generated after the prompt sit at
** index + delta on every axis.
**
**     const int grid[1][3] = {{1, 34, 46}};         // from ml_qwen2vl_image_grid
**     int32_t pos[3 * 512]; int64_t delta;
**     ml_qwen2vl_positions(ids, n, &cfg, grid, 1, pos, &delta, &err);   // pos [3][n]
*/
#ifndef ML_MODEL_QWEN2VL_POSITIONS_H
#define ML_MODEL_QWEN2VL_POSITIONS_H

#include <stdint.h>

#include "core/error.h"
#include "io/qwen2vl_config.h"

/* pos gets [3][n] ids (temporal, height, width); *delta = max id + 1 - n.
   Fails with ML_ERR_SHAPE naming the image when the prompt does not hold one
   <|vision_start|> + image token run of t*h*w / merge^2 image tokens for each
   of the n_images grids, in order. */
int ml_qwen2vl_positions(const int32_t *ids, int64_t n, const MlQwen2VLConfig *cfg, const int (*grid)[3], int n_images,
                         int32_t *pos, int64_t *delta, MlError *err);

#endif
