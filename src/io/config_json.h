/*
** config_json.h: JSON getters for the config readers (io/checkpoint.c,
** io/qwen2vl_config.c) whose errors name the file and the key path
** ("config.json: text_config.hidden_size: expected ...").  Absent keys take
** the default; see core/json.h for the checks.
**
**     MlCfgSection s = {root, "vision_config.", "config.json", err};
**     int depth;
**     if (ml_cfg_int(&s, "depth", 32, 1, 1024, &depth)) return err->code;
*/
#ifndef ML_IO_CONFIG_JSON_H
#define ML_IO_CONFIG_JSON_H

#include <stddef.h>

#include "core/json.h"
#include "kernels/activation.h"

typedef struct MlCfgSection {
    const cJSON *obj;   /* the object keys are read from */
    const char *prefix; /* "" or "text_config." */
    const char *where;  /* file name */
    MlError *err;
} MlCfgSection;

/* Control bytes of s become '?', long strings are cut; returns buf. */
const char *ml_cfg_one_line(const char *s, char *buf, size_t cap);
/* Rewrites a core/json.h error for key to carry the section prefix. */
int ml_cfg_qualify(const MlCfgSection *s, const char *key, int rc);
int ml_cfg_int(const MlCfgSection *s, const char *key, long long def, long long lo, long long hi, int *out);
int ml_cfg_float(const MlCfgSection *s, const char *key, double def, double lo, double hi, float *out);
int ml_cfg_bool(const MlCfgSection *s, const char *key, int def, int *out);
int ml_cfg_str(const MlCfgSection *s, const char *key, const char *def, const char **out);
/* "<where>: <prefix><key>: <what>" with the given code. */
int ml_cfg_fail(const MlCfgSection *s, int code, const char *key, const char *what);
/* 1 when key is present and not null. */
int ml_cfg_present(const MlCfgSection *s, const char *key);
/* hidden_act names: silu/swish, gelu, quick_gelu, gelu_pytorch_tanh/gelu_new. */
int ml_cfg_act(const MlCfgSection *s, const char *key, const char *def, MlActivation *out);
/* A sub-object that may be absent (*out NULL) but not of another type. */
int ml_cfg_object(const MlCfgSection *s, const char *key, const cJSON **out);
/* model_type must be want (absent counts as want); `what` says what is supported. */
int ml_cfg_model_type(const MlCfgSection *s, const char *want, const char *what);
/* image_mean / image_std: one number for all channels or three (nonzero: none may be 0). */
int ml_cfg_triple(const MlCfgSection *s, const char *key, const float def[3], int nonzero, float out[3]);

#endif
