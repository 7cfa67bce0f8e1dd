/* ritual_image.c: RITUAL's six image transforms as torchvision v2 runs them
   on PIL images (see ritual.h); Pillow 9's C code gives each rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "mitigate/ritual.h"

const char *ml_ritual_kind_name(MlRitualKind kind) {
    static const char *const names[] = {"hflip", "vflip", "rotate", "jitter", "blur", "crop"};
    return (unsigned)kind < ML_RITUAL_KINDS ? names[kind] : "?";
}

static double uniform(MlRng *r, double lo, double hi) { return lo + (hi - lo) * ml_rng_uniform(r); }

/* torchvision RandomResizedCrop.make_params with scale (0.08, 1), ratio (3/4, 4/3). */
static void draw_crop(MlRng *r, int width, int height, MlRitualDraw *d) {
    const double area = (double)width * height, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int t = 0; t < 10; t++) {
        double target = area * uniform(r, 0.08, 1.0), ratio = exp(uniform(r, lr0, lr1));
        int w = (int)nearbyint(sqrt(target * ratio)), h = (int)nearbyint(sqrt(target / ratio)); /* round half even */
        if (0 < w && w <= width && 0 < h && h <= height) {
            d->top = ml_rng_below(r, height - h + 1);
            d->left = ml_rng_below(r, width - w + 1);
            d->height = h, d->width = w;
            return;
        }
    }
    double in_ratio = (double)width / height;
    int w = width, h = height;
    if (in_ratio < 3.0 / 4.0) h = (int)nearbyint(w / (3.0 / 4.0));
    else if (in_ratio > 4.0 / 3.0) w = (int)nearbyint(h * (4.0 / 3.0));
    d->top = (height - h) / 2, d->left = (width - w) / 2, d->height = h, d->width = w;
}

void ml_ritual_draw(uint64_t seed, int width, int height, MlRitualDraw *d) {
    memset(d, 0, sizeof *d);
    MlRng r;
    for (int i = 0; i < 4; i++) r.s[i] = ml_splitmix64(&seed);
    d->kind = (MlRitualKind)ml_rng_below(&r, ML_RITUAL_KINDS);
    switch (d->kind) {
    case ML_RITUAL_ROTATE:
        d->angle = uniform(&r, -180.0, 180.0);
        break;
    case ML_RITUAL_JITTER:
        for (int i = 0; i < 4; i++) d->order[i] = i;
        for (int i = 3; i > 0; i--) { /* Fisher-Yates: a uniform permutation */
            int j = ml_rng_below(&r, i + 1), t = d->order[i];
            d->order[i] = d->order[j], d->order[j] = t;
        }
        d->brightness = uniform(&r, 0, 2), d->contrast = uniform(&r, 0, 2), d->saturation = uniform(&r, 0, 2);
        d->hue = uniform(&r, -0.5, 0.5);
        break;
    case ML_RITUAL_BLUR:
        d->sigma = uniform(&r, 1.5, 2.0);
        break;
    case ML_RITUAL_CROP:
        draw_crop(&r, width, height, d);
        break;
    default:
        break;
    }
}

/* ---- flips and rotation ---- */

static void flip(const MlImage *s, MlImage *d, int horizontal) {
    for (int y = 0; y < s->height; y++)
        for (int x = 0; x < s->width; x++) {
            int sx = horizontal ? s->width - 1 - x : x, sy = horizontal ? y : s->height - 1 - y;
            memcpy(d->rgb + ((size_t)y * d->width + x) * 3, s->rgb + ((size_t)sy * s->width + sx) * 3, 3);
        }
}

/* Python's round(v, 15): correctly rounded to 15 decimals. */
static double round15(double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.15f", v);
    return strtod(buf, NULL);
}

/* Pillow's check_fixed: the corner maps into 16.16 fixed point's range. */
static int fits_fixed(const double a[6], int x, int y) {
    return fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
}

static void put(MlImage *d, const MlImage *s, int x, int y, int xin, int yin) {
    if (xin >= 0 && xin < s->width && yin >= 0 && yin < s->height)
        memcpy(d->rgb + ((size_t)y * d->width + x) * 3, s->rgb + ((size_t)yin * s->width + xin) * 3, 3);
}

/* PIL's Image.rotate(angle, NEAREST, expand=False, fillcolor=black): the affine matrix Image.rotate
   builds in Python, then ImagingTransformAffine's nearest loops: 16.16 fixed point (affine_fixed)
   when every corner fits, else coordinates stepped in double and truncated (-1 below zero). */
static void rotate(const MlImage *s, MlImage *d, double angle) {
    angle = fmod(angle, 360.0);
    if (angle < 0) angle += 360.0; /* Python's % */
    if (angle == 0.0) {
        memcpy(d->rgb, s->rgb, (size_t)s->width * s->height * 3);
        return;
    }
    const int W = s->width, H = s->height;
    const double cx = W / 2.0, cy = H / 2.0, rad = -(angle * (M_PI / 180.0));
    double a[6] = {round15(cos(rad)), round15(sin(rad)), 0.0, round15(-sin(rad)), round15(cos(rad)), 0.0};
    a[2] = a[0] * -cx + a[1] * -cy + a[2];
    a[5] = a[3] * -cx + a[4] * -cy + a[5];
    a[2] += cx;
    a[5] += cy;
    memset(d->rgb, 0, (size_t)W * H * 3);
    if (fits_fixed(a, 0, 0) && fits_fixed(a, W, H) && fits_fixed(a, 0, H) && fits_fixed(a, W, 0)) {
#define FIX(v) ((int)floor((v) * 65536.0 + 0.5))
        int a0 = FIX(a[0]), a1 = FIX(a[1]), a3 = FIX(a[3]), a4 = FIX(a[4]);
        int a2 = FIX(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = FIX(a[5] + a[3] * 0.5 + a[4] * 0.5);
#undef FIX
        for (int y = 0; y < H; y++, a2 += a1, a5 += a4) {
            int xx = a2, yy = a5;
            for (int x = 0; x < W; x++, xx += a0, yy += a3) put(d, s, x, y, xx >> 16, yy >> 16); /* arithmetic shift */
        }
        return;
    }
    double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
    for (int y = 0; y < H; y++, xo += a[1], yo += a[4]) {
        double xx = xo, yy = yo;
        for (int x = 0; x < W; x++, xx += a[0], yy += a[3])
            put(d, s, x, y, xx < 0.0 ? -1 : (int)xx, yy < 0.0 ? -1 : (int)yy);
    }
}

/* ---- colour jitter ---- */

/* Pillow's ImagingBlend(degenerate, image, alpha), alpha passed as a C float. */
static uint8_t blend(uint8_t in1, uint8_t in2, float alpha) {
    float v = (float)in1 + alpha * (float)((int)in2 - (int)in1);
    if (alpha >= 0 && alpha <= 1.0f) return (uint8_t)v;
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

/* Pillow's RGB -> L (ITU-R 601-2 in 16-bit fixed point). */
static uint8_t luma(const uint8_t *p) { return (uint8_t)((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16); }

/* Image.blend(degenerate, img, f) in place; degenerate(p, i) gives the degenerate's channel of pixel i. */
static void enhance(MlImage *img, const uint8_t *degenerate, int grey, double factor) {
    const size_t n = (size_t)img->width * img->height;
    const float alpha = (float)factor;
    if (alpha == 1.0f) return; /* Pillow copies the image */
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            uint8_t deg = grey ? degenerate[i] : degenerate[0];
            img->rgb[i * 3 + c] = alpha == 0.0f ? deg : blend(deg, img->rgb[i * 3 + c], alpha);
        }
}

static int adjust(MlImage *img, int which, const MlRitualDraw *d, MlError *err) {
    const size_t n = (size_t)img->width * img->height;
    if (which == 0) { /* ImageEnhance.Brightness: blend with black */
        uint8_t black = 0;
        enhance(img, &black, 0, d->brightness);
        return ML_OK;
    }
    if (which == 1) { /* ImageEnhance.Contrast: blend with the mean luma, int(mean + 0.5) */
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++) sum += luma(img->rgb + i * 3);
        uint8_t mean = (uint8_t)(int)((double)sum / (double)n + 0.5);
        enhance(img, &mean, 0, d->contrast);
        return ML_OK;
    }
    if (which == 2) { /* ImageEnhance.Color: blend with the image's luma */
        uint8_t *grey = malloc(n);
        if (!grey) return ml_error_set(err, ML_ERR_NOMEM, "ritual: out of memory");
        for (size_t i = 0; i < n; i++) grey[i] = luma(img->rgb + i * 3);
        enhance(img, grey, 1, d->saturation);
        free(grey);
        return ML_OK;
    }
    /* adjust_hue: PIL HSV, the hue byte plus int32(hue * 255) mod 256, back to RGB (Pillow's Convert.c) */
    const uint8_t shift = (uint8_t)(int32_t)(d->hue * 255);
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = img->rgb + i * 3, r = p[0], g = p[1], b = p[2];
        uint8_t maxc = r > g ? (r > b ? r : b) : (g > b ? g : b), minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
        uint8_t uh = 0, us = 0, v = maxc;
        if (minc != maxc) {
            float cr = (float)(maxc - minc), s = cr / (float)maxc;
            float rc = (float)(maxc - r) / cr, gc = (float)(maxc - g) / cr, bc = (float)(maxc - b) / cr, hh;
            if (r == maxc) hh = bc - gc;
            else if (g == maxc) hh = (float)(2.0 + rc - bc);
            else hh = (float)(4.0 + gc - rc);
            hh = (float)fmod(hh / 6.0 + 1.0, 1.0);
            int ih = (int)(hh * 255.0), is = (int)(s * 255.0);
            uh = (uint8_t)(ih < 0 ? 0 : ih > 255 ? 255 : ih);
            us = (uint8_t)(is < 0 ? 0 : is > 255 ? 255 : is);
        }
        uh = (uint8_t)(uh + shift);
        if (us == 0) {
            p[0] = p[1] = p[2] = v;
            continue;
        }
        int k = (int)floor((float)uh * 6.0 / 255.0);
        float f = (float)((float)uh * 6.0 / 255.0 - (float)k), fs = (float)((float)us / 255.0);
        int pp = (int)round((float)v * (1.0 - fs)), q = (int)round((float)v * (1.0 - fs * f)),
            t = (int)round((float)v * (1.0 - fs * (1.0 - f)));
        uint8_t up = (uint8_t)(pp < 0 ? 0 : pp > 255 ? 255 : pp), uq = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q),
                ut = (uint8_t)(t < 0 ? 0 : t > 255 ? 255 : t);
        const uint8_t rgb[6][3] = {{v, ut, up}, {uq, v, up}, {up, v, ut}, {up, uq, v}, {ut, up, v}, {v, up, uq}};
        memcpy(p, rgb[k % 6], 3);
    }
    return ML_OK;
}

/* ---- blur ---- */

/* torchvision v2 gaussian_blur on a uint8 image: float32 kernel, reflect padding, 2-D correlation, round. */
static void blur(const MlImage *s, MlImage *d, double sigma) {
    enum { K = 13, HALF = 6 };
    const double lim = (K - 1) / (2.0 * sqrt(2.0));
    const float start = (float)-lim, end = (float)lim, step = (end - start) / (float)(K - 1);
    float k1[K], k2[K][K], sum = 0, m = -INFINITY;
    for (int i = 0; i < K; i++) { /* torch.linspace in float32, then softmax(-(x / sigma)^2) */
        float x = i < K / 2 ? start + step * (float)i : end - step * (float)(K - 1 - i), z = x / (float)sigma;
        k1[i] = -(z * z);
        m = fmaxf(m, k1[i]);
    }
    for (int i = 0; i < K; i++) sum += (k1[i] = expf(k1[i] - m));
    for (int i = 0; i < K; i++) k1[i] /= sum;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) k2[i][j] = k1[i] * k1[j];
    const int W = s->width, H = s->height;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                float acc = 0;
                for (int i = 0; i < K; i++) {
                    int yy = y + i - HALF;
                    yy = yy < 0 ? -yy : yy >= H ? 2 * H - 2 - yy : yy;
                    for (int j = 0; j < K; j++) {
                        int xx = x + j - HALF;
                        xx = xx < 0 ? -xx : xx >= W ? 2 * W - 2 - xx : xx;
                        acc += k2[i][j] * (float)s->rgb[((size_t)yy * W + xx) * 3 + c];
                    }
                }
                float v = nearbyintf(acc);
                d->rgb[((size_t)y * W + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
}

/* ---- crop ---- */

static int crop_resize(const MlImage *s, const MlRitualDraw *d, MlImage *dst, MlError *err) {
    MlImage box;
    int rc = ml_image_alloc(&box, d->width, d->height, err);
    if (rc) return rc;
    for (int y = 0; y < d->height; y++)
        memcpy(box.rgb + (size_t)y * d->width * 3, s->rgb + ((size_t)(d->top + y) * s->width + d->left) * 3,
               (size_t)d->width * 3);
    rc = ml_image_resize_bilinear(&box, ML_RITUAL_CROP_SIZE, ML_RITUAL_CROP_SIZE, dst, err);
    ml_image_free(&box);
    return rc;
}

int ml_ritual_apply(const MlImage *src, const MlRitualDraw *d, MlImage *dst, MlError *err) {
    dst->rgb = NULL;
    dst->width = dst->height = 0;
    if (d->kind == ML_RITUAL_CROP) {
        if (d->top < 0 || d->left < 0 || d->width < 1 || d->height < 1 || d->top + d->height > src->height ||
            d->left + d->width > src->width)
            return ml_error_set(err, ML_ERR_ARG, "ritual: crop box outside the %dx%d image", src->width, src->height);
        return crop_resize(src, d, dst, err);
    }
    int rc = ml_image_alloc(dst, src->width, src->height, err);
    if (rc) return rc;
    switch (d->kind) {
    case ML_RITUAL_HFLIP:
    case ML_RITUAL_VFLIP:
        flip(src, dst, d->kind == ML_RITUAL_HFLIP);
        break;
    case ML_RITUAL_ROTATE:
        rotate(src, dst, d->angle);
        break;
    case ML_RITUAL_BLUR:
        blur(src, dst, d->sigma);
        break;
    case ML_RITUAL_JITTER:
        memcpy(dst->rgb, src->rgb, (size_t)src->width * src->height * 3);
        for (int i = 0; i < 4 && !rc; i++) rc = adjust(dst, d->order[i], d, err);
        break;
    default:
        rc = ml_error_set(err, ML_ERR_ARG, "ritual: unknown transform %d", (int)d->kind);
    }
    if (rc) ml_image_free(dst);
    return rc;
}
