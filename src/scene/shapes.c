/* shapes.c: inside tests for the category shapes (see shapes.h for the frame). */
#include "scene/shapes.h"

#include <math.h>

#include "scene/vocab.h"

/* Five-pointed star, point up, inner radius 0.45 of the outer, stretched to
   fill the unit square (its natural box is 1.902 wide by 1.809 high). */
static const double star_vertices[10][2] = {
    {0.000000, -1.000000}, {0.278115, -0.296919}, {1.000000, -0.236068}, {0.450000, 0.259312},
    {0.618034, 1.000000},  {0.000000, 0.603081},  {-0.618034, 1.000000}, {-0.450000, 0.259312},
    {-1.000000, -0.236068}, {-0.278115, -0.296919},
};

/* Even-odd crossing test. */
static int inside_polygon(const double (*vtx)[2], int n, double u, double v) {
    int inside = 0;
    for (int i = 0, j = n - 1; i < n; j = i++) {
        double ui = vtx[i][0], vi = vtx[i][1], uj = vtx[j][0], vj = vtx[j][1];
        if ((vi > v) != (vj > v) && u < (uj - ui) * (v - vi) / (vj - vi) + ui) inside = !inside;
    }
    return inside;
}

int ml_shape_inside(int category, double u, double v) {
    if (u < -1 || u > 1 || v < -1 || v > 1) return 0;
    double au = fabs(u), av = fabs(v);
    switch (category) {
    case 0: /* circle */ return u * u + v * v <= 1;
    case 1: /* square */ return 1;
    case 2: /* triangle, apex up */ return au <= (v + 1) * 0.5;
    case 3: /* star */ return inside_polygon(star_vertices, 10, u, v);
    case 4: { /* heart: (x^2 + y^2 - 1)^3 <= x^2 y^3 with y up; natural box x in [-1.139, 1.139], y in [-1, 1.236] */
        double x = u * 1.139, y = 1.236 - (v + 1) * 1.118;
        double q = x * x + y * y - 1;
        return q * q * q <= x * x * y * y * y;
    }
    case 5: /* cross (plus sign) */ return au <= 0.34 || av <= 0.34;
    case 6: /* diamond */ return au + av <= 1;
    case 7: { /* ring: inner radius 0.55 leaves a hole that is still visible when small */
        double r2 = u * u + v * v;
        return r2 <= 1 && r2 >= 0.3025;
    }
    case 8: { /* moon: unit disc minus a disc of radius 0.85 at (0.45, 0); horns end at x = 0.533 */
        double x = -1 + (u + 1) * 0.766667;
        return x * x + v * v <= 1 && (x - 0.45) * (x - 0.45) + v * v > 0.7225;
    }
    case 9: /* arrow pointing right: shaft then head */
        return u <= 0.1 ? av <= 0.32 : av <= (1 - u) / 0.9;
    case 10: /* house: roof over a narrower body */
        return v <= -0.1 ? au <= (v + 1) / 0.9 : au <= 0.72;
    case 11: /* hourglass: two triangles meeting at a narrow waist */ return au <= 0.12 + 0.88 * av;
    default: return 0;
    }
}

unsigned ml_shape_coverage(int category, double cx, double cy, double half, int px, int py) {
    unsigned mask = 0;
    double inv = 1.0 / half;
    for (int j = 0; j < 4; j++) {
        double v = (py + ml_shape_sample_offset(j) - cy) * inv;
        for (int i = 0; i < 4; i++) {
            double u = (px + ml_shape_sample_offset(i) - cx) * inv;
            if (ml_shape_inside(category, u, v)) mask |= 1u << (j * 4 + i);
        }
    }
    return mask;
}

int ml_shape_covers(int category, double cx, double cy, double half, int px, int py) {
    int in = 0, seen = 0;
    double inv = 1.0 / half;
    for (int j = 0; j < 4; j++) {
        double v = (py + ml_shape_sample_offset(j) - cy) * inv;
        for (int i = 0; i < 4; i++, seen++) {
            if (in >= ML_SHAPE_OWN_SAMPLES) return 1;
            if (in + (ML_SHAPE_SAMPLES - seen) < ML_SHAPE_OWN_SAMPLES) return 0;
            double u = (px + ml_shape_sample_offset(i) - cx) * inv;
            in += ml_shape_inside(category, u, v);
        }
    }
    return in >= ML_SHAPE_OWN_SAMPLES;
}

MlPixelBox ml_shape_box(double cx, double cy, double half, int size) {
    MlPixelBox b = {(int)floor(cx - half) - 1, (int)floor(cy - half) - 1, (int)ceil(cx + half) + 1,
                    (int)ceil(cy + half) + 1};
    if (b.x0 < 0) b.x0 = 0;
    if (b.y0 < 0) b.y0 = 0;
    if (b.x1 > size) b.x1 = size;
    if (b.y1 > size) b.y1 = size;
    return b;
}
