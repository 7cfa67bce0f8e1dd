/*
** activation.h: element-wise activations in float32 (out may equal inp).
**   ML_ACT_SILU        x * sigmoid(x)                    (LLaMA MLP gate)
**   ML_ACT_GELU        0.5 x (1 + erf(x / sqrt 2))       (projector "gelu")
**   ML_ACT_QUICK_GELU  x * sigmoid(1.702 x)              (CLIP)
**   ML_ACT_GELU_TANH   0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
** ml_swiglu_forward is LLaMA's act(gate) * up.  SiLU and quick_gelu run 8 at
** a time with kernels/vexp.h (within a few ulp of ml_activation_scalar, the
** reference); the GELUs use libm's erff/tanhf.  Each forward has its
** _backward beside it (llm.c style) for training.
*/
#ifndef ML_KERNELS_ACTIVATION_H
#define ML_KERNELS_ACTIVATION_H

#include <stdint.h>

typedef enum MlActivation {
    ML_ACT_SILU = 0,    /* x * sigmoid(x)  (LLaMA "silu") */
    ML_ACT_GELU,        /* exact erf GELU  ("gelu") */
    ML_ACT_QUICK_GELU,  /* x * sigmoid(1.702 x)  (CLIP "quick_gelu") */
    ML_ACT_GELU_TANH,   /* tanh approximation ("gelu_pytorch_tanh", "gelu_new") */
} MlActivation;

float ml_activation_scalar(float x, MlActivation act);
/* out, inp [n] */
void ml_activation_forward(float *out, const float *inp, int64_t n, MlActivation act);
/* out [n] = act(gate [n]) * up [n]; out may alias gate or up. */
void ml_swiglu_forward(float *out, const float *gate, const float *up, int64_t n, MlActivation act);

/* Backwards (training); gradients accumulate (+=).
   act'(x), written from the same formulas as ml_activation_scalar. */
float ml_activation_grad_scalar(float x, MlActivation act);
/* dinp [n] += dout [n] * act'(inp [n]) */
void ml_activation_backward(float *dinp, const float *dout, const float *inp, int64_t n, MlActivation act);
/* dgate [n] += dout * up * act'(gate); dup [n] += dout * act(gate) (the forward's values). */
void ml_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n,
                        MlActivation act);

#endif
