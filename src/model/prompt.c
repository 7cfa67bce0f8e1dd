/* prompt.c: chat templates and prompt ids (see model/prompt.h). */
#include "model/prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAGE_TAG "<image>"
#define IMAGE_TAG_LEN 7
#define MAX_IMAGE_TOKENS (1 << 20)

const char ML_LLAVA_V1_SYSTEM[] = "A chat between a curious human and an artificial intelligence assistant. "
                                  "The assistant gives helpful, detailed, and polite answers to the human's questions.";

static const char *const template_names[] = {"hf", "llava-v1", "raw"};

int ml_template_parse(const char *name, MlTemplate *out, MlError *err) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, template_names[i])) {
            *out = (MlTemplate)i;
            return ML_OK;
        }
    return ml_error_set(err, ML_ERR_ARG, "unknown template '%s' (hf, llava-v1 or raw)", name ? name : "(null)");
}

const char *ml_template_name(MlTemplate tmpl) {
    return (unsigned)tmpl < 3 ? template_names[tmpl] : "?";
}

static size_t count_tags(const char *s) {
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, IMAGE_TAG)); p += IMAGE_TAG_LEN) n++;
    return n;
}

int ml_prompt_text(const MlPromptOptions *opts, const char *user_text, int has_image, char **text, MlError *err) {
    MlPromptOptions def = {ML_TEMPLATE_HF, NULL, 0};
    if (!opts) opts = &def;
    *text = NULL;
    if (!user_text) return ml_error_set(err, ML_ERR_ARG, "prompt: no text");
    if ((unsigned)opts->tmpl > ML_TEMPLATE_RAW) return ml_error_set(err, ML_ERR_ARG, "prompt: unknown template");
    const char *system = opts->system;
    if (!system && opts->tmpl == ML_TEMPLATE_LLAVA_V1) system = ML_LLAVA_V1_SYSTEM;
    int templated = opts->tmpl != ML_TEMPLATE_RAW;
    /* The template places the image unless the user already did. */
    const char *image = templated && has_image && !strstr(user_text, IMAGE_TAG) ? IMAGE_TAG "\n" : "";
    size_t len = strlen(user_text) + (system ? strlen(system) + 1 : 0) + 32;
    char *s = malloc(len);
    if (!s) return ml_error_set(err, ML_ERR_NOMEM, "prompt: out of memory");
    if (templated)
        snprintf(s, len, "%s%sUSER: %s%s ASSISTANT:", system ? system : "", system ? " " : "", image, user_text);
    else
        snprintf(s, len, "%s", user_text);
    size_t tags = count_tags(s);
    const char *problem = NULL;
    if (has_image && tags == 0) problem = "an image is given but the raw prompt has no <image>";
    else if (!has_image && tags > 0) problem = "the prompt has <image> but no image is given";
    else if (tags > 1) problem = "the prompt has more than one <image> (one image per prompt)";
    if (problem) {
        free(s);
        return ml_error_set(err, ML_ERR_ARG, "prompt: %s", problem);
    }
    *text = s;
    return ML_OK;
}

/* Growable id list. */
typedef struct Ids {
    int32_t *v;
    size_t n, cap;
} Ids;

static int reserve(Ids *ids, size_t extra, MlError *err) {
    if (ids->n + extra <= ids->cap) return ML_OK;
    if (extra > SIZE_MAX / sizeof(int32_t) / 2 - ids->n) return ml_error_set(err, ML_ERR_NOMEM, "prompt: too long");
    size_t cap = 2 * (ids->n + extra);
    int32_t *grown = realloc(ids->v, cap * sizeof *grown);
    if (!grown) return ml_error_set(err, ML_ERR_NOMEM, "prompt: out of memory");
    ids->v = grown;
    ids->cap = cap;
    return ML_OK;
}

static int encode_into(const MlTokenizer *tok, const char *s, size_t len, Ids *ids, MlError *err) {
    size_t need = len + 16; /* a first guess; ML_ERR_RANGE tells the real count */
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = reserve(ids, need, err);
        if (rc) return rc;
        size_t n;
        rc = ml_tokenizer_encode(tok, s, len, ids->v + ids->n, ids->cap - ids->n, &n, err);
        if (rc == ML_OK) {
            ids->n += n;
            return ML_OK;
        }
        if (rc != ML_ERR_RANGE) return rc;
        need = n;
    }
    return ml_error_set(err, ML_ERR_RANGE, "prompt: the tokenizer's count changed between calls");
}

int ml_prompt_build(const MlTokenizer *tok, const MlPromptOptions *opts, const char *user_text, int has_image,
                    int image_token_id, int n_image_tokens, int32_t **ids_out, size_t *n_out, size_t *image_end,
                    MlError *err) {
    *ids_out = NULL;
    *n_out = 0;
    *image_end = 0;
    if (has_image && (image_token_id < 0 || n_image_tokens < 1 || n_image_tokens > MAX_IMAGE_TOKENS))
        return ml_error_set(err, ML_ERR_ARG, "prompt: image token id %d x %d is out of range", image_token_id,
                            n_image_tokens);
    char *text;
    int rc = ml_prompt_text(opts, user_text, has_image, &text, err);
    if (rc) return rc;
    Ids ids = {0};
    rc = reserve(&ids, strlen(text) + (has_image ? (size_t)n_image_tokens : 0) + 16, err);
    int bos = ml_tokenizer_bos_id(tok);
    if (!rc && bos >= 0) ids.v[ids.n++] = bos;
    const char *tag = strstr(text, IMAGE_TAG);
    if (!rc && tag) {
        rc = encode_into(tok, text, (size_t)(tag - text), &ids, err);
        if (!rc) rc = reserve(&ids, (size_t)n_image_tokens, err);
        for (int i = 0; !rc && i < n_image_tokens; i++) ids.v[ids.n++] = image_token_id;
        *image_end = ids.n;
    }
    const char *rest = tag ? tag + IMAGE_TAG_LEN : text;
    size_t after = ids.n;
    if (!rc) rc = encode_into(tok, rest, strlen(rest), &ids, err);
    if (!rc && tag && opts && opts->drop_space_after_image) {
        int space = ml_tokenizer_token_id(tok, "\xe2\x96\x81"); /* the lone "▁" */
        if (space >= 0 && ids.n > after && ids.v[after] == space) {
            memmove(ids.v + after, ids.v + after + 1, (ids.n - after - 1) * sizeof *ids.v);
            ids.n--;
        }
    }
    free(text);
    if (rc) {
        free(ids.v);
        *image_end = 0;
        return rc;
    }
    *ids_out = ids.v;
    *n_out = ids.n;
    return ML_OK;
}
