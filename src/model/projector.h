/*
** projector.h: LLaVA's multi-modal projector, linear_2(act(linear_1(x))),
** mapping vision features (n, Dv) to the decoder's embedding space (n, Dt).
** act is projector_hidden_act (exact erf GELU for LLaVA-1.5); the biases are
** present when multimodal_projector_bias (the default).
**
**     MlProjector pj; ml_projector_bind(&pj, ck, &err);
**     ml_projector_forward(&pj, out, tmp, feats, n, &mm);   // out, tmp (n, Dt)
*/
#ifndef ML_MODEL_PROJECTOR_H
#define ML_MODEL_PROJECTOR_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "io/checkpoint.h"
#include "kernels/matmul.h"
#include "model/config.h"

typedef struct MlProjector {
    int64_t in_dim, out_dim;  /* Dv, Dt */
    MlActivation act;
    MlTensor w1, b1;          /* (Dt, Dv), (Dt) or no data */
    MlTensor w2, b2;          /* (Dt, Dt), (Dt) or no data */
} MlProjector;

int ml_projector_bind(MlProjector *pj, const MlCheckpoint *ck, MlError *err);

/* out (n, Dt); tmp (n, Dt) scratch; vec (Dt) scratch for the biases;
   mm reserved for (Dt, Dv) and (Dt, Dt). */
void ml_projector_forward(const MlProjector *pj, float *out, float *tmp, float *vec, const float *in, int64_t n,
                          MlMatmulScratch *mm);

#endif
