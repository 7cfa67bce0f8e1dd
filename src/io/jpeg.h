/*
** jpeg.h: JPEG decoding with libjpeg-turbo, configured the way Pillow 9.4
** configures it, so the RGB bytes equal Image.open(f).convert("RGB").
** Used by io/image.c, which picks the decoder from the file signature;
** callers outside io/ use ml_image_decode / ml_image_info.
**
** What Pillow does and so do we: libjpeg's defaults (ISLOW integer IDCT,
** fancy upsampling, block smoothing for progressive files, no scaling, no
** draft mode); 1 component decodes to grey and is replicated, 3 to RGB
** (libjpeg picks YCbCr or RGB from the JFIF/Adobe markers), 4 to CMYK,
** which Pillow reads as Adobe-inverted ("CMYK;I") and converts with
** Convert.c cmyk2rgb.  Other component counts are refused, as Pillow
** refuses them.  libjpeg warnings (corrupt entropy data, extraneous bytes)
** are ignored, as Pillow's decoder ignores them; data that ends before the
** last scanline is an error (Pillow: "image file is truncated"), a
** missing EOI after the last scanline is not.  EXIF orientation is ignored.
**
**     MlImage img; MlError err = {0};
**     if (ml_jpeg_decode(bytes, n, "cat.jpg", &img, &err)) puts(err.msg);
*/
#ifndef ML_IO_JPEG_H
#define ML_IO_JPEG_H

#include <stddef.h>

#include "core/error.h"
#include "io/image.h"

/* Header only: the declared size, sides 1..ML_IMAGE_MAX_SIDE, 1/3/4 components. */
int ml_jpeg_info(const void *data, size_t size, const char *where, int *width, int *height, MlError *err);

/* Decodes to 8-bit RGB; on failure img is left empty and err names `where`. */
int ml_jpeg_decode(const void *data, size_t size, const char *where, MlImage *img, MlError *err);

#endif
