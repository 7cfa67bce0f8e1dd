/*
** strbuf.h: a growable text buffer for the JSON and JSONL the scene writer emits.
**
** Appends never fail loudly: on out-of-memory the buffer sets `failed` and
** ignores further appends, so a caller checks once at the end.
**
**     MlStrBuf b = {0};
**     ml_strbuf_printf(&b, "{\"n\":%d,", 3);
**     ml_strbuf_json_string(&b, "a \"quoted\" word");   // escaped, with quotes
**     if (b.failed) ...;   use b.data / b.len;   ml_strbuf_free(&b);
*/
#ifndef ML_SCENE_STRBUF_H
#define ML_SCENE_STRBUF_H

#include <stddef.h>

typedef struct MlStrBuf {
    char *data; /* NUL-terminated once anything was appended; owned */
    size_t len, cap;
    int failed;
} MlStrBuf;

void ml_strbuf_printf(MlStrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ml_strbuf_puts(MlStrBuf *b, const char *s);
void ml_strbuf_json_string(MlStrBuf *b, const char *s);
void ml_strbuf_clear(MlStrBuf *b); /* keeps the allocation */
void ml_strbuf_free(MlStrBuf *b);

#endif
