/* records.c: JSONL / JSON array / concatenated JSON objects, with line numbers. */
#include "eval/records.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Advances *pos past whitespace, counting newlines into *line. */
static void skip_ws(const char *text, size_t len, size_t *pos, size_t *line) {
    while (*pos < len && is_ws(text[*pos])) {
        if (text[*pos] == '\n') (*line)++;
        (*pos)++;
    }
}

static size_t count_lines(const char *text, size_t from, size_t to) {
    size_t n = 0;
    for (size_t i = from; i < to; i++) n += text[i] == '\n';
    return n;
}

static int push(MlRecords *r, size_t *cap, cJSON *json, size_t line, MlError *err) {
    if (r->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        if (ncap > SIZE_MAX / sizeof(MlRecord)) return ml_error_set(err, ML_ERR_NOMEM, "%s: too many records", r->where);
        MlRecord *p = realloc(r->items, ncap * sizeof(MlRecord));
        if (!p) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", r->where);
        r->items = p;
        *cap = ncap;
    }
    r->items[r->count].json = json;
    r->items[r->count].line = line;
    r->count++;
    return ML_OK;
}

/* Parses one JSON value at *pos; on success advances *pos past it. */
static int parse_value(const char *text, size_t len, size_t *pos, size_t *line, const char *where, cJSON **out,
                       MlError *err) {
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text + *pos, len - *pos, &end, 0);
    if (!v) {
        size_t off = (end && end >= text + *pos && end <= text + len) ? (size_t)(end - text) : *pos;
        size_t at = *line + count_lines(text, *pos, off);
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: malformed JSON", where, at);
    }
    size_t stop = (size_t)(end - text);
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: expected a JSON object", where, *line);
    }
    *line += count_lines(text, *pos, stop);
    *pos = stop;
    *out = v;
    return ML_OK;
}

int ml_records_parse(const char *text, size_t len, const char *where, MlRecords *out, MlError *err) {
    memset(out, 0, sizeof *out);
    out->where = strdup(where);
    if (!out->where) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    size_t cap = 0, pos = 0, line = 1;
    int rc = ML_OK;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) pos = 3; /* UTF-8 byte order mark */
    skip_ws(text, len, &pos, &line);
    if (pos < len && text[pos] == '[') {
        /* One array of objects: parse element by element to keep line numbers. */
        pos++;
        skip_ws(text, len, &pos, &line);
        int first = 1;
        for (;;) {
            if (pos >= len) {
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: unterminated JSON array", where, line);
                break;
            }
            if (text[pos] == ']' && first) {
                pos++;
                break;
            }
            cJSON *v;
            size_t start = line;
            if ((rc = parse_value(text, len, &pos, &line, where, &v, err))) break;
            if ((rc = push(out, &cap, v, start, err))) {
                cJSON_Delete(v);
                break;
            }
            first = 0;
            skip_ws(text, len, &pos, &line);
            if (pos < len && text[pos] == ',') {
                pos++;
                skip_ws(text, len, &pos, &line);
                continue;
            }
            if (pos < len && text[pos] == ']') {
                pos++;
                break;
            }
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: expected ',' or ']' in the JSON array", where, line);
            break;
        }
        if (!rc) {
            skip_ws(text, len, &pos, &line);
            if (pos < len) rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: text after the JSON array", where, line);
        }
    } else {
        /* JSONL, or objects one after another. */
        while (!rc) {
            skip_ws(text, len, &pos, &line);
            if (pos >= len) break;
            cJSON *v;
            size_t start = line;
            if ((rc = parse_value(text, len, &pos, &line, where, &v, err))) break;
            if ((rc = push(out, &cap, v, start, err))) cJSON_Delete(v);
        }
    }
    if (rc) ml_records_free(out);
    return rc;
}

static int parse_records(const char *text, size_t len, const char *where, void *out, MlError *err) {
    return ml_records_parse(text, len, where, out, err);
}

int ml_records_load(const char *path, MlRecords *out, MlError *err) {
    memset(out, 0, sizeof *out);
    return ml_file_parse(path, parse_records, out, err);
}

void ml_records_free(MlRecords *r) {
    for (size_t i = 0; i < r->count; i++) cJSON_Delete(r->items[i].json);
    free(r->items);
    free(r->where);
    memset(r, 0, sizeof *r);
}

int ml_record_id(const cJSON *obj, const char *key, char *buf, const char *where, size_t line, MlError *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return ml_error_set(err, ML_ERR_MISSING, "%s:%zu: no \"%s\"", where, line, key);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        /* 2^53: beyond it distinct ids could collapse to one double. */
        if (!isfinite(d) || d != floor(d) || fabs(d) >= 9007199254740992.0)
            return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: %s: expected an integer or a string", where, line, key);
        snprintf(buf, ML_RECORD_ID_MAX + 1, "%lld", (long long)d);
        return ML_OK;
    }
    if (cJSON_IsString(v) && v->valuestring[0]) {
        size_t n = strlen(v->valuestring);
        if (n > ML_RECORD_ID_MAX)
            return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: %s: longer than %d bytes", where, line, key,
                                ML_RECORD_ID_MAX);
        memcpy(buf, v->valuestring, n + 1);
        return ML_OK;
    }
    return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: %s: expected an integer or a non-empty string", where, line, key);
}

int ml_record_str(const cJSON *obj, const char *key, const char **out, const char *where, size_t line,
                  MlError *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return ml_error_set(err, ML_ERR_MISSING, "%s:%zu: no \"%s\"", where, line, key);
    if (!cJSON_IsString(v)) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: %s: expected a string", where, line, key);
    *out = v->valuestring;
    return ML_OK;
}
