/*
** vision.h: the CLIP ViT vision tower of LLaVA, run up to the layer that
** vision_feature_layer selects (the later layers and post_layernorm cannot
** change the features, so they are not run).
**
**   patches (conv kernel = stride = patch, as a matmul over unfolded patches)
**   -> [CLS; patches] + position embeddings -> pre_layrnorm   (hidden_states[0])
**   -> layer i: x += out_proj(attn(ln1(x))); x += fc2(quick_gelu(fc1(ln2(x))))
**   -> hidden_states[k] (k from vision_feature_layer), CLS dropped for "default".
**
**     MlVision vis; MlVisionState st = {0};
**     ml_vision_bind(&vis, ck, &err);
**     ml_vision_state_init(&st, &vis, &err);
**     ml_vision_forward(&vis, &st, feats, pixels, NULL, &err);  // feats [vis.n_out, hidden]
**
** Dimension letters: N tokens (1 + patches), D hidden, I intermediate, P patch
** pixels (3*patch*patch), S image side.
*/
#ifndef ML_MODEL_VISION_H
#define ML_MODEL_VISION_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "io/checkpoint.h"
#include "kernels/matmul.h"
#include "io/checkpoint_config.h"
#include "model/hooks.h"

typedef struct MlVisionLayer {
    MlTensor ln1_w, ln1_b;            /* (D) */
    MlTensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b; /* (D, D), (D) */
    MlTensor ln2_w, ln2_b;            /* (D) */
    MlTensor fc1_w, fc1_b;            /* (I, D), (I) */
    MlTensor fc2_w, fc2_b;            /* (D, I), (D) */
} MlVisionLayer;

typedef struct MlVision {
    MlVisionConfig cfg;
    int grid;          /* patches per side */
    int n_tokens;      /* N = 1 + grid^2 */
    int n_run;         /* layers run: the index of the selected hidden state */
    int select_full;   /* 1: keep CLS */
    int n_out;         /* feature rows: N or N - 1 */
    MlTensor class_emb;      /* (D) */
    MlTensor patch_w;        /* viewed as (D, P) */
    MlTensor pos_emb;        /* (N, D) */
    MlTensor pre_ln_w, pre_ln_b; /* (D) */
    MlVisionLayer *layers;   /* [n_run], owned */
} MlVision;

typedef struct MlVisionState {
    float *patches;      /* (N-1, P) */
    float *x, *xb;       /* (N, D) */
    float *q, *k, *v, *att; /* (N, D) */
    float *h;            /* (N, I) */
    float *vec, *vec2;   /* (max(D, I)) converted weight vectors */
    float *attn_scratch;
    int n_threads;
    float *tap_buf;
    size_t tap_cap;
    MlMatmulScratch mm;
} MlVisionState;

int ml_vision_bind(MlVision *vis, const MlCheckpoint *ck, MlError *err);
void ml_vision_free(MlVision *vis);
int ml_vision_state_init(MlVisionState *st, const MlVision *vis, MlError *err);
void ml_vision_state_free(MlVisionState *st);

/* features (n_out, D) from pixels (3, S, S), normalized as the image
   processor leaves them. */
int ml_vision_forward(const MlVision *vis, MlVisionState *st, float *features, const float *pixels,
                      const MlHooks *hooks, MlError *err);

/* ---- training ----
   The activations a backward needs, saved by the same forward when given a
   record (NULL at inference).  One record holds one image. */
typedef struct MlVisionLayerRecord {
    float *x_in, *ln1, *q, *k, *v, *att, *x_mid, *ln2, *fc1, *act; /* (N, D) or (N, I) */
} MlVisionLayerRecord;

typedef struct MlVisionRecord {
    float *patches;            /* (N-1, P) */
    float *emb;                /* (N, D) embeddings before pre_layrnorm */
    MlVisionLayerRecord *layers; /* [n_run] */
    float *dx, *dxb, *dq, *dk, *dv, *dh, *dh2; /* backward scratch */
    float *attn_scratch;
    void *memory;
} MlVisionRecord;

int ml_vision_record_alloc(MlVisionRecord *rec, const MlVision *vis, MlError *err);
void ml_vision_record_free(MlVisionRecord *rec);

/* ml_vision_forward that also fills rec (when not NULL). */
int ml_vision_forward_rec(const MlVision *vis, MlVisionState *st, float *features, const float *pixels,
                          const MlHooks *hooks, MlVisionRecord *rec, MlError *err);

/* Backward of the recorded forward: dfeatures (n_out, D) -> gradients added
   (+=) into grad, a copy of vis whose tensors point at gradient memory (F32
   weights only).  The kernel backwards in reverse order of the forward. */
void ml_vision_backward(const MlVision *vis, const MlVision *grad, MlVisionRecord *rec, const float *dfeatures);

#endif
