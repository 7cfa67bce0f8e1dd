/* strmap.c: FNV-1a hashing, linear probing, grows at 1/2 load. */
#include "core/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"

static size_t find_slot(char *const *keys, const size_t *lens, size_t cap, const char *key, size_t n) {
    uint64_t h = ml_fnv1a64(key, n);
    size_t i = (size_t)(h ^ (h >> 29)) & (cap - 1); /* the high bits mixed in: FNV's low bits cluster */
    while (keys[i] && !(lens[i] == n && !memcmp(keys[i], key, n))) i = (i + 1) & (cap - 1);
    return i;
}

static int grow(MlStrMap *m) {
    size_t ncap = m->cap ? m->cap * 2 : 64;
    if (ncap > SIZE_MAX / sizeof(char *) / 2) return ML_ERR_NOMEM;
    char **keys = calloc(ncap, sizeof *keys);
    size_t *lens = calloc(ncap, sizeof *lens);
    size_t *vals = calloc(ncap, sizeof *vals);
    if (!keys || !lens || !vals) {
        free(keys);
        free(lens);
        free(vals);
        return ML_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = find_slot(keys, lens, ncap, m->keys[i], m->lens[i]);
        keys[j] = m->keys[i];
        lens[j] = m->lens[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->lens);
    free(m->vals);
    m->keys = keys;
    m->lens = lens;
    m->vals = vals;
    m->cap = ncap;
    return ML_OK;
}

int ml_strmap_putn(MlStrMap *m, const char *key, size_t n, size_t val, int *existed, size_t *old_val) {
    if ((m->count + 1) * 2 > m->cap && grow(m)) return ML_ERR_NOMEM;
    size_t i = find_slot(m->keys, m->lens, m->cap, key, n);
    if (m->keys[i]) {
        if (existed) *existed = 1;
        if (old_val) *old_val = m->vals[i];
        m->vals[i] = val;
        return ML_OK;
    }
    if (n == SIZE_MAX) return ML_ERR_NOMEM;
    char *copy = malloc(n + 1);
    if (!copy) return ML_ERR_NOMEM;
    memcpy(copy, key, n);
    copy[n] = 0;
    m->keys[i] = copy;
    m->lens[i] = n;
    m->vals[i] = val;
    m->count++;
    if (existed) *existed = 0;
    return ML_OK;
}

int ml_strmap_put(MlStrMap *m, const char *key, size_t val, int *existed, size_t *old_val) {
    return ml_strmap_putn(m, key, strlen(key), val, existed, old_val);
}

const size_t *ml_strmap_getn(const MlStrMap *m, const char *key, size_t n) {
    if (!m->cap) return NULL;
    size_t i = find_slot(m->keys, m->lens, m->cap, key, n);
    return m->keys[i] ? &m->vals[i] : NULL;
}

const size_t *ml_strmap_get(const MlStrMap *m, const char *key) { return ml_strmap_getn(m, key, strlen(key)); }

void ml_strmap_free(MlStrMap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->lens);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
