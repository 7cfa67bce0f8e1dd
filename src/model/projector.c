/* projector.c: see projector.h. */
#include "model/projector.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/activation.h"
#include "model/backprop.h"

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
    ml_projector_forward_rec(pj, out, tmp, vec, in, n, mm, NULL);
}

void ml_projector_forward_rec(const MlProjector *pj, float *out, float *tmp, float *vec, const float *in, int64_t n,
                              MlMatmulScratch *mm, MlProjectorRecord *rec) {
    ml_matmul_forward(tmp, in, &pj->w1, ml_tensor_as_f32(&pj->b1, vec), n, pj->in_dim, pj->out_dim, mm);
    if (rec) {
        ML_ASSERT(n <= rec->cap);
        rec->in = in;
        memcpy(rec->pre, tmp, sizeof(float) * (size_t)(n * pj->out_dim));
    }
    ml_activation_forward(tmp, tmp, n * pj->out_dim, pj->act);
    if (rec) memcpy(rec->act, tmp, sizeof(float) * (size_t)(n * pj->out_dim));
    ml_matmul_forward(out, tmp, &pj->w2, ml_tensor_as_f32(&pj->b2, vec), n, pj->out_dim, pj->out_dim, mm);
}

int ml_projector_record_alloc(MlProjectorRecord *rec, const MlProjector *pj, int64_t rows, MlError *err) {
    memset(rec, 0, sizeof *rec);
    size_t n = (size_t)rows * (size_t)pj->out_dim;
    rec->pre = malloc(n * sizeof(float));
    rec->act = malloc(n * sizeof(float));
    rec->dact = malloc(n * sizeof(float));
    rec->cap = rows;
    if (!rec->pre || !rec->act || !rec->dact) {
        ml_projector_record_free(rec);
        return ml_error_set(err, ML_ERR_NOMEM, "projector: out of memory for the training record");
    }
    return ML_OK;
}

void ml_projector_record_free(MlProjectorRecord *rec) {
    free(rec->pre);
    free(rec->act);
    free(rec->dact);
    memset(rec, 0, sizeof *rec);
}

static float *wf(const MlTensor *t) { return (float *)t->data; }

void ml_projector_backward(const MlProjector *pj, const MlProjector *grad, MlProjectorRecord *rec, float *din,
                           const float *dout, int64_t n) {
    const int64_t Dv = pj->in_dim, Dt = pj->out_dim;
    size_t m = (size_t)(n * Dt);
    ml_backprop_linear(rec->dact, grad ? wf(&grad->w2) : NULL, grad ? wf(&grad->b2) : NULL, dout, rec->act,
                       wf(&pj->w2), n, Dt, Dt);
    /* the gradient before the activation overwrites rec->act: it is no longer needed */
    memset(rec->act, 0, m * sizeof(float));
    ml_activation_backward(rec->act, rec->dact, rec->pre, n * Dt, pj->act);
    ml_matmul_backward(din, grad ? wf(&grad->w1) : NULL, grad ? wf(&grad->b1) : NULL, rec->act, rec->in, wf(&pj->w1),
                       n, Dv, Dt);
}
