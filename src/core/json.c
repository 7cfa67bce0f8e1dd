#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

int ml_json_parse(const char *text, size_t len, const char *where, cJSON **root, MlError *err) {
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!*root) {
        size_t off = (end && end >= text && end <= text + len) ? (size_t)(end - text) : 0;
        size_t line = 1;
        for (size_t i = 0; i < off; i++) line += text[i] == '\n';
        return ml_error_set(err, ML_ERR_FORMAT, "%s: malformed JSON near byte %zu (line %zu)", where, off, line);
    }
    return ML_OK;
}

static int parse_tree(const char *text, size_t len, const char *where, void *root, MlError *err) {
    return ml_json_parse(text, len, where, root, err);
}

int ml_json_load(const char *path, cJSON **root, MlError *err) {
    *root = NULL;
    return ml_file_parse(path, parse_tree, root, err);
}

int ml_json_int(const cJSON *obj, const char *key, long long def, long long lo, long long hi,
                long long *out, const char *where, MlError *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return ML_OK;
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !isfinite(d) || d != floor(d))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: %s: expected an integer", where, key);
    if (d < (double)lo || d > (double)hi)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: %s: %.0f is outside [%lld, %lld]", where, key, d, lo, hi);
    *out = (long long)d;
    return ML_OK;
}

int ml_json_num(const cJSON *obj, const char *key, double def, double lo, double hi, double *out,
                const char *where, MlError *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return ML_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: %s: expected a number", where, key);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: %s: %g is outside [%g, %g]", where, key, v->valuedouble, lo, hi);
    *out = v->valuedouble;
    return ML_OK;
}

int ml_json_bool(const cJSON *obj, const char *key, int def, int *out, const char *where, MlError *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return ML_OK;
    }
    if (!cJSON_IsBool(v)) return ml_error_set(err, ML_ERR_FORMAT, "%s: %s: expected true or false", where, key);
    *out = cJSON_IsTrue(v);
    return ML_OK;
}

int ml_json_str(const cJSON *obj, const char *key, const char *def, const char **out, const char *where,
                MlError *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return ML_OK;
    }
    if (!cJSON_IsString(v)) return ml_error_set(err, ML_ERR_FORMAT, "%s: %s: expected a string", where, key);
    *out = v->valuestring;
    return ML_OK;
}

size_t ml_json_escape(char *buf, size_t cap, const char *s) {
    size_t n = 0;
#define PUT(c)                                                                 \
    do {                                                                       \
        if (n + 1 < cap) buf[n] = (c);                                         \
        n++;                                                                   \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c == '\n') {
            PUT('\\');
            PUT('n');
        } else if (c == '\t') {
            PUT('\\');
            PUT('t');
        } else if (c == '\r') {
            PUT('\\');
            PUT('r');
        } else if (c < 0x20) {
            char hex[8];
            snprintf(hex, sizeof hex, "\\u%04x", c);
            for (int i = 0; hex[i]; i++) PUT(hex[i]);
        } else {
            PUT((char)c);
        }
    }
    PUT('"');
#undef PUT
    if (cap) buf[n < cap ? n : cap - 1] = 0;
    return n;
}
