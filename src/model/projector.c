/* projector.c: see projector.h. */
#include "model/projector.h"

#include <string.h>

#include "kernels/activation.h"

int ml_projector_bind(MlProjector *pj, const MlCheckpoint *ck, MlError *err) {
    memset(pj, 0, sizeof *pj);
    const MlLlavaConfig *c = ml_checkpoint_config(ck);
    pj->in_dim = c->vision.hidden;
    pj->out_dim = c->text.hidden;
    pj->act = c->projector_act;
    int64_t s1[2] = {pj->out_dim, pj->in_dim}, s2[2] = {pj->out_dim, pj->out_dim}, sb[1] = {pj->out_dim};
    int rc;
    if ((rc = ml_checkpoint_get(ck, "multi_modal_projector.linear_1.weight", 2, s1, &pj->w1, err)) ||
        (rc = ml_checkpoint_get(ck, "multi_modal_projector.linear_2.weight", 2, s2, &pj->w2, err)))
        return rc;
    if (c->projector_bias) {
        if ((rc = ml_checkpoint_get(ck, "multi_modal_projector.linear_1.bias", 1, sb, &pj->b1, err)) ||
            (rc = ml_checkpoint_get(ck, "multi_modal_projector.linear_2.bias", 1, sb, &pj->b2, err)))
            return rc;
    }
    return ML_OK;
}

void ml_projector_forward(const MlProjector *pj, float *out, float *tmp, float *vec, const float *in, int64_t n,
                          MlMatmulScratch *mm) {
    ml_matmul_forward(tmp, in, &pj->w1, ml_tensor_as_f32(&pj->b1, vec), n, pj->in_dim, pj->out_dim, mm);
    ml_activation_forward(tmp, tmp, n * pj->out_dim, pj->act);
    ml_matmul_forward(out, tmp, &pj->w2, ml_tensor_as_f32(&pj->b2, vec), n, pj->out_dim, pj->out_dim, mm);
}
