/* lvlm.c: opening a LLaVA folder and joining image features to text (see lvlm.h). */
#include "model/lvlm.h"

#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "model/projector.h"

/* Private to src/model/: callers use the functions of lvlm.h. */
struct MlLvlm {
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
    int32_t *pos;      /* (ML_POS_AXES, max_pos) position ids of one forward */
    uint64_t forwards; /* ml_lvlm_forward calls */
};

int64_t ml_lvlm_max_image_tokens(const MlLvlm *m) { return m->vision.n_out; }
int64_t ml_lvlm_hidden(const MlLvlm *m) { return m->decoder.cfg.hidden; }
int64_t ml_lvlm_vocab(const MlLvlm *m) { return m->decoder.cfg.vocab; }
int64_t ml_lvlm_context(const MlLvlm *m) { return m->decoder.cfg.max_pos; }
int ml_lvlm_layers(const MlLvlm *m) { return m->decoder.cfg.n_layers; }
int ml_lvlm_heads(const MlLvlm *m) { return m->decoder.cfg.n_heads; }
int64_t ml_lvlm_vision_hidden(const MlLvlm *m) { return m->vision.cfg.hidden; }
int ml_lvlm_vision_layers(const MlLvlm *m) { return m->vision.n_run; }
int64_t ml_lvlm_vision_tokens(const MlLvlm *m) { return m->vision.n_tokens; }
int64_t ml_lvlm_pixel_floats(const MlLvlm *m) { return 3 * (int64_t)m->vision.cfg.image_size * m->vision.cfg.image_size; }
int32_t ml_lvlm_image_token_id(const MlLvlm *m) { return m->cfg->image_token_id; }
int ml_lvlm_bos_id(const MlLvlm *m) { return ml_tokenizer_bos_id(m->tok); }
int ml_lvlm_eos_id(const MlLvlm *m) { return ml_tokenizer_eos_id(m->tok); }
const MlTokenizer *ml_lvlm_tokenizer(const MlLvlm *m) { return m->tok; }
const MlCheckpoint *ml_lvlm_checkpoint(const MlLvlm *m) { return m->ck; }
const MlDecoder *ml_lvlm_decoder(const MlLvlm *m) { return &m->decoder; }
const MlVision *ml_lvlm_vision(const MlLvlm *m) { return &m->vision; }
MlDecoderState *ml_lvlm_decoder_state(MlLvlm *m) { return &m->dstate; }

int ml_lvlm_prompt(const MlLvlm *m, const MlPromptOptions *opts, const char *user_text, int64_t n_image_tokens,
                   int32_t **ids, size_t *n, size_t *image_end, MlError *err) {
    if (n_image_tokens < 0 || n_image_tokens > m->vision.n_out)
        return ml_error_set(err, ML_ERR_ARG, "prompt: %lld image tokens (this model gives 0..%d per image)",
                            (long long)n_image_tokens, m->vision.n_out);
    return ml_prompt_build(m->tok, opts, user_text, n_image_tokens > 0, m->cfg->image_token_id, (int)n_image_tokens,
                           ids, n, image_end, err);
}

int ml_lvlm_open(MlLvlm **out, const char *dir, MlError *err) {
    *out = NULL;
    MlLvlm *m = calloc(1, sizeof *m);
    if (!m) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    int rc = ml_checkpoint_open(&m->ck, dir, err);
    if (rc) goto fail;
    m->cfg = ml_checkpoint_config(m->ck);
    const MlImageConfig *ic = ml_checkpoint_image_config(m->ck);
    if ((rc = ml_vision_bind(&m->vision, m->ck, err)) || (rc = ml_projector_bind(&m->projector, m->ck, err)) ||
        (rc = ml_decoder_bind(&m->decoder, m->ck, err)))
        goto fail;
    if (ic->crop_height != m->vision.cfg.image_size || ic->crop_width != m->vision.cfg.image_size) {
        rc = ml_error_set(err, ML_ERR_SHAPE,
                          "%s/preprocessor_config.json: crop_size %dx%d does not match vision image_size %d", dir,
                          ic->crop_width, ic->crop_height, m->vision.cfg.image_size);
        goto fail;
    }
    if (m->cfg->image_seq_length != m->vision.n_out) {
        rc = ml_error_set(err, ML_ERR_SHAPE,
                          "%s/config.json: image_seq_length %d does not match the %d features the vision tower gives",
                          dir, m->cfg->image_seq_length, m->vision.n_out);
        goto fail;
    }
    if (m->cfg->image_token_id < 0 || m->cfg->image_token_id >= m->decoder.cfg.vocab) {
        rc = ml_error_set(err, ML_ERR_SHAPE, "%s/config.json: image_token_index %d is outside the vocabulary of %d",
                          dir, m->cfg->image_token_id, m->decoder.cfg.vocab);
        goto fail;
    }
    char path[4096];
    if ((rc = ml_path_join(path, sizeof path, dir, "tokenizer.json", err))) goto fail;
    if ((rc = ml_tokenizer_load(&m->tok, path, err))) goto fail;
    if ((rc = ml_vision_state_init(&m->vstate, &m->vision, err)) ||
        (rc = ml_decoder_state_init(&m->dstate, &m->decoder, err)))
        goto fail;
    const int64_t n = m->vision.n_out, Dv = m->vision.cfg.hidden, Dt = m->decoder.cfg.hidden;
    m->vis_feats = malloc(sizeof(float) * n * Dv);
    m->proj_tmp = malloc(sizeof(float) * n * Dt);
    m->proj_vec = malloc(sizeof(float) * Dt);
    m->pos = malloc(sizeof(int32_t) * ML_POS_AXES * (size_t)m->decoder.cfg.max_pos);
    if (!m->vis_feats || !m->proj_tmp || !m->proj_vec || !m->pos || ml_matmul_scratch_reserve(&m->vstate.mm, Dt, Dv) ||
        ml_matmul_scratch_reserve(&m->vstate.mm, Dt, Dt)) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory for the run state", dir);
        goto fail;
    }
    *out = m;
    return ML_OK;
fail:
    ml_lvlm_close(m);
    return rc;
}

void ml_lvlm_close(MlLvlm *m) {
    if (!m) return;
    free(m->vis_feats);
    free(m->proj_tmp);
    free(m->proj_vec);
    free(m->pos);
    ml_vision_state_free(&m->vstate);
    ml_decoder_state_free(&m->dstate);
    ml_vision_free(&m->vision);
    ml_decoder_free(&m->decoder);
    if (m->tok) ml_tokenizer_free(m->tok);
    if (m->ck) ml_checkpoint_close(m->ck);
    free(m);
}

int ml_lvlm_load_image(const MlLvlm *m, const char *path, MlAspect aspect, float *pixels, MlError *err) {
    MlImage img;
    int rc = ml_image_load(path, &img, err);
    if (rc) return rc;
    rc = ml_lvlm_preprocess_image(m, &img, aspect, pixels, err);
    ml_image_free(&img);
    if (rc) ml_error_prefix(err, path);
    return rc;
}

int ml_lvlm_preprocess_image(const MlLvlm *m, const MlImage *img, MlAspect aspect, float *pixels, MlError *err) {
    return ml_image_preprocess(img, ml_checkpoint_image_config(m->ck), aspect, pixels, err);
}

int ml_lvlm_encode_image(MlLvlm *m, float *features, const float *pixels, const MlHooks *hooks, int64_t *n_rows,
                         MlError *err) {
    *n_rows = 0;
    int rc = ml_vision_forward(&m->vision, &m->vstate, m->vis_feats, pixels, hooks, err);
    if (rc) return rc;
    ml_projector_forward(&m->projector, features, m->proj_tmp, m->proj_vec, m->vis_feats, m->vision.n_out,
                         &m->vstate.mm);
    *n_rows = m->vision.n_out; /* fixed for LLaVA-1.5's square crops */
    return ML_OK;
}

int ml_lvlm_embed(const MlLvlm *m, float *out, const int32_t *ids, int64_t n, const float *features,
                  int64_t n_feature_rows, MlError *err) {
    const int64_t D = m->decoder.cfg.hidden;
    const int32_t image_id = m->cfg->image_token_id;
    int64_t n_image = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= m->decoder.cfg.vocab)
            return ml_error_set(err, ML_ERR_RANGE, "token id %d at position %lld is outside the vocabulary (0..%d)",
                                ids[i], (long long)i, m->decoder.cfg.vocab - 1);
        n_image += ids[i] == image_id;
    }
    if (features && n_image != n_feature_rows)
        return ml_error_set(err, ML_ERR_SHAPE, "the prompt holds %lld image tokens but %lld image feature rows were given",
                            (long long)n_image, (long long)n_feature_rows);
    int64_t used = 0;
    for (int64_t i = 0; i < n; i++) {
        if (features && ids[i] == image_id) {
            memcpy(out + (size_t)i * D, features + (size_t)used * D, sizeof(float) * D);
            used++;
        } else {
            int rc = ml_decoder_embed(&m->decoder, out + (size_t)i * D, ids + i, 1, err);
            if (rc) return rc;
        }
    }
    return ML_OK;
}

void ml_lvlm_positions(const MlLvlm *m, const int32_t *ids, int64_t n, int64_t start, int32_t *pos) {
    (void)m; /* LLaVA: every token, image or text, sits at its index on all axes */
    (void)ids;
    for (int a = 0; a < ML_POS_AXES; a++)
        for (int64_t i = 0; i < n; i++) pos[(size_t)a * n + i] = (int32_t)(start + i);
}

int ml_lvlm_kv_init(const MlLvlm *m, MlKVCache *kv, const MlKVCache *parent, int64_t cap, MlError *err) {
    return ml_kv_cache_init(kv, &m->decoder, parent, cap, err);
}

int ml_lvlm_forward(MlLvlm *m, MlKVCache *kv, const int32_t *ids, const float *x, int64_t T, const MlHooks *hooks,
                    float *logits, int all_logits, MlError *err) {
    const int64_t start = ml_kv_cache_length(kv);
    m->forwards++;
    if (T <= 0 || start + T > m->decoder.cfg.max_pos) /* the decoder names the problem */
        return ml_decoder_forward(&m->decoder, &m->dstate, kv, x, T, hooks, logits, all_logits, err);
    ml_lvlm_positions(m, ids, T, start, m->pos);
    return ml_decoder_forward_at(&m->decoder, &m->dstate, kv, x, T, m->pos, hooks, logits, all_logits, err);
}

uint64_t ml_lvlm_forward_count(const MlLvlm *m) { return m->forwards; }

void ml_lvlm_logits(MlLvlm *m, float *logits, const float *hidden, int64_t rows, int apply_norm) {
    ml_decoder_logits(&m->decoder, &m->dstate, logits, hidden, rows, apply_norm);
}
