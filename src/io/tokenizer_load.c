/* tokenizer_load.c: tokenizer.json -> MlTokenizer, validating every part
   before anything is built from it (see io/tokenizer.h for what is supported). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "io/tokenizer_impl.h"

/* ---- hashing ---------------------------------------------------------- */

int32_t ml_tok_strmap_find(const MlStrMap *m, const char *s, size_t n) {
    const size_t *id = ml_strmap_getn(m, s, n);
    return id ? (int32_t)*id : -1;
}

/* Inserts id under its piece; *existed tells whether the piece was there already. */
static int strmap_insert(const MlTokenizer *tok, MlStrMap *m, int32_t id, int *existed, MlError *err) {
    if (ml_strmap_putn(m, tok->piece[id], tok->piece_len[id], (size_t)id, existed, NULL))
        return ml_error_set(err, ML_ERR_NOMEM, "tokenizer: out of memory");
    return ML_OK;
}

static uint32_t merge_hash(uint64_t key) { return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32); }

const MlTokMergeSlot *ml_tok_merge_find(const MlTokenizer *tok, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = merge_hash(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        const MlTokMergeSlot *s = &tok->merges[i];
        if (s->key == key) return s;
        if (s->key == UINT64_MAX) return NULL;
    }
}

/* A later merge of the same pair replaces the earlier one, as in `tokenizers`
   (its merge map is collected from the list in order). */
static void merge_insert(MlTokenizer *tok, int32_t left, int32_t right, int32_t rank, int32_t new_id) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = merge_hash(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        MlTokMergeSlot *s = &tok->merges[i];
        if (s->key == key || s->key == UINT64_MAX) {
            *s = (MlTokMergeSlot){key, rank, new_id};
            return;
        }
    }
}

/* ---- UTF-8 -------------------------------------------------------------- */

size_t ml_tok_utf8_char(const unsigned char *s, size_t n, uint32_t *cp) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

int ml_tok_utf8_valid(const char *s, size_t n) {
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t l = ml_tok_utf8_char((const unsigned char *)s + i, n - i, &cp);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

/* ---- small helpers ---------------------------------------------------- */

typedef struct Ctx {
    MlTokenizer *tok;
    const char *where;
    MlError *err;
} Ctx;

static int fmt_err(Ctx *c, int code, const char *what, const char *problem) {
    return ml_error_set(c->err, code, "%s: %s: %s", c->where, what, problem);
}

/* Copy of s owned by the tokenizer (freed by ml_tokenizer_free). */
static const char *own_copy(Ctx *c, const char *s, size_t n) {
    MlTokenizer *tok = c->tok;
    if (tok->n_owned == tok->owned_cap) {
        int cap = tok->owned_cap ? 2 * tok->owned_cap : 16;
        char **grown = realloc(tok->owned, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        tok->owned = grown;
        tok->owned_cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy) return NULL;
    memcpy(copy, s, n);
    copy[n] = 0;
    tok->owned[tok->n_owned++] = copy;
    return copy;
}

/* A string member that must be valid UTF-8; absent or null gives def. */
static int get_str(Ctx *c, const cJSON *obj, const char *key, const char *path, const char *def, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char what[160];
    snprintf(what, sizeof what, "%s.%s", path, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return ML_OK;
    }
    if (!cJSON_IsString(v)) return fmt_err(c, ML_ERR_FORMAT, what, "expected a string");
    if (!ml_tok_utf8_valid(v->valuestring, strlen(v->valuestring)))
        return fmt_err(c, ML_ERR_FORMAT, what, "not valid UTF-8");
    *out = v->valuestring;
    return ML_OK;
}

static int get_bool(Ctx *c, const cJSON *obj, const char *key, const char *path, int def, int *out) {
    char what[160];
    snprintf(what, sizeof what, "%s.%s", path, key);
    return ml_json_bool(obj, key, def, out, c->where, c->err) ? fmt_err(c, ML_ERR_FORMAT, what, "expected true or false")
                                                             : ML_OK;
}

static const char *type_of(const cJSON *obj) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* ---- normalizer and decoder steps ------------------------------------- */

static int add_step(Ctx *c, MlTokStep *steps, int *n, MlTokStep s, const char *path) {
    if (*n >= ML_TOK_MAX_STEPS) return fmt_err(c, ML_ERR_UNSUPPORTED, path, "more than 64 steps");
    if (s.a) {
        s.a_len = (uint32_t)strlen(s.a);
        if (!(s.a = own_copy(c, s.a, s.a_len))) return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
    }
    if (s.b) {
        s.b_len = (uint32_t)strlen(s.b);
        if (!(s.b = own_copy(c, s.b, s.b_len))) return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
    }
    steps[(*n)++] = s;
    return ML_OK;
}

/* Replace {pattern: {String: a}, content: b}: both a normalizer and a decoder. */
static int parse_replace(Ctx *c, const cJSON *obj, const char *path, MlTokStep *out) {
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(obj, "pattern");
    char what[160];
    snprintf(what, sizeof what, "%s.pattern", path);
    if (!cJSON_IsObject(pat)) return fmt_err(c, ML_ERR_FORMAT, what, "expected an object");
    if (cJSON_GetObjectItemCaseSensitive(pat, "Regex"))
        return fmt_err(c, ML_ERR_UNSUPPORTED, what, "Regex patterns are not supported");
    const char *a, *b;
    int rc = get_str(c, pat, "String", what, NULL, &a);
    if (!rc) rc = get_str(c, obj, "content", path, NULL, &b);
    if (rc) return rc;
    if (!a || !*a) return fmt_err(c, ML_ERR_FORMAT, what, "expected a non-empty String");
    if (!b) return fmt_err(c, ML_ERR_FORMAT, path, "content: expected a string");
    *out = (MlTokStep){.kind = ML_TOK_REPLACE, .a = a, .b = b};
    return ML_OK;
}

typedef int (*StepParser)(Ctx *c, const cJSON *obj, const char *path, int depth);

/* The common head of a normalizer or decoder: its type, and a "Sequence"
   parsed whole, each element of obj[list_key] with parse.  *type is NULL
   when the Sequence was done here. */
static int step_head(Ctx *c, const cJSON *obj, const char *path, int depth, const char *list_key, StepParser parse,
                     const char **type) {
    *type = NULL;
    if (!cJSON_IsObject(obj)) return fmt_err(c, ML_ERR_FORMAT, path, "expected an object or null");
    if (depth > 8) return fmt_err(c, ML_ERR_UNSUPPORTED, path, "nested too deeply");
    const char *t = type_of(obj);
    if (!t) return fmt_err(c, ML_ERR_FORMAT, path, "type: expected a string");
    if (strcmp(t, "Sequence")) {
        *type = t;
        return ML_OK;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, list_key);
    if (!cJSON_IsArray(list)) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s: expected an array", list_key);
        return fmt_err(c, ML_ERR_FORMAT, path, msg);
    }
    int i = 0;
    for (const cJSON *it = list->child; it; it = it->next, i++) {
        char sub[128];
        snprintf(sub, sizeof sub, "%s.%s[%d]", path, list_key, i);
        int rc = parse(c, it, sub, depth + 1);
        if (rc) return rc;
    }
    return ML_OK;
}

static int parse_normalizer(Ctx *c, const cJSON *obj, const char *path, int depth) {
    MlTokenizer *tok = c->tok;
    if (!obj || cJSON_IsNull(obj)) return ML_OK;
    const char *type;
    int rc = step_head(c, obj, path, depth, "normalizers", parse_normalizer, &type);
    if (rc || !type) return rc;
    MlTokStep s;
    if (!strcmp(type, "Prepend")) {
        const char *a;
        if ((rc = get_str(c, obj, "prepend", path, NULL, &a))) return rc;
        if (!a) return fmt_err(c, ML_ERR_FORMAT, path, "prepend: expected a string");
        s = (MlTokStep){.kind = ML_TOK_PREPEND, .a = a};
    } else if (!strcmp(type, "Replace")) {
        if ((rc = parse_replace(c, obj, path, &s))) return rc;
    } else if (!strcmp(type, "NFC")) {
        s = (MlTokStep){.kind = ML_TOK_NFC};
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "type '%.64s' is not supported (Sequence, Prepend, Replace and NFC are)", type);
        return fmt_err(c, ML_ERR_UNSUPPORTED, path, msg);
    }
    return add_step(c, tok->norm_steps, &tok->n_norm_steps, s, path);
}

static int parse_decoder(Ctx *c, const cJSON *obj, const char *path, int depth) {
    MlTokenizer *tok = c->tok;
    const char *type;
    int rc = step_head(c, obj, path, depth, "decoders", parse_decoder, &type);
    if (rc || !type) return rc;
    MlTokStep s;
    if (!strcmp(type, "Replace")) {
        if ((rc = parse_replace(c, obj, path, &s))) return rc;
    } else if (!strcmp(type, "ByteFallback")) {
        s = (MlTokStep){.kind = ML_TOK_BYTE_FALLBACK};
    } else if (!strcmp(type, "ByteLevel")) {
        s = (MlTokStep){.kind = ML_TOK_BYTE_LEVEL};
    } else if (!strcmp(type, "Fuse")) {
        s = (MlTokStep){.kind = ML_TOK_FUSE};
    } else if (!strcmp(type, "Strip")) {
        const char *a;
        long long start, stop;
        if ((rc = get_str(c, obj, "content", path, NULL, &a))) return rc;
        uint32_t cp;
        if (!a || !*a || ml_tok_utf8_char((const unsigned char *)a, strlen(a), &cp) != strlen(a))
            return fmt_err(c, ML_ERR_FORMAT, path, "content: expected a single character");
        if (ml_json_int(obj, "start", 0, 0, 1 << 20, &start, c->where, c->err) ||
            ml_json_int(obj, "stop", 0, 0, 1 << 20, &stop, c->where, c->err))
            return fmt_err(c, ML_ERR_FORMAT, path, "start/stop: expected small non-negative integers");
        s = (MlTokStep){.kind = ML_TOK_STRIP, .a = a, .start = (int32_t)start, .stop = (int32_t)stop};
    } else {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "type '%.64s' is not supported (Sequence, Replace, ByteFallback, ByteLevel, Fuse, Strip are)", type);
        return fmt_err(c, ML_ERR_UNSUPPORTED, path, msg);
    }
    return add_step(c, tok->dec_steps, &tok->n_dec_steps, s, path);
}

/* null, or Qwen2's: Sequence [Split (its regex, Isolated), ByteLevel without prefix space or regex]. */
static int parse_pre_tokenizer(Ctx *c, const cJSON *pre) {
    if (!pre || cJSON_IsNull(pre)) return ML_OK;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    const cJSON *split = cJSON_GetArrayItem(list, 0), *bl = cJSON_GetArrayItem(list, 1);
    const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(split, "pattern");
    const char *t = cJSON_IsObject(pre) ? type_of(pre) : NULL, *split_type = NULL, *bl_type = NULL;
    const char *regex = NULL, *behavior = NULL;
    int invert = 1, prefix = 1, use_regex = 1;
    if (cJSON_IsObject(split)) split_type = type_of(split);
    if (cJSON_IsObject(bl)) bl_type = type_of(bl);
    int shape_ok = t && !strcmp(t, "Sequence") && cJSON_GetArraySize(list) == 2 && split_type &&
                   !strcmp(split_type, "Split") && bl_type && !strcmp(bl_type, "ByteLevel") && cJSON_IsObject(pattern);
    if (shape_ok && (get_str(c, pattern, "Regex", "pre_tokenizer", NULL, &regex) ||
                     get_str(c, split, "behavior", "pre_tokenizer", NULL, &behavior) ||
                     get_bool(c, split, "invert", "pre_tokenizer", 0, &invert) ||
                     get_bool(c, bl, "add_prefix_space", "pre_tokenizer", 0, &prefix) ||
                     get_bool(c, bl, "use_regex", "pre_tokenizer", 1, &use_regex)))
        shape_ok = 0;
    if (!shape_ok || !regex || strcmp(regex, ML_TOK_QWEN2_REGEX) || !behavior || strcmp(behavior, "Isolated") ||
        invert || prefix || use_regex)
        return fmt_err(c, ML_ERR_UNSUPPORTED, "pre_tokenizer",
                       "only null or Qwen2's (Split on its regex, Isolated; ByteLevel, no prefix space) is supported");
    c->tok->byte_level = 1;
    ml_tok_byte_level_init(c->tok);
    return ML_OK;
}

/* ---- model ------------------------------------------------------------ */

static int parse_model_options(Ctx *c, const cJSON *model) {
    MlTokenizer *tok = c->tok;
    const char *type, *prefix, *suffix;
    int rc;
    if ((rc = get_str(c, model, "type", "model", "BPE", &type))) return rc;
    if (strcmp(type, "BPE")) {
        char msg[160];
        snprintf(msg, sizeof msg, "'%.64s' is not supported (only BPE)", type);
        return fmt_err(c, ML_ERR_UNSUPPORTED, "model.type", msg);
    }
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return fmt_err(c, ML_ERR_UNSUPPORTED, "model.dropout", "BPE dropout is random; only null or 0 is supported");
    if ((rc = get_str(c, model, "continuing_subword_prefix", "model", NULL, &prefix)) ||
        (rc = get_str(c, model, "end_of_word_suffix", "model", NULL, &suffix)))
        return rc;
    if ((prefix && *prefix) || (suffix && *suffix))
        return fmt_err(c, ML_ERR_UNSUPPORTED, "model", "continuing_subword_prefix / end_of_word_suffix are not supported");
    if ((rc = get_str(c, model, "unk_token", "model", NULL, &tok->unk)) ||
        (rc = get_bool(c, model, "byte_fallback", "model", 0, &tok->byte_fallback)) ||
        (rc = get_bool(c, model, "fuse_unk", "model", 0, &tok->fuse_unk)) ||
        (rc = get_bool(c, model, "ignore_merges", "model", 0, &tok->ignore_merges)))
        return rc;
    if (tok->unk && !(tok->unk = own_copy(c, tok->unk, strlen(tok->unk))))
        return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
    return ML_OK;
}

/* Bytes the arena needs for the vocab keys and the added contents. */
static size_t arena_size(const cJSON *vocab, const cJSON *added) {
    size_t total = 0;
    for (const cJSON *it = vocab->child; it; it = it->next) total += strlen(it->string) + 1;
    if (added)
        for (const cJSON *it = added->child; it; it = it->next) {
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
            if (cJSON_IsString(content)) total += strlen(content->valuestring) + 1;
        }
    return total; /* bounded by the JSON text, which is below ML_FILE_READ_MAX */
}

static int vocab_err(Ctx *c, const char *key, const char *problem) {
    char what[128];
    snprintf(what, sizeof what, "model.vocab[\"%.40s\"]", key);
    return fmt_err(c, ML_ERR_FORMAT, what, problem);
}

static int parse_vocab(Ctx *c, const cJSON *vocab, char **arena_pos) {
    MlTokenizer *tok = c->tok;
    for (const cJSON *it = vocab->child; it; it = it->next) {
        const char *key = it->string;
        size_t len = strlen(key);
        char msg[96];
        if (!ml_tok_utf8_valid(key, len)) return fmt_err(c, ML_ERR_FORMAT, "model.vocab", "a piece is not valid UTF-8");
        double v = it->valuedouble;
        if (!cJSON_IsNumber(it)) return vocab_err(c, key, "expected an integer id");
        if (!(v >= 0 && v < tok->n_model)) {
            snprintf(msg, sizeof msg, "id %.0f is outside [0, %d)", v, tok->n_model);
            return vocab_err(c, key, msg);
        }
        if (v != (double)(int32_t)v) return vocab_err(c, key, "expected an integer id");
        int32_t id = (int32_t)v;
        if (tok->piece[id]) {
            snprintf(msg, sizeof msg, "id %d is used twice", id);
            return vocab_err(c, key, msg);
        }
        memcpy(*arena_pos, key, len + 1);
        tok->piece[id] = *arena_pos;
        tok->piece_len[id] = (uint32_t)len;
        *arena_pos += len + 1;
        int existed, rc = strmap_insert(tok, &tok->vocab, id, &existed, c->err);
        if (rc) return rc;
        if (existed) return vocab_err(c, key, "the piece appears twice");
    }
    return ML_OK;
}

/* The key path is formatted only on error: doing it for each of ~60k merges costs 10 ms. */
static int merge_err(Ctx *c, int32_t rank, const char *problem) {
    char what[64];
    snprintf(what, sizeof what, "model.merges[%d]", rank);
    return fmt_err(c, ML_ERR_FORMAT, what, problem);
}

/* One merge: ["a", "b"] or "a b" (exactly one space, as `tokenizers` splits it). */
static int parse_merge(Ctx *c, const cJSON *it, int32_t rank, char **scratch, size_t *scratch_cap) {
    MlTokenizer *tok = c->tok;
    const char *a, *b;
    size_t a_len, b_len;
    if (cJSON_IsString(it)) {
        a = it->valuestring;
        const char *sp = strchr(a, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return merge_err(c, rank, "expected \"a b\" with exactly one space");
        a_len = (size_t)(sp - a);
        b = sp + 1;
        b_len = strlen(b);
    } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(it->child) &&
               cJSON_IsString(it->child->next)) {
        a = it->child->valuestring;
        b = it->child->next->valuestring;
        a_len = strlen(a);
        b_len = strlen(b);
    } else {
        return merge_err(c, rank, "expected a pair of strings or an \"a b\" string");
    }
    int32_t left = ml_tok_strmap_find(&tok->vocab, a, a_len);
    int32_t right = ml_tok_strmap_find(&tok->vocab, b, b_len);
    if (a_len + b_len + 1 > *scratch_cap) {
        size_t cap = 2 * (a_len + b_len + 1);
        char *grown = realloc(*scratch, cap);
        if (!grown) return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
        *scratch = grown;
        *scratch_cap = cap;
    }
    memcpy(*scratch, a, a_len);
    memcpy(*scratch + a_len, b, b_len);
    (*scratch)[a_len + b_len] = 0;
    int32_t merged = ml_tok_strmap_find(&tok->vocab, *scratch, a_len + b_len);
    if (left < 0 || right < 0 || merged < 0) {
        const char *missing = left < 0 ? a : right < 0 ? b : *scratch;
        size_t missing_len = left < 0 ? a_len : right < 0 ? b_len : a_len + b_len;
        char msg[160];
        snprintf(msg, sizeof msg, "'%.*s' is not in the vocab", (int)(missing_len > 60 ? 60 : missing_len), missing);
        return merge_err(c, rank, msg);
    }
    merge_insert(tok, left, right, rank, merged);
    return ML_OK;
}

static int parse_merges(Ctx *c, const cJSON *merges) {
    MlTokenizer *tok = c->tok;
    if (!cJSON_IsArray(merges)) return fmt_err(c, ML_ERR_FORMAT, "model.merges", "expected an array");
    size_t count = 0;
    for (const cJSON *it = merges->child; it; it = it->next) count++;
    if (count > ML_TOK_MAX_MERGES) return fmt_err(c, ML_ERR_RANGE, "model.merges", "more than 2^26 merges");
    size_t cap = 16;
    while (cap < 2 * count) cap *= 2;
    tok->merges = malloc(cap * sizeof *tok->merges);
    if (!tok->merges) return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
    memset(tok->merges, 0xff, cap * sizeof *tok->merges);
    tok->merge_mask = (uint32_t)(cap - 1);
    char *scratch = NULL;
    size_t scratch_cap = 0;
    int32_t rank = 0;
    int rc = ML_OK;
    for (const cJSON *it = merges->child; it && !rc; it = it->next, rank++)
        rc = parse_merge(c, it, rank, &scratch, &scratch_cap);
    free(scratch);
    return rc;
}

/* ---- added tokens ------------------------------------------------------- */

/* First pass: fields and ids, so the id table can be sized. */
static int parse_added_fields(Ctx *c, const cJSON *list, int64_t *max_id) {
    MlTokenizer *tok = c->tok;
    int32_t i = 0;
    for (const cJSON *it = list->child; it; it = it->next, i++) {
        char what[64];
        snprintf(what, sizeof what, "added_tokens[%d]", i);
        if (!cJSON_IsObject(it)) return fmt_err(c, ML_ERR_FORMAT, what, "expected an object");
        MlTokAdded *a = &tok->added[i];
        long long id;
        if (ml_json_int(it, "id", -1, 0, ML_TOK_MAX_IDS - 1, &id, c->where, c->err) || id < 0)
            return fmt_err(c, ML_ERR_FORMAT, what, "id: expected an integer in [0, 2^24)");
        const char *content;
        int single_word, special, lstrip, rstrip, normalized, rc;
        if ((rc = get_str(c, it, "content", what, NULL, &content))) return rc;
        if (!content || !*content) return fmt_err(c, ML_ERR_FORMAT, what, "content: expected a non-empty string");
        if ((rc = get_bool(c, it, "single_word", what, 0, &single_word)) ||
            (rc = get_bool(c, it, "special", what, 0, &special)) || (rc = get_bool(c, it, "lstrip", what, 0, &lstrip)) ||
            (rc = get_bool(c, it, "rstrip", what, 0, &rstrip)) ||
            (rc = get_bool(c, it, "normalized", what, 1, &normalized)))
            return rc;
        if (single_word) return fmt_err(c, ML_ERR_UNSUPPORTED, what, "single_word tokens are not supported");
        *a = (MlTokAdded){.id = (int32_t)id, .content = content, .len = (uint32_t)strlen(content),
                          .special = (uint8_t)special, .lstrip = (uint8_t)lstrip, .rstrip = (uint8_t)rstrip,
                          .normalized = (uint8_t)normalized};
        if (id > *max_id) *max_id = id;
    }
    return ML_OK;
}

/* Second pass: place each added token in the id table and check it agrees with the vocab. */
static int place_added(Ctx *c, char **arena_pos) {
    MlTokenizer *tok = c->tok;
    for (int32_t i = 0; i < tok->n_added; i++) {
        MlTokAdded *a = &tok->added[i];
        char what[128];
        snprintf(what, sizeof what, "added_tokens[%d] (\"%.40s\", id %d)", i, a->content, a->id);
        memcpy(*arena_pos, a->content, a->len + 1);
        a->content = *arena_pos;
        *arena_pos += a->len + 1;
        if (a->id < tok->n_model) {
            if (tok->piece_len[a->id] != a->len || memcmp(tok->piece[a->id], a->content, a->len))
                return fmt_err(c, ML_ERR_FORMAT, what, "the vocab has another piece at this id");
        } else {
            if (tok->piece[a->id]) return fmt_err(c, ML_ERR_FORMAT, what, "id is used twice");
            tok->piece[a->id] = a->content;
            tok->piece_len[a->id] = a->len;
            if (ml_tok_strmap_find(&tok->vocab, a->content, a->len) >= 0)
                return fmt_err(c, ML_ERR_FORMAT, what, "the vocab has this piece at another id");
        }
        int existed, rc = strmap_insert(tok, &tok->added_map, a->id, &existed, c->err);
        if (rc) return rc;
        if (existed) return fmt_err(c, ML_ERR_FORMAT, what, "content appears twice");
        tok->special[a->id] = a->special;
        if (a->normalized) {
            char *norm;
            size_t norm_len;
            if ((rc = ml_tok_normalize(tok, a->content, a->len, &norm, &norm_len, c->err))) return rc;
            a->norm = own_copy(c, norm, norm_len);
            a->norm_len = (uint32_t)norm_len;
            free(norm);
            if (!a->norm) return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
        }
    }
    return ML_OK;
}

static const char *match_text(const MlTokAdded *a, int normalized, uint32_t *len) {
    *len = normalized ? a->norm_len : a->len;
    return normalized ? a->norm : a->content;
}

typedef struct SortKey {
    unsigned first;
    uint32_t len;
    int32_t index;
} SortKey;

static int cmp_key(const void *pa, const void *pb) {
    const SortKey *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1; /* longest first */
    return (a->index > b->index) - (a->index < b->index);
}

static int build_matcher(Ctx *c, MlTokMatcher *m, int normalized) {
    MlTokenizer *tok = c->tok;
    SortKey *keys = malloc((size_t)(tok->n_added ? tok->n_added : 1) * sizeof *keys);
    m->order = malloc((size_t)(tok->n_added ? tok->n_added : 1) * sizeof *m->order);
    if (!keys || !m->order) {
        free(keys);
        return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
    }
    m->normalized = normalized;
    int32_t n = 0;
    for (int32_t i = 0; i < tok->n_added; i++) {
        uint32_t len;
        const char *s = match_text(&tok->added[i], normalized, &len);
        if (tok->added[i].normalized != normalized || !len) continue;
        keys[n++] = (SortKey){(unsigned char)s[0], len, i};
    }
    qsort(keys, (size_t)n, sizeof *keys, cmp_key);
    memset(m->first, 0, sizeof m->first);
    for (int32_t i = 0; i < n; i++) {
        m->order[i] = keys[i].index;
        m->first[keys[i].first + 1]++;
    }
    for (int b = 0; b < 256; b++) m->first[b + 1] += m->first[b];
    free(keys);
    return ML_OK;
}

/* ---- top level ---------------------------------------------------------- */

static int build(Ctx *c, const cJSON *root) {
    MlTokenizer *tok = c->tok;
    int rc;
    if (!cJSON_IsObject(root)) return ml_error_set(c->err, ML_ERR_FORMAT, "%s: expected a JSON object", c->where);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!model || cJSON_IsNull(model)) return fmt_err(c, ML_ERR_MISSING, "model", "missing");
    if (!cJSON_IsObject(model)) return fmt_err(c, ML_ERR_FORMAT, "model", "expected an object");
    if ((rc = parse_model_options(c, model))) return rc;
    if ((rc = parse_pre_tokenizer(c, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")))) return rc;
    if ((rc = parse_normalizer(c, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "normalizer", 0))) return rc;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    tok->has_decoder = dec && !cJSON_IsNull(dec);
    if (tok->has_decoder && (rc = parse_decoder(c, dec, "decoder", 0))) return rc;

    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!vocab) return fmt_err(c, ML_ERR_MISSING, "model.vocab", "missing");
    if (!cJSON_IsObject(vocab)) return fmt_err(c, ML_ERR_FORMAT, "model.vocab", "expected an object");
    size_t n_model = 0;
    for (const cJSON *it = vocab->child; it; it = it->next) n_model++;
    if (n_model > ML_TOK_MAX_IDS) return fmt_err(c, ML_ERR_RANGE, "model.vocab", "more than 2^24 pieces");
    tok->n_model = (int32_t)n_model;

    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && cJSON_IsNull(added)) added = NULL;
    if (added && !cJSON_IsArray(added)) return fmt_err(c, ML_ERR_FORMAT, "added_tokens", "expected an array");
    size_t n_added = 0;
    if (added)
        for (const cJSON *it = added->child; it; it = it->next) n_added++;
    if (n_added > ML_TOK_MAX_IDS) return fmt_err(c, ML_ERR_RANGE, "added_tokens", "more than 2^24 tokens");
    tok->n_added = (int32_t)n_added;
    tok->added = calloc(n_added ? n_added : 1, sizeof *tok->added);
    if (!tok->added) return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
    int64_t max_id = (int64_t)n_model - 1;
    if (added && (rc = parse_added_fields(c, added, &max_id))) return rc;
    /* Added ids past the vocab must be dense enough that the table stays small. */
    if (max_id >= (int64_t)(n_model + n_added))
        return fmt_err(c, ML_ERR_FORMAT, "added_tokens", "an id leaves a gap after the vocab");
    tok->n_ids = (int32_t)(max_id + 1);

    size_t arena_bytes = arena_size(vocab, added);
    size_t n_ids = (size_t)tok->n_ids ? (size_t)tok->n_ids : 1;
    tok->arena = malloc(arena_bytes ? arena_bytes : 1);
    tok->piece = calloc(n_ids, sizeof *tok->piece);
    tok->piece_len = calloc(n_ids, sizeof *tok->piece_len);
    tok->special = calloc(n_ids, 1);
    if (!tok->arena || !tok->piece || !tok->piece_len || !tok->special)
        return ml_error_set(c->err, ML_ERR_NOMEM, "tokenizer: out of memory");
    char *arena_pos = tok->arena;
    if ((rc = parse_vocab(c, vocab, &arena_pos))) return rc;
    if ((rc = place_added(c, &arena_pos))) return rc;
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!merges) return fmt_err(c, ML_ERR_MISSING, "model.merges", "missing");
    if ((rc = parse_merges(c, merges))) return rc;
    if ((rc = build_matcher(c, &tok->raw_match, 0)) || (rc = build_matcher(c, &tok->norm_match, 1))) return rc;

    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        tok->byte_id[b] = ml_tok_strmap_find(&tok->vocab, name, 6);
    }
    tok->unk_id = tok->unk ? ml_tok_strmap_find(&tok->vocab, tok->unk, strlen(tok->unk)) : -1;
    tok->bos_id = ml_tokenizer_token_id(tok, "<s>");
    tok->eos_id = ml_tokenizer_token_id(tok, "</s>");
    return ML_OK;
}

int ml_tok_load_tree(MlTokenizer **out, const cJSON *root, const char *where, MlError *err) {
    *out = NULL;
    MlTokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    snprintf(tok->source, sizeof tok->source, "%s", where);
    Ctx c = {tok, where, err};
    int rc = build(&c, root);
    if (rc) {
        ml_tokenizer_free(tok);
        return rc;
    }
    *out = tok;
    return ML_OK;
}

int ml_tokenizer_load_mem(MlTokenizer **out, const char *json, size_t len, const char *where, MlError *err) {
    *out = NULL;
    cJSON *root;
    int rc = ml_json_parse(json, len, where, &root, err);
    if (rc) return rc;
    rc = ml_tok_load_tree(out, root, where, err);
    cJSON_Delete(root);
    return rc;
}

static int parse_tokenizer(const char *text, size_t len, const char *where, void *out, MlError *err) {
    return ml_tokenizer_load_mem(out, text, len, where, err);
}

int ml_tokenizer_load(MlTokenizer **out, const char *path, MlError *err) {
    *out = NULL;
    return ml_file_parse(path, parse_tokenizer, out, err);
}

void ml_tokenizer_free(MlTokenizer *tok) {
    if (!tok) return;
    for (int i = 0; i < tok->n_owned; i++) free(tok->owned[i]);
    free(tok->owned);
    free(tok->arena);
    free((void *)tok->piece);
    free(tok->piece_len);
    free(tok->special);
    ml_strmap_free(&tok->vocab);
    ml_strmap_free(&tok->added_map);
    free(tok->merges);
    free(tok->added);
    free(tok->raw_match.order);
    free(tok->norm_match.order);
    free(tok);
}
