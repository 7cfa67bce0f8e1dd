/*
** image.h: 8-bit RGB images in, normalized float tensors out.
**
** Decoding uses stb_image (PNG, JPEG, BMP, ...) and always yields RGB
** (grey is replicated, alpha is dropped like PIL's convert("RGB")).
** ml_image_preprocess reproduces CLIPImageProcessor as llava-hf runs it:
** Pillow-exact bicubic resize of the shortest edge, center crop, rescale,
** normalize, channel-first float32.
**
**     MlImage img; MlError err = {0};
**     if (ml_image_load("cat.png", &img, &err)) { puts(err.msg); ... }
**     float *px = malloc(3 * cfg.crop_height * cfg.crop_width * sizeof(float));
**     ml_image_preprocess(&img, &cfg, ML_ASPECT_RESIZE, px, &err);
**     ml_image_free(&img);
*/
#ifndef ML_IO_IMAGE_H
#define ML_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/config.h"

/* Largest accepted width or height (decoder input and resize output). */
#define ML_IMAGE_MAX_SIDE 16384

typedef struct MlImage {
    int width, height;
    uint8_t *rgb; /* width*height*3 bytes, row-major, owned (free with ml_image_free) */
} MlImage;

typedef enum MlAspect {
    ML_ASPECT_RESIZE = 0, /* llava-hf: resize shortest edge, center crop */
    ML_ASPECT_PAD = 1,    /* original LLaVA: pad to square with the mean colour first */
} MlAspect;

int ml_image_alloc(MlImage *img, int width, int height, MlError *err);
void ml_image_free(MlImage *img);

int ml_image_load(const char *path, MlImage *img, MlError *err);
/* `where` names the source in error messages. */
int ml_image_decode(const void *data, size_t size, const char *where, MlImage *img, MlError *err);

/* Pillow Image.resize((w, h), BICUBIC) on 8-bit RGB, byte-exact. */
int ml_image_resize_bicubic(const MlImage *src, int width, int height, MlImage *dst, MlError *err);

/* Full CLIPImageProcessor pipeline; out holds 3 * crop_height * crop_width floats (C, H, W). */
int ml_image_preprocess(const MlImage *src, const MlImageConfig *cfg, MlAspect aspect, float *out, MlError *err);

int ml_image_write_png(const char *path, const MlImage *img, MlError *err);

#endif
