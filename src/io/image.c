/*
** image.c: decoding (PNG with stb_image, JPEG with libjpeg-turbo in
** io/jpeg.c), PNG writing (stb_image_write), Pillow's
** 8-bit bicubic resize and the CLIPImageProcessor pipeline.
**
** The resize follows Pillow 9.4 Resample.c step by step (LLAVA.md §8):
** double-precision kernel weights, 22-bit fixed point, horizontal pass then
** vertical pass, 8-bit rounded intermediate.  Every output pixel depends only
** on its own row/column weights, so computing just a sub-rectangle of the
** output (what the center crop keeps) gives the same bytes as resizing the
** whole image and cropping afterwards.
*/
#include "io/image.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "core/file.h"
#include "core/strbuf.h"
#include "io/jpeg.h"

/* ------------------------------------------------------------------ */
/* Allocation                                                          */

static int side_ok(int side) { return side > 0 && side <= ML_IMAGE_MAX_SIDE; }

int ml_image_alloc(MlImage *img, int width, int height, MlError *err) {
    img->width = img->height = 0;
    img->rgb = NULL;
    if (!side_ok(width) || !side_ok(height))
        return ml_error_set(err, ML_ERR_RANGE, "image size %dx%d outside 1..%d", width, height,
                            ML_IMAGE_MAX_SIDE);
    /* At most 16384^2 * 3 bytes: no overflow in size_t. */
    size_t bytes = (size_t)width * (size_t)height * 3;
    img->rgb = calloc(bytes, 1);
    if (!img->rgb) return ml_error_set(err, ML_ERR_NOMEM, "out of memory for a %dx%d image", width, height);
    img->width = width;
    img->height = height;
    return ML_OK;
}

void ml_image_free(MlImage *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

static int image_valid(const MlImage *img) {
    return img && img->rgb && side_ok(img->width) && side_ok(img->height);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */

/* A failed stb decode: out of memory, or a corrupt file. */
static int stb_decode_error(const char *where, MlError *err) {
    const char *why = stbi_failure_reason();
    int code = why && !strcmp(why, "outofmem") ? ML_ERR_NOMEM : ML_ERR_FORMAT;
    return ml_error_set(err, code, "%s: corrupt or truncated image (stb: %s)", where, why ? why : "unknown");
}

/* PIL opens a 16-bit grey PNG as mode "I" and convert("RGB") clamps each
   value to 0..255 (Convert.c i2rgb); every other 16-bit PNG mode keeps the
   high byte, which is also what stb does.  So only grey needs its own path. */
static int decode_grey16(const uint8_t *data, int len, const char *where, MlImage *img, MlError *err) {
    int w, h, n;
    uint16_t *grey = stbi_load_16_from_memory(data, len, &w, &h, &n, 1);
    if (!grey) return stb_decode_error(where, err);
    int rc = ml_image_alloc(img, w, h, err);
    if (rc == ML_OK) {
        size_t npx = (size_t)w * (size_t)h;
        for (size_t i = 0; i < npx; i++) {
            uint8_t v = grey[i] > 255 ? 255 : (uint8_t)grey[i];
            img->rgb[3 * i] = img->rgb[3 * i + 1] = img->rgb[3 * i + 2] = v;
        }
    } else {
        ml_error_prefix(err, where);
    }
    stbi_image_free(grey);
    return rc;
}

/* Pillow's JPEG signature test (JpegImagePlugin._accept). */
static int is_jpeg(const uint8_t *p, size_t n) { return n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff; }

static int is_png(const uint8_t *p, size_t n) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return n >= 8 && !memcmp(p, png_sig, 8);
}

/* stb 2.27 grows its IDAT buffer to a chunk's declared length before it
   reads the chunk, so a 44-byte file declaring a 1.7 GB IDAT made it
   allocate 2 GB (found by fuzz_image) before failing with "outofdata".
   Such files are refused here instead, before stb runs: every chunk up to
   IEND must fit in the file.  Returns the offset of the first chunk that
   does not fit, or 0. */
static size_t png_chunk_past_end(const uint8_t *p, size_t n) {
    size_t pos = 8;
    while (n - pos >= 8) {
        size_t len = (size_t)p[pos] << 24 | (size_t)p[pos + 1] << 16 | (size_t)p[pos + 2] << 8 | p[pos + 3];
        if (len > n - pos - 8) return pos;
        if (!memcmp(p + pos + 4, "IEND", 4)) return 0;
        pos += 8 + len;
        if (n - pos < 4) return 0; /* a missing CRC is left to the decoder */
        pos += 4;
    }
    return 0;
}

int ml_image_info(const void *data, size_t size, const char *where, int *width, int *height, MlError *err) {
    *width = *height = 0;
    if (!where) where = "image";
    if (size == 0) return ml_error_set(err, ML_ERR_FORMAT, "%s: empty file, not a PNG/JPEG image", where);
    if (size > INT_MAX) return ml_error_set(err, ML_ERR_RANGE, "%s: image file too large (%zu bytes)", where, size);
    const uint8_t *bytes = data;
    if (is_jpeg(bytes, size)) return ml_jpeg_info(data, size, where, width, height, err);
    size_t bad_chunk = is_png(bytes, size) ? png_chunk_past_end(bytes, size) : 0;
    if (bad_chunk)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: truncated PNG: the chunk at byte %zu runs past the end of the file",
                            where, bad_chunk);
    int w, h, comp;
    if (!stbi_info_from_memory(bytes, (int)size, &w, &h, &comp)) {
        if (is_png(bytes, size)) return ml_error_set(err, ML_ERR_FORMAT, "%s: corrupt or unsupported PNG header", where);
        const char *why = stbi_failure_reason();
        return ml_error_set(err, ML_ERR_FORMAT, "%s: not a PNG/JPEG image (stb: %s)", where, why ? why : "unknown");
    }
    if (!side_ok(w) || !side_ok(h))
        return ml_error_set(err, ML_ERR_RANGE, "%s: image is %dx%d, sides must be 1..%d", where, w, h,
                            ML_IMAGE_MAX_SIDE);
    *width = w;
    *height = h;
    return ML_OK;
}

int ml_image_decode(const void *data, size_t size, const char *where, MlImage *img, MlError *err) {
    img->width = img->height = 0;
    img->rgb = NULL;
    if (!where) where = "image";
    /* The header first, so absurd declared sizes are refused before the
       decoder allocates anything. */
    int w, h;
    int rc = ml_image_info(data, size, where, &w, &h, err);
    if (rc) return rc;
    const uint8_t *bytes = data;
    if (is_jpeg(bytes, size)) return ml_jpeg_decode(data, size, where, img, err);
    int len = (int)size, comp;
    if (stbi_is_16_bit_from_memory(bytes, len) && stbi_info_from_memory(bytes, len, &w, &h, &comp) && comp == 1)
        return decode_grey16(bytes, len, where, img, err);

    int dw, dh, dn;
    uint8_t *rgb = stbi_load_from_memory(bytes, len, &dw, &dh, &dn, 3);
    if (!rgb) return stb_decode_error(where, err);
    if (dw != w || dh != h) {
        stbi_image_free(rgb);
        return ml_error_set(err, ML_ERR_FORMAT, "%s: header says %dx%d but the image decodes as %dx%d", where, w, h,
                            dw, dh);
    }
    img->width = w;
    img->height = h;
    img->rgb = rgb; /* stb allocates with malloc: ml_image_free's free() matches */
    return ML_OK;
}

int ml_image_load(const char *path, MlImage *img, MlError *err) {
    char *data;
    size_t size;
    img->width = img->height = 0;
    img->rgb = NULL;
    int rc = ml_file_read(path, &data, &size, err);
    if (rc) return rc;
    rc = ml_image_decode(data, size, path, img, err);
    free(data);
    return rc;
}

/* ------------------------------------------------------------------ */
/* PNG writing                                                         */

/* stb_image_write hands the PNG over in pieces; collect them in memory so the
   file is written atomically with our own error reporting. */
static void png_append(void *ctx, void *data, int size) {
    if (size > 0) ml_strbuf_putn(ctx, data, (size_t)size);
}

int ml_image_write_png(const char *path, const MlImage *img, MlError *err) {
    if (!image_valid(img))
        return ml_error_set(err, ML_ERR_ARG, "%s: cannot write an empty or oversized image (%dx%d)", path,
                            img ? img->width : 0, img ? img->height : 0);
    MlStrBuf b = {0};
    /* stb's encoder is deterministic for fixed settings and we never change
       its globals (compression level, forced filter): equal pixels give
       equal bytes. */
    int ok = stbi_write_png_to_func(png_append, &b, img->width, img->height, 3, img->rgb, img->width * 3);
    if (!ok || b.failed) {
        ml_strbuf_free(&b);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: PNG encoding failed (out of memory)", path);
    }
    int rc = ml_file_write(path, b.data, b.len, err);
    ml_strbuf_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Pillow bicubic and bilinear resize                                 */

#define PRECISION_BITS 22 /* Pillow: 32 - 8 bits of pixel - 2 bits of headroom */

/* Pillow's bicubic_filter with a = -0.5, same operation order. */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Pillow's bilinear_filter (the triangle). */
static double bilinear(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

/* A Pillow resampling filter and its support. */
typedef struct Filter {
    double (*fn)(double);
    double support;
} Filter;

static const Filter FILTER_BICUBIC = {bicubic, 2.0}, FILTER_BILINEAR = {bilinear, 1.0};

/* Fixed-point taps of one axis: output i reads input lo[i] .. lo[i]+n[i]-1
   with weights w[i*ksize ..]. */
typedef struct Axis {
    int ksize;
    int *lo, *n;
    int32_t *w;
} Axis;

static void axis_free(Axis *ax) {
    free(ax->lo);
    free(ax->n);
    free(ax->w);
}

/* Pillow precompute_coeffs + normalize_coeffs_8bpc for the box (0, in_size). */
static int axis_init(Axis *ax, int in_size, int out_size, const Filter *f, MlError *err) {
    memset(ax, 0, sizeof *ax);
    /* Pillow passes the box as float; (float)in_size is exact for our sizes. */
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    ax->ksize = (int)ceil(support) * 2 + 1;
    double *k = malloc((size_t)ax->ksize * sizeof *k);
    ax->lo = malloc((size_t)out_size * sizeof *ax->lo);
    ax->n = malloc((size_t)out_size * sizeof *ax->n);
    ax->w = calloc((size_t)out_size * (size_t)ax->ksize, sizeof *ax->w);
    if (!k || !ax->lo || !ax->n || !ax->w) {
        free(k);
        axis_free(ax);
        return ml_error_set(err, ML_ERR_NOMEM, "out of memory for resize weights (%d -> %d)", in_size, out_size);
    }
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        double ss = 1.0 / filterscale;
        int lo = (int)(center - support + 0.5);
        if (lo < 0) lo = 0;
        int hi = (int)(center + support + 0.5);
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        double ww = 0.0;
        for (int x = 0; x < n; x++) {
            k[x] = f->fn((x + lo - center + 0.5) * ss);
            ww += k[x];
        }
        int32_t *q = ax->w + (size_t)i * ax->ksize;
        for (int x = 0; x < n; x++) {
            double v = ww != 0.0 ? k[x] / ww : k[x];
            q[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS)) : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
        }
        ax->lo[i] = lo;
        ax->n[i] = n;
    }
    free(k);
    return ML_OK;
}

/* Pillow clip8: acc >> 22 clamped to a byte (acc holds the 2^21 rounding bias). */
static uint8_t clip8(int64_t acc) {
    int64_t v = acc >> PRECISION_BITS; /* arithmetic shift on every compiler we build with */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* What a resize reads: an image, or that image pasted centered on a square
   of background colour (expand2square) without building the square, whose
   side can be 16384 for a 16384x1 strip.  Rows with no image in them are all
   the same, so the horizontal pass computes one of them once. */
typedef struct Source {
    const MlImage *img;
    int width, height; /* of the (virtual) source */
    int ox, oy;        /* where img sits in it */
    uint8_t bg[3];     /* background colour */
    uint8_t *bg_row;   /* width*3 bytes of background; NULL when not padded */
    uint8_t *scratch;  /* background with the current image row pasted at ox */
} Source;

static Source source_plain(const MlImage *img) {
    Source s = {img, img->width, img->height, 0, 0, {0, 0, 0}, NULL, NULL};
    return s;
}

static void source_free(Source *s) {
    free(s->bg_row);
    free(s->scratch);
}

static int source_padded(Source *s, const MlImage *img, const uint8_t bg[3], MlError *err) {
    int side = img->width > img->height ? img->width : img->height;
    *s = (Source){img, side, side, (side - img->width) / 2, (side - img->height) / 2, {bg[0], bg[1], bg[2]}, NULL, NULL};
    s->bg_row = malloc((size_t)side * 3);
    s->scratch = malloc((size_t)side * 3);
    if (!s->bg_row || !s->scratch) {
        source_free(s);
        s->bg_row = s->scratch = NULL;
        return ml_error_set(err, ML_ERR_NOMEM, "preprocess: out of memory");
    }
    for (int x = 0; x < side; x++) memcpy(s->bg_row + 3 * x, bg, 3);
    memcpy(s->scratch, s->bg_row, (size_t)side * 3);
    return ML_OK;
}

static int source_is_bg(const Source *s, int y) {
    return s->bg_row && (y < s->oy || y >= s->oy + s->img->height);
}

/* Row y of the source, valid until the next call. */
static const uint8_t *source_row(Source *s, int y) {
    if (!s->bg_row) return s->img->rgb + (size_t)y * s->img->width * 3;
    if (source_is_bg(s, y)) return s->bg_row;
    const uint8_t *row = s->img->rgb + (size_t)(y - s->oy) * s->img->width * 3;
    if (s->img->width == s->width) return row;
    memcpy(s->scratch + (size_t)s->ox * 3, row, (size_t)s->img->width * 3); /* the margins stay background */
    return s->scratch;
}

/* A source padded left and right (a tall image made square) spends most
   horizontal taps on background.  Integer sums are exact and associative, so
   bg * (sum of those weights) equals Pillow's tap-by-tap sum: per kept output
   column, precompute the weight falling on background, then run only the
   taps over the image. */
typedef struct PadTaps {
    int64_t *bg_weight; /* per kept output column */
} PadTaps;

static int pad_taps_init(PadTaps *pt, const Source *s, const Axis *ax, int x0, int cw, MlError *err) {
    pt->bg_weight = NULL;
    if (!s->bg_row || s->img->width == s->width) return ML_OK;
    pt->bg_weight = malloc((size_t)cw * sizeof *pt->bg_weight);
    if (!pt->bg_weight) return ml_error_set(err, ML_ERR_NOMEM, "preprocess: out of memory");
    int a = s->ox, b = s->ox + s->img->width; /* image columns [a, b) */
    for (int x = 0; x < cw; x++) {
        int lo = ax->lo[x0 + x], n = ax->n[x0 + x];
        const int32_t *k = ax->w + (size_t)(x0 + x) * ax->ksize;
        int64_t sum = 0;
        for (int t = 0; t < n; t++)
            if (lo + t < a || lo + t >= b) sum += k[t];
        pt->bg_weight[x] = sum;
    }
    return ML_OK;
}

static void pad_row(uint8_t *out, const Source *s, const uint8_t *img_row, const PadTaps *pt, const Axis *ax, int x0,
                    int cw) {
    int a = s->ox, b = s->ox + s->img->width;
    for (int x = 0; x < cw; x++) {
        int lo = ax->lo[x0 + x], hi = lo + ax->n[x0 + x];
        const int32_t *k = ax->w + (size_t)(x0 + x) * ax->ksize;
        int64_t acc[3];
        for (int c = 0; c < 3; c++) acc[c] = (1 << (PRECISION_BITS - 1)) + (int64_t)s->bg[c] * pt->bg_weight[x];
        for (int j = lo > a ? lo : a; j < (hi < b ? hi : b); j++)
            for (int c = 0; c < 3; c++) acc[c] += (int64_t)img_row[(size_t)(j - a) * 3 + c] * k[j - lo];
        for (int c = 0; c < 3; c++) out[3 * x + c] = clip8(acc[c]);
    }
}

/* Output columns [x0, x0+cw) of source rows [row0, row0+nrows), into dst (cw wide). */
static void resample_horizontal(uint8_t *dst, Source *src, int row0, int nrows, const Axis *ax, int x0, int cw,
                                const PadTaps *pt) {
    size_t nb = (size_t)cw * 3;
    const uint8_t *bg_out = NULL; /* an already computed background row */
    for (int r = 0; r < nrows; r++) {
        uint8_t *out = dst + (size_t)r * nb;
        int bg = source_is_bg(src, row0 + r);
        if (bg && bg_out) {
            memcpy(out, bg_out, nb);
            continue;
        }
        if (!bg && pt->bg_weight) {
            pad_row(out, src, src->img->rgb + (size_t)(row0 + r - src->oy) * src->img->width * 3, pt, ax, x0, cw);
            continue;
        }
        const uint8_t *in = source_row(src, row0 + r);
        for (int x = 0; x < cw; x++) {
            int lo = ax->lo[x0 + x], n = ax->n[x0 + x];
            const int32_t *k = ax->w + (size_t)(x0 + x) * ax->ksize;
            const uint8_t *p = in + (size_t)lo * 3;
            int64_t s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int t = 0; t < n; t++) {
                s0 += (int64_t)p[3 * t] * k[t];
                s1 += (int64_t)p[3 * t + 1] * k[t];
                s2 += (int64_t)p[3 * t + 2] * k[t];
            }
            out[3 * x] = clip8(s0);
            out[3 * x + 1] = clip8(s1);
            out[3 * x + 2] = clip8(s2);
        }
        if (bg) bg_out = out;
    }
}

/* Output rows [y0, y0+ch), cw pixels wide.  Reads the horizontal pass's rows
   (tmp, first row = source row row0) or, when there was none, source columns
   [x0, x0+cw) directly. */
static void resample_vertical(uint8_t *dst, Source *src, const uint8_t *tmp, int row0, int x0, const Axis *ax,
                              int y0, int ch, int cw, int64_t *acc) {
    size_t nb = (size_t)cw * 3;
    for (int y = 0; y < ch; y++) {
        int lo = ax->lo[y0 + y], n = ax->n[y0 + y];
        const int32_t *k = ax->w + (size_t)(y0 + y) * ax->ksize;
        for (size_t b = 0; b < nb; b++) acc[b] = 1 << (PRECISION_BITS - 1);
        for (int t = 0; t < n; t++) {
            const uint8_t *p = tmp ? tmp + (size_t)(lo + t - row0) * nb : source_row(src, lo + t) + (size_t)x0 * 3;
            int64_t kt = k[t];
            for (size_t b = 0; b < nb; b++) acc[b] += p[b] * kt;
        }
        uint8_t *out = dst + (size_t)y * nb;
        for (size_t b = 0; b < nb; b++) out[b] = clip8(acc[b]);
    }
}

/* Resizes src to out_w x out_h as Pillow does, but computes only the output
   rectangle at (x0, y0) of size cw x ch, written to dst (cw*ch*3 bytes). */
static int resize_region(Source *src, int out_w, int out_h, int x0, int y0, int cw, int ch, uint8_t *dst,
                         const Filter *f, MlError *err) {
    int need_h = out_w != src->width, need_v = out_h != src->height;
    size_t row_bytes = (size_t)cw * 3;
    if (!need_h && !need_v) { /* Pillow copies */
        for (int y = 0; y < ch; y++)
            memcpy(dst + (size_t)y * row_bytes, source_row(src, y0 + y) + (size_t)x0 * 3, row_bytes);
        return ML_OK;
    }
    Axis hx = {0}, vy = {0};
    PadTaps pt = {0};
    uint8_t *tmp = NULL;
    int64_t *acc = NULL;
    int rc = ML_OK;
    if (need_h && (rc = axis_init(&hx, src->width, out_w, f, err))) goto done;
    if (need_h && (rc = pad_taps_init(&pt, src, &hx, x0, cw, err))) goto done;
    if (need_v && (rc = axis_init(&vy, src->height, out_h, f, err))) goto done;
    if (!need_v) {
        resample_horizontal(dst, src, y0, ch, &hx, x0, cw, &pt);
        goto done;
    }
    acc = malloc(row_bytes * sizeof *acc);
    if (!acc) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "out of memory resizing to %dx%d", out_w, out_h);
        goto done;
    }
    if (need_h) {
        /* Source rows the kept output rows read (Pillow's ybox_first/last window). */
        int first = vy.lo[y0], last = vy.lo[y0] + vy.n[y0];
        for (int y = y0; y < y0 + ch; y++) {
            if (vy.lo[y] < first) first = vy.lo[y];
            if (vy.lo[y] + vy.n[y] > last) last = vy.lo[y] + vy.n[y];
        }
        tmp = malloc((size_t)(last - first) * row_bytes);
        if (!tmp) {
            rc = ml_error_set(err, ML_ERR_NOMEM, "out of memory resizing to %dx%d", out_w, out_h);
            goto done;
        }
        resample_horizontal(tmp, src, first, last - first, &hx, x0, cw, &pt);
        resample_vertical(dst, src, tmp, first, 0, &vy, y0, ch, cw, acc);
    } else {
        resample_vertical(dst, src, NULL, 0, x0, &vy, y0, ch, cw, acc);
    }
done:
    axis_free(&hx);
    axis_free(&vy);
    free(pt.bg_weight);
    free(tmp);
    free(acc);
    return rc;
}

static int resize(const MlImage *src, int width, int height, MlImage *dst, const Filter *f, MlError *err) {
    dst->width = dst->height = 0;
    dst->rgb = NULL;
    if (!image_valid(src)) return ml_error_set(err, ML_ERR_ARG, "resize: source image is empty or invalid");
    int rc = ml_image_alloc(dst, width, height, err);
    if (rc) return rc;
    Source in = source_plain(src);
    rc = resize_region(&in, width, height, 0, 0, width, height, dst->rgb, f, err);
    if (rc) ml_image_free(dst);
    return rc;
}

int ml_image_resize_bicubic(const MlImage *src, int width, int height, MlImage *dst, MlError *err) {
    return resize(src, width, height, dst, &FILTER_BICUBIC, err);
}

int ml_image_resize_bilinear(const MlImage *src, int width, int height, MlImage *dst, MlError *err) {
    return resize(src, width, height, dst, &FILTER_BILINEAR, err);
}

/* ------------------------------------------------------------------ */
/* CLIPImageProcessor                                                  */

/* Original LLaVA's expand2square pads with tuple(int(x * 255) for x in image_mean). */
static void pad_colour(const float mean[3], uint8_t bg[3]) {
    for (int c = 0; c < 3; c++) {
        double v = (double)mean[c] * 255.0;
        bg[c] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v; /* int() truncates */
    }
}

/* MlImageConfig keeps rescale_factor as float, but HF multiplies by the
   JSON's double (0.00392156862745098 == 1/255) and that difference flips the
   last float bit of about half the byte values.  A float that is the nearest
   float to 1/n is taken to mean the double 1/n; anything else is used as is
   (then results may differ from HF by 1 ulp). */
static double rescale_as_double(float f) {
    if (f > 0 && f <= 1) {
        double n = nearbyint(1.0 / (double)f);
        if (n >= 1 && n <= 65536 && (float)(1.0 / n) == f) return 1.0 / n;
    }
    return f;
}

/* HF's output for each byte value, per channel.  rescale: float64 multiply,
   cast to float32; normalize: float32 subtract and divide (mean and std cast
   to float32, as numpy does for a float32 image). */
void ml_image_value_table(int do_rescale, float rescale_factor, int do_normalize, const float mean[3],
                          const float std[3], float lut[3][256]) {
    double scale = rescale_as_double(rescale_factor);
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            float x = do_rescale ? (float)((double)v * scale) : (float)v;
            if (do_normalize) x = (x - mean[c]) / std[c];
            lut[c][v] = x;
        }
}

/* One axis of HF center_crop: an image of `size` cropped (or zero-padded) to
   `crop`.  Returns the source offset, the destination offset and the kept length. */
static void crop_axis(int size, int crop, int *src_off, int *dst_off, int *len) {
    if (size >= crop) {
        *src_off = (size - crop) / 2;
        *dst_off = 0;
        *len = crop;
    } else { /* HF pads by ceil((crop - size) / 2) in front */
        *src_off = 0;
        *dst_off = (crop - size + 1) / 2;
        *len = size;
    }
}

static int check_config(const MlImageConfig *cfg, MlError *err) {
    if (!side_ok(cfg->crop_height) || !side_ok(cfg->crop_width))
        return ml_error_set(err, ML_ERR_ARG, "preprocess: crop size %dx%d outside 1..%d", cfg->crop_width,
                            cfg->crop_height, ML_IMAGE_MAX_SIDE);
    if (cfg->do_resize && !side_ok(cfg->shortest_edge))
        return ml_error_set(err, ML_ERR_ARG, "preprocess: shortest_edge %d outside 1..%d", cfg->shortest_edge,
                            ML_IMAGE_MAX_SIDE);
    if (cfg->do_resize && cfg->resample != 3)
        return ml_error_set(err, ML_ERR_UNSUPPORTED, "preprocess: resample %d is not supported (only 3, bicubic)",
                            cfg->resample);
    return ML_OK;
}

int ml_image_preprocess(const MlImage *src, const MlImageConfig *cfg, MlAspect aspect, float *out, MlError *err) {
    if (!image_valid(src)) return ml_error_set(err, ML_ERR_ARG, "preprocess: source image is empty or invalid");
    int rc = check_config(cfg, err);
    if (rc) return rc;
    if (aspect != ML_ASPECT_RESIZE && aspect != ML_ASPECT_PAD)
        return ml_error_set(err, ML_ERR_ARG, "preprocess: unknown aspect mode %d", (int)aspect);

    int pad = aspect == ML_ASPECT_PAD && src->width != src->height;
    int side = src->width > src->height ? src->width : src->height;
    int w = pad ? side : src->width, h = pad ? side : src->height;

    /* HF get_resize_output_image_size: short side -> shortest_edge,
       long side -> int(shortest_edge * long / short). */
    int rw = w, rh = h;
    if (cfg->do_resize) {
        int s = cfg->shortest_edge;
        int shrt = w <= h ? w : h, lng = w <= h ? h : w;
        double long_side = (double)s * (double)lng / (double)shrt;
        if (long_side > ML_IMAGE_MAX_SIDE)
            return ml_error_set(err, ML_ERR_RANGE,
                                "preprocess: a %dx%d image resized to shortest edge %d would be %.0f pixels long "
                                "(limit %d)",
                                w, h, s, long_side, ML_IMAGE_MAX_SIDE);
        rw = w <= h ? s : (int)long_side;
        rh = w <= h ? (int)long_side : s;
    }
    int ch = cfg->crop_height, cw = cfg->crop_width;
    if (!cfg->do_center_crop && (rw != cw || rh != ch))
        return ml_error_set(err, ML_ERR_SHAPE,
                            "preprocess: without center crop the image is %dx%d, but the output must be %dx%d", rw,
                            rh, cw, ch);
    int sx, dx, nx, sy, dy, ny;
    crop_axis(rw, cw, &sx, &dx, &nx);
    crop_axis(rh, ch, &sy, &dy, &ny);

    Source in = source_plain(src);
    if (pad) {
        uint8_t bg[3];
        pad_colour(cfg->mean, bg);
        if ((rc = source_padded(&in, src, bg, err))) return rc;
    }
    uint8_t *kept = malloc((size_t)nx * ny * 3);
    if (!kept) rc = ml_error_set(err, ML_ERR_NOMEM, "preprocess: out of memory");
    else rc = resize_region(&in, rw, rh, sx, sy, nx, ny, kept, &FILTER_BICUBIC, err);
    source_free(&in);
    if (rc) {
        free(kept);
        return rc;
    }

    float lut[3][256];
    ml_image_value_table(cfg->do_rescale, cfg->rescale_factor, cfg->do_normalize, cfg->mean, cfg->std, lut);
    size_t plane = (size_t)ch * cw;
    for (int c = 0; c < 3; c++) {
        float *o = out + c * plane;
        for (size_t i = 0; i < plane; i++) o[i] = lut[c][0]; /* HF pads with zero bytes */
        for (int y = 0; y < ny; y++) {
            const uint8_t *p = kept + (size_t)y * nx * 3 + c;
            float *row = o + (size_t)(dy + y) * cw + dx;
            for (int x = 0; x < nx; x++) row[x] = lut[c][p[3 * x]];
        }
    }
    free(kept);
    return ML_OK;
}
