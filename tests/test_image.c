/* test_image.c: decoding, PNG writing, Pillow-exact bicubic resize and the
   CLIPImageProcessor pipeline, checked against tests/reference/pillow_image.py
   (Pillow 9.4 + NumPy, run with /usr/bin/python3), hand-computed values and
   invariants; plus malformed files. */
#include "test.h"

#include <stdint.h>
#include <stdio.h>

#include <jpeglib.h>

#include "core/error.h"
#include "core/file.h"
#include "io/image.h"

#define REFERENCE "/usr/bin/python3 tests/reference/pillow_image.py"
#define LLAVA_PREPROCESSOR "data/llava-1.5-7b-hf/preprocessor_config.json"

static const char *tmpdir;

static int run_reference(const char *args) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, REFERENCE " %s", args);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "  reference failed (%d): %s\n", rc, cmd);
    return rc;
}

/* A bounds-checked reader over a reference output file. */
typedef struct Reader {
    char *data;
    size_t size, pos;
    int bad;
} Reader;

static const void *take(Reader *r, size_t n) {
    if (r->bad || n > r->size - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const void *p = r->data + r->pos;
    r->pos += n;
    return p;
}

static int take_i32(Reader *r) {
    const void *p = take(r, 4);
    int32_t v = 0;
    if (p) memcpy(&v, p, 4);
    return v;
}

static double take_f64(Reader *r) {
    const void *p = take(r, 8);
    double v = 0;
    if (p) memcpy(&v, p, 8);
    return v;
}

/* Reads a reference output into memory and deletes the file (they are tens of MB). */
static int open_reader(Reader *r, const char *name) {
    char path[1024];
    MlError err = {0};
    memset(r, 0, sizeof *r);
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    int rc = ml_file_read(path, &r->data, &r->size, &err);
    if (rc) fprintf(stderr, "  %s\n", err.msg);
    remove(path);
    return rc;
}

/* Wraps bytes (HWC) in an MlImage without copying. */
static MlImage view(int w, int h, const void *rgb) {
    MlImage img = {w, h, (uint8_t *)rgb};
    return img;
}

/* ------------------------------------------------------------------ */

static void test_resize_matches_pillow(void) {
    char args[1024];
    snprintf(args, sizeof args, "resize '%s'", tmpdir);
    CHECK(run_reference(args) == 0);
    Reader r;
    if (open_reader(&r, "resize.bin")) {
        CHECK(0);
        return;
    }
    int n = take_i32(&r), exact = 0;
    CHECK(n >= 200);
    for (int i = 0; i < n && !r.bad; i++) {
        int w = take_i32(&r), h = take_i32(&r), ow = take_i32(&r), oh = take_i32(&r);
        const uint8_t *src = take(&r, (size_t)w * h * 3), *want = take(&r, (size_t)ow * oh * 3);
        if (!src || !want) break;
        MlImage in = view(w, h, src), out;
        MlError err = {0};
        CHECK_OK(ml_image_resize_bicubic(&in, ow, oh, &out, &err), &err);
        if (!out.rgb) continue;
        CHECK(out.width == ow && out.height == oh);
        size_t nb = (size_t)ow * oh * 3, diff = 0;
        for (size_t b = 0; b < nb; b++) diff += out.rgb[b] != want[b];
        if (diff) fprintf(stderr, "  resize %dx%d -> %dx%d: %zu bytes differ from Pillow\n", w, h, ow, oh, diff);
        exact += diff == 0;
        ml_image_free(&out);
    }
    CHECK(!r.bad);
    CHECK(exact == n);
    printf("  resize: %d/%d size pairs byte-exact with Pillow\n", exact, n);
    free(r.data);
}

static void test_resize_invariants(void) {
    /* A constant image stays constant: the fixed-point weights of every output
       pixel sum to 2^22 within rounding, far less than one level. */
    MlImage img, out;
    MlError err = {0};
    CHECK_OK(ml_image_alloc(&img, 19, 7, &err), &err);
    for (size_t i = 0; i < 19 * 7; i++) img.rgb[3 * i] = 200, img.rgb[3 * i + 1] = 3, img.rgb[3 * i + 2] = 255;
    int sizes[][2] = {{1, 1}, {5, 3}, {19, 7}, {40, 2}, {336, 123}};
    for (int s = 0; s < 5; s++) {
        CHECK_OK(ml_image_resize_bicubic(&img, sizes[s][0], sizes[s][1], &out, &err), &err);
        int bad = 0;
        for (int i = 0; i < out.width * out.height; i++)
            bad += out.rgb[3 * i] != 200 || out.rgb[3 * i + 1] != 3 || out.rgb[3 * i + 2] != 255;
        CHECK(bad == 0);
        ml_image_free(&out);
    }
    /* Same size is a copy (Pillow returns im.copy()). */
    for (size_t i = 0; i < 19 * 7 * 3; i++) img.rgb[i] = (uint8_t)(i * 31);
    CHECK_OK(ml_image_resize_bicubic(&img, 19, 7, &out, &err), &err);
    CHECK(out.rgb && !memcmp(out.rgb, img.rgb, 19 * 7 * 3));
    ml_image_free(&out);
    /* Bad sizes fail cleanly and leave dst empty. */
    CHECK(ml_image_resize_bicubic(&img, 0, 5, &out, &err) == ML_ERR_RANGE && out.rgb == NULL);
    CHECK(ml_image_resize_bicubic(&img, 5, ML_IMAGE_MAX_SIDE + 1, &out, &err) == ML_ERR_RANGE);
    MlImage empty = {0};
    CHECK(ml_image_resize_bicubic(&empty, 5, 5, &out, &err) == ML_ERR_ARG);
    ml_image_free(&img);
}

/* ------------------------------------------------------------------ */

static void test_preprocess_matches_hf(void) {
    char args[8192];
    snprintf(args, sizeof args, "preprocess '%s' '%s'", tmpdir, test_repo_path(LLAVA_PREPROCESSOR));
    CHECK(run_reference(args) == 0);
    Reader r;
    if (open_reader(&r, "preprocess.bin")) {
        CHECK(0);
        return;
    }
    int n = take_i32(&r), bit_exact = 0, llava_cases = 0;
    double worst = 0;
    for (int i = 0; i < n && !r.bad; i++) {
        MlImageConfig cfg = {0};
        cfg.do_resize = take_i32(&r);
        cfg.do_center_crop = take_i32(&r);
        cfg.do_rescale = take_i32(&r);
        cfg.do_normalize = take_i32(&r);
        cfg.do_convert_rgb = 1;
        cfg.shortest_edge = take_i32(&r);
        cfg.crop_height = take_i32(&r);
        cfg.crop_width = take_i32(&r);
        cfg.resample = take_i32(&r);
        int pad = take_i32(&r), w = take_i32(&r), h = take_i32(&r);
        /* The config keeps floats, as the checkpoint parser stores them. */
        double rescale = take_f64(&r);
        cfg.rescale_factor = (float)rescale;
        for (int c = 0; c < 3; c++) cfg.mean[c] = (float)take_f64(&r);
        for (int c = 0; c < 3; c++) cfg.std[c] = (float)take_f64(&r);
        size_t nout = (size_t)3 * cfg.crop_height * cfg.crop_width;
        const uint8_t *src = take(&r, (size_t)w * h * 3);
        const float *want = take(&r, nout * sizeof(float));
        if (!src || !want) break;
        float *got = malloc(nout * sizeof *got);
        MlImage in = view(w, h, src);
        MlError err = {0};
        CHECK_OK(ml_image_preprocess(&in, &cfg, pad ? ML_ASPECT_PAD : ML_ASPECT_RESIZE, got, &err), &err);
        double maxd = 0;
        size_t same = 0;
        for (size_t k = 0; k < nout; k++) {
            float wk;
            memcpy(&wk, (const char *)want + k * 4, 4); /* the record is not 4-byte aligned */
            double d = fabs((double)got[k] - wk);
            if (d > maxd) maxd = d;
            same += !memcmp(&got[k], &wk, 4);
        }
        /* Any other factor reaches the config as a float, not HF's double: the
           rescaled value may then be 1 ulp off (below 1e-6), which normalize
           divides by std.  So the bound is 1e-6 before that division. */
        double tol = 1e-6 / fmin(fmin(cfg.std[0], cfg.std[1]), cfg.std[2]);
        if (rescale == 1.0 / 255.0 || !cfg.do_rescale || !cfg.do_normalize) tol = 1e-6;
        if (maxd > tol)
            fprintf(stderr, "  preprocess %dx%d pad=%d crop %dx%d: max |diff| %g\n", w, h, pad, cfg.crop_width,
                    cfg.crop_height, maxd);
        CHECK(maxd <= tol);
        if (maxd > worst) worst = maxd;
        /* With a 1/n rescale factor (every CLIP config) the output is bit-identical to HF. */
        if (rescale == 1.0 / 255.0 || !cfg.do_rescale) {
            CHECK(same == nout);
            bit_exact += same == nout;
        }
        llava_cases += cfg.crop_height == 336;
        free(got);
    }
    CHECK(!r.bad);
    CHECK(llava_cases >= 20);
    printf("  preprocess: %d cases, %d checked bit-exact, max |diff| %g\n", n, bit_exact, worst);
    free(r.data);
}

static MlImageConfig raw_config(int edge, int crop) {
    MlImageConfig cfg = {0};
    cfg.do_resize = cfg.do_center_crop = cfg.do_convert_rgb = 1;
    cfg.shortest_edge = edge;
    cfg.crop_height = cfg.crop_width = crop;
    cfg.resample = 3;
    cfg.rescale_factor = 1.0f / 255;
    cfg.mean[0] = 0.48145466f, cfg.mean[1] = 0.4578275f, cfg.mean[2] = 0.40821073f;
    cfg.std[0] = cfg.std[1] = cfg.std[2] = 1;
    return cfg;
}

static void test_pad_hand_computed(void) {
    /* A 4x2 image padded to 4x4 (no resize needed, no rescale/normalize): rows 0
       and 3 are int(mean*255) = (122, 116, 104); rows 1-2 are the image. */
    uint8_t px[4 * 2 * 3];
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(10 + i);
    MlImage img = view(4, 2, px);
    MlImageConfig cfg = raw_config(4, 4);
    float out[3 * 16];
    MlError err = {0};
    CHECK_OK(ml_image_preprocess(&img, &cfg, ML_ASPECT_PAD, out, &err), &err);
    const float bg[3] = {122, 116, 104};
    for (int c = 0; c < 3; c++)
        for (int x = 0; x < 4; x++) {
            CHECK(out[c * 16 + 0 * 4 + x] == bg[c]);
            CHECK(out[c * 16 + 3 * 4 + x] == bg[c]);
            CHECK(out[c * 16 + 1 * 4 + x] == px[(0 * 4 + x) * 3 + c]);
            CHECK(out[c * 16 + 2 * 4 + x] == px[(1 * 4 + x) * 3 + c]);
        }
    /* Tall image: padded left/right with offset (4-2)//2 = 1 column. */
    MlImage tall = view(2, 4, px);
    CHECK_OK(ml_image_preprocess(&tall, &cfg, ML_ASPECT_PAD, out, &err), &err);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 4; y++) {
            CHECK(out[c * 16 + y * 4 + 0] == bg[c] && out[c * 16 + y * 4 + 3] == bg[c]);
            CHECK(out[c * 16 + y * 4 + 1] == px[(y * 2 + 0) * 3 + c]);
        }
    /* HF center crop of a too-small image pads with zero bytes, ceil((6-4)/2) = 1 in front. */
    MlImageConfig crop = raw_config(4, 6);
    float big[3 * 36];
    uint8_t px4[4 * 4 * 3];
    for (int i = 0; i < 48; i++) px4[i] = (uint8_t)(100 + i);
    MlImage img4 = view(4, 4, px4);
    CHECK_OK(ml_image_preprocess(&img4, &crop, ML_ASPECT_RESIZE, big, &err), &err);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 6; x++) {
            int inside = y >= 1 && y < 5 && x >= 1 && x < 5;
            float want = inside ? px4[((y - 1) * 4 + (x - 1)) * 3 + 2] : 0;
            CHECK(big[2 * 36 + y * 6 + x] == want);
        }
}

static void test_preprocess_rejects(void) {
    uint8_t px[3 * 3 * 3] = {0};
    MlImage img = view(3, 3, px);
    float out[3 * 16];
    MlError err = {0};
    MlImageConfig cfg = raw_config(4, 4);
    cfg.resample = 2;
    CHECK(ml_image_preprocess(&img, &cfg, ML_ASPECT_RESIZE, out, &err) == ML_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "resample 2") != NULL);
    cfg = raw_config(4, 0);
    CHECK(ml_image_preprocess(&img, &cfg, ML_ASPECT_RESIZE, out, &err) == ML_ERR_ARG);
    cfg = raw_config(4, 4);
    cfg.do_center_crop = 0;
    cfg.crop_width = 3;
    CHECK(ml_image_preprocess(&img, &cfg, ML_ASPECT_RESIZE, out, &err) == ML_ERR_SHAPE);
    cfg = raw_config(4, 4);
    CHECK(ml_image_preprocess(&img, &cfg, (MlAspect)7, out, &err) == ML_ERR_ARG);
    /* 1x100 resized to shortest edge 336 would be 33600 long: refused, not allocated. */
    uint8_t strip[100 * 3] = {0};
    MlImage s = view(100, 1, strip);
    cfg = raw_config(336, 4);
    CHECK(ml_image_preprocess(&s, &cfg, ML_ASPECT_RESIZE, out, &err) == ML_ERR_RANGE);
    CHECK(strstr(err.msg, "33600") != NULL);
}

/* ------------------------------------------------------------------ */

static void test_decode_matches_pillow(void) {
    char args[1024], path[1024];
    snprintf(args, sizeof args, "decode '%s'", tmpdir);
    CHECK(run_reference(args) == 0);
    snprintf(path, sizeof path, "%s/decode.txt", tmpdir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char name[256], kind[16];
    int w, h, files = 0, pngs = 0, jpegs = 0;
    while (fscanf(f, "%255s %d %d %15s", name, &w, &h, kind) == 4) {
        MlImage img;
        MlError err = {0};
        snprintf(path, sizeof path, "%s/%s", tmpdir, name);
        CHECK_OK(ml_image_load(path, &img, &err), &err);
        char *want;
        size_t nwant;
        snprintf(path, sizeof path, "%s/%s.rgb", tmpdir, name);
        CHECK_OK(ml_file_read(path, &want, &nwant, &err), &err);
        files++;
        if (img.rgb && want && img.width == w && img.height == h && nwant == (size_t)w * h * 3) {
            int maxd = 0;
            for (size_t b = 0; b < nwant; b++) {
                int d = abs((int)img.rgb[b] - (uint8_t)want[b]);
                maxd = d > maxd ? d : maxd;
            }
            if (maxd) fprintf(stderr, "  %s: differs from Pillow by up to %d\n", name, maxd);
            CHECK(maxd == 0);
            pngs += !strcmp(kind, "png");
            jpegs += !strcmp(kind, "jpeg");
        } else {
            fprintf(stderr, "  %s: size %dx%d, want %dx%d\n", name, img.width, img.height, w, h);
            CHECK(0);
        }
        free(want);
        ml_image_free(&img);
    }
    fclose(f);
    CHECK(pngs >= 15 && jpegs >= 5);
    printf("  decode: %d files (%d PNG, %d JPEG) byte-exact with Pillow\n", files, pngs, jpegs);
}

/* Reads a file and compares it with Pillow's verdict: the same pixels, or
   an error naming the file where Pillow refuses it. */
static int jpeg_case(const char *name, int w, int h, int ok) {
    char path[1024], want_path[1100];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    MlImage img;
    MlError err = {0};
    int rc = ml_image_load(path, &img, &err);
    if (!ok) {
        if (rc == ML_OK) fprintf(stderr, "  %s: Pillow refuses it, we decode it\n", name);
        int named = rc != ML_OK && !strncmp(err.msg, path, strlen(path)) && img.rgb == NULL;
        ml_image_free(&img);
        return named;
    }
    if (rc) {
        fprintf(stderr, "  %s: Pillow decodes it, we say: %s\n", name, err.msg);
        return 0;
    }
    char *want = NULL;
    size_t nwant = 0;
    snprintf(want_path, sizeof want_path, "%s.rgb", path);
    int same = ml_file_read(want_path, &want, &nwant, &err) == ML_OK && img.width == w && img.height == h &&
               nwant == (size_t)w * h * 3 && !memcmp(img.rgb, want, nwant);
    if (!same) fprintf(stderr, "  %s: %dx%d, differs from Pillow's %dx%d\n", name, img.width, img.height, w, h);
    /* The header-only size agrees with the decode. */
    char *data = NULL;
    size_t n = 0;
    int iw = 0, ih = 0;
    if (ml_file_read(path, &data, &n, &err) == ML_OK) ml_image_info(data, n, name, &iw, &ih, &err);
    same = same && iw == w && ih == h;
    free(data);
    free(want);
    ml_image_free(&img);
    return same;
}

/* tests/reference/pillow_image.py jpeg: Pillow- and cjpeg-written JPEGs in
   every chroma layout, progressive, restarts, arithmetic coding, qualities
   10..100, odd sizes, grey, CMYK, EXIF orientation; then cuts and changed
   bytes in the headers and in the entropy-coded data.  Pillow decides which
   decode; those must match byte for byte, the others fail naming the file. */
static void test_jpeg_matches_pillow(void) {
    char args[1024], path[1024];
    snprintf(args, sizeof args, "jpeg '%s'", tmpdir);
    CHECK(run_reference(args) == 0);
    snprintf(path, sizeof path, "%s/jpeg.txt", tmpdir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char name[256], verdict[16];
    int w, h, exact = 0, refused = 0, total = 0;
    while (fscanf(f, "%255s %d %d %15s", name, &w, &h, verdict) == 4) {
        int ok = !strcmp(verdict, "ok"), good = jpeg_case(name, w, h, ok);
        CHECK(good);
        exact += ok && good;
        refused += !ok && good;
        total++;
    }
    fclose(f);
    CHECK(exact >= 40 && refused >= 10);
    printf("  jpeg: %d files, %d byte-exact with Pillow, %d refused as Pillow refuses them\n", total, exact,
           refused);
}

/* Pillow cannot write YCCK (Adobe transform 2) and cjpeg reads no CMYK, so
   the fixture comes from libjpeg's own encoder; Pillow still decides the
   expected pixels (pillow_image.py rgb). */
static int write_ycck(const char *path, int w, int h, int h_samp, int v_samp, unsigned seed) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long nout = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &nout);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, JCS_YCCK); /* writes the Adobe marker with transform 2 */
    jpeg_set_quality(&c, 88, TRUE);
    c.comp_info[0].h_samp_factor = h_samp;
    c.comp_info[0].v_samp_factor = v_samp;
    jpeg_start_compress(&c, TRUE);
    unsigned char *row = malloc((size_t)w * 4);
    for (int y = 0; y < h; y++) {
        for (int i = 0; i < w * 4; i++) {
            seed = seed * 1103515245u + 12345u;
            row[i] = (unsigned char)((i / 4 * 7 + y * 5 + (int)(seed >> 27)) & 255);
        }
        JSAMPROW rows[1] = {row};
        jpeg_write_scanlines(&c, rows, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    MlError err = {0};
    int rc = ml_file_write(path, out, nout, &err);
    free(out);
    return rc;
}

static void test_ycck_matches_pillow(void) {
    static const int cases[][4] = {{40, 24, 1, 1}, {37, 23, 2, 2}, {17, 9, 2, 1}};
    for (int k = 0; k < 3; k++) {
        char path[1024], rgb[1100], args[2400];
        snprintf(path, sizeof path, "%s/ycck%d.jpg", tmpdir, k);
        snprintf(rgb, sizeof rgb, "%s.rgb", path);
        CHECK(write_ycck(path, cases[k][0], cases[k][1], cases[k][2], cases[k][3], 77u + (unsigned)k) == ML_OK);
        snprintf(args, sizeof args, "rgb '%s' '%s'", path, rgb);
        CHECK(run_reference(args) == 0);
        char *want = NULL;
        size_t nwant = 0;
        MlError err = {0};
        MlImage img;
        CHECK_OK(ml_file_read(rgb, &want, &nwant, &err), &err);
        CHECK_OK(ml_image_load(path, &img, &err), &err);
        size_t n = (size_t)cases[k][0] * cases[k][1] * 3;
        int same = want && img.rgb && nwant == 8 + n && img.width == cases[k][0] && !memcmp(want + 8, img.rgb, n);
        if (!same) fprintf(stderr, "  %s: differs from Pillow\n", path);
        CHECK(same);
        free(want);
        ml_image_free(&img);
    }
    printf("  ycck: 3 libjpeg-written YCCK files byte-exact with Pillow\n");
}

static void test_write_png(void) {
    MlImage img;
    MlError err = {0};
    CHECK_OK(ml_image_alloc(&img, 23, 11, &err), &err);
    if (!img.rgb) return;
    for (size_t i = 0; i < 23 * 11 * 3; i++) img.rgb[i] = (uint8_t)(i * 7 + i / 5);
    char a[1024], b[1024], rgb[1024], args[4096];
    snprintf(a, sizeof a, "%s/written_a.png", tmpdir);
    snprintf(b, sizeof b, "%s/written_b.png", tmpdir);
    snprintf(rgb, sizeof rgb, "%s/written_a.rgb", tmpdir);
    CHECK_OK(ml_image_write_png(a, &img, &err), &err);
    CHECK_OK(ml_image_write_png(b, &img, &err), &err);
    /* Deterministic bytes. */
    char *da = NULL, *db = NULL;
    size_t na = 0, nb = 0;
    CHECK_OK(ml_file_read(a, &da, &na, &err), &err);
    CHECK_OK(ml_file_read(b, &db, &nb, &err), &err);
    CHECK(na > 0 && na == nb && da && db && !memcmp(da, db, na));
    free(da);
    free(db);
    /* Pillow reads back exactly our pixels. */
    snprintf(args, sizeof args, "rgb '%s' '%s'", a, rgb);
    CHECK(run_reference(args) == 0);
    char *back = NULL;
    size_t nback = 0;
    CHECK_OK(ml_file_read(rgb, &back, &nback, &err), &err);
    int32_t dims[2] = {0, 0};
    if (back && nback >= 8) memcpy(dims, back, 8);
    CHECK(dims[0] == 23 && dims[1] == 11 && nback == 8 + 23 * 11 * 3 && !memcmp(back + 8, img.rgb, 23 * 11 * 3));
    free(back);
    /* And so do we. */
    MlImage again;
    CHECK_OK(ml_image_load(a, &again, &err), &err);
    CHECK(again.rgb && again.width == 23 && again.height == 11 && !memcmp(again.rgb, img.rgb, 23 * 11 * 3));
    ml_image_free(&again);
    /* Errors name the file. */
    CHECK(ml_image_write_png("/nonexistent-dir/x.png", &img, &err) == ML_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.png") != NULL);
    ml_image_free(&img);
    CHECK(ml_image_alloc(&img, 0, 4, &err) == ML_ERR_RANGE && img.rgb == NULL);
    CHECK(ml_image_alloc(&img, 4, ML_IMAGE_MAX_SIDE + 1, &err) == ML_ERR_RANGE);
    CHECK(ml_image_write_png(a, &img, &err) == ML_ERR_ARG);
}

/* ------------------------------------------------------------------ */

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Signature + IHDR (w, h, 8-bit RGB) + an empty IDAT + IEND: a header that lies. */
static size_t png_header_only(uint8_t *buf, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t n = 0;
    memcpy(buf, sig, 8);
    n = 8;
    put_be32(buf + n, 13);
    memcpy(buf + n + 4, "IHDR", 4);
    put_be32(buf + n + 8, w);
    put_be32(buf + n + 12, h);
    buf[n + 16] = 8, buf[n + 17] = 2, buf[n + 18] = buf[n + 19] = buf[n + 20] = 0;
    put_be32(buf + n + 21, crc32_png(buf + n + 4, 17));
    n += 25;
    static const uint8_t tail[] = {0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e,
                                   0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    memcpy(buf + n, tail, sizeof tail);
    return n + sizeof tail;
}

static void expect_decode_error(const void *data, size_t n, const char *where, int code, const char *text) {
    MlImage img = {1, 1, (uint8_t *)"x"};
    MlError err = {0};
    int rc = ml_image_decode(data, n, where, &img, &err);
    CHECK(rc != ML_OK);
    if (code) CHECK(rc == code);
    CHECK(img.rgb == NULL && img.width == 0);
    CHECK(strncmp(err.msg, where, strlen(where)) == 0);
    if (text && !strstr(err.msg, text)) fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err.msg, text);
    if (text) CHECK(strstr(err.msg, text) != NULL);
}

static void truncations(const char *file, const char *where) {
    char *data;
    size_t n;
    MlError err = {0};
    CHECK_OK(ml_file_read(file, &data, &n, &err), &err);
    if (!data) return;
    /* Every prefix of up to 64 bytes (the headers), then a spread of longer cuts. */
    for (size_t cut = 0; cut < n; cut += cut < 64 ? 1 : 1 + n / 40) {
        MlImage img;
        int rc = ml_image_decode(data, cut, where, &img, &err);
        /* Whatever is accepted must have a size; JPEG cuts are all refused, as
           Pillow refuses them (test_jpeg_matches_pillow checks which). */
        if (rc == ML_OK) CHECK(img.width > 0 && img.rgb != NULL);
        else CHECK(strncmp(err.msg, where, strlen(where)) == 0 && img.rgb == NULL);
        ml_image_free(&img);
    }
    free(data);
}

/* A DHT whose 16 code-length counts add up to more than 256 symbols (stb
   2.27 wrote past its tables on this): refused already by the header read. */
static void bad_huffman_table(const char *file) {
    char *data;
    size_t n;
    MlError err = {0};
    CHECK_OK(ml_file_read(file, &data, &n, &err), &err);
    if (!data) return;
    int w = 0, h = 0;
    CHECK_OK(ml_image_info(data, n, "good.jpg", &w, &h, &err), &err);
    CHECK(w == 160 && h == 120);
    size_t at = 0;
    for (size_t i = 2; i + 21 < n && !at; i++)
        if ((uint8_t)data[i] == 0xff && (uint8_t)data[i + 1] == 0xc4) at = i;
    CHECK(at > 0);
    if (at) {
        data[at + 19] = (char)200; /* counts of 15- and 16-bit codes */
        data[at + 20] = (char)200;
        expect_decode_error(data, n, "dht.jpg", ML_ERR_FORMAT, "Bogus Huffman table");
        CHECK(ml_image_info(data, n, "dht.jpg", &w, &h, &err) == ML_ERR_FORMAT && w == 0);
    }
    free(data);
}

/* A scan that uses Huffman tables the file never defines (stb 2.27 read
   uninitialised tables): libjpeg refuses it, the same way both times.
   Checked twice, under ASan in test-asan. */
static void undefined_huffman_table(const char *file) {
    char *data;
    size_t n;
    MlError err = {0};
    CHECK_OK(ml_file_read(file, &data, &n, &err), &err);
    if (!data) return;
    size_t at = 0;
    for (size_t i = 2; i + 8 < n && !at; i++)
        if ((uint8_t)data[i] == 0xff && (uint8_t)data[i + 1] == 0xda) at = i;
    CHECK(at > 0);
    if (at) {
        data[at + 6] = 0x33; /* first component: DC and AC table 3, never defined */
        MlImage a, b;
        int rc_a = ml_image_decode(data, n, "undefined_table.jpg", &a, &err);
        int rc_b = ml_image_decode(data, n, "undefined_table.jpg", &b, &err);
        CHECK(rc_a == rc_b);
        if (rc_a == ML_OK && rc_b == ML_OK)
            CHECK(a.width == b.width && a.height == b.height &&
                  !memcmp(a.rgb, b.rgb, (size_t)a.width * a.height * 3));
        ml_image_free(&a);
        ml_image_free(&b);
    }
    free(data);
}

static void test_bad_files(void) {
    expect_decode_error("", 0, "empty.png", ML_ERR_FORMAT, "empty file");
    expect_decode_error("GIF89a......", 12, "x.gif", ML_ERR_FORMAT, "not a PNG/JPEG image (stb:");
    uint8_t noise[512];
    for (int i = 0; i < 512; i++) noise[i] = (uint8_t)(i * 97 + 13);
    expect_decode_error(noise, sizeof noise, "noise.bin", ML_ERR_FORMAT, "not a PNG/JPEG image");

    uint8_t buf[128];
    size_t n = png_header_only(buf, ML_IMAGE_MAX_SIDE + 1, 1);
    expect_decode_error(buf, n, "wide.png", ML_ERR_RANGE, "16384");
    n = png_header_only(buf, 0x7fffffffu, 0x7fffffffu); /* past stb's own 2^24 limit */
    expect_decode_error(buf, n, "huge.png", ML_ERR_FORMAT, "corrupt or unsupported PNG header");
    n = png_header_only(buf, 0, 5);
    expect_decode_error(buf, n, "zero.png", ML_ERR_FORMAT, NULL);
    /* An IDAT declaring 1.7 GB in a tiny file: refused before stb allocates for it. */
    n = png_header_only(buf, 9, 5);
    buf[33] = 0x66, buf[34] = 0x6d, buf[35] = 0x65, buf[36] = 0x17;
    expect_decode_error(buf, n, "long_chunk.png", ML_ERR_FORMAT, "chunk at byte 33 runs past the end");
    /* A legal size with no pixel data behind it: fails in the decoder. */
    n = png_header_only(buf, 3000, 2000);
    expect_decode_error(buf, n, "lying.png", ML_ERR_FORMAT, "corrupt or truncated image");

    /* JPEG with SOF0 declaring 60000x60000 and a scan header: refused from the header. */
    static const uint8_t jpeg_huge[] = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xea, 0x60, 0xea, 0x60, 0x03,
                                        0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xda,
                                        0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f,
                                        0x00, 0x00, 0xff, 0xd9};
    expect_decode_error(jpeg_huge, sizeof jpeg_huge, "huge.jpg", ML_ERR_RANGE, "60000x60000");
    int w = 0, h = 0;
    CHECK(ml_image_info(jpeg_huge, sizeof jpeg_huge, "huge.jpg", &w, &h, NULL) == ML_ERR_RANGE && w == 0);
    /* Without a scan (EOI right after the frame header) it is not an image at all. */
    uint8_t noscan[23];
    memcpy(noscan, jpeg_huge, 21);
    noscan[21] = 0xff, noscan[22] = 0xd9;
    expect_decode_error(noscan, sizeof noscan, "noscan.jpg", ML_ERR_FORMAT, "missing SOS marker");

    /* A DHT cut short. */
    static const uint8_t dht_cut[] = {0xff, 0xd8, 0xff, 0xc4, 0x00, 0x20, 0x00, 0xff, 0xff, 0xff};
    expect_decode_error(dht_cut, sizeof dht_cut, "dht_cut.jpg", ML_ERR_FORMAT, "truncated JPEG");
    /* 2 components: Pillow cannot handle them either. */
    static const uint8_t two[] = {0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0e, 0x08, 0x00, 0x08, 0x00, 0x08, 0x02,
                                  0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0xff, 0xda, 0x00, 0x0a, 0x02, 0x01,
                                  0x00, 0x02, 0x00, 0x00, 0x3f, 0x00, 0x00, 0xff, 0xd9};
    expect_decode_error(two, sizeof two, "two.jpg", ML_ERR_UNSUPPORTED, "2 components");

    MlImage img;
    MlError err = {0};
    CHECK(ml_image_load("/nonexistent/cat.png", &img, &err) == ML_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/cat.png") != NULL);

    char path[1024];
    snprintf(path, sizeof path, "%s/q90_420.jpg", tmpdir);
    bad_huffman_table(path);
    undefined_huffman_table(path);
    snprintf(path, sizeof path, "%s/progressive.jpg", tmpdir);
    undefined_huffman_table(path);
    snprintf(path, sizeof path, "%s/rgb8.png", tmpdir);
    truncations(path, "cut.png");
    snprintf(path, sizeof path, "%s/q90_420.jpg", tmpdir);
    truncations(path, "cut.jpg");
    snprintf(path, sizeof path, "%s/progressive.jpg", tmpdir);
    truncations(path, "cut_progressive.jpg");
}

int main(void) {
    tmpdir = test_tmpdir("test_image");
    RUN(test_resize_matches_pillow);
    RUN(test_resize_invariants);
    RUN(test_preprocess_matches_hf);
    RUN(test_pad_hand_computed);
    RUN(test_preprocess_rejects);
    RUN(test_decode_matches_pillow);
    RUN(test_jpeg_matches_pillow);
    RUN(test_ycck_matches_pillow);
    RUN(test_write_png);
    RUN(test_bad_files); /* uses files written by test_decode_matches_pillow */
    return test_summary("test_image");
}
