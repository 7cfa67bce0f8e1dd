/*
** lvlm.h: a whole LLaVA model opened from a Hugging Face checkpoint folder:
** vision tower + projector + decoder + tokenizer, with the run states for
** one forward at a time.  Sessions (decode/session.h) run text on it.
**
** MlLvlm is opaque: everything outside src/model/ asks these functions, so
** that another architecture is new files in src/model/, not edits in every
** caller.  The model answers the four things callers must not assume: how
** many tokens an image becomes (the encoder says, per image), where each
** token sits (ml_lvlm_positions), how a prompt is laid out (ml_lvlm_prompt)
** and its special ids.
**
**     MlLvlm *m; MlError err = {0};
**     if (ml_lvlm_open(&m, "models/organism", &err)) { puts(err.msg); ... }
**     float *px = malloc(ml_lvlm_pixel_floats(m) * sizeof(float));
**     float *feats = malloc(ml_lvlm_max_image_tokens(m) * ml_lvlm_hidden(m) * sizeof(float));
**     int64_t rows; int32_t *ids; size_t n, image_end;
**     ml_lvlm_load_image(m, "cat.png", ML_ASPECT_RESIZE, px, &err);
**     ml_lvlm_encode_image(m, feats, px, NULL, &rows, &err);     // projector output, rows of it
**     ml_lvlm_prompt(m, NULL, "What is this?", rows, &ids, &n, &image_end, &err);
**     ... ml_session_new(&s, m, 0, &err); ml_session_prefill(s, ids, n, feats, rows, ...) ...
**     free(ids); ml_lvlm_close(m);
**
** Image features replace, in order, the embeddings at positions holding the
** image token; a prompt must hold exactly as many image tokens as feature
** rows given.  Not thread-safe: one forward at a time per MlLvlm.
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
#include "model/prompt.h"
#include "model/vision.h"

typedef struct MlLvlm MlLvlm;

int ml_lvlm_open(MlLvlm **out, const char *dir, MlError *err);
void ml_lvlm_close(MlLvlm *m);

/* ---- sizes ---- */
/* The most feature rows one image can give (576 for LLaVA-1.5): size buffers
   with it; the rows of a given image are what ml_lvlm_encode_image reports. */
int64_t ml_lvlm_max_image_tokens(const MlLvlm *m);
int64_t ml_lvlm_hidden(const MlLvlm *m);        /* decoder width */
int64_t ml_lvlm_vocab(const MlLvlm *m);
int64_t ml_lvlm_context(const MlLvlm *m);       /* max_position_embeddings: tokens a session can hold */
int ml_lvlm_layers(const MlLvlm *m);            /* decoder layers */
int ml_lvlm_heads(const MlLvlm *m);             /* decoder attention heads */
int64_t ml_lvlm_vision_hidden(const MlLvlm *m); /* vision tower width */
int ml_lvlm_vision_layers(const MlLvlm *m);     /* vision layers run (the selected hidden state) */
int64_t ml_lvlm_vision_tokens(const MlLvlm *m); /* rows inside the vision tower (CLS + patches) */
/* Floats of one preprocessed image: 3 * crop_height * crop_width. */
int64_t ml_lvlm_pixel_floats(const MlLvlm *m);

/* ---- tokens ---- */
int32_t ml_lvlm_image_token_id(const MlLvlm *m);
int ml_lvlm_bos_id(const MlLvlm *m); /* the tokenizer's; -1 when it has none */
int ml_lvlm_eos_id(const MlLvlm *m);
/* The model's tokenizer, for encoding and decoding text (io/tokenizer.h). */
const MlTokenizer *ml_lvlm_tokenizer(const MlLvlm *m);
/* The checkpoint the weights are views into (tests compare with it, bench counts its bytes). */
const MlCheckpoint *ml_lvlm_checkpoint(const MlLvlm *m);

/* The parts, read-only, for the tests and benches that look inside (FLOP
   and byte counts, reference comparisons).  Library code uses the
   functions above, so that it runs on any architecture. */
const MlDecoder *ml_lvlm_decoder(const MlLvlm *m);
const MlVision *ml_lvlm_vision(const MlLvlm *m);
/* The decoder's run state: a test sets max_rows low to run the chunked path. */
MlDecoderState *ml_lvlm_decoder_state(MlLvlm *m);

/* The prompt ids of model/prompt.h for this model: BOS, template, and the
   image placeholder expanded to n_image_tokens image ids (the rows
   ml_lvlm_encode_image reported; 0 = no image).  The one prompt builder of
   eval, align, explain and generate.  *ids is malloc'd. */
int ml_lvlm_prompt(const MlLvlm *m, const MlPromptOptions *opts, const char *user_text, int64_t n_image_tokens,
                   int32_t **ids, size_t *n, size_t *image_end, MlError *err);

/* ---- images ---- */
/* Decodes and preprocesses an image file as the checkpoint's image processor does. */
int ml_lvlm_load_image(const MlLvlm *m, const char *path, MlAspect aspect, float *pixels, MlError *err);
/* Preprocesses a decoded image as the checkpoint's image processor does (pixels: ml_lvlm_pixel_floats). */
int ml_lvlm_preprocess_image(const MlLvlm *m, const MlImage *img, MlAspect aspect, float *pixels, MlError *err);

/* features (*n_rows, hidden) = projector(vision(pixels)); *n_rows is this
   image's token count, at most ml_lvlm_max_image_tokens. */
int ml_lvlm_encode_image(MlLvlm *m, float *features, const float *pixels, const MlHooks *hooks, int64_t *n_rows,
                         MlError *err);

/* ---- text ---- */
/* out (n, hidden): token embeddings with image features merged at image
   tokens; n_feature_rows must equal the number of image tokens in ids.
   With features NULL image tokens get their own embedding rows. */
int ml_lvlm_embed(const MlLvlm *m, float *out, const int32_t *ids, int64_t n, const float *features,
                  int64_t n_feature_rows, MlError *err);

/* Position ids of n tokens that follow `start` earlier ones: pos is
   [ML_POS_AXES][n] (temporal, height, width), the shape multimodal RoPE
   needs.  LLaVA answers the token index on every axis; ids may be NULL
   (rows fed as embeddings). */
void ml_lvlm_positions(const MlLvlm *m, const int32_t *ids, int64_t n, int64_t start, int32_t *pos);

/* A KV cache for this model's decoder (model/decoder.h; parent may be NULL). */
int ml_lvlm_kv_init(const MlLvlm *m, MlKVCache *kv, const MlKVCache *parent, int64_t cap, MlError *err);

/* Runs T embedded rows x (T, hidden) after what kv holds, at the positions
   ml_lvlm_positions gives for ids (NULL: rows without ids), as
   ml_decoder_forward does otherwise. */
int ml_lvlm_forward(MlLvlm *m, MlKVCache *kv, const int32_t *ids, const float *x, int64_t T, const MlHooks *hooks,
                    float *logits, int all_logits, MlError *err);
/* ml_lvlm_forward calls so far (any rows each): a method's cost in
   decoder passes, whichever loop made them (eval's items "forwards"). */
uint64_t ml_lvlm_forward_count(const MlLvlm *m);

/* logits (rows, vocab) from hidden (rows, hidden) residuals, through the
   final norm when apply_norm: the logit lens. */
void ml_lvlm_logits(MlLvlm *m, float *logits, const float *hidden, int64_t rows, int apply_norm);

#endif
