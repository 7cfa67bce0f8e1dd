/* rope.c: see rope.h.  Follows HF's float32 arithmetic: inv_freq = 1 / theta^(2j/d)
   in float, angle = float(pos) * inv_freq in float, cos/sin of that float. */
#include "kernels/rope.h"

#include <math.h>
#include <stddef.h>

static void table_row(float *cos_out, float *sin_out, float pos, int head_dim, float theta) {
    int half = head_dim / 2;
    for (int j = 0; j < half; j++) {
        float inv_freq = 1.0f / powf(theta, (float)(2 * j) / (float)head_dim);
        float a = pos * inv_freq;
        /* cos/sin of the float angle, correctly rounded through double */
        cos_out[j] = (float)cos((double)a);
        sin_out[j] = (float)sin((double)a);
    }
}

void ml_rope_tables(float *cos_out, float *sin_out, int64_t pos0, int64_t rows, int head_dim, float theta) {
    size_t half = (size_t)(head_dim / 2);
    for (int64_t r = 0; r < rows; r++)
        table_row(cos_out + (size_t)r * half, sin_out + (size_t)r * half, (float)(pos0 + r), head_dim, theta);
}

void ml_rope_tables_at(float *cos_out, float *sin_out, const int32_t *pos, int64_t rows, int head_dim, float theta) {
    size_t half = (size_t)(head_dim / 2);
    for (int64_t r = 0; r < rows; r++)
        table_row(cos_out + (size_t)r * half, sin_out + (size_t)r * half, (float)pos[r], head_dim, theta);
}

/* Rotates every (j, j + d/2) pair of x by the table angle, or by minus it. */
static void rotate(float *x, const float *cos_t, const float *sin_t, int64_t rows, int n_heads, int head_dim,
                   float sign) {
    int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (rows > 16)
    for (int64_t r = 0; r < rows; r++) {
        const float *c = cos_t + (size_t)r * half, *s = sin_t + (size_t)r * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)r * n_heads + h) * head_dim;
            for (int j = 0; j < half; j++) {
                float a = v[j], b = v[j + half], sn = sign * s[j];
                v[j] = a * c[j] - b * sn;
                v[j + half] = b * c[j] + a * sn;
            }
        }
    }
}

void ml_rope_forward(float *x, const float *cos_t, const float *sin_t, int64_t rows, int n_heads, int head_dim) {
    rotate(x, cos_t, sin_t, rows, n_heads, head_dim, 1.0f);
}

/* The rotation is orthogonal: its backward is the inverse rotation. */
void ml_rope_backward(float *dx, const float *cos_t, const float *sin_t, int64_t rows, int n_heads, int head_dim) {
    rotate(dx, cos_t, sin_t, rows, n_heads, head_dim, -1.0f);
}
