/*
** shapes.h: the twelve category shapes as exact inside tests.
**
** Each shape fills the square [-1, 1] x [-1, 1] (u to the right, v down)
** and touches all four sides, so an object's size is the side of its
** bounding square and its centre is the centre of that square.  Shapes stay
** upright: orientation is not an attribute.
**
** Anti-aliasing and pixel ownership both come from the same 4 x 4 samples
** per pixel, so the renderer and the layout (visible-pixel counts) agree:
**
**     unsigned m = ml_shape_coverage(cat, cx, cy, half, x, y); // bit j*4+i
**     int n = __builtin_popcount(m);   // 0..16; the pixel "belongs" when n >= 8
*/
#ifndef ML_SCENE_SHAPES_H
#define ML_SCENE_SHAPES_H

#define ML_SHAPE_SAMPLES 16     /* 4 x 4 samples per pixel */
#define ML_SHAPE_OWN_SAMPLES 8 /* a pixel counts as covered from half the samples on */

/* 1 when (u, v) lies in the shape of `category` (0..ML_N_CATEGORIES-1). */
int ml_shape_inside(int category, double u, double v);

/* Which of the 16 samples of pixel (px, py) fall inside the shape centred at
   (cx, cy) with half-side `half` (pixels). Sample (i, j) sits at
   (px + (i + 0.5) / 4, py + (j + 0.5) / 4); its bit is j * 4 + i. */
unsigned ml_shape_coverage(int category, double cx, double cy, double half, int px, int py);

/* 1 when at least ML_SHAPE_OWN_SAMPLES of the 16 samples are inside: the same
   answer as popcount(ml_shape_coverage(...)) >= 8, stopping as soon as it is known. */
int ml_shape_covers(int category, double cx, double cy, double half, int px, int py);

/* The pixels [x0, x1) x [y0, y1) of a size x size image that the shape centred
   at (cx, cy) with half-side `half` can touch (a pixel of margin each side). */
typedef struct MlPixelBox {
    int x0, y0, x1, y1;
} MlPixelBox;
MlPixelBox ml_shape_box(double cx, double cy, double half, int size);

/* Sample offset inside a pixel for index i (0..3). */
static inline double ml_shape_sample_offset(int i) { return (i + 0.5) * 0.25; }

#endif
