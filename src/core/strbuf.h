/*
** strbuf.h: the growable text buffer: JSON and JSONL of the scene writer,
** Markdown, HTML and SVG of the reports.
**
** Appends never fail loudly: on out-of-memory the buffer sets `failed` and
** ignores further appends, so a caller checks once at the end.
**
**     MlStrBuf b = {0};
**     ml_strbuf_printf(&b, "{\"n\":%d,", 3);
**     ml_strbuf_json_string(&b, "a \"quoted\" word");   // escaped, with quotes
**     ml_strbuf_html(&b, user_text);                     // escaped for HTML
**     if (b.failed) ...;   use b.data / b.len;   ml_strbuf_free(&b);
*/
#ifndef ML_CORE_STRBUF_H
#define ML_CORE_STRBUF_H

#include <stddef.h>

typedef struct MlStrBuf {
    char *data; /* NUL-terminated once anything was appended; owned */
    size_t len, cap;
    int failed;
} MlStrBuf;

void ml_strbuf_printf(MlStrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ml_strbuf_puts(MlStrBuf *b, const char *s);
/* Appends n bytes (NULs included: len counts them, data stays NUL-terminated). */
void ml_strbuf_putn(MlStrBuf *b, const char *s, size_t n);
void ml_strbuf_json_string(MlStrBuf *b, const char *s);
/* Appends s with & < > " ' escaped. */
void ml_strbuf_html(MlStrBuf *b, const char *s);
/* Appends s with | and newlines made safe for a Markdown table cell. */
void ml_strbuf_md(MlStrBuf *b, const char *s);
void ml_strbuf_clear(MlStrBuf *b); /* keeps the allocation */
void ml_strbuf_free(MlStrBuf *b);

#endif
