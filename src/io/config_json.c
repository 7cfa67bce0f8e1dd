/* config_json.c: the getters of io/config_json.h. */
#include "io/config_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Names and strings from files go into one-line messages: control bytes
   become '?', long ones are cut. */
const char *ml_cfg_one_line(const char *s, char *buf, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 4 < cap; i++) buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i]) memcpy(buf + i, "...", 4);
    else buf[i] = 0;
    return buf;
}

/* The core getters write "<where>: <key>: ..."; insert the section prefix. */
int ml_cfg_qualify(const MlCfgSection *s, const char *key, int rc) {
    if (rc == ML_OK || !s->err || !*s->prefix) return rc;
    char rest[sizeof s->err->msg];
    size_t skip = strlen(s->where) + 2 + strlen(key);
    if (strlen(s->err->msg) < skip) return rc;
    snprintf(rest, sizeof rest, "%s", s->err->msg + skip);
    return ml_error_set(s->err, rc, "%s: %s%s%s", s->where, s->prefix, key, rest);
}

int ml_cfg_int(const MlCfgSection *s, const char *key, long long def, long long lo, long long hi, int *out) {
    long long v;
    int rc = ml_cfg_qualify(s, key, ml_json_int(s->obj, key, def, lo, hi, &v, s->where, s->err));
    if (rc == ML_OK) *out = (int)v;
    return rc;
}

int ml_cfg_float(const MlCfgSection *s, const char *key, double def, double lo, double hi, float *out) {
    double v;
    int rc = ml_cfg_qualify(s, key, ml_json_num(s->obj, key, def, lo, hi, &v, s->where, s->err));
    if (rc == ML_OK) *out = (float)v;
    return rc;
}

int ml_cfg_bool(const MlCfgSection *s, const char *key, int def, int *out) {
    return ml_cfg_qualify(s, key, ml_json_bool(s->obj, key, def, out, s->where, s->err));
}

int ml_cfg_str(const MlCfgSection *s, const char *key, const char *def, const char **out) {
    return ml_cfg_qualify(s, key, ml_json_str(s->obj, key, def, out, s->where, s->err));
}

int ml_cfg_fail(const MlCfgSection *s, int code, const char *key, const char *what) {
    return ml_error_set(s->err, code, "%s: %s%s: %s", s->where, s->prefix, key, what);
}

int ml_cfg_present(const MlCfgSection *s, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->obj, key);
    return v && !cJSON_IsNull(v);
}

int ml_cfg_act(const MlCfgSection *s, const char *key, const char *def, MlActivation *out) {
    const char *name;
    int rc = ml_cfg_str(s, key, def, &name);
    if (rc) return rc;
    if (!strcmp(name, "silu") || !strcmp(name, "swish")) *out = ML_ACT_SILU;
    else if (!strcmp(name, "gelu")) *out = ML_ACT_GELU;
    else if (!strcmp(name, "quick_gelu")) *out = ML_ACT_QUICK_GELU;
    else if (!strcmp(name, "gelu_pytorch_tanh") || !strcmp(name, "gelu_new")) *out = ML_ACT_GELU_TANH;
    else
        return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, key,
                           "activation not supported (silu, gelu, quick_gelu, gelu_pytorch_tanh)");
    return ML_OK;
}

/* A sub-object that may be absent (NULL) but not of another type. */
int ml_cfg_object(const MlCfgSection *s, const char *key, const cJSON **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->obj, key);
    *out = (v && !cJSON_IsNull(v)) ? v : NULL;
    if (*out && !cJSON_IsObject(*out)) return ml_cfg_fail(s, ML_ERR_FORMAT, key, "expected an object");
    return ML_OK;
}

int ml_cfg_model_type(const MlCfgSection *s, const char *want, const char *what) {
    const char *mt;
    int rc = ml_cfg_str(s, "model_type", want, &mt);
    if (rc == ML_OK && strcmp(mt, want)) {
        char msg[160], mb[48];
        snprintf(msg, sizeof msg, "'%s' is not supported (%s)", ml_cfg_one_line(mt, mb, sizeof mb), what);
        return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, "model_type", msg);
    }
    return rc;
}

/* image_mean / image_std: one number for all channels or three. */
int ml_cfg_triple(const MlCfgSection *s, const char *key, const float def[3], int nonzero, float out[3]) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->obj, key);
    if (!v || cJSON_IsNull(v)) {
        memcpy(out, def, 3 * sizeof *out);
        return ML_OK;
    }
    for (int c = 0; c < 3; c++) {
        const cJSON *x = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, c) : v;
        if ((cJSON_IsArray(v) && cJSON_GetArraySize(v) != 3) || !cJSON_IsNumber(x) || !isfinite(x->valuedouble) ||
            fabs(x->valuedouble) > 1e6 || (nonzero && x->valuedouble == 0))
            return ml_cfg_fail(s, ML_ERR_FORMAT, key,
                               nonzero ? "expected a nonzero number or 3 of them" : "expected a number or 3 of them");
        out[c] = (float)x->valuedouble;
    }
    return ML_OK;
}
