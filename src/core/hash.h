/*
** hash.h: FNV-1a, the project's one byte-string hash: hash-map slots, seeds
** derived from names, fingerprints of training settings.  Not for security.
**
**     uint64_t h = ml_fnv1a64(name, strlen(name));
*/
#ifndef ML_CORE_HASH_H
#define ML_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a of n bytes (offset basis 0xcbf29ce484222325, prime 0x100000001b3). */
uint64_t ml_fnv1a64(const void *data, size_t n);

#endif
