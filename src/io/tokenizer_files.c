/* tokenizer_files.c: a GPT-2-style BPE folder (vocab.json + merges.txt +
   tokenizer_config.json, as Qwen2 ships it) turned into the tokenizer.json
   tree that transformers' Qwen2TokenizerFast converts it to, then built by
   the one loader (tokenizer_load.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "io/tokenizer_impl.h"

static int nomem(const char *where, MlError *err) {
    return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
}

/* merges.txt: an optional "#version" first line, then "a b" per line (blank lines skipped). */
static int parse_merges(const char *text, size_t len, const char *where, cJSON *list, MlError *err) {
    size_t line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        line++;
        if (n && s[n - 1] == '\r') n--;
        if (!n || (line == 1 && n >= 9 && !memcmp(s, "#version:", 9))) continue;
        const char *sp = memchr(s, ' ', n);
        if (!sp || sp == s || sp == s + n - 1 || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)) || memchr(s, 0, n))
            return ml_error_set(err, ML_ERR_FORMAT, "%s: line %zu: expected two pieces separated by one space", where,
                                line);
        if (!ml_tok_utf8_valid(s, n)) return ml_error_set(err, ML_ERR_FORMAT, "%s: line %zu: not UTF-8", where, line);
        char *copy = malloc(n + 1);
        if (!copy) return nomem(where, err);
        memcpy(copy, s, n);
        copy[n] = 0;
        cJSON *item = cJSON_CreateString(copy);
        free(copy);
        if (!item) return nomem(where, err);
        cJSON_AddItemToArray(list, item);
    }
    return ML_OK;
}

/* tokenizer_config.json added_tokens_decoder {"151643": {"content": ...}} -> added_tokens [{"id": 151643, ...}]. */
static int parse_added(const char *text, size_t len, const char *where, cJSON *list, MlError *err) {
    cJSON *root;
    int rc = ml_json_parse(text, len, where, &root, err);
    if (rc) return rc;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder");
    if (!cJSON_IsObject(root)) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", where);
    else if (dec && !cJSON_IsNull(dec) && !cJSON_IsObject(dec))
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: added_tokens_decoder: expected an object", where);
    for (const cJSON *it = dec && cJSON_IsObject(dec) ? dec->child : NULL; it && !rc; it = it->next) {
        char *end;
        long id = strtol(it->string, &end, 10);
        if (!*it->string || *end || id < 0 || id >= ML_TOK_MAX_IDS || !cJSON_IsObject(it)) {
            rc = ml_error_set(err, ML_ERR_FORMAT,
                              "%s: added_tokens_decoder: expected {\"<id>\": {...}} with ids in [0, 2^24)", where);
            break;
        }
        cJSON *tok = cJSON_Duplicate(it, 1);
        if (!tok || !cJSON_AddNumberToObject(tok, "id", (double)id)) {
            cJSON_Delete(tok);
            rc = nomem(where, err);
            break;
        }
        cJSON_AddItemToArray(list, tok);
    }
    cJSON_Delete(root);
    return rc;
}

int ml_tokenizer_load_bpe_mem(MlTokenizer **out, const char *vocab, size_t vocab_len, const char *merges,
                              size_t merges_len, const char *config, size_t config_len, const char *where,
                              MlError *err) {
    *out = NULL;
    char what[300];
    snprintf(what, sizeof what, "%s/vocab.json", where);
    cJSON *vocab_obj;
    int rc = ml_json_parse(vocab, vocab_len, what, &vocab_obj, err);
    if (rc) return rc;
    if (!cJSON_IsObject(vocab_obj)) {
        cJSON_Delete(vocab_obj);
        return ml_error_set(err, ML_ERR_FORMAT, "%s: expected an object of piece -> id", what);
    }
    /* The tree tokenizer.json would hold (transformers' Qwen2Converter). */
    cJSON *root = cJSON_CreateObject(), *model = cJSON_CreateObject(), *merge_list = cJSON_CreateArray();
    cJSON *added = cJSON_CreateArray();
    cJSON *pre =
        cJSON_Parse("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\"},"
                    "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":"
                    "false,\"trim_offsets\":false,\"use_regex\":false}]}");
    cJSON *norm = cJSON_Parse("{\"type\":\"NFC\"}"), *dec = cJSON_Parse("{\"type\":\"ByteLevel\"}");
    if (!root || !model || !merge_list || !added || !pre || !norm || !dec) {
        cJSON_Delete(vocab_obj), cJSON_Delete(root), cJSON_Delete(model), cJSON_Delete(merge_list);
        cJSON_Delete(added), cJSON_Delete(pre), cJSON_Delete(norm), cJSON_Delete(dec);
        return nomem(where, err);
    }
    cJSON_AddItemToObject(root, "model", model);
    cJSON_AddItemToObject(root, "added_tokens", added);
    cJSON_AddItemToObject(root, "pre_tokenizer", pre);
    cJSON_AddItemToObject(root, "normalizer", norm);
    cJSON_AddItemToObject(root, "decoder", dec);
    cJSON_AddItemToObject(model, "vocab", vocab_obj);
    cJSON_AddItemToObject(model, "merges", merge_list);
    cJSON *regex = cJSON_CreateString(ML_TOK_QWEN2_REGEX);
    if (!regex || !cJSON_AddStringToObject(model, "type", "BPE")) {
        cJSON_Delete(regex);
        rc = nomem(where, err);
    } else {
        cJSON *split = cJSON_GetArrayItem(cJSON_GetObjectItem(pre, "pretokenizers"), 0);
        cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItem(split, "pattern"), "Regex", regex);
    }
    snprintf(what, sizeof what, "%s/merges.txt", where);
    if (!rc) rc = parse_merges(merges, merges_len, what, merge_list, err);
    snprintf(what, sizeof what, "%s/tokenizer_config.json", where);
    if (!rc && config) rc = parse_added(config, config_len, what, added, err);
    snprintf(what, sizeof what, "%s (vocab.json, merges.txt)", where);
    if (!rc) rc = ml_tok_load_tree(out, root, what, err);
    cJSON_Delete(root);
    return rc;
}

int ml_tokenizer_load_bpe_dir(MlTokenizer **out, const char *dir, MlError *err) {
    *out = NULL;
    char path[3][4096];
    static const char *const names[3] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    char *text[3] = {0};
    size_t len[3] = {0};
    int rc = ML_OK;
    for (int k = 0; k < 3 && !rc; k++) {
        if (!(rc = ml_path_join(path[k], sizeof path[k], dir, names[k], err)) && (k < 2 || ml_file_exists(path[k])))
            rc = ml_file_read(path[k], &text[k], &len[k], err);
    }
    if (!rc) rc = ml_tokenizer_load_bpe_mem(out, text[0], len[0], text[1], len[1], text[2], len[2], dir, err);
    for (int k = 0; k < 3; k++) free(text[k]);
    return rc;
}
