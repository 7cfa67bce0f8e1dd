/* session.c: KV-cached conversations with forks (see session.h). */
#include "decode/session.h"

#include <stdlib.h>
#include <string.h>

struct MlSession {
    MlLvlm *m;
    MlSession *parent;
    int n_children;
    MlKVCache kv;
    int32_t *ids;   /* (kv.cap) own tokens; -1 for rows fed as embeddings */
    float *embeds;  /* (min(ML_DECODER_CHUNK, capacity), hidden) */
};

static int session_alloc(MlSession **out, MlLvlm *m, MlSession *parent, int64_t capacity, MlError *err) {
    *out = NULL;
    MlSession *s = calloc(1, sizeof *s);
    if (!s) return ml_error_set(err, ML_ERR_NOMEM, "session: out of memory");
    s->m = m;
    s->parent = parent;
    const int64_t max_pos = ml_lvlm_context(m);
    const int64_t start = parent ? ml_session_length(parent) : 0;
    if (capacity <= 0 || capacity > max_pos - start) capacity = max_pos - start;
    int rc = ml_lvlm_kv_init(m, &s->kv, parent ? &parent->kv : NULL, capacity, err);
    if (rc) {
        free(s);
        return rc;
    }
    s->ids = malloc(sizeof(int32_t) * (size_t)(capacity > 0 ? capacity : 1));
    /* no call feeds more than the capacity: a small fork (a beam) keeps a small buffer */
    const int64_t rows = capacity < ML_DECODER_CHUNK ? (capacity > 0 ? capacity : 1) : ML_DECODER_CHUNK;
    s->embeds = malloc(sizeof(float) * (size_t)rows * (size_t)ml_lvlm_hidden(m));
    if (!s->ids || !s->embeds) {
        ml_kv_cache_free(&s->kv);
        free(s->ids);
        free(s->embeds);
        free(s);
        return ml_error_set(err, ML_ERR_NOMEM, "session: out of memory");
    }
    if (parent) parent->n_children++;
    *out = s;
    return ML_OK;
}

int ml_session_new(MlSession **out, MlLvlm *m, int64_t capacity, MlError *err) {
    return session_alloc(out, m, NULL, capacity, err);
}

int ml_session_fork(MlSession **out, MlSession *parent, int64_t capacity, MlError *err) {
    return session_alloc(out, parent->m, parent, capacity, err);
}

int ml_session_free(MlSession *s) {
    if (!s) return ML_OK;
    if (s->n_children > 0)
        return ml_error_set(NULL, ML_ERR_ARG, "session: %d forks still read this session", s->n_children);
    if (s->parent) s->parent->n_children--;
    ml_kv_cache_free(&s->kv);
    free(s->ids);
    free(s->embeds);
    free(s);
    return ML_OK;
}

int64_t ml_session_length(const MlSession *s) { return ml_kv_cache_length(&s->kv); }
MlLvlm *ml_session_model(const MlSession *s) { return s->m; }

int32_t ml_session_token(const MlSession *s, int64_t i) {
    while (s && i < s->kv.base) s = s->parent;
    if (!s || i < 0 || i >= ml_kv_cache_length(&s->kv)) return -1;
    return s->ids[i - s->kv.base];
}

/* Room check before anything is computed, so a failure leaves the session as it was. */
static int check_room(const MlSession *s, int64_t n, MlError *err) {
    if (s->n_children > 0)
        return ml_error_set(err, ML_ERR_ARG, "session: cannot extend a session that %d forks read", s->n_children);
    if (n <= 0) return ml_error_set(err, ML_ERR_ARG, "session: nothing to feed (0 tokens)");
    const int64_t max_pos = ml_lvlm_context(s->m), len = ml_session_length(s);
    if (len + n > max_pos)
        return ml_error_set(err, ML_ERR_RANGE,
                            "prompt of %lld tokens (after %lld) exceeds the context: max_position_embeddings is %lld",
                            (long long)n, (long long)len, (long long)max_pos);
    if (s->kv.n + n > s->kv.cap)
        return ml_error_set(err, ML_ERR_RANGE, "session: %lld more tokens exceed its capacity of %lld (%lld used)",
                            (long long)n, (long long)s->kv.cap, (long long)s->kv.n);
    return ML_OK;
}

int ml_session_forward(MlSession *s, const int32_t *ids, int64_t n, const float *features, int64_t n_feature_rows,
                       const MlHooks *hooks, float *logits, int all_logits, MlError *err) {
    int rc = check_room(s, n, err);
    if (rc) return rc;
    MlLvlm *m = s->m;
    const int64_t D = ml_lvlm_hidden(m), V = ml_lvlm_vocab(m);
    const int32_t image_id = ml_lvlm_image_token_id(m);
    int64_t n_image = 0;
    for (int64_t i = 0; i < n; i++) n_image += ids[i] == image_id;
    if (features && n_image != n_feature_rows)
        return ml_error_set(err, ML_ERR_SHAPE, "the prompt holds %lld image tokens but %lld image feature rows were given",
                            (long long)n_image, (long long)n_feature_rows);
    const int64_t start = s->kv.n;
    int64_t feat_used = 0;
    for (int64_t r0 = 0; r0 < n; r0 += ML_DECODER_CHUNK) {
        int64_t c = n - r0 < ML_DECODER_CHUNK ? n - r0 : ML_DECODER_CHUNK;
        int64_t c_img = 0;
        for (int64_t i = 0; i < c; i++) c_img += ids[r0 + i] == image_id;
        rc = ml_lvlm_embed(m, s->embeds, ids + r0, c, features ? features + (size_t)feat_used * D : NULL,
                           features ? c_img : 0, err);
        if (!rc) {
            float *lg = NULL;
            if (logits && all_logits) lg = logits + (size_t)r0 * V;
            else if (logits && r0 + c == n) lg = logits;
            rc = ml_lvlm_forward(m, &s->kv, ids + r0, s->embeds, c, hooks, lg, all_logits, err);
        }
        if (rc) {
            s->kv.n = start; /* drop the rows of a half-done call */
            return rc;
        }
        memcpy(s->ids + start + r0, ids + r0, sizeof(int32_t) * c);
        feat_used += c_img;
    }
    return ML_OK;
}

int ml_session_prefill(MlSession *s, const int32_t *ids, int64_t n, const float *features, int64_t n_feature_rows,
                       const MlHooks *hooks, float *logits, MlError *err) {
    return ml_session_forward(s, ids, n, features, n_feature_rows, hooks, logits, 0, err);
}

int ml_session_forward_embeds(MlSession *s, const float *embeds, int64_t n, const MlHooks *hooks, float *logits,
                              int all_logits, MlError *err) {
    int rc = check_room(s, n, err);
    if (rc) return rc;
    const int64_t start = s->kv.n;
    rc = ml_lvlm_forward(s->m, &s->kv, NULL, embeds, n, hooks, logits, all_logits, err);
    if (rc) {
        s->kv.n = start;
        return rc;
    }
    for (int64_t i = 0; i < n; i++) s->ids[start + i] = -1;
    return ML_OK;
}

int ml_session_rewind(MlSession *s, int64_t length, MlError *err) {
    if (s->n_children > 0)
        return ml_error_set(err, ML_ERR_ARG, "session: cannot rewind a session that %d forks read", s->n_children);
    if (length < s->kv.base || length > ml_session_length(s))
        return ml_error_set(err, ML_ERR_RANGE, "session: cannot rewind to %lld (own tokens span %lld..%lld)",
                            (long long)length, (long long)s->kv.base, (long long)ml_session_length(s));
    s->kv.n = length - s->kv.base;
    return ML_OK;
}

int ml_session_generate(MlSession *s, MlSampler *sampler, float *logits, int64_t max_tokens, int32_t eos_id,
                        MlTokenFn on_token, void *user, const MlHooks *hooks, int32_t *out, int64_t *n_out,
                        MlError *err) {
    *n_out = 0;
    const int64_t max_pos = ml_lvlm_context(s->m);
    while (*n_out < max_tokens) {
        int32_t id = ml_sampler_sample(sampler, logits);
        if (out) out[*n_out] = id;
        (*n_out)++;
        if (on_token && on_token(id, user)) break;
        if (id == eos_id || *n_out == max_tokens) break;
        if (ml_session_length(s) >= max_pos || s->kv.n >= s->kv.cap) break;
        int rc = ml_session_forward(s, &id, 1, NULL, 0, hooks, logits, 0, err);
        if (rc) return rc;
    }
    return ML_OK;
}
