/* test_qwen2vl_image.c: Qwen2VLImageProcessor for one image against
   tests/reference/qwen2vl_image.py (NumPy + Pillow 9.4, written from
   transformers' image_processing_qwen2_vl.py): the same patches bit for bit
   on images of several aspect ratios, both rescaling branches of
   smart_resize and the refused sizes; plus hand-computed smart_resize values. */
#include "test.h"

#include <stdint.h>

#include "core/error.h"
#include "core/file.h"
#include "io/qwen2vl_image.h"

#define PREPROCESSOR "data/qwen2-vl-2b/preprocessor_config.json"

static MlQwen2VLImageConfig load_config(void) {
    MlQwen2VLImageConfig cfg;
    MlError err = {0};
    char *text = NULL;
    size_t len = 0;
    CHECK_OK(ml_file_read(test_repo_path(PREPROCESSOR), &text, &len, &err), &err);
    CHECK_OK(ml_qwen2vl_image_config_parse(text, len, PREPROCESSOR, &cfg, &err), &err);
    free(text);
    return cfg;
}

/* Worked by hand from the formulas (factor 28, min 3136, max 12845056). */
static void test_smart_resize_by_hand(void) {
    MlError err = {0};
    int h, w;
    /* 480/28 = 17.14 -> 17*28 = 476; 640/28 = 22.86 -> 23*28 = 644. */
    CHECK_OK(ml_qwen2vl_smart_resize(480, 640, 28, 3136, 12845056, &h, &w, &err), &err);
    CHECK(h == 476 && w == 644);
    /* 42/28 = 1.5 rounds half to even: 2 -> 56; 70/28 = 2.5 -> 2 -> 56. */
    CHECK_OK(ml_qwen2vl_smart_resize(42, 70, 28, 28 * 28, 12845056, &h, &w, &err), &err);
    CHECK(h == 56 && w == 56);
    /* 30x30 -> 28x28 = 784 < 3136: beta = sqrt(3136/900) = 1.8667, ceil(56/28) = 2 -> 56. */
    CHECK_OK(ml_qwen2vl_smart_resize(30, 30, 28, 3136, 12845056, &h, &w, &err), &err);
    CHECK(h == 56 && w == 56);
    /* 1000x1000 over 100000: beta = sqrt(10) = 3.1623, floor(316.2/28) = 11 -> 308. */
    CHECK_OK(ml_qwen2vl_smart_resize(1000, 1000, 28, 3136, 100000, &h, &w, &err), &err);
    CHECK(h == 308 && w == 308);
    CHECK(ml_qwen2vl_smart_resize(27, 500, 28, 3136, 12845056, &h, &w, &err) == ML_ERR_RANGE);
    CHECK(strstr(err.msg, "500x27 image is smaller than 28 pixels"));
    CHECK(ml_qwen2vl_smart_resize(28, 5629, 28, 3136, 12845056, &h, &w, &err) == ML_ERR_RANGE);
    CHECK(strstr(err.msg, "aspect ratio above 200"));
}

static void test_config_file(void) {
    MlQwen2VLImageConfig cfg = load_config();
    CHECK(cfg.min_pixels == 3136 && cfg.max_pixels == 12845056);
    CHECK(cfg.patch_size == 14 && cfg.temporal_patch_size == 2 && cfg.merge_size == 2);
    CHECK(cfg.do_resize && cfg.do_rescale && cfg.do_normalize && cfg.do_convert_rgb && cfg.resample == 3);
    CHECK(cfg.rescale_factor == (float)(1.0 / 255.0));
    CHECK(cfg.mean[0] == 0.48145466f && cfg.mean[1] == 0.4578275f && cfg.mean[2] == 0.40821073f);
    CHECK(cfg.std[0] == 0.26862954f && cfg.std[1] == 0.26130258f && cfg.std[2] == 0.27577711f);
    CHECK(ml_qwen2vl_patch_dim(&cfg) == 1176);
}

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
    r->pos += n;
    return r->data + r->pos - n;
}

static int take_i32(Reader *r) {
    const void *p = take(r, 4);
    int32_t v = 0;
    if (p) memcpy(&v, p, 4);
    return v;
}

static void test_against_reference(void) {
    MlQwen2VLImageConfig cfg = load_config();
    const char *dir = test_tmpdir("test_qwen2vl_image");
    char path[1024], script[2048], cmd[8192];
    snprintf(path, sizeof path, "%s/patches.bin", dir);
    snprintf(script, sizeof script, "%s", test_repo_path("tests/reference/qwen2vl_image.py"));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' '%s'", script, path, test_repo_path(PREPROCESSOR));
    if (system(cmd) != 0) {
        fprintf(stderr, "  reference failed: %s\n", cmd);
        CHECK(0);
        return;
    }
    MlError err = {0};
    Reader r = {0};
    CHECK_OK(ml_file_read(path, &r.data, &r.size, &err), &err);
    int n = take_i32(&r), processed = 0, refused = 0;
    for (int k = 0; k < n && !r.bad; k++) {
        int w = take_i32(&r), h = take_i32(&r), mn = take_i32(&r), mx = take_i32(&r), status = take_i32(&r);
        const uint8_t *px = take(&r, (size_t)w * h * 3);
        if (r.bad) break;
        MlImage img = {w, h, (uint8_t *)px};
        cfg.min_pixels = mn;
        cfg.max_pixels = mx;
        int grid[3];
        size_t dim = ml_qwen2vl_patch_dim(&cfg);
        if (status) {
            CHECK(ml_qwen2vl_image_grid(w, h, &cfg, grid, &err) == ML_ERR_RANGE);
            CHECK(ml_qwen2vl_image_preprocess(&img, &cfg, NULL, grid, &err) == ML_ERR_RANGE);
            refused++;
            continue;
        }
        int want[3] = {take_i32(&r), take_i32(&r), take_i32(&r)};
        size_t rows = (size_t)want[0] * want[1] * want[2];
        const float *ref = take(&r, rows * dim * sizeof(float));
        if (r.bad) break;
        float *out = malloc(rows * dim * sizeof *out);
        CHECK_OK(ml_qwen2vl_image_grid(w, h, &cfg, grid, &err), &err);
        CHECK(grid[0] == want[0] && grid[1] == want[1] && grid[2] == want[2]);
        CHECK_OK(ml_qwen2vl_image_preprocess(&img, &cfg, out, grid, &err), &err);
        size_t diff = 0;
        for (size_t i = 0; i < rows * dim; i++) diff += memcmp(&out[i], (const char *)ref + i * 4, 4) != 0;
        if (diff) fprintf(stderr, "  %dx%d: %zu of %zu values differ\n", w, h, diff, rows * dim);
        CHECK(diff == 0);
        free(out);
        processed++;
    }
    CHECK(!r.bad && r.pos == r.size);
    CHECK(processed == 10 && refused == 3);
    free(r.data);
}

int main(void) {
    RUN(test_smart_resize_by_hand);
    RUN(test_config_file);
    RUN(test_against_reference);
    return test_summary("test_qwen2vl_image");
}
