/*
** lvlm.h: a whole LLaVA model opened from a Hugging Face checkpoint folder:
** vision tower + projector + decoder + tokenizer, with the run states for
** one forward at a time.  Sessions (decode/session.h) run text on it.
**
**     MlLvlm *m; MlError err = {0};
**     if (ml_lvlm_open(&m, "models/organism", &err)) { puts(err.msg); ... }
**     float *px = malloc(ml_lvlm_pixel_floats(m) * sizeof(float));
**     float *feats = malloc(ml_lvlm_image_tokens(m) * ml_lvlm_hidden(m) * sizeof(float));
**     ml_lvlm_load_image(m, "cat.png", ML_ASPECT_RESIZE, px, &err);
**     ml_lvlm_encode_image(m, feats, px, NULL, &err);     // projector output
**     ... ml_session_new(&s, m, 0, &err); ml_session_prefill(s, ids, n, feats, ...) ...
**     ml_lvlm_close(m);
**
** Image features replace, in order, the embeddings at positions holding
** image_token_index; a prompt must hold exactly as many image tokens as
** feature rows given.  Not thread-safe: one forward at a time per MlLvlm.
*/
#ifndef ML_MODEL_LVLM_H
#define ML_MODEL_LVLM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/image.h"
#include "io/tokenizer.h"
#include "model/decoder.h"
#include "model/hooks.h"
#include "model/projector.h"
#include "model/vision.h"

typedef struct MlLvlm {
    MlCheckpoint *ck;
    const MlLlavaConfig *cfg;
    MlTokenizer *tok;
    MlVision vision;
    MlProjector projector;
    MlDecoder decoder;
    MlVisionState vstate;
    MlDecoderState dstate;
    float *vis_feats;  /* (n_out, Dv) vision features before the projector */
    float *proj_tmp;   /* (n_out, Dt) */
    float *proj_vec;   /* (Dt) */
} MlLvlm;

int ml_lvlm_open(MlLvlm **out, const char *dir, MlError *err);
void ml_lvlm_close(MlLvlm *m);

/* Feature rows per image (576 for LLaVA-1.5), the decoder width, the vocabulary. */
static inline int64_t ml_lvlm_image_tokens(const MlLvlm *m) { return m->vision.n_out; }
static inline int64_t ml_lvlm_hidden(const MlLvlm *m) { return m->decoder.cfg.hidden; }
static inline int64_t ml_lvlm_vocab(const MlLvlm *m) { return m->decoder.cfg.vocab; }
/* Floats of one preprocessed image: 3 * crop_height * crop_width. */
int64_t ml_lvlm_pixel_floats(const MlLvlm *m);

/* Decodes and preprocesses an image file as the checkpoint's image processor does. */
int ml_lvlm_load_image(const MlLvlm *m, const char *path, MlAspect aspect, float *pixels, MlError *err);

/* features (image_tokens, hidden) = projector(vision(pixels)). */
int ml_lvlm_encode_image(MlLvlm *m, float *features, const float *pixels, const MlHooks *hooks, MlError *err);

/* out (n, hidden): token embeddings with image features merged at image
   tokens; n_feature_rows must equal the number of image tokens in ids.
   With features NULL image tokens get their own embedding rows. */
int ml_lvlm_embed(const MlLvlm *m, float *out, const int32_t *ids, int64_t n, const float *features,
                  int64_t n_feature_rows, MlError *err);

#endif
