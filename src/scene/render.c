/* render.c: anti-aliased drawing of a scene, background variation, noise and defects. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "scene/rng.h"
#include "scene/scene.h"
#include "scene/shapes.h"

/* Stripe width and checker cell, px at 64 px (scaled with the image). */
#define STRIPE_PX 3.0
#define CHECK_PX 3.0
#define DEFECT_NOISE_LEVELS 24.0

static int pattern_is_dark(int texture, double dx, double dy, double scale) {
    if (texture == ML_TEXTURE_STRIPED) {
        /* diagonal stripes: (dx + dy) / sqrt(2) is the distance across them */
        double across = (dx + dy) * 0.70710678118654752;
        return ((long)floor(across / (STRIPE_PX * scale))) & 1;
    }
    if (texture == ML_TEXTURE_CHECKED) {
        double cell = CHECK_PX * scale;
        return ((long)floor(dx / cell) + (long)floor(dy / cell)) & 1;
    }
    return 0;
}

static void draw_background(const MlWorld *w, MlRng *r, float *px) {
    int n = w->image_size;
    double v = w->background_variation;
    double base = 115 + (2 * ml_rng_uniform(r) - 1) * 40 * v;
    double tint[3], angle = 2 * M_PI * ml_rng_uniform(r), amp = 40 * v;
    for (int c = 0; c < 3; c++) tint[c] = (2 * ml_rng_uniform(r) - 1) * 15 * v;
    double gx = cos(angle) * amp, gy = sin(angle) * amp;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double ramp = gx * ((x + 0.5) / n - 0.5) + gy * ((y + 0.5) / n - 0.5);
            for (int c = 0; c < 3; c++) px[(y * n + x) * 3 + c] = (float)(base + tint[c] + ramp);
        }
}

static void draw_object(const MlWorld *w, const MlSceneObject *o, float *px) {
    int n = w->image_size;
    double scale = n / 64.0;
    const uint8_t *rgb = ml_color_rgb(o->attr[ML_ATTR_COLOR]);
    float light[3] = {rgb[0], rgb[1], rgb[2]};
    const uint8_t *shade = ml_color_pattern_rgb(o->attr[ML_ATTR_COLOR]);
    float dark[3] = {shade[0], shade[1], shade[2]};
    int texture = o->attr[ML_ATTR_TEXTURE];
    MlPixelBox b = ml_shape_box(o->cx, o->cy, o->half, n);
    for (int y = b.y0; y < b.y1; y++)
        for (int x = b.x0; x < b.x1; x++) {
            unsigned mask = ml_shape_coverage(o->category, o->cx, o->cy, o->half, x, y);
            if (!mask) continue;
            float sum[3] = {0, 0, 0};
            int covered = 0;
            for (int j = 0; j < 4; j++)
                for (int i = 0; i < 4; i++) {
                    if (!(mask & (1u << (j * 4 + i)))) continue;
                    covered++;
                    double dx = x + ml_shape_sample_offset(i) - o->cx, dy = y + ml_shape_sample_offset(j) - o->cy;
                    const float *col = pattern_is_dark(texture, dx, dy, scale) ? dark : light;
                    for (int c = 0; c < 3; c++) sum[c] += col[c];
                }
            float *p = &px[(y * n + x) * 3];
            float keep = (float)(ML_SHAPE_SAMPLES - covered) / ML_SHAPE_SAMPLES;
            for (int c = 0; c < 3; c++) p[c] = p[c] * keep + sum[c] / ML_SHAPE_SAMPLES;
        }
}

/* Crop defect: a window of 70-85% of the side, scaled back up (bilinear). */
static void crop_defect(int n, MlRng *r, const float *src, float *dst) {
    double f = 0.70 + 0.15 * ml_rng_uniform(r);
    double ox = ml_rng_uniform(r) * (1 - f) * n, oy = ml_rng_uniform(r) * (1 - f) * n;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            double sx = ox + (x + 0.5) * f - 0.5, sy = oy + (y + 0.5) * f - 0.5;
            if (sx < 0) sx = 0;
            if (sy < 0) sy = 0;
            if (sx > n - 1) sx = n - 1;
            if (sy > n - 1) sy = n - 1;
            int ix = (int)sx, iy = (int)sy;
            int jx = ix + 1 < n ? ix + 1 : ix, jy = iy + 1 < n ? iy + 1 : iy;
            float tx = (float)(sx - ix), ty = (float)(sy - iy);
            for (int c = 0; c < 3; c++) {
                float a = src[(iy * n + ix) * 3 + c], b = src[(iy * n + jx) * 3 + c];
                float d = src[(jy * n + ix) * 3 + c], e = src[(jy * n + jx) * 3 + c];
                dst[(y * n + x) * 3 + c] = (a * (1 - tx) + b * tx) * (1 - ty) + (d * (1 - tx) + e * tx) * ty;
            }
        }
}

/* One [1 2 1]/4 pass along x or along y, the edge pixel standing in for its missing neighbour. */
static void blur_pass(int n, const float *src, float *dst, int along_y) {
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            int at = y * n + x, lo, hi;
            if (along_y) {
                lo = (y > 0 ? y - 1 : y) * n + x;
                hi = (y + 1 < n ? y + 1 : y) * n + x;
            } else {
                lo = y * n + (x > 0 ? x - 1 : x);
                hi = y * n + (x + 1 < n ? x + 1 : x);
            }
            for (int c = 0; c < 3; c++)
                dst[at * 3 + c] = 0.25f * src[lo * 3 + c] + 0.5f * src[at * 3 + c] + 0.25f * src[hi * 3 + c];
        }
}

/* Blur defect: the [1 2 1]/4 kernel twice in each direction (about a Gaussian of sigma 1). */
static void blur_defect(int n, float *px, float *tmp) {
    for (int pass = 0; pass < 2; pass++) {
        blur_pass(n, px, tmp, 0);
        blur_pass(n, tmp, px, 1);
    }
}

int ml_scene_render(const MlWorld *w, const MlScene *s, MlImage *img, MlError *err) {
    int n = w->image_size;
    if (!img->rgb || img->width != n || img->height != n)
        return ml_error_set(err, ML_ERR_ARG, "scene render: image is %dx%d, the world needs %dx%d", img->width,
                            img->height, n, n);
    size_t count = (size_t)n * (size_t)n * 3;
    float *px = malloc(count * sizeof *px), *tmp = malloc(count * sizeof *tmp);
    if (!px || !tmp) {
        free(px);
        free(tmp);
        return ml_error_set(err, ML_ERR_NOMEM, "scene %lld: out of memory while rendering", (long long)s->index);
    }
    MlRng r;
    ml_rng_init(&r, s->seed, (uint64_t)s->split, (uint64_t)s->index, ML_STREAM_RENDER);
    draw_background(w, &r, px);
    for (int k = 0; k < s->n_objects; k++) draw_object(w, &s->obj[k], px);
    if (s->defects & ML_DEFECT_CROP) {
        crop_defect(n, &r, px, tmp);
        memcpy(px, tmp, count * sizeof *px);
    }
    if (s->defects & ML_DEFECT_BLUR) blur_defect(n, px, tmp);
    double amp = w->noise + ((s->defects & ML_DEFECT_NOISE) ? DEFECT_NOISE_LEVELS : 0);
    for (size_t i = 0; i < count; i++) {
        double v = px[i];
        if (amp > 0) v += (2 * ml_rng_uniform(&r) - 1) * amp;
        v = floor(v + 0.5);
        img->rgb[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    free(px);
    free(tmp);
    return ML_OK;
}
