/* steer.c: steering-direction files (see steer.h). */
#include "mitigate/steer.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/json.h"

/* Limits that keep a lying header from asking for absurd allocations. */
#define MAX_LAYERS 1024
#define MAX_WIDTH (1 << 20)
#define MAX_TOKENS (1 << 20)
#define MAX_FLOATS ((int64_t)1 << 32)

static int64_t text_n(const MlSteerShape *s) { return (int64_t)(s->layers + 1) * s->hidden; }
static int64_t vision_n(const MlSteerShape *s) {
    return (int64_t)(s->vision_layers + 1) * s->vision_tokens * s->vision_hidden;
}

int ml_steer_shape(const MlLvlm *m, MlSteerShape *out, MlError *err) {
    char path[4096], *text;
    size_t size;
    int rc = ml_path_join(path, sizeof path, ml_checkpoint_dir(ml_lvlm_checkpoint(m)), "config.json", err);
    if (rc || (rc = ml_file_read(path, &text, &size, err))) return rc;
    *out = (MlSteerShape){.layers = ml_lvlm_layers(m), .hidden = ml_lvlm_hidden(m),
                          .vision_layers = ml_lvlm_vision_layers(m), .vision_tokens = ml_lvlm_vision_tokens(m),
                          .vision_hidden = ml_lvlm_vision_hidden(m), .config_hash = ml_fnv1a64(text, size)};
    free(text);
    return ML_OK;
}

int ml_steer_alloc(MlSteer *s, const char *method, const MlSteerShape *shape, MlError *err) {
    memset(s, 0, sizeof *s);
    snprintf(s->method, sizeof s->method, "%s", method);
    s->shape = *shape;
    s->text = calloc((size_t)text_n(shape), sizeof(float));
    s->vision = calloc((size_t)vision_n(shape), sizeof(float));
    if (!s->text || !s->vision) {
        ml_steer_free(s);
        return ml_error_set(err, ML_ERR_NOMEM, "steer: out of memory");
    }
    return ML_OK;
}

void ml_steer_free(MlSteer *s) {
    free(s->text);
    free(s->vision);
    s->text = s->vision = NULL;
}

int ml_steer_write(const char *path, const MlSteer *s, MlError *err) {
    char hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, s->shape.config_hash);
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "method", s->method);
    cJSON_AddNumberToObject(h, "layers", s->shape.layers);
    cJSON_AddNumberToObject(h, "hidden", (double)s->shape.hidden);
    cJSON_AddNumberToObject(h, "vision_layers", s->shape.vision_layers);
    cJSON_AddNumberToObject(h, "vision_tokens", (double)s->shape.vision_tokens);
    cJSON_AddNumberToObject(h, "vision_hidden", (double)s->shape.vision_hidden);
    cJSON_AddStringToObject(h, "config_fnv1a64", hash);
    cJSON_AddNumberToObject(h, "demos", (double)s->demos);
    char *json = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!json) return ml_error_set(err, ML_ERR_NOMEM, "steer: out of memory");
    const uint32_t n = (uint32_t)strlen(json);
    const size_t nt = (size_t)text_n(&s->shape), nv = (size_t)vision_n(&s->shape);
    const size_t size = 12 + n + 4 * (nt + nv);
    unsigned char *buf = malloc(size);
    int rc;
    if (!buf) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "steer: out of memory");
    } else {
        memcpy(buf, ML_STEER_MAGIC, 8);
        for (int i = 0; i < 4; i++) buf[8 + i] = (unsigned char)(n >> (8 * i));
        memcpy(buf + 12, json, n);
        memcpy(buf + 12 + n, s->text, 4 * nt); /* little-endian hosts only (as every file this project writes) */
        memcpy(buf + 12 + n + 4 * nt, s->vision, 4 * nv);
        rc = ml_file_write(path, buf, size, err);
    }
    free(buf);
    free(json);
    return rc;
}

static int dim(const cJSON *h, const char *key, long long hi, long long *out, const char *where, MlError *err) {
    if (!cJSON_GetObjectItemCaseSensitive(h, key))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: header has no \"%s\"", where, key);
    return ml_json_int(h, key, 0, 1, hi, out, where, err);
}

int ml_steer_parse(const void *data, size_t size, const char *where, MlSteer *out, MlError *err) {
    memset(out, 0, sizeof *out);
    const unsigned char *p = data;
    if (size < 12 || memcmp(p, ML_STEER_MAGIC, 8))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: not a steering-direction file (no " ML_STEER_MAGIC " magic)",
                            where);
    const uint32_t n = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
    if (n > size - 12) return ml_error_set(err, ML_ERR_FORMAT, "%s: header of %u bytes runs past the file", where, n);
    cJSON *h;
    int rc = ml_json_parse((const char *)p + 12, n, where, &h, err);
    if (rc) return rc;
    long long layers = 0, hidden = 0, vl = 0, vt = 0, vh = 0, demos = 0;
    const char *method = NULL, *hash = NULL;
    if (!cJSON_IsObject(h)) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: header is not a JSON object", where);
    if (!rc && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(h, "method")))
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: header has no \"method\" string", where);
    if (!rc && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(h, "config_fnv1a64")))
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: header has no \"config_fnv1a64\" string", where);
    if (!rc) rc = ml_json_str(h, "method", NULL, &method, where, err);
    if (!rc) rc = ml_json_str(h, "config_fnv1a64", NULL, &hash, where, err);
    if (!rc) rc = dim(h, "layers", MAX_LAYERS, &layers, where, err);
    if (!rc) rc = dim(h, "hidden", MAX_WIDTH, &hidden, where, err);
    if (!rc) rc = dim(h, "vision_layers", MAX_LAYERS, &vl, where, err);
    if (!rc) rc = dim(h, "vision_tokens", MAX_TOKENS, &vt, where, err);
    if (!rc) rc = dim(h, "vision_hidden", MAX_WIDTH, &vh, where, err);
    if (!rc) rc = ml_json_int(h, "demos", 0, 0, 1LL << 40, &demos, where, err);
    char *end = NULL;
    uint64_t config_hash = 0;
    if (!rc) {
        config_hash = strtoull(hash, &end, 16);
        if (strlen(hash) != 16 || *end || strspn(hash, "0123456789abcdef") != 16)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: config_fnv1a64 '%s' is not 16 lowercase hex digits", where, hash);
    }
    if (!rc && strlen(method) >= sizeof out->method)
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: method name '%s' is too long", where, method);
    MlSteerShape shape = {(int)layers, hidden, (int)vl, vt, vh, config_hash};
    if (!rc && (text_n(&shape) > MAX_FLOATS || vision_n(&shape) > MAX_FLOATS))
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: directions of %lld x %lld and %lld x %lld x %lld are too large", where,
                          layers + 1, hidden, vl + 1, vt, vh);
    if (!rc) {
        const uint64_t want = 4 * (uint64_t)(text_n(&shape) + vision_n(&shape));
        if (size - 12 - n != want)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: %zu bytes of directions, the header's shapes need %llu", where,
                              size - 12 - n, (unsigned long long)want);
    }
    if (!rc) rc = ml_steer_alloc(out, method, &shape, err);
    cJSON_Delete(h);
    if (rc) return rc;
    out->demos = demos;
    memcpy(out->text, p + 12 + n, 4 * (size_t)text_n(&shape));
    memcpy(out->vision, p + 12 + n + 4 * (size_t)text_n(&shape), 4 * (size_t)vision_n(&shape));
    for (int64_t i = 0; i < text_n(&shape); i++)
        if (!isfinite(out->text[i])) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: a text direction is not finite", where);
    for (int64_t i = 0; !rc && i < vision_n(&shape); i++)
        if (!isfinite(out->vision[i])) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: a vision direction is not finite", where);
    if (rc) ml_steer_free(out);
    return rc;
}

static int parse_file(const char *text, size_t len, const char *where, void *out, MlError *err) {
    return ml_steer_parse(text, len, where, out, err);
}

int ml_steer_load(const char *path, MlSteer *out, MlError *err) { return ml_file_parse(path, parse_file, out, err); }

int ml_steer_check(const MlSteer *s, const MlLvlm *m, const char *method, const char *where, MlError *err) {
    MlSteerShape want;
    int rc = ml_steer_shape(m, &want, err);
    if (rc) return rc;
    const MlSteerShape *g = &s->shape;
    if (strcmp(s->method, method))
        return ml_error_set(err, ML_ERR_ARG, "%s: directions of method %s, not %s", where, s->method, method);
    if (g->layers != want.layers || g->hidden != want.hidden || g->vision_layers != want.vision_layers ||
        g->vision_tokens != want.vision_tokens || g->vision_hidden != want.vision_hidden)
        return ml_error_set(err, ML_ERR_ARG,
                            "%s: directions for another model (layers %d, width %lld, vision %d x %lld x %lld; "
                            "this model: %d, %lld, %d x %lld x %lld)",
                            where, g->layers, (long long)g->hidden, g->vision_layers, (long long)g->vision_tokens,
                            (long long)g->vision_hidden, want.layers, (long long)want.hidden, want.vision_layers,
                            (long long)want.vision_tokens, (long long)want.vision_hidden);
    if (g->config_hash != want.config_hash)
        return ml_error_set(err, ML_ERR_ARG,
                            "%s: directions for another model (config.json hash %016" PRIx64 ", this model's %016" PRIx64
                            ")",
                            where, g->config_hash, want.config_hash);
    return ML_OK;
}
