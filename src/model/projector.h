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
#include "io/checkpoint_config.h"

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

/* ---- training ----
   The forward with a record of what the backward needs (rec NULL: the plain
   forward): the input, linear_1's output before and after the activation. */
typedef struct MlProjectorRecord {
    const float *in; /* (n, Dv), the caller's buffer: must stay unchanged until the backward */
    float *pre, *act; /* (n, Dt) */
    float *dact;      /* (n, Dt) backward scratch */
    int64_t cap;      /* rows the buffers hold */
} MlProjectorRecord;

int ml_projector_record_alloc(MlProjectorRecord *rec, const MlProjector *pj, int64_t rows, MlError *err);
void ml_projector_record_free(MlProjectorRecord *rec);

void ml_projector_forward_rec(const MlProjector *pj, float *out, float *tmp, float *vec, const float *in, int64_t n,
                              MlMatmulScratch *mm, MlProjectorRecord *rec);

/* din (n, Dv) (may be NULL: frozen vision) and grad's tensors (a copy of pj
   pointing at gradient memory; NULL: no weight gradients) += the gradients
   of dout (n, Dt). */
void ml_projector_backward(const MlProjector *pj, const MlProjector *grad, MlProjectorRecord *rec, float *din,
                           const float *dout, int64_t n);

#endif
