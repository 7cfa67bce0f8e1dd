/*
** qwen2vl_image.h: Qwen2VLImageProcessor for one still image, bit-identical
** to transformers' image_processing_qwen2_vl.py.
**
**   1. smart_resize: both sides to multiples of factor = patch_size *
**      merge_size (28), nearest multiple first (Python round: half to even),
**      then scaled down (floor) or up (ceil) by sqrt of the pixel ratio when
**      the area leaves [min_pixels, max_pixels].  Sides below the factor or
**      an aspect ratio above 200 are refused, as transformers 4.45 does.
**   2. Pillow-exact bicubic resize (io/image.h), rescale and normalize with
**      the config's mean/std (CLIP's for Qwen2-VL), in HF's float steps.
**   3. The image is repeated temporal_patch_size times and cut into patches:
**      rows in merge-block order (grid_t, grid_h/m, grid_w/m, m, m), each row
**      C * temporal_patch_size * patch_size^2 values (channel, frame, y, x).
**
**     int grid[3];                                   // t, h, w in patches
**     ml_qwen2vl_image_grid(img.width, img.height, &cfg, grid, &err);
**     size_t rows = (size_t)grid[0] * grid[1] * grid[2];
**     float *px = malloc(rows * ml_qwen2vl_patch_dim(&cfg) * sizeof *px);
**     ml_qwen2vl_image_preprocess(&img, &cfg, px, grid, &err);
*/
#ifndef ML_IO_QWEN2VL_IMAGE_H
#define ML_IO_QWEN2VL_IMAGE_H

#include <stddef.h>

#include "core/error.h"
#include "io/image.h"
#include "io/qwen2vl_config.h"

/* transformers' smart_resize: *out_h, *out_w multiples of factor. */
int ml_qwen2vl_smart_resize(int height, int width, int factor, long long min_pixels, long long max_pixels, int *out_h,
                            int *out_w, MlError *err);

/* Patches per axis (t, h, w) of a width x height image: t = 1 for a still image. */
int ml_qwen2vl_image_grid(int width, int height, const MlQwen2VLImageConfig *cfg, int grid[3], MlError *err);

/* Values per patch row: 3 * temporal_patch_size * patch_size^2 (1176 for Qwen2-VL). */
size_t ml_qwen2vl_patch_dim(const MlQwen2VLImageConfig *cfg);

/* out holds grid[0]*grid[1]*grid[2] rows of ml_qwen2vl_patch_dim floats;
   grid gets what ml_qwen2vl_image_grid gives. */
int ml_qwen2vl_image_preprocess(const MlImage *img, const MlQwen2VLImageConfig *cfg, float *out, int grid[3],
                                MlError *err);

#endif
