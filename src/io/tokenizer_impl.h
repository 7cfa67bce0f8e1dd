/*
** tokenizer_impl.h: the inside of MlTokenizer, shared by tokenizer_load.c
** (building it from JSON), tokenizer.c (encoding) and tokenizer_decode.c.
** Not part of the public API.
**
** Pieces and added-token contents live in one arena owned by the tokenizer;
** every string is NUL-terminated, valid UTF-8 and free of NUL bytes (cJSON
** stops a string at an escaped \u0000).
*/
#ifndef ML_IO_TOKENIZER_IMPL_H
#define ML_IO_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/json.h"
#include "core/strmap.h"
#include "io/tokenizer.h"

/* Limits that keep every size derived from the file far from overflow. */
#define ML_TOK_MAX_IDS (1 << 24)
#define ML_TOK_MAX_MERGES (1 << 26)
#define ML_TOK_MAX_STEPS 64
#define ML_TOK_MAX_TEXT ((size_t)1 << 30) /* bytes of one text, before or after normalizing (fits int32 positions) */

/* Merge ranks keyed by the pair of ids (left << 32 | right). */
typedef struct MlTokMergeSlot {
    uint64_t key; /* UINT64_MAX = empty */
    int32_t rank; /* position in the merges list: lower merges first */
    int32_t new_id;
} MlTokMergeSlot;

typedef struct MlTokAdded {
    int32_t id;
    const char *content; /* matched in the raw text (normalized == 0) */
    uint32_t len;
    const char *norm;    /* content after the normalizer (normalized == 1) */
    uint32_t norm_len;
    uint8_t special, lstrip, rstrip, normalized;
} MlTokAdded;

/* Added tokens of one kind (raw or normalized), ready for leftmost-longest
   search: indices into tok->added grouped by first byte, longest first. */
typedef struct MlTokMatcher {
    int32_t first[257]; /* order[first[b] .. first[b+1]) start with byte b */
    int32_t *order;
    int normalized;     /* match `norm` rather than `content` */
} MlTokMatcher;

typedef enum MlTokStepKind {
    ML_TOK_PREPEND,       /* normalizer: prepend a (only to non-empty text) */
    ML_TOK_REPLACE,       /* normalizer or decoder: replace every a with b */
    ML_TOK_BYTE_FALLBACK, /* decoder: <0xXX> runs -> bytes */
    ML_TOK_FUSE,          /* decoder: join all tokens */
    ML_TOK_STRIP,         /* decoder: strip up to start/stop copies of a */
    ML_TOK_NFC,           /* normalizer: Unicode NFC (io/unicode.h) */
    ML_TOK_BYTE_LEVEL,    /* decoder: ByteLevel characters -> bytes, all tokens joined, invalid UTF-8 -> U+FFFD */
} MlTokStepKind;

typedef struct MlTokStep {
    MlTokStepKind kind;
    const char *a, *b;
    uint32_t a_len, b_len;
    int32_t start, stop; /* STRIP counts */
} MlTokStep;

struct MlTokenizer {
    int32_t n_ids;        /* table size: max(model vocab, largest added id + 1) */
    int32_t n_model;      /* model vocab entries, ids 0 .. n_model-1 */
    const char **piece;   /* [n_ids], NULL for an unused id */
    uint32_t *piece_len;  /* [n_ids] */
    uint8_t *special;     /* [n_ids] special added token */
    MlStrMap vocab;       /* model pieces -> id */
    MlTokMergeSlot *merges;
    uint32_t merge_mask;
    MlTokAdded *added;
    int32_t n_added;
    MlStrMap added_map;   /* added content -> id */
    MlTokMatcher raw_match, norm_match;
    MlTokStep norm_steps[ML_TOK_MAX_STEPS];
    int n_norm_steps;
    MlTokStep dec_steps[ML_TOK_MAX_STEPS];
    int n_dec_steps;
    int has_decoder;      /* 0: tokens are joined with spaces (no decoder in the file) */
    int32_t byte_id[256]; /* <0xXX> piece ids, -1 if absent */
    const char *unk;      /* unk_token or NULL */
    int32_t unk_id;       /* -1 when unk is NULL or not in the vocab */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t bos_id, eos_id;
    int byte_level;            /* pre-tokenizer: Qwen2 split regex, then ByteLevel (pieces spell bytes as characters) */
    char byte_utf8[256][3];    /* ByteLevel character of each byte, UTF-8, NUL-terminated */
    int16_t byte_of_cp[324];   /* and back: the byte of characters U+0000..U+0143, -1 for none */
    char *arena;          /* pieces and added contents */
    char **owned;         /* smaller strings (steps, normalized contents), freed one by one */
    int n_owned, owned_cap;
    char source[256];     /* the file name, for messages from encode */
};

/* Id stored for the piece s (n bytes), or -1. */
int32_t ml_tok_strmap_find(const MlStrMap *m, const char *s, size_t n);
/* The merge for (left, right), or NULL. */
const MlTokMergeSlot *ml_tok_merge_find(const MlTokenizer *tok, int32_t left, int32_t right);

/* Length of the UTF-8 character at s (1..4), or 0 when the bytes there are
   not a valid, shortest-form encoding of a scalar value. cp gets the value. */
size_t ml_tok_utf8_char(const unsigned char *s, size_t n, uint32_t *cp);
int ml_tok_utf8_valid(const char *s, size_t n);

/* Runs the normalizer steps on s into a malloc'd buffer (*out, *out_len;
   NUL-terminated).  Fails with ML_ERR_RANGE when the result would exceed
   ML_TOK_MAX_TEXT bytes. */
int ml_tok_normalize(const MlTokenizer *tok, const char *s, size_t n, char **out, size_t *out_len, MlError *err);

/* Builds a tokenizer from a parsed tokenizer.json tree (tokenizer_files.c makes one from vocab.json + merges.txt). */
int ml_tok_load_tree(MlTokenizer **out, const cJSON *root, const char *where, MlError *err);

/* The Qwen2 pre-tokenizer regex, as tokenizer.json spells it. */
#define ML_TOK_QWEN2_REGEX                                                                                     \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
    "\\s+(?!\\S)|\\s+"

/* ByteLevel's byte <-> character tables (byte_utf8, byte_of_cp). */
void ml_tok_byte_level_init(MlTokenizer *tok);
/* End of the Qwen2 pre-tokenizer match that starts at s[i] (i < n; always > i). */
size_t ml_tok_qwen2_split(const char *s, size_t n, size_t i);

#endif
