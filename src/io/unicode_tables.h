/*
** unicode_tables.h: the Unicode data io/unicode.c reads, generated into
** unicode_tables.c by scripts/gen_unicode_tables.py (Python's unicodedata).
** Every table is sorted by its first field.  Not part of the public API.
*/
#ifndef ML_IO_UNICODE_TABLES_H
#define ML_IO_UNICODE_TABLES_H

#include <stdint.h>

typedef struct MlUniRange {
    uint32_t lo, hi;
} MlUniRange;

typedef struct MlUniClass {
    uint32_t lo, hi;
    uint8_t ccc; /* canonical combining class of lo..hi */
} MlUniClass;

typedef struct MlUniDecomp {
    uint32_t cp;
    uint16_t start, len; /* full canonical decomposition: ml_uni_decomp_pool[start .. start+len) */
} MlUniDecomp;

typedef struct MlUniCompose {
    uint32_t first, second, composite; /* primary composites only */
} MlUniCompose;

extern const MlUniRange ml_uni_letters[], ml_uni_numbers[];
extern const int ml_uni_letters_count, ml_uni_numbers_count;
extern const MlUniClass ml_uni_ccc[];
extern const int ml_uni_ccc_count;
extern const MlUniDecomp ml_uni_decomp[];
extern const int ml_uni_decomp_count;
extern const uint32_t ml_uni_decomp_pool[];
extern const int ml_uni_decomp_pool_count;
extern const MlUniCompose ml_uni_compose[];
extern const int ml_uni_compose_count;

#endif
