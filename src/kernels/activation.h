/*
** activation.h: element-wise activations in float32 (out may equal inp).
**   ML_ACT_SILU        x * sigmoid(x)                    (LLaMA MLP gate)
**   ML_ACT_GELU        0.5 x (1 + erf(x / sqrt 2))       (projector "gelu")
**   ML_ACT_QUICK_GELU  x * sigmoid(1.702 x)              (CLIP)
**   ML_ACT_GELU_TANH   0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
** ml_swiglu_forward is LLaMA's act(gate) * up.  SiLU and quick_gelu run 8 at
** a time with kernels/vexp.h (within a few ulp of ml_activation_scalar, the
** reference); the GELUs use libm's erff/tanhf.
*/
#ifndef ML_KERNELS_ACTIVATION_H
#define ML_KERNELS_ACTIVATION_H

#include <stdint.h>

#include "model/config.h"

float ml_activation_scalar(float x, MlActivation act);
/* out, inp [n] */
void ml_activation_forward(float *out, const float *inp, int64_t n, MlActivation act);
/* out [n] = act(gate [n]) * up [n]; out may alias gate or up. */
void ml_swiglu_forward(float *out, const float *gate, const float *up, int64_t n, MlActivation act);

#endif
