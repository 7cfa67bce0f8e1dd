/*
** jpeg.c: libjpeg-turbo behind a non-exiting error manager and an in-memory
** source that behaves like Pillow's suspending one at the end of the data.
**
** libjpeg's default error_exit calls exit(); ours records one message and
** longjmps back to decode_run, which is the only function that calls
** setjmp.  Everything it touches after the jump lives behind pointers from
** its caller, so no local of the setjmp frame changes between setjmp and
** longjmp.
*/
#include "io/jpeg.h"

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h> /* jpeglib.h uses FILE */
#include <stdlib.h>

#include <jerror.h>
#include <jpeglib.h>

typedef struct JpegReader {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_source_mgr src;
    jmp_buf escape;
    const char *where;
    MlError *err;
    int code;      /* status to return after the jump */
    int width, height; /* declared size, from the frame header */
    int rows_done; /* every scanline is out: the end of the data is no longer truncation */
    uint8_t *row;  /* one decoded scanline (owned) */
} JpegReader;

static void on_error(j_common_ptr cinfo) {
    JpegReader *r = cinfo->client_data;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    r->code = cinfo->err->msg_code == JERR_OUT_OF_MEMORY ? ML_ERR_NOMEM : ML_ERR_FORMAT;
    ml_error_set(r->err, r->code, "%s: corrupt or unsupported JPEG (libjpeg: %s)", r->where, text);
    longjmp(r->escape, 1);
}

/* Pillow's decoder discards libjpeg's warnings (JpegDecode.c output()). */
static void ignore_message(j_common_ptr cinfo) { (void)cinfo; }

static void source_init(j_decompress_ptr cinfo) { (void)cinfo; }
static void source_term(j_decompress_ptr cinfo) { (void)cinfo; }

/* The whole file is in the buffer from the start, so this runs only when
   libjpeg wants bytes past its end.  Pillow's source suspends there and,
   with no more data, raises "image file is truncated" unless every
   scanline is already out (then only the EOI search in
   jpeg_finish_decompress is left, which Pillow lets pass). */
static boolean source_fill(j_decompress_ptr cinfo) {
    static const JOCTET eoi[2] = {0xff, JPEG_EOI};
    JpegReader *r = cinfo->client_data;
    if (r->rows_done) {
        cinfo->src->next_input_byte = eoi;
        cinfo->src->bytes_in_buffer = 2;
        return TRUE;
    }
    r->code = ML_ERR_FORMAT;
    ml_error_set(r->err, r->code, "%s: truncated JPEG: the data ends before the image does", r->where);
    longjmp(r->escape, 1);
}

static void source_skip(j_decompress_ptr cinfo, long n) {
    struct jpeg_source_mgr *src = cinfo->src;
    if (n <= 0) return;
    while ((size_t)n > src->bytes_in_buffer) {
        n -= (long)src->bytes_in_buffer;
        src->bytes_in_buffer = 0;
        source_fill(cinfo);
    }
    src->next_input_byte += n;
    src->bytes_in_buffer -= (size_t)n;
}

/* Pillow: unpack "CMYK;I" (every channel inverted), then Convert.c
   cmyk2rgb: out = clip(nk - nk * c / 255) with nk = 255 - k, where the
   division is MULDIV255's rounded shift. */
static uint8_t cmyk_channel(int c_inverted, int k_inverted) {
    int c = 255 - c_inverted, nk = k_inverted; /* nk = 255 - (255 - k_inverted) */
    int t = c * nk + 128;
    int v = nk - (((t >> 8) + t) >> 8);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static void convert_row(uint8_t *out, const uint8_t *in, int width, int components) {
    for (int x = 0; x < width; x++, out += 3) {
        if (components == 1) {
            out[0] = out[1] = out[2] = in[x];
        } else if (components == 3) {
            out[0] = in[3 * x], out[1] = in[3 * x + 1], out[2] = in[3 * x + 2];
        } else {
            const uint8_t *p = in + 4 * x;
            for (int c = 0; c < 3; c++) out[c] = cmyk_channel(p[c], p[3]);
        }
    }
}

static int check_header(JpegReader *r) {
    struct jpeg_decompress_struct *c = &r->cinfo;
    int n = c->num_components;
    if (n != 1 && n != 3 && n != 4)
        return ml_error_set(r->err, ML_ERR_UNSUPPORTED, "%s: JPEG with %d components (only 1, 3 or 4, as Pillow)",
                            r->where, n);
    if (c->image_width < 1 || c->image_width > ML_IMAGE_MAX_SIDE || c->image_height < 1 ||
        c->image_height > ML_IMAGE_MAX_SIDE)
        return ml_error_set(r->err, ML_ERR_RANGE, "%s: image is %ux%u, sides must be 1..%d", r->where,
                            (unsigned)c->image_width, (unsigned)c->image_height, ML_IMAGE_MAX_SIDE);
    return ML_OK;
}

/* Reads the header and, when img is not NULL, the pixels. */
static int decode_run(JpegReader *r, const void *data, size_t size, MlImage *img) {
    struct jpeg_decompress_struct *c = &r->cinfo;
    c->err = jpeg_std_error(&r->jerr);
    r->jerr.error_exit = on_error;
    r->jerr.output_message = ignore_message;
    c->client_data = r;
    if (setjmp(r->escape)) {
        jpeg_destroy_decompress(c);
        free(r->row);
        r->row = NULL;
        if (img) ml_image_free(img);
        return r->code;
    }
    jpeg_create_decompress(c);
    r->src.init_source = source_init;
    r->src.fill_input_buffer = source_fill;
    r->src.skip_input_data = source_skip;
    r->src.resync_to_restart = jpeg_resync_to_restart;
    r->src.term_source = source_term;
    r->src.next_input_byte = data;
    r->src.bytes_in_buffer = size;
    c->src = &r->src;
    jpeg_read_header(c, TRUE);
    r->width = (int)c->image_width; /* only kept when check_header accepts it */
    r->height = (int)c->image_height;
    int rc = check_header(r);
    if (rc || !img) {
        jpeg_destroy_decompress(c);
        return rc;
    }
    /* Pillow's rawmode for each layer count; every other setting stays libjpeg's default. */
    c->out_color_space = c->num_components == 1 ? JCS_GRAYSCALE : c->num_components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_start_decompress(c);
    if ((rc = ml_image_alloc(img, (int)c->output_width, (int)c->output_height, r->err))) {
        ml_error_prefix(r->err, r->where);
        jpeg_destroy_decompress(c);
        return rc;
    }
    r->row = malloc((size_t)c->output_width * (size_t)c->output_components);
    if (!r->row) {
        jpeg_destroy_decompress(c);
        ml_image_free(img);
        return ml_error_set(r->err, ML_ERR_NOMEM, "%s: out of memory for a JPEG scanline", r->where);
    }
    while (c->output_scanline < c->output_height) {
        uint8_t *out = img->rgb + (size_t)c->output_scanline * (size_t)img->width * 3;
        JSAMPROW rows[1] = {r->row};
        jpeg_read_scanlines(c, rows, 1);
        convert_row(out, r->row, img->width, c->output_components);
    }
    r->rows_done = 1;
    jpeg_finish_decompress(c);
    jpeg_destroy_decompress(c);
    free(r->row);
    r->row = NULL;
    return ML_OK;
}

int ml_jpeg_info(const void *data, size_t size, const char *where, int *width, int *height, MlError *err) {
    JpegReader r = {.where = where, .err = err};
    *width = *height = 0;
    int rc = decode_run(&r, data, size, NULL);
    if (rc == ML_OK) {
        *width = r.width;
        *height = r.height;
    }
    return rc;
}

int ml_jpeg_decode(const void *data, size_t size, const char *where, MlImage *img, MlError *err) {
    JpegReader r = {.where = where, .err = err};
    img->width = img->height = 0;
    img->rgb = NULL;
    return decode_run(&r, data, size, img);
}
