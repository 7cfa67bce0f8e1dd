/*
** steer.h: steering directions computed offline (`misalign steer fit`) and
** read by a steering method (VTI) at run time, with the fingerprint of the
** model they were computed from.
**
** File (little-endian):
**   8 bytes   "MLSTEER1"
**   u32       n: length of the JSON header that follows
**   n bytes   {"method": "vti", "layers": L, "hidden": D, "vision_layers": Lv,
**              "vision_tokens": T, "vision_hidden": Dv, "config_fnv1a64": "<16 hex>",
**              "demos": N}
**   float32   text directions [L + 1, D]: one per hidden state (0 = embeddings)
**   float32   vision directions [Lv + 1, T, Dv]: per hidden state and token
** Nothing may follow.  L, Lv are the decoder layers and the vision layers the
** model runs; config_fnv1a64 hashes the bytes of the model's config.json.
**
**     MlSteer s;
**     if (ml_steer_load("vti.steer", &s, &err)) ...
**     if (ml_steer_check(&s, model, "vti.steer", &err)) ...   // another model: one error
**     ml_steer_free(&s);
*/
#ifndef ML_MITIGATE_STEER_H
#define ML_MITIGATE_STEER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/lvlm.h"

#define ML_STEER_MAGIC "MLSTEER1"

/* What a directions file must match in a model. */
typedef struct MlSteerShape {
    int layers;            /* decoder layers */
    int64_t hidden;        /* decoder width */
    int vision_layers;     /* vision layers run */
    int64_t vision_tokens; /* rows in the vision tower (CLS + patches) */
    int64_t vision_hidden;
    uint64_t config_hash;  /* FNV-1a 64 of config.json */
} MlSteerShape;

typedef struct MlSteer {
    char method[16];
    MlSteerShape shape;
    int64_t demos; /* examples the directions were fitted on */
    float *text;   /* [layers + 1, hidden] */
    float *vision; /* [vision_layers + 1, vision_tokens, vision_hidden] */
} MlSteer;

/* The shape of a model (reads its config.json to hash it). */
int ml_steer_shape(const MlLvlm *m, MlSteerShape *out, MlError *err);
/* Allocates the directions of a shape, zeroed. */
int ml_steer_alloc(MlSteer *s, const char *method, const MlSteerShape *shape, MlError *err);
void ml_steer_free(MlSteer *s);

int ml_steer_write(const char *path, const MlSteer *s, MlError *err);
/* Parses a whole file image; `where` names it in errors. */
int ml_steer_parse(const void *data, size_t size, const char *where, MlSteer *out, MlError *err);
int ml_steer_load(const char *path, MlSteer *out, MlError *err);
/* ML_ERR_ARG when s was fitted on a model of another shape or config, or
   by another method. */
int ml_steer_check(const MlSteer *s, const MlLvlm *m, const char *method, const char *where, MlError *err);

#endif
