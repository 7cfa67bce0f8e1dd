/*
** patch.h: CLIP's patch embedding, a conv with stride = kernel = patch,
** computed as unfold + linear: each patch becomes one row in the conv
** weight's order (channel, ky, kx), and the [D, 3, p, p] weight is used as
** the [D, 3*p*p] matrix of kernels/matmul.h (no bias in CLIP).
**
**     ml_patch_unfold(patches, pixels, 336, 14);                 // [576, 588]
**     ml_matmul_forward(x, patches, &w, NULL, 576, 588, D, &mm);
**     ...training:
**     ml_patch_embed_backward(dw, dx, patches, 576, 588, D);     // dw += dx^T patches
*/
#ifndef ML_KERNELS_PATCH_H
#define ML_KERNELS_PATCH_H

#include <stdint.h>

/* out [(S/p)^2, 3*p*p] from pixels [3, S, S] (channel-major, as the processor writes them). */
void ml_patch_unfold(float *out, const float *pixels, int image_size, int patch);

/* Backward of the linear part: dweight [dim, patch_dim] += dout [n_patches,
   dim]^T patches [n_patches, patch_dim].  The pixels are data: no gradient. */
void ml_patch_embed_backward(float *dweight, const float *dout, const float *patches, int64_t n_patches,
                             int64_t patch_dim, int64_t dim);

#endif
