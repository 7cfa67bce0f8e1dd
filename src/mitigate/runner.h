/*
** runner.h: runs any method (mitigate/method.h) on a model: an image, then
** questions about it.  `misalign eval` (eval/run.c) and `misalign generate`
** both answer through it, so a method is one file and nothing else.
**
**     MlRunnerOptions o = {.prompt = {ML_TEMPLATE_HF, NULL, 0}, .seed = 0, .prefix = ML_PREFIX_SHARED};
**     MlRunner *r;
**     if (ml_runner_new(&r, model, &cfg, &o, &err)) ...
**     ml_runner_set_image(r, pixels, "img_0001.png", &err);   // encoded once per image variant
**                                              // (or ml_runner_set_decoded(r, &img, aspect, name, &err))
**     ml_runner_prepare(r, first_question, &err);              // shared prefixes prefilled once
**     for each question:
**         ml_runner_ask(r, question, &err);                    // every pass's prompt
**         ml_runner_prefill(r, max_tokens, &err);             // fork the prefixes, prefill the rest
**         ml_runner_generate(r, &sampler_cfg, max_tokens, eos, NULL, NULL, out, &n_out, &err);
**     ml_runner_free(r);
**
** Passes: pass p sees the clean image, its own pixels (the method's
** pass_pixels, seeded from the run seed, "pass p" and the image's name), its
** own image (pass_image on the decoded image, seeded from those and the
** question, encoded at ml_runner_ask, never a shared prefix) or none, and
** asks the question or its own prompt (pass_prompt).  Without an image
** every pass runs without one.
**
** Prefixes: with ML_PREFIX_SHARED, ml_runner_prepare prefills each distinct
** prefix (BOS ... image tokens) once: passes with the same image and the
** same prefix tokens share one session, which every question's pass forks.
** A pass without an image has no prefix to share, a pass that hooks its
** prefix (pass_hooks at ML_STEP_PREFIX) gets its own, and a pass the method
** marks in question_prefix prefills a prefix it hooks with every question.  A question whose
** prefix was not prepared runs from scratch as ML_PREFIX_SPLIT does: the
** prefix and the rest in two calls, the very calls of the shared path, so
** the bits are the same either way.  ML_PREFIX_ONE_CALL prefills each
** prompt in one call (other GEMM shapes: equal to rounding).
**
** Hooks: pass_hooks is asked before every forward: ML_STEP_IMAGE (the
** vision tower encoding the pass's image; pass 0 for the clean one),
** ML_STEP_PREFIX (also to
** know whether a pass may fork a shared prefix), ML_STEP_PROMPT (the rest
** of the prompt, or all of it in one call), then step k when the k-th
** generated token (0-based) is fed.
*/
#ifndef ML_MITIGATE_RUNNER_H
#define ML_MITIGATE_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "decode/sampler.h"
#include "decode/session.h"
#include "mitigate/method.h"
#include "model/lvlm.h"
#include "model/prompt.h"

typedef enum MlPrefixMode {
    ML_PREFIX_ONE_CALL = 0, /* fresh sessions, each prompt prefilled in one call */
    ML_PREFIX_SPLIT,        /* fresh sessions, the prefix then the rest: the bits of ML_PREFIX_SHARED */
    ML_PREFIX_SHARED,       /* prefixes prefilled by ml_runner_prepare and forked */
} MlPrefixMode;

typedef struct MlRunnerOptions {
    MlPromptOptions prompt; /* the chat template and system text every pass starts from */
    uint64_t seed;          /* seeds the pixels of ML_PASS_PIXELS passes */
    MlPrefixMode prefix;
} MlRunnerOptions;

typedef struct MlRunner MlRunner;

/* Fails with ML_ERR_ARG when the method's declaration is incomplete (a
   pass with other pixels and no pass_pixels, ...), or with what its
   state_new reports. */
int ml_runner_new(MlRunner **out, MlLvlm *m, const MlMethodConfig *cfg, const MlRunnerOptions *o, MlError *err);
void ml_runner_free(MlRunner *r);

/* The image every following question is about: the normalised pixel tensor
   (ml_lvlm_pixel_floats floats; NULL: no image) and its name (seeds).
   Encodes it once per variant the passes need and forgets the prefixes. */
int ml_runner_set_image(MlRunner *r, const float *pixels, const char *name, MlError *err);
/* The same from the decoded image: preprocessed with the model's image
   processor (aspect) for the clean passes, and kept for ML_PASS_DECODED
   passes, which transform it per question (a method with such a pass needs
   this call, not ml_runner_set_image). */
int ml_runner_set_decoded(MlRunner *r, const MlImage *image, MlAspect aspect, const char *name, MlError *err);
/* The clean image's features (image tokens x hidden); NULL without an image. */
const float *ml_runner_features(const MlRunner *r);
/* Rows (image tokens) the current image gave; 0 without an image. */
int64_t ml_runner_image_rows(const MlRunner *r);

/* ML_PREFIX_SHARED: prefills the prefixes of this question's passes, to be
   forked by every question about the image that begins the same way. */
int ml_runner_prepare(MlRunner *r, const char *question, MlError *err);

/* Builds every pass's prompt for the question.  Outside ML_PREFIX_ONE_CALL
   fails with ML_ERR_ARG when a prompt ends with its image. */
int ml_runner_ask(MlRunner *r, const char *question, MlError *err);
/* Pass p's (< the method's n_passes) prompt ids, n of them, from the last ml_runner_ask. */
const int32_t *ml_runner_prompt(const MlRunner *r, int pass, size_t *n);

/* Prefills every pass's prompt into a session with room for max_tokens
   more; then ml_runner_logits holds each pass's logits after its prompt. */
int ml_runner_prefill(MlRunner *r, int64_t max_tokens, MlError *err);
const float *ml_runner_logits(const MlRunner *r, int pass);

/* Generates with the method's loop (or every pass in lockstep): up to
   max_tokens tokens, stopping after eos_id (-1: none).  on_token gets each
   id (a method's own loop: once it has finished); nonzero stops the
   lockstep loop.  out (max_tokens) may be NULL. */
int ml_runner_generate(MlRunner *r, const MlSamplerConfig *sc, int64_t max_tokens, int32_t eos_id, MlTokenFn on_token,
                       void *user, int32_t *out, int64_t *n_out, MlError *err);

/* Frees the question's sessions (the next ask, set_image and free do it too). */
void ml_runner_end(MlRunner *r);

#endif
