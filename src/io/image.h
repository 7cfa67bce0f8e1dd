/*
** image.h: 8-bit RGB images in, normalized float tensors out.
**
** Decoding yields RGB bytes identical to PIL's Image.open(f).convert("RGB")
** (Pillow 9.4), checked byte for byte in tests/test_image.c:
** - PNG (stb_image, io/stb_impl.c): grey is replicated, alpha is dropped
**   without compositing, palettes are expanded, 1/2/4-bit grey is scaled to
**   0..255, Adam7 interlacing is undone.  16-bit RGB, RGBA and grey+alpha
**   keep the high byte of each sample; 16-bit grey is clamped to 0..255 (PIL
**   opens it as mode "I" and convert("RGB") clips).  A chunk that runs past
**   the end of the file is refused before stb allocates for it.
** - JPEG (libjpeg-turbo with Pillow's decoder settings, io/jpeg.h): every
**   chroma layout, progressive, restarts, arithmetic coding; grey is
**   replicated; CMYK and YCCK go through Pillow's inverted-CMYK -> RGB.
**   A file that ends before its last scanline is refused, as Pillow refuses
**   it; corrupt entropy data decodes as libjpeg and Pillow decode it.
** EXIF orientation is not applied (neither does Image.open).  The declared
** size is checked before any pixel is decoded (for JPEG through
** jpeg_read_header): sides must be 1..ML_IMAGE_MAX_SIDE.
**
** The model path (ml_lvlm_load_image: decode, then ml_image_preprocess) is
** what llava-hf's CLIPImageProcessor.preprocess does with do_convert_rgb:
** transformers' image_transforms.convert_to_rgb is image.convert("RGB") for
** any non-RGB PIL image, so alpha (RGBA, LA, P with tRNS) is dropped there
** too, not composited on white; the decoded bytes are already its input.
**
** ml_image_preprocess reproduces CLIPImageProcessor as llava-hf runs it
** (LLAVA.md §3): Pillow-exact bicubic resize of the shortest edge (long side
** int(edge * long / short)), center crop ((h - ch) // 2, (w - cw) // 2; a
** crop larger than the image is zero-padded as HF does), rescale (float64
** multiply, cast to float32), normalize (float32), channel-first float32.
** The output is bit-identical to HF whenever rescale_factor is the float
** nearest to 1/n (1/255 in every CLIP config): MlImageConfig stores it as a
** float and it is widened back to the double 1/n.  Other factors may differ
** by 1 ulp before the division by std.  ML_ASPECT_PAD first applies original
** LLaVA's expand2square with the colour int(mean * 255) = (122, 116, 104).
** Only the cropped part of the resized image is computed (same bytes).
** A resized side above ML_IMAGE_MAX_SIDE is refused (ML_ERR_RANGE); with
** do_center_crop off the resized image must already be the crop size.
**
**     MlImage img; MlError err = {0};
**     if (ml_image_load("cat.png", &img, &err)) { puts(err.msg); ... }
**     float *px = malloc(3 * cfg.crop_height * cfg.crop_width * sizeof(float));
**     ml_image_preprocess(&img, &cfg, ML_ASPECT_RESIZE, px, &err);
**     ml_image_free(&img);
**
** Ownership: an MlImage owns its pixels; free them with ml_image_free (safe
** on a zeroed or already freed image).  Failing calls leave the output image
** empty (rgb NULL).  ml_image_write_png writes deterministic bytes
** atomically (temp file + rename).
*/
#ifndef ML_IO_IMAGE_H
#define ML_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* preprocessor_config.json (CLIPImageProcessor) */
typedef struct MlImageConfig {
    int do_resize, do_center_crop, do_rescale, do_normalize, do_convert_rgb;
    int shortest_edge;         /* size.shortest_edge */
    int crop_height, crop_width;
    int resample;              /* PIL code; 3 = bicubic is the only one supported */
    float rescale_factor;      /* 1/255 */
    float mean[3], std[3];
} MlImageConfig;

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

/* Reads only the header: the declared size, after the same checks decoding
   makes (format, sides 1..ML_IMAGE_MAX_SIDE, sane JPEG tables). */
int ml_image_info(const void *data, size_t size, const char *where, int *width, int *height, MlError *err);

int ml_image_load(const char *path, MlImage *img, MlError *err);
/* `where` names the source in error messages. */
int ml_image_decode(const void *data, size_t size, const char *where, MlImage *img, MlError *err);

/* Pillow Image.resize((w, h), BICUBIC) on 8-bit RGB, byte-exact. */
int ml_image_resize_bicubic(const MlImage *src, int width, int height, MlImage *dst, MlError *err);
/* Pillow Image.resize((w, h), BILINEAR) on 8-bit RGB, byte-exact (the same resampler, triangle filter). */
int ml_image_resize_bilinear(const MlImage *src, int width, int height, MlImage *dst, MlError *err);

/* Full CLIPImageProcessor pipeline; out holds 3 * crop_height * crop_width floats (C, H, W). */
int ml_image_preprocess(const MlImage *src, const MlImageConfig *cfg, MlAspect aspect, float *out, MlError *err);

/* The float HF's rescale + normalize give each byte value, per channel
   (rescale: float64 multiply, cast to float32; normalize: float32 subtract
   and divide).  Shared by every image processor built on these steps. */
void ml_image_value_table(int do_rescale, float rescale_factor, int do_normalize, const float mean[3],
                          const float std[3], float lut[3][256]);

int ml_image_write_png(const char *path, const MlImage *img, MlError *err);

#endif
