/*
** strmap.h: the string -> size_t hash map (open addressing, keys copied with
** their lengths, so any bytes, NUL included, can be a key).  Used for
** question ids, done-sets of run logs, word vocabularies and tokenizer pieces.
**
**     MlStrMap m = {0};
**     int existed;
**     if (ml_strmap_put(&m, "17", 3, &existed, NULL)) ... out of memory
**     const size_t *v = ml_strmap_get(&m, "17");   NULL when absent
**     ml_strmap_free(&m);
*/
#ifndef ML_CORE_STRMAP_H
#define ML_CORE_STRMAP_H

#include <stddef.h>

typedef struct MlStrMap {
    char **keys;  /* cap slots, NULL = empty */
    size_t *lens; /* cap slots: key lengths */
    size_t *vals; /* cap slots */
    size_t cap;   /* 0 or a power of two */
    size_t count;
} MlStrMap;

/* Sets key -> val (replacing an old value).  *existed (if non-NULL) tells
   whether the key was there before; *old_val (if non-NULL) gets its old
   value.  Returns ML_OK or ML_ERR_NOMEM. */
int ml_strmap_put(MlStrMap *m, const char *key, size_t val, int *existed, size_t *old_val);
/* The same for a key given as n bytes (not NUL-terminated). */
int ml_strmap_putn(MlStrMap *m, const char *key, size_t n, size_t val, int *existed, size_t *old_val);
const size_t *ml_strmap_get(const MlStrMap *m, const char *key);
const size_t *ml_strmap_getn(const MlStrMap *m, const char *key, size_t n);
void ml_strmap_free(MlStrMap *m);

#endif
