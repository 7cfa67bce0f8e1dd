/*
** records.h: the JSON record files benchmarks come in, read one way.
**
** Accepts JSONL (one object per line: POPE, LLaVA answers, OPERA logs), one
** JSON array of objects (AMBER, POPE's SEEM files, CHAIR .json captions)
** and JSON objects simply written one after another (POPE caption_data,
** pretty-printed).  Every record must be a JSON object; each remembers the
** line it starts on, so errors read "answers.jsonl:17: ...".
**
**     MlRecords r; MlError err = {0};
**     if (ml_records_load("answers.jsonl", &r, &err)) { puts(err.msg); ... }
**     for (size_t i = 0; i < r.count; i++) use(r.items[i].json, r.items[i].line);
**     ml_records_free(&r);
**
** The MlRecords owns the cJSON trees and a copy of the file name (r.where).
*/
#ifndef ML_EVAL_RECORDS_H
#define ML_EVAL_RECORDS_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/error.h"

typedef struct MlRecord {
    cJSON *json; /* a JSON object */
    size_t line; /* 1-based line where the object starts */
} MlRecord;

typedef struct MlRecords {
    MlRecord *items;
    size_t count;
    char *where; /* file name used in messages */
} MlRecords;

int ml_records_load(const char *path, MlRecords *out, MlError *err);
/* Parses text already in memory; `where` names it in messages. */
int ml_records_parse(const char *text, size_t len, const char *where, MlRecords *out, MlError *err);
void ml_records_free(MlRecords *r);

/* Longest id accepted (bytes, without the NUL). */
#define ML_RECORD_ID_MAX 255

/* Reads an item id: an integral JSON number (|v| < 2^53, written as "%lld")
   or a non-empty string, into buf (ML_RECORD_ID_MAX + 1 bytes).  Returns
   ML_ERR_MISSING when the key is absent, ML_ERR_FORMAT when it is not a
   usable id; messages read "<where>:<line>: <key>: ...". */
int ml_record_id(const cJSON *obj, const char *key, char *buf, const char *where, size_t line, MlError *err);

/* A string member; *out points into the tree.  ML_ERR_MISSING when absent,
   ML_ERR_FORMAT when not a string. */
int ml_record_str(const cJSON *obj, const char *key, const char **out, const char *where, size_t line,
                  MlError *err);

#endif
