/* qwen2vl_positions.c: get_rope_index for images, one prompt. */
#include "model/qwen2vl_positions.h"

int ml_qwen2vl_positions(const int32_t *ids, int64_t n, const MlQwen2VLConfig *cfg, const int (*grid)[3], int n_images,
                         int32_t *pos, int64_t *delta, MlError *err) {
    int m = cfg->vision.spatial_merge_size, found = 0;
    for (int64_t i = 0; i + 1 < n; i++) found += ids[i] == cfg->vision_start_id && ids[i + 1] == cfg->image_token_id;
    if (found != n_images)
        return ml_error_set(err, ML_ERR_SHAPE, "qwen2-vl positions: the prompt holds %d images, %d grids given", found,
                            n_images);
    int32_t *t_pos = pos, *h_pos = pos + n, *w_pos = pos + 2 * n;
    int64_t st = 0, next = 0; /* next: the id the following text starts at */
    for (int k = 0; k < n_images; k++) {
        int64_t ed = st;
        while (ed < n && ids[ed] != cfg->image_token_id) ed++;
        int gt = grid[k][0], gh = grid[k][1] / m, gw = grid[k][2] / m;
        int64_t rows = (int64_t)gt * gh * gw;
        if (gt < 1 || gh < 1 || gw < 1 || grid[k][1] % m || grid[k][2] % m)
            return ml_error_set(err, ML_ERR_SHAPE,
                                "qwen2-vl positions: image %d: grid %dx%dx%d is not made of %dx%d blocks", k,
                                grid[k][0], grid[k][1], grid[k][2], m, m);
        int64_t run = 0;
        while (ed + run < n && ids[ed + run] == cfg->image_token_id) run++;
        if (run != rows)
            return ml_error_set(err, ML_ERR_SHAPE,
                                "qwen2-vl positions: image %d has %lld image tokens, its grid needs %lld", k,
                                (long long)run, (long long)rows);
        for (int64_t i = st; i < ed; i++) t_pos[i] = h_pos[i] = w_pos[i] = (int32_t)(next + i - st);
        int64_t base = next + ed - st, max = base;
        for (int64_t r = 0; r < rows; r++) {
            int64_t t = r / ((int64_t)gh * gw), h = r / gw % gh, w = r % gw;
            t_pos[ed + r] = (int32_t)(base + t), h_pos[ed + r] = (int32_t)(base + h),
                       w_pos[ed + r] = (int32_t)(base + w);
            if (base + t > max) max = base + t;
            if (base + h > max) max = base + h;
            if (base + w > max) max = base + w;
        }
        next = max + 1;
        st = ed + rows;
    }
    for (int64_t i = st; i < n; i++) t_pos[i] = h_pos[i] = w_pos[i] = (int32_t)(next + i - st);
    *delta = (st < n ? next + n - st : next) - n;
    return ML_OK;
}
