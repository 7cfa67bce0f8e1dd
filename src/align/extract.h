/*
** extract.h: per-layer representations of images and captions, read from a
** LLaVA model through hooks (model/hooks.h), for representation alignment
** (align/metrics.h, docs/alignment.md).
**
** Three representations, each one vector per selected layer (hook layer
** numbering: -1 is the tower's input, HF hidden_states[i] is layer i-1):
**   vision   mean over the patch tokens (CLS left out) of the ViT residual
**            stream after each layer; layer -1 is the pre_layrnorm output.
**            Only layers up to the one vision_feature_layer selects exist.
**   image    mean over the image-token positions of the decoder residual
**            stream, for the image-only prompt: the chat template's text up
**            to and including the image (HF: BOS "USER:" image tokens).
**            The decoder is causal, so what follows the image cannot change
**            it and is not run.  Layer -1 is the projector output.
**   caption  mean over the caption's tokens (BOS left out) of the decoder
**            residual stream for BOS + the caption's tokens, no template and
**            no image.  Layer -1 is the token embeddings.
** Means are accumulated in double and stored as float.
**
**     MlLayerList lv, lt; MlExtractor x; MlError err = {0};
**     ml_layers_parse("all", -1, ml_extract_vision_layers(m) - 1, &lv, &err);
**     ml_layers_parse("all", -1, ml_lvlm_layers(m) - 1, &lt, &err);
**     ml_extract_init(&x, m, &lv, &lt, NULL, 256, &err);     // captions of at most 256 tokens
**     ml_extract_image(&x, pixels, vis, img, &err);          // vis (lv.n, Dv), img (lt.n, Dt)
**     ml_extract_caption(&x, "a red star", cap, &err);       // cap (lt.n, Dt)
**     ml_extract_free(&x);
**
** The extractor borrows the model (one forward at a time) and owns one
** session it rewinds for every pass.
*/
#ifndef ML_ALIGN_EXTRACT_H
#define ML_ALIGN_EXTRACT_H

#include <stdint.h>

#include "core/error.h"
#include "decode/session.h"
#include "model/hooks.h"
#include "model/lvlm.h"
#include "model/prompt.h"

/* Ascending, distinct hook layers. */
typedef struct MlLayerList {
    int n;
    int layer[ML_HOOK_MAX_LAYERS];
} MlLayerList;

/* "all" (lo..hi), "none", or a comma list of integers in [lo, hi] (order
   free, no repeats).  Errors name the spec and the bad entry. */
int ml_layers_parse(const char *spec, int lo, int hi, MlLayerList *out, MlError *err);

/* ViT layers that run (vision_feature_layer's index): valid vision layers
   are -1 .. this - 1. */
int ml_extract_vision_layers(const MlLvlm *m);

typedef struct MlExtractor {
    MlLvlm *m;
    MlSession *s;
    MlLayerList vision, text;
    int slot[2][ML_HOOK_MAX_LAYERS]; /* per tower, hook layer + 1 -> row in acc, -1 unused */
    MlPromptOptions popts;           /* the template (its system text must outlive the extractor) */
    int32_t *prefix;                 /* image-only prompt ids, for images of img_hi - img_lo tokens */
    int64_t n_prefix, img_lo, img_hi; /* image positions [img_lo, img_hi) */
    int32_t *ids;                    /* BOS + caption ids */
    int64_t ids_cap;                 /* room in ids: the longest caption + 1 */
    float *feats;                    /* (image_tokens, Dt) projector output */
    double *acc;                     /* (max(lv.n, lt.n), max(Dv, Dt)) running sums */
    int64_t acc_lo, acc_hi;          /* positions whose rows are summed: [lo, hi) */
    MlHooks hooks[2];                /* residual hooks on the selected layers, per tower */
} MlExtractor;

/* popts NULL: the HF template.  max_caption_tokens bounds captions (without
   BOS); the session holds max(image prefix, caption + 1) tokens. */
int ml_extract_init(MlExtractor *x, MlLvlm *m, const MlLayerList *vision_layers, const MlLayerList *text_layers,
                    const MlPromptOptions *popts, int64_t max_caption_tokens, MlError *err);
void ml_extract_free(MlExtractor *x);

/* pixels as ml_lvlm_load_image leaves them.  vis (vision.n, Dv) and img
   (text.n, Dt), rows in the lists' order; either may be NULL to skip it. */
int ml_extract_image(MlExtractor *x, const float *pixels, float *vis, float *img, MlError *err);

/* cap (text.n, Dt).  Fails with ML_ERR_RANGE when the caption has more
   tokens than max_caption_tokens, ML_ERR_ARG when it has none. */
int ml_extract_caption(MlExtractor *x, const char *caption, float *cap, MlError *err);

/* Tokens of a caption without BOS (for sizing max_caption_tokens). */
int ml_extract_caption_tokens(const MlLvlm *m, const char *caption, int64_t *n, MlError *err);

#endif
