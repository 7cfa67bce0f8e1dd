/* sheet.c: contact sheets of scene images (see sheet.h). */
#include "scene/sheet.h"

#include <string.h>

#define GUTTER 2

int ml_scene_contact_sheet(const MlImage *tiles, int n, int cols, int scale, MlImage *out, MlError *err) {
    if (n < 1 || cols < 1 || scale < 1 || scale > 16)
        return ml_error_set(err, ML_ERR_ARG, "contact sheet: need at least one tile, one column and a scale in 1..16");
    int tw = tiles[0].width, th = tiles[0].height;
    for (int i = 1; i < n; i++)
        if (tiles[i].width != tw || tiles[i].height != th)
            return ml_error_set(err, ML_ERR_ARG, "contact sheet: tile %d is %dx%d, tile 0 is %dx%d", i,
                                tiles[i].width, tiles[i].height, tw, th);
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    long long width = (long long)cols * (tw * scale + GUTTER) + GUTTER;
    long long height = (long long)rows * (th * scale + GUTTER) + GUTTER;
    if (width > ML_IMAGE_MAX_SIDE || height > ML_IMAGE_MAX_SIDE)
        return ml_error_set(err, ML_ERR_RANGE, "contact sheet: %lldx%lld px is too large", width, height);
    int rc = ml_image_alloc(out, (int)width, (int)height, err);
    if (rc) return rc;
    memset(out->rgb, 24, (size_t)width * (size_t)height * 3);
    for (int t = 0; t < n; t++) {
        int ox = GUTTER + (t % cols) * (tw * scale + GUTTER), oy = GUTTER + (t / cols) * (th * scale + GUTTER);
        for (int y = 0; y < th * scale; y++)
            for (int x = 0; x < tw * scale; x++)
                memcpy(&out->rgb[((size_t)(oy + y) * (size_t)width + (size_t)(ox + x)) * 3],
                       &tiles[t].rgb[((size_t)(y / scale) * (size_t)tw + (size_t)(x / scale)) * 3], 3);
    }
    return ML_OK;
}
