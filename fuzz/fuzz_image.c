/* fuzz_image.c: arbitrary bytes through ml_image_info and ml_image_decode
   (PNG: stb_image; JPEG: libjpeg-turbo behind io/jpeg.c's error manager and
   memory source), then the bicubic resize and both preprocessing modes on
   whatever decodes.  Declared sizes above ~1 megapixel are skipped (they are
   legal, just slow and large under ASan); the size checks themselves are
   covered by tests/test_image.c. */
#include <stdint.h>
#include <stdlib.h>

#include "io/image.h"

#define FUZZ_MAX_PIXELS (1 << 20)

static void preprocess(const MlImage *img, int edge, int crop_h, int crop_w) {
    MlImageConfig cfg = {1, 1, 1, 1, 1, edge, crop_h, crop_w, 3, 1.0f / 255, {0.48145466f, 0.4578275f, 0.40821073f},
                         {0.26862954f, 0.26130258f, 0.27577711f}};
    float *out = malloc((size_t)3 * crop_h * crop_w * sizeof *out);
    if (!out) return;
    MlError err = {0};
    for (int aspect = ML_ASPECT_RESIZE; aspect <= ML_ASPECT_PAD; aspect++)
        if (ml_image_preprocess(img, &cfg, (MlAspect)aspect, out, &err) == ML_OK)
            for (int i = 0; i < 3 * crop_h * crop_w; i++)
                if (!(out[i] > -3 && out[i] < 3)) abort(); /* normalized bytes stay in (-1.8, 2.2) */
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int w, h;
    MlError err = {0};
    if (size > (1 << 20)) return 0;
    if (ml_image_info(data, size, "fuzz", &w, &h, &err) == ML_OK && (int64_t)w * h > FUZZ_MAX_PIXELS) return 0;
    MlImage img;
    if (ml_image_decode(data, size, "fuzz", &img, &err) != ML_OK) {
        if (img.rgb || !err.msg[0]) abort(); /* failures leave no image and always say why */
        return 0;
    }
    if (img.width != w || img.height != h) abort();
    /* Target sizes from the image itself: up- and downscaling, thin strips. */
    MlImage out;
    int ow = 1 + (img.width * 3 + data[size - 1]) % 97, oh = 1 + (img.height * 5 + data[0]) % 89;
    if (ml_image_resize_bicubic(&img, ow, oh, &out, &err) == ML_OK) ml_image_free(&out);
    preprocess(&img, 24, 32, 20); /* crop larger than the resized image: HF zero-padding path */
    preprocess(&img, 40, 36, 36);
    ml_image_free(&img);
    return 0;
}
