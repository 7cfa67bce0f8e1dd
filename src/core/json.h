/*
** json.h: cJSON with file names and key paths in every error.
**
** ml_json_load parses a whole file; the caller frees the tree with
** cJSON_Delete.  The getters read one member of an object: absent keys
** take the default, present keys of the wrong type or out of range fail
** with "<where>: <key>: expected ...".  `where` is usually the file name.
*/
#ifndef ML_CORE_JSON_H
#define ML_CORE_JSON_H

#include <cjson/cJSON.h> /* cJSON tree, cJSON_Delete */
#include <stddef.h>

#include "core/error.h"

int ml_json_load(const char *path, cJSON **root, MlError *err);
int ml_json_parse(const char *text, size_t len, const char *where, cJSON **root, MlError *err);

/* Integer member in [lo, hi]; must be integral. */
int ml_json_int(const cJSON *obj, const char *key, long long def, long long lo, long long hi,
                long long *out, const char *where, MlError *err);
/* Finite number member in [lo, hi]. */
int ml_json_num(const cJSON *obj, const char *key, double def, double lo, double hi, double *out,
                const char *where, MlError *err);
int ml_json_bool(const cJSON *obj, const char *key, int def, int *out, const char *where, MlError *err);
/* String member; *out points into the tree (or at def). */
int ml_json_str(const cJSON *obj, const char *key, const char *def, const char **out, const char *where,
                MlError *err);

/* Appends s to buf as a JSON string literal (with quotes); returns bytes
   written, or the bytes needed when they do not fit (like snprintf). */
size_t ml_json_escape(char *buf, size_t cap, const char *s);

#endif
