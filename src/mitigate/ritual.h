/*
** ritual.h: RITUAL's random image transforms (sangminwoo/RITUAL,
** eval_bench/pope_eval_llava.py), applied to the decoded image before the
** model's image processor, as torchvision.transforms.v2 applies them to a
** PIL image.  One of six, chosen uniformly:
**   hflip, vflip   PIL transpose
**   rotate         RandomRotation(180): angle ~ U(-180, 180), PIL rotate,
**                  NEAREST, same size, black outside
**   jitter         ColorJitter(1, 1, 1, 0.5): brightness, contrast,
**                  saturation ~ U(0, 2), hue ~ U(-0.5, 0.5), applied in a
**                  random order with PIL's ImageEnhance (Image.blend) and
**                  torchvision's PIL adjust_hue (HSV, hue byte shifted mod 256)
**   blur           GaussianBlur(13, sigma ~ U(1.5, 2)): torchvision's float32
**                  kernel softmax(-(x/sigma)^2), x = linspace(-6/sqrt 8, 6/sqrt 8, 13),
**                  2-D, reflect padding, rounded
**   crop           RandomResizedCrop(336): scale U(0.08, 1), log-ratio
**                  U(log 3/4, log 4/3), 10 tries then the central fallback,
**                  PIL crop and BILINEAR resize to 336 x 336
** The draws come from the project's generator (core/rng.h), not torch's or
** Python's: the same distributions, other numbers.
**
**     MlRitualDraw d;
**     ml_ritual_draw(seed, img.width, img.height, &d);
**     MlImage out;
**     if (ml_ritual_apply(&img, &d, &out, &err)) ...
**     ml_image_free(&out);
*/
#ifndef ML_MITIGATE_RITUAL_H
#define ML_MITIGATE_RITUAL_H

#include <stdint.h>

#include "core/error.h"
#include "io/image.h"

typedef enum MlRitualKind {
    ML_RITUAL_HFLIP = 0,
    ML_RITUAL_VFLIP,
    ML_RITUAL_ROTATE,
    ML_RITUAL_JITTER,
    ML_RITUAL_BLUR,
    ML_RITUAL_CROP,
    ML_RITUAL_KINDS
} MlRitualKind;

#define ML_RITUAL_CROP_SIZE 336

/* One transform and its parameters. */
typedef struct MlRitualDraw {
    MlRitualKind kind;
    double angle;                   /* rotate: degrees, counter-clockwise */
    int order[4];                   /* jitter: 0 brightness, 1 contrast, 2 saturation, 3 hue */
    double brightness, contrast, saturation, hue;
    double sigma;                   /* blur */
    int top, left, height, width;   /* crop box */
} MlRitualDraw;

/* The transform and parameters seed gives for an image of that size. */
void ml_ritual_draw(uint64_t seed, int width, int height, MlRitualDraw *d);
/* "hflip", "vflip", "rotate", "jitter", "blur", "crop". */
const char *ml_ritual_kind_name(MlRitualKind kind);

/* dst = the transform of src (a new image; src is left alone). */
int ml_ritual_apply(const MlImage *src, const MlRitualDraw *d, MlImage *dst, MlError *err);

#endif
