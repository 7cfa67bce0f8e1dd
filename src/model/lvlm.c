/* lvlm.c: opening a LLaVA folder and joining image features to text (see lvlm.h). */
#include "model/lvlm.h"

#include <stdlib.h>
#include <string.h>

#include "core/file.h"

int64_t ml_lvlm_pixel_floats(const MlLvlm *m) { return 3 * (int64_t)m->vision.cfg.image_size * m->vision.cfg.image_size; }

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
    if (!m->vis_feats || !m->proj_tmp || !m->proj_vec || ml_matmul_scratch_reserve(&m->vstate.mm, Dt, Dv) ||
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
    rc = ml_image_preprocess(&img, ml_checkpoint_image_config(m->ck), aspect, pixels, err);
    ml_image_free(&img);
    if (rc) ml_error_prefix(err, path);
    return rc;
}

int ml_lvlm_encode_image(MlLvlm *m, float *features, const float *pixels, const MlHooks *hooks, MlError *err) {
    int rc = ml_vision_forward(&m->vision, &m->vstate, m->vis_feats, pixels, hooks, err);
    if (rc) return rc;
    ml_projector_forward(&m->projector, features, m->proj_tmp, m->proj_vec, m->vis_feats, m->vision.n_out,
                         &m->vstate.mm);
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
