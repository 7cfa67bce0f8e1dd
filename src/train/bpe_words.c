/* bpe_words.c: corpus files -> a table of distinct normalized words with
   their counts, which is all BPE training looks at. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "core/strmap.h"
#include "train/bpe.h"

#define WORD_MARK "\xe2\x96\x81" /* "▁", U+2581 */
#define WORD_MARK_LEN 3
#define MAX_WORDS ((int64_t)1 << 30) /* keeps word ids in int32 with room to spare */

typedef struct WordEntry {
    size_t off, len; /* bytes in the arena */
    int64_t count;
} WordEntry;

struct MlBpeWords {
    WordEntry *words; /* first-seen order */
    int64_t n_words, cap_words;
    MlStrMap index;   /* word bytes -> word index */
    MlStrBuf arena;   /* the words' bytes, one after another */
    char *scratch;    /* the word being built */
    size_t scratch_cap;
    int64_t sentences;
};

int ml_bpe_words_new(MlBpeWords **out, MlError *err) {
    MlBpeWords *w = calloc(1, sizeof *w);
    *out = w;
    if (!w) return ml_error_set(err, ML_ERR_NOMEM, "bpe: out of memory");
    return ML_OK;
}

void ml_bpe_words_free(MlBpeWords *w) {
    if (!w) return;
    free(w->words);
    ml_strmap_free(&w->index);
    ml_strbuf_free(&w->arena);
    free(w->scratch);
    free(w);
}

int64_t ml_bpe_words_distinct(const MlBpeWords *w) { return w->n_words; }
int64_t ml_bpe_words_sentences(const MlBpeWords *w) { return w->sentences; }

void ml_bpe_words_at(const MlBpeWords *w, int64_t i, const char **bytes, size_t *len, int64_t *count) {
    ML_ASSERT(i >= 0 && i < w->n_words);
    *bytes = w->arena.data + w->words[i].off;
    *len = w->words[i].len;
    *count = w->words[i].count;
}

/* Grows *buf to hold need bytes (doubling); 0 on success. */
static int reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need) {
        if (c > SIZE_MAX / 2) return -1;
        c *= 2;
    }
    char *p = realloc(*buf, c);
    if (!p) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

static int add_word(MlBpeWords *w, const char *s, size_t n, MlError *err) {
    const size_t *at = ml_strmap_getn(&w->index, s, n);
    if (at) {
        WordEntry *e = &w->words[*at];
        if (e->count == INT64_MAX) return ml_error_set(err, ML_ERR_RANGE, "bpe: a word count overflowed");
        e->count++;
        return ML_OK;
    }
    if (w->n_words >= MAX_WORDS) return ml_error_set(err, ML_ERR_RANGE, "bpe: more than 2^30 distinct words");
    if (w->n_words == w->cap_words) {
        int64_t cap = w->cap_words ? 2 * w->cap_words : 1024;
        WordEntry *p = realloc(w->words, (size_t)cap * sizeof *p);
        if (!p) return ml_error_set(err, ML_ERR_NOMEM, "bpe: out of memory");
        w->words = p;
        w->cap_words = cap;
    }
    size_t off = w->arena.len;
    ml_strbuf_putn(&w->arena, s, n);
    if (w->arena.failed || ml_strmap_putn(&w->index, s, n, (size_t)w->n_words, NULL, NULL))
        return ml_error_set(err, ML_ERR_NOMEM, "bpe: out of memory");
    w->words[w->n_words++] = (WordEntry){off, n, 1};
    return ML_OK;
}

/* LLaMA's normalizer is "▁" + text with ' ' -> "▁"; a word starts at every
   "▁" of the result, whether it came from a space or was in the text. */
int ml_bpe_words_add_text(MlBpeWords *w, const char *text, size_t len, MlError *err) {
    if (len == 0) return ML_OK;
    if (len > SIZE_MAX / 4 || reserve(&w->scratch, &w->scratch_cap, len + WORD_MARK_LEN))
        return ml_error_set(err, ML_ERR_NOMEM, "bpe: out of memory");
    w->sentences++;
    memcpy(w->scratch, WORD_MARK, WORD_MARK_LEN);
    size_t n = WORD_MARK_LEN;
    for (size_t i = 0; i < len;) {
        int is_space = text[i] == ' ';
        int is_mark = !is_space && len - i >= WORD_MARK_LEN && !memcmp(text + i, WORD_MARK, WORD_MARK_LEN);
        if (is_space || is_mark) {
            int rc = add_word(w, w->scratch, n, err);
            if (rc) return rc;
            n = WORD_MARK_LEN; /* the scratch still starts with the mark */
            i += is_space ? 1 : WORD_MARK_LEN;
        } else {
            w->scratch[n++] = text[i++];
        }
    }
    return add_word(w, w->scratch, n, err);
}

/* ---- files ---- */

static int key_selected(const char *key, const char *const *keys, int n_keys) {
    for (int i = 0; i < n_keys; i++)
        if (key && !strcmp(key, keys[i])) return 1;
    return 0;
}

/* Every string value under item; at the top level of an object only the
   selected members when keys are given. */
static int add_strings(MlBpeWords *w, const cJSON *item, int top, const char *const *keys, int n_keys, MlError *err) {
    if (cJSON_IsString(item)) return ml_bpe_words_add_text(w, item->valuestring, strlen(item->valuestring), err);
    if (!cJSON_IsObject(item) && !cJSON_IsArray(item)) return ML_OK;
    if (top && n_keys > 0 && !cJSON_IsObject(item)) return ML_OK;
    for (const cJSON *c = item->child; c; c = c->next) {
        if (top && n_keys > 0 && !key_selected(c->string, keys, n_keys)) continue;
        int rc = add_strings(w, c, 0, keys, n_keys, err);
        if (rc) return rc;
    }
    return ML_OK;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

static int add_json_line(MlBpeWords *w, const char *path, size_t line_no, const char *s, size_t n,
                         const char *const *keys, int n_keys, MlError *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    /* Only whitespace may follow the value on its line. */
    if (root && end && !is_blank(end, (size_t)(s + n - end))) {
        cJSON_Delete(root);
        root = NULL;
    }
    if (!root) return ml_error_set(err, ML_ERR_FORMAT, "%s: line %zu: malformed JSON", path, line_no);
    int rc = add_strings(w, root, 1, keys, n_keys, err);
    cJSON_Delete(root);
    return rc;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int ml_bpe_words_add_file(MlBpeWords *w, const char *path, const char *const *keys, int n_keys, MlError *err) {
    char *data;
    size_t size;
    int rc = ml_file_read(path, &data, &size, err);
    if (rc) return rc;
    size_t first = 0;
    while (first < size && (data[first] == ' ' || data[first] == '\t' || data[first] == '\r' || data[first] == '\n'))
        first++;
    int jsonl = ends_with(path, ".jsonl") || (first < size && data[first] == '{');
    size_t line_no = 0;
    for (size_t start = 0; start < size && !rc;) {
        const char *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size, n = end - start;
        line_no++;
        if (n > 0 && data[start + n - 1] == '\r') n--;
        if (jsonl && !is_blank(data + start, n)) rc = add_json_line(w, path, line_no, data + start, n, keys, n_keys, err);
        else if (!jsonl && n > 0) rc = ml_bpe_words_add_text(w, data + start, n, err);
        start = end + 1;
    }
    free(data);
    if (rc && !jsonl) ml_error_prefix(err, path);
    return rc;
}
