/*
** vcd.h: the pieces of Visual Contrastive Decoding (DAMO-NLP-SG/VCD,
** vcd_utils/vcd_add_noise.py) that tests and other methods use directly.
**
** The contrast image is the normal one after T steps of the forward
** diffusion process, applied to the CLIP-normalised pixel tensor:
**   beta_i  = sigmoid(linspace(-6, 6, 1000))_i * (5e-3 - 1e-5) + 1e-5
**   abar_T  = prod_{i <= T} (1 - beta_i)
**   v'      = sqrt(abar_T) * v + sqrt(1 - abar_T) * eps,   eps ~ N(0, 1)
** T = 500 gives 0.8630 v + 0.5052 eps, T = 999 gives 0.2850 v + 0.9585 eps.
** The schedule is computed as the reference computes it in float32 torch.
** eps comes from mitigate/noise.h (seeded per image), not torch's generator:
** the same distribution, other numbers.
*/
#ifndef ML_MITIGATE_VCD_H
#define ML_MITIGATE_VCD_H

#include <stdint.h>

#define ML_VCD_STEPS 1000

/* sqrt(abar_T) and sqrt(1 - abar_T) for step T in [0, 999]. */
void ml_vcd_noise_coefficients(int step, float *signal, float *noise);

/* dst (n) = signal * clean + noise * eps(seed); dst may alias clean. */
void ml_vcd_noise_pixels(float *dst, const float *clean, int64_t n, int step, uint64_t seed);

#endif
