/* qwen2vl_image.c: smart_resize, resize + rescale + normalize, and the
   patch layout of Qwen2VLImageProcessor._preprocess for one image. */
#include "io/qwen2vl_image.h"

#include <math.h>
#include <stdlib.h>

int ml_qwen2vl_smart_resize(int height, int width, int factor, long long min_pixels, long long max_pixels, int *out_h,
                            int *out_w, MlError *err) {
    if (factor < 1) return ml_error_set(err, ML_ERR_ARG, "smart_resize: factor %d must be positive", factor);
    if (height < factor || width < factor)
        return ml_error_set(err, ML_ERR_RANGE, "smart_resize: a %dx%d image is smaller than %d pixels on a side", width,
                            height, factor);
    int lo = height < width ? height : width, hi = height < width ? width : height;
    if ((double)hi / lo > 200)
        return ml_error_set(err, ML_ERR_RANGE, "smart_resize: a %dx%d image has an aspect ratio above 200", width,
                            height);
    /* Python float arithmetic, operation for operation; nearbyint rounds half to even like round(). */
    double f = factor;
    double h_bar = nearbyint(height / f) * f, w_bar = nearbyint(width / f) * f;
    double area = (double)height * width;
    if (h_bar * w_bar > (double)max_pixels) {
        double beta = sqrt(area / (double)max_pixels);
        h_bar = fmax(f, floor(height / beta / f) * f);
        w_bar = fmax(f, floor(width / beta / f) * f);
    } else if (h_bar * w_bar < (double)min_pixels) {
        double beta = sqrt((double)min_pixels / area);
        h_bar = ceil(height * beta / f) * f;
        w_bar = ceil(width * beta / f) * f;
    }
    if (h_bar > ML_IMAGE_MAX_SIDE || w_bar > ML_IMAGE_MAX_SIDE)
        return ml_error_set(err, ML_ERR_RANGE, "smart_resize: a %dx%d image would be resized to %.0fx%.0f (limit %d)",
                            width, height, w_bar, h_bar, ML_IMAGE_MAX_SIDE);
    *out_h = (int)h_bar;
    *out_w = (int)w_bar;
    return ML_OK;
}

static int check_config(const MlQwen2VLImageConfig *cfg, MlError *err) {
    if (cfg->patch_size < 1 || cfg->merge_size < 1 || cfg->temporal_patch_size < 1 || cfg->patch_size > 1024 ||
        cfg->merge_size > 64 || cfg->temporal_patch_size > 64)
        return ml_error_set(err, ML_ERR_ARG,
                            "qwen2-vl preprocess: patch_size %d, merge_size %d, temporal_patch_size %d",
                            cfg->patch_size, cfg->merge_size, cfg->temporal_patch_size);
    if (cfg->do_resize && cfg->resample != 3)
        return ml_error_set(err, ML_ERR_UNSUPPORTED,
                            "qwen2-vl preprocess: resample %d is not supported (only 3, bicubic)", cfg->resample);
    return ML_OK;
}

int ml_qwen2vl_image_grid(int width, int height, const MlQwen2VLImageConfig *cfg, int grid[3], MlError *err) {
    int rc = check_config(cfg, err);
    if (rc) return rc;
    int factor = cfg->patch_size * cfg->merge_size, h = height, w = width;
    if (cfg->do_resize &&
        (rc = ml_qwen2vl_smart_resize(height, width, factor, cfg->min_pixels, cfg->max_pixels, &h, &w, err)))
        return rc;
    /* Without resizing the sides must already be whole merge blocks: HF's reshape would fail. */
    if (h % factor || w % factor)
        return ml_error_set(err, ML_ERR_SHAPE, "qwen2-vl preprocess: a %dx%d image is not made of %d-pixel blocks", w,
                            h, factor);
    grid[0] = 1;
    grid[1] = h / cfg->patch_size;
    grid[2] = w / cfg->patch_size;
    return ML_OK;
}

size_t ml_qwen2vl_patch_dim(const MlQwen2VLImageConfig *cfg) {
    return (size_t)3 * cfg->temporal_patch_size * cfg->patch_size * cfg->patch_size;
}

int ml_qwen2vl_image_preprocess(const MlImage *img, const MlQwen2VLImageConfig *cfg, float *out, int grid[3],
                                MlError *err) {
    if (!img || !img->rgb || img->width < 1 || img->height < 1)
        return ml_error_set(err, ML_ERR_ARG, "qwen2-vl preprocess: source image is empty");
    int rc = ml_qwen2vl_image_grid(img->width, img->height, cfg, grid, err);
    if (rc) return rc;
    int ps = cfg->patch_size, m = cfg->merge_size, tps = cfg->temporal_patch_size;
    int h = grid[1] * ps, w = grid[2] * ps;
    MlImage resized = {0};
    const MlImage *src = img;
    if (h != img->height || w != img->width) {
        if ((rc = ml_image_resize_bicubic(img, w, h, &resized, err))) return rc;
        src = &resized;
    }
    float lut[3][256];
    ml_image_value_table(cfg->do_rescale, cfg->rescale_factor, cfg->do_normalize, cfg->mean, cfg->std, lut);
    /* HF: reshape (t, tps, C, gh/m, m, ps, gw/m, m, ps), transpose (0,3,6,4,7,2,1,5,8). */
    size_t dim = ml_qwen2vl_patch_dim(cfg);
    int bh = grid[1] / m, bw = grid[2] / m;
    float *row = out;
    for (int by = 0; by < bh; by++)
        for (int bx = 0; bx < bw; bx++)
            for (int my = 0; my < m; my++)
                for (int mx = 0; mx < m; mx++, row += dim) {
                    int y0 = (by * m + my) * ps, x0 = (bx * m + mx) * ps;
                    float *o = row;
                    for (int c = 0; c < 3; c++)
                        for (int t = 0; t < tps; t++) /* the still image is every frame */
                            for (int py = 0; py < ps; py++) {
                                const uint8_t *p = src->rgb + ((size_t)(y0 + py) * src->width + x0) * 3 + c;
                                for (int px = 0; px < ps; px++) *o++ = lut[c][p[3 * px]];
                            }
                }
    ml_image_free(&resized);
    return ML_OK;
}
