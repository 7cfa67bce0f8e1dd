/*
** prompt.h: the token ids a LLaVA model is prefilled with: BOS, the chat
** template around the user's text, and the image placeholder expanded to
** one id per image feature.
**
** Templates (LLAVA.md §5):
**   ML_TEMPLATE_HF        "USER: <image>\n{text} ASSISTANT:" (llava-hf's chat template for one user
**                         turn with one image and add_generation_prompt); a system text, if given,
**                         comes first followed by a space, without a role.
**   ML_TEMPLATE_LLAVA_V1  the same with the original LLaVA v1 system line first ("A chat between a
**                         curious human and an artificial intelligence assistant. ..."), or opts->system.
**   ML_TEMPLATE_RAW       the text as given.
** Without an image the templates leave out "<image>\n".  If the user text
** already holds "<image>", the template does not add another: the user placed it.
**
** The text is split at "<image>"; each piece is tokenized on its own (each
** gets the "▁" prefix, as the HF processor does) and the placeholder
** becomes n_image_tokens copies of image_token_id.  The ids of §5:
**
**     MlPromptOptions opts = {ML_TEMPLATE_HF, NULL, 0};
**     int32_t *ids; size_t n, image_end; MlError err = {0};
**     ml_prompt_build(tok, &opts, "What's the content of the image?", 1, 32000, 576,
**                     &ids, &n, &image_end, &err);
**     // ids = 1 3148 1001 29901 29871 32000 x576 29871 13 5618 ... 13566 29901; image_end = 581
**     free(ids);
**
** image_end is the index just after the last image token (0 without an
** image): the prefix that sessions prefill once and share between all
** questions about one image.
*/
#ifndef ML_MODEL_PROMPT_H
#define ML_MODEL_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "io/tokenizer.h"

typedef enum MlTemplate {
    ML_TEMPLATE_HF = 0, /* "USER: <image>\n{prompt} ASSISTANT:" */
    ML_TEMPLATE_LLAVA_V1, /* LLaVA v1 system line first */
    ML_TEMPLATE_RAW,      /* the text as given */
} MlTemplate;

typedef struct MlPromptOptions {
    MlTemplate tmpl;
    const char *system;         /* optional system text; HF: first, without a role; NULL = none (v1: its own) */
    int drop_space_after_image; /* 1 drops the lone "▁" (29871) that starts the text after the image,
                                   as transformers v5 may; 0 keeps it (default, LLAVA.md §5) */
} MlPromptOptions;

/* The original LLaVA v1 system line. */
extern const char ML_LLAVA_V1_SYSTEM[];

/* "hf" | "llava-v1" | "raw" -> *out; ML_ERR_ARG naming the choices otherwise. */
int ml_template_parse(const char *name, MlTemplate *out, MlError *err);
/* The name ml_template_parse accepts ("hf", ...). */
const char *ml_template_name(MlTemplate tmpl);

/* The templated text as a malloc'd string (before tokenizing); opts NULL = HF defaults. */
int ml_prompt_text(const MlPromptOptions *opts, const char *user_text, int has_image, char **text, MlError *err);

/* BOS (when the tokenizer has "<s>") + templated prompt, image placeholder
   expanded.  ids is malloc'd, the caller frees it.  Fails with ML_ERR_ARG
   when has_image is set but the text has no place for it, when the text
   names <image> without an image, or when it names it more than once. */
int ml_prompt_build(const MlTokenizer *tok, const MlPromptOptions *opts, const char *user_text, int has_image,
                    int image_token_id, int n_image_tokens, int32_t **ids, size_t *n, size_t *image_end,
                    MlError *err);

#endif
