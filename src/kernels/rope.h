/*
** rope.h: rotary position embedding in the half-split form HF LLaMA uses.
** inv_freq[j] = theta^(-2j/d) for j < d/2 (d = head_dim); angle = pos * inv_freq[j];
**   out[j]       = x[j] cos - x[j + d/2] sin
**   out[j + d/2] = x[j + d/2] cos + x[j] sin
** Tables are computed once per forward call for its positions and then
** applied to q and k of every layer.
**
**     ml_rope_tables(cos, sin, pos0, rows, head_dim, theta);   // cos, sin [rows, head_dim/2]
**     ml_rope_forward(q, cos, sin, rows, n_heads, head_dim);   // q [rows, n_heads*head_dim], in place
*/
#ifndef ML_KERNELS_ROPE_H
#define ML_KERNELS_ROPE_H

#include <stdint.h>

/* Positions pos0 .. pos0+rows-1. */
void ml_rope_tables(float *cos_out, float *sin_out, int64_t pos0, int64_t rows, int head_dim, float theta);
/* Positions pos[0 .. rows-1], as the model gives them. */
void ml_rope_tables_at(float *cos_out, float *sin_out, const int32_t *pos, int64_t rows, int head_dim, float theta);
/* x [rows, n_heads * head_dim] rotated in place; row stride n_heads*head_dim. */
void ml_rope_forward(float *x, const float *cos_t, const float *sin_t, int64_t rows, int n_heads, int head_dim);
/* Backward (training): turns dx, the gradient at the rotated x, into the
   gradient at x before rotation, in place (the inverse rotation). */
void ml_rope_backward(float *dx, const float *cos_t, const float *sin_t, int64_t rows, int n_heads, int head_dim);

#endif
