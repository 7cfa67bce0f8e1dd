/* patch.c: patch unfolding and the patch embedding's backward (see patch.h). */
#include "kernels/patch.h"

#include <stddef.h>
#include <string.h>

#include "kernels/matmul.h"

void ml_patch_unfold(float *out, const float *pixels, int image_size, int patch) {
    const int grid = image_size / patch;
    const int64_t P = 3 * (int64_t)patch * patch;
    for (int gy = 0; gy < grid; gy++)
        for (int gx = 0; gx < grid; gx++) {
            float *row = out + ((size_t)gy * grid + gx) * P;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < patch; ky++) {
                    const float *src = pixels + ((size_t)c * image_size + (size_t)gy * patch + ky) * image_size +
                                       (size_t)gx * patch;
                    memcpy(row + ((size_t)c * patch + ky) * patch, src, sizeof(float) * patch);
                }
        }
}

void ml_patch_embed_backward(float *dweight, const float *dout, const float *patches, int64_t n_patches,
                             int64_t patch_dim, int64_t dim) {
    ml_matmul_backward(NULL, dweight, NULL, dout, patches, NULL, n_patches, patch_dim, dim);
}
