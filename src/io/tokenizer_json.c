/* tokenizer_json.c: the built-in small tokenizer.json and a reader of the
   few facts a config needs from any tokenizer.json. */
#include "io/tokenizer_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORD "\xe2\x96\x81" /* "▁", U+2581, LLaMA's word-start marker */

/* Merge order is merge priority; each result becomes the next vocab entry.
   Both halves of a merge must already be pieces. */
static const char *const builtin_merges[][2] = {
    {WORD, "t"}, {"h", "e"}, {WORD "t", "he"}, {WORD, "a"}, {"i", "n"}, {"e", "r"}, {"o", "n"}, {WORD, "i"},
    {WORD "i", "s"}, {WORD, "s"}, {WORD, "o"}, {WORD "o", "f"}, {WORD, "c"}, {WORD, "w"}, {"a", "n"},
    {WORD "a", "n"}, {WORD "an", "d"}, {"r", "e"}, {"a", "t"}, {"e", "n"}, {"o", "r"}, {"e", "s"}, {WORD, "b"},
    {WORD, "f"}, {WORD, "p"}, {WORD, "m"}, {WORD, "d"}, {WORD, "h"}, {WORD, "l"}, {WORD, "r"}, {WORD, "y"},
    {WORD, "n"}, {"o", "u"}, {"l", "e"}, {"i", "t"}, {"n", "g"}, {"in", "g"}, {WORD "t", "o"}, {WORD "i", "n"},
    {WORD "i", "t"}, {WORD "w", "h"}, {WORD "wh", "at"}, {WORD "t", "h"}, {"i", "s"}, {WORD "th", "is"},
    {WORD "y", "es"}, {WORD "n", "o"}, {WORD "c", "o"}, {WORD "co", "l"}, {WORD "col", "or"}, {WORD "a", "re"},
    {WORD "o", "n"}, {WORD "the", "re"}, {WORD, "I"}, {WORD, "T"}, {WORD "T", "he"}, {WORD, "A"},
    {WORD "i", "m"}, {"a", "g"}, {"ag", "e"}, {WORD "im", "age"}, {WORD "s", "h"}, {"a", "p"}, {"ap", "e"},
    {WORD "sh", "ape"}, {WORD "l", "e"}, {"f", "t"}, {WORD "le", "ft"}, {WORD "r", "i"}, {"g", "h"},
    {"gh", "t"}, {WORD "ri", "ght"}, {WORD "b", "e"},
};

static const char builtin_punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

static cJSON *added_token(int id, const char *content) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddFalseToObject(t, "single_word");
    cJSON_AddFalseToObject(t, "lstrip");
    cJSON_AddFalseToObject(t, "rstrip");
    cJSON_AddFalseToObject(t, "normalized");
    cJSON_AddTrueToObject(t, "special");
    return t;
}

static cJSON *string_pattern(const char *s) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "String", s);
    return p;
}

static cJSON *template_piece(const char *kind, const char *id, int type_id) {
    cJSON *outer = cJSON_CreateObject(), *inner = cJSON_CreateObject();
    cJSON_AddStringToObject(inner, "id", id);
    cJSON_AddNumberToObject(inner, "type_id", type_id);
    cJSON_AddItemToObject(outer, kind, inner);
    return outer;
}

/* {"type": type} */
static cJSON *typed(const char *type) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

/* A Replace step of the literal pattern by content. */
static cJSON *replace_step(const char *pattern, const char *content) {
    cJSON *r = typed("Replace");
    cJSON_AddItemToObject(r, "pattern", string_pattern(pattern));
    cJSON_AddStringToObject(r, "content", content);
    return r;
}

static cJSON *normalizer(void) {
    cJSON *n = typed("Sequence"), *seq = cJSON_CreateArray();
    cJSON *prepend = typed("Prepend");
    cJSON_AddStringToObject(prepend, "prepend", WORD);
    cJSON_AddItemToArray(seq, prepend);
    cJSON_AddItemToArray(seq, replace_step(" ", WORD));
    cJSON_AddItemToObject(n, "normalizers", seq);
    return n;
}

static cJSON *post_processor(void) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "type", "TemplateProcessing");
    cJSON *single = cJSON_CreateArray(), *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(single, template_piece("SpecialToken", "<s>", 0));
    cJSON_AddItemToArray(single, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", "<s>", 0));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", "<s>", 1));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "B", 1));
    cJSON_AddItemToObject(p, "single", single);
    cJSON_AddItemToObject(p, "pair", pair);
    cJSON *specials = cJSON_CreateObject(), *bos = cJSON_CreateObject();
    cJSON_AddStringToObject(bos, "id", "<s>");
    int one = 1;
    const char *s = "<s>";
    cJSON_AddItemToObject(bos, "ids", cJSON_CreateIntArray(&one, 1));
    cJSON_AddItemToObject(bos, "tokens", cJSON_CreateStringArray(&s, 1));
    cJSON_AddItemToObject(specials, "<s>", bos);
    cJSON_AddItemToObject(p, "special_tokens", specials);
    return p;
}

static cJSON *decoder(void) {
    cJSON *d = typed("Sequence"), *seq = cJSON_CreateArray();
    cJSON_AddItemToArray(seq, replace_step(WORD, " "));
    cJSON_AddItemToArray(seq, typed("ByteFallback"));
    cJSON_AddItemToArray(seq, typed("Fuse"));
    cJSON *strip = typed("Strip");
    cJSON_AddStringToObject(strip, "content", " ");
    cJSON_AddNumberToObject(strip, "start", 1);
    cJSON_AddNumberToObject(strip, "stop", 0);
    cJSON_AddItemToArray(seq, strip);
    cJSON_AddItemToObject(d, "decoders", seq);
    return d;
}

static void add_piece(cJSON *vocab, const char *piece, int *next_id) {
    ML_ASSERT(!cJSON_GetObjectItemCaseSensitive(vocab, piece)); /* the tables above hold no duplicates */
    cJSON_AddNumberToObject(vocab, piece, (*next_id)++);
}

/* The BPE model object with LLaMA's settings, before its vocab and merges. */
static cJSON *bpe_model_settings(void) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddNullToObject(m, "dropout");
    cJSON_AddStringToObject(m, "unk_token", "<unk>");
    cJSON_AddNullToObject(m, "continuing_subword_prefix");
    cJSON_AddNullToObject(m, "end_of_word_suffix");
    cJSON_AddTrueToObject(m, "fuse_unk");
    cJSON_AddTrueToObject(m, "byte_fallback");
    cJSON_AddFalseToObject(m, "ignore_merges");
    return m;
}

static cJSON *bpe_model(int *n_pieces) {
    cJSON *m = bpe_model_settings(), *vocab = cJSON_CreateObject(), *merges = cJSON_CreateArray();
    int id = 0;
    char piece[64];
    add_piece(vocab, "<unk>", &id);
    add_piece(vocab, "<s>", &id);
    add_piece(vocab, "</s>", &id);
    for (int b = 0; b < 256; b++) {
        snprintf(piece, sizeof piece, "<0x%02X>", b);
        add_piece(vocab, piece, &id);
    }
    add_piece(vocab, WORD, &id);
    for (int c = 0; c < 62; c++) {
        piece[0] = (char)(c < 26 ? 'a' + c : c < 52 ? 'A' + c - 26 : '0' + c - 52);
        piece[1] = 0;
        add_piece(vocab, piece, &id);
    }
    for (const char *p = builtin_punct; *p; p++) {
        piece[0] = *p;
        piece[1] = 0;
        add_piece(vocab, piece, &id);
    }
    for (size_t i = 0; i < sizeof builtin_merges / sizeof builtin_merges[0]; i++) {
        snprintf(piece, sizeof piece, "%s%s", builtin_merges[i][0], builtin_merges[i][1]);
        add_piece(vocab, piece, &id);
        cJSON_AddItemToArray(merges, cJSON_CreateStringArray(builtin_merges[i], 2));
    }
    cJSON_AddItemToObject(m, "vocab", vocab);
    cJSON_AddItemToObject(m, "merges", merges);
    *n_pieces = id;
    return m;
}

/* The whole file around a model with ids 0..n_pieces-1: <image> and <pad>
   follow.  Takes ownership of model. */
static int write_file(cJSON *model, int n_pieces, const char *const *added, int n_added, char **text, size_t *len,
                      MlError *err) {
    cJSON *root = cJSON_CreateObject(), *list = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON_AddItemToArray(list, added_token(0, "<unk>"));
    cJSON_AddItemToArray(list, added_token(1, "<s>"));
    cJSON_AddItemToArray(list, added_token(2, "</s>"));
    cJSON_AddItemToArray(list, added_token(n_pieces, "<image>"));
    cJSON_AddItemToArray(list, added_token(n_pieces + 1, "<pad>"));
    for (int i = 0; i < n_added; i++) cJSON_AddItemToArray(list, added_token(n_pieces + 2 + i, added[i]));
    cJSON_AddItemToObject(root, "added_tokens", list);
    cJSON_AddItemToObject(root, "normalizer", normalizer());
    cJSON_AddNullToObject(root, "pre_tokenizer");
    cJSON_AddItemToObject(root, "post_processor", post_processor());
    cJSON_AddItemToObject(root, "decoder", decoder());
    cJSON_AddItemToObject(root, "model", model);
    *text = ml_json_print_pretty(root);
    cJSON_Delete(root);
    if (!*text) return ml_error_set(err, ML_ERR_NOMEM, "out of memory writing tokenizer.json");
    *len = strlen(*text);
    return ML_OK;
}

int ml_tokenizer_json_builtin(char **text, size_t *len, MlError *err) {
    *text = NULL;
    *len = 0;
    int n_pieces;
    cJSON *model = bpe_model(&n_pieces);
    return write_file(model, n_pieces, NULL, 0, text, len, err);
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 0 when all n strings differ (n log n, so a 32k vocab stays instant). */
static int has_duplicate(const char *const *s, int n, const char **dup) {
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return -1;
    memcpy(sorted, s, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_strings);
    int found = 0;
    for (int i = 1; i < n && !found; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            *dup = sorted[i]; /* points into the caller's pieces, which outlive this call */
            found = 1;
        }
    free(sorted);
    return found;
}

int ml_tokenizer_json_bpe(const char *const *pieces, int n_pieces, const char *const *merges, int n_merges,
                          const char *const *added, int n_added, char **text, size_t *len, MlError *err) {
    *text = NULL;
    *len = 0;
    static const char *const specials[3] = {"<unk>", "<s>", "</s>"};
    if (n_pieces < 3 || n_added < 0 || n_pieces > (1 << 24) - 2 - n_added || n_merges < 0)
        return ml_error_set(err, ML_ERR_ARG, "tokenizer.json: %d pieces and %d added tokens (need 3 .. 2^24-2 in all)",
                            n_pieces, n_added);
    for (int i = 0; i < 3; i++)
        if (!pieces[i] || strcmp(pieces[i], specials[i]))
            return ml_error_set(err, ML_ERR_ARG, "tokenizer.json: piece %d must be %s", i, specials[i]);
    for (int i = 0; i < n_pieces; i++) {
        if (!pieces[i] || !*pieces[i]) return ml_error_set(err, ML_ERR_ARG, "tokenizer.json: piece %d is empty", i);
        if (!strcmp(pieces[i], "<image>") || !strcmp(pieces[i], "<pad>"))
            return ml_error_set(err, ML_ERR_ARG, "tokenizer.json: piece %d is the added token %s", i, pieces[i]);
    }
    for (int i = 0; i < n_added; i++)
        if (!added[i] || !*added[i]) return ml_error_set(err, ML_ERR_ARG, "tokenizer.json: added token %d is empty", i);
    /* pieces, <image>, <pad> and the added tokens: every one once */
    const char **all = malloc((size_t)(n_pieces + 2 + n_added) * sizeof *all);
    if (!all) return ml_error_set(err, ML_ERR_NOMEM, "out of memory writing tokenizer.json");
    memcpy(all, pieces, (size_t)n_pieces * sizeof *all);
    all[n_pieces] = "<image>";
    all[n_pieces + 1] = "<pad>";
    if (n_added) memcpy(all + n_pieces + 2, added, (size_t)n_added * sizeof *all);
    const char *dup = NULL;
    int d = has_duplicate(all, n_pieces + 2 + n_added, &dup);
    free(all);
    if (d < 0) return ml_error_set(err, ML_ERR_NOMEM, "out of memory writing tokenizer.json");
    if (d) return ml_error_set(err, ML_ERR_ARG, "tokenizer.json: '%s' appears twice", dup);
    cJSON *m = bpe_model_settings(), *vocab = cJSON_CreateObject(), *list = cJSON_CreateArray();
    for (int i = 0; i < n_pieces; i++) cJSON_AddNumberToObject(vocab, pieces[i], i);
    for (int i = 0; i < n_merges; i++) cJSON_AddItemToArray(list, cJSON_CreateStringArray(merges + 2 * i, 2));
    cJSON_AddItemToObject(m, "vocab", vocab);
    cJSON_AddItemToObject(m, "merges", list);
    return write_file(m, n_pieces, added, n_added, text, len, err);
}

char *ml_json_print_pretty(const cJSON *item) {
    char *raw = cJSON_Print(item);
    if (!raw) return NULL;
    size_t tabs = 0, n = 0;
    for (; raw[n]; n++) tabs += raw[n] == '\t';
    char *out = malloc(n + tabs + 2);
    if (!out) {
        free(raw);
        return NULL;
    }
    /* JSON strings hold no raw tabs (cJSON escapes them): every tab is layout. */
    size_t o = 0;
    int line_start = 1;
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];
        if (c == '\t' && line_start) {
            out[o++] = ' ';
            out[o++] = ' ';
        } else if (c == '\t') {
            out[o++] = ' ';
        } else {
            out[o++] = c;
            line_start = c == '\n';
        }
    }
    out[o++] = '\n';
    out[o] = 0;
    free(raw);
    return out;
}

/* ---- reading facts back ---- */

static int token_id(const cJSON *v, int *id) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble >= (1 << 24))
        return -1;
    *id = (int)v->valuedouble;
    return 0;
}

static void note_special(MlTokenizerFacts *f, const char *content, int id) {
    if (!strcmp(content, "<unk>")) f->unk_id = id;
    else if (!strcmp(content, "<s>")) f->bos_id = id;
    else if (!strcmp(content, "</s>")) f->eos_id = id;
    else if (!strcmp(content, "<image>")) f->image_id = id;
    else if (!strcmp(content, "<pad>")) f->pad_id = id;
}

static int read_facts(const cJSON *root, const char *where, MlTokenizerFacts *f, MlError *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!cJSON_IsObject(model) || !cJSON_IsString(type) || strcmp(type->valuestring, "BPE"))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: model: expected a BPE model", where);
    if (!cJSON_IsObject(vocab)) return ml_error_set(err, ML_ERR_FORMAT, "%s: model.vocab: expected an object", where);
    f->n_merges = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    int piece = 0;
    for (const cJSON *v = vocab->child; v; v = v->next, piece++) {
        int id;
        if (token_id(v, &id))
            return ml_error_set(err, ML_ERR_FORMAT, "%s: model.vocab: expected ids in [0, 2^24) (piece number %d)",
                                where, piece);
        if (id + 1 > f->n_ids) f->n_ids = id + 1;
        note_special(f, v->string, id);
    }
    if (added && !cJSON_IsArray(added))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: added_tokens: expected an array", where);
    for (const cJSON *t = added ? added->child : NULL; t; t = t->next) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(t, "content");
        int id;
        if (!cJSON_IsString(content) || token_id(cJSON_GetObjectItemCaseSensitive(t, "id"), &id))
            return ml_error_set(err, ML_ERR_FORMAT, "%s: added_tokens: expected {\"id\": N, \"content\": S}", where);
        if (id + 1 > f->n_ids) f->n_ids = id + 1;
        note_special(f, content->valuestring, id);
    }
    const char *missing = f->unk_id < 0 ? "<unk>" : f->bos_id < 0 ? "<s>" : f->eos_id < 0 ? "</s>"
                          : f->image_id < 0                                 ? "<image>"
                                                                            : NULL;
    if (missing) return ml_error_set(err, ML_ERR_MISSING, "%s: has no %s token", where, missing);
    return ML_OK;
}

int ml_tokenizer_json_facts(const char *text, size_t len, const char *where, MlTokenizerFacts *f, MlError *err) {
    MlTokenizerFacts none = {0, 0, -1, -1, -1, -1, -1};
    *f = none;
    cJSON *root;
    int rc = ml_json_parse(text, len, where, &root, err);
    if (rc) return rc;
    rc = cJSON_IsObject(root) ? read_facts(root, where, f, err)
                              : ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", where);
    cJSON_Delete(root);
    return rc;
}
