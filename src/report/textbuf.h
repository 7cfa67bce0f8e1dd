/*
** textbuf.h: a growing text buffer for the report writers.  Appends never
** fail loudly: an allocation failure sets `failed` and later appends do
** nothing, so a writer checks once at the end.
**
**     MlTextBuf b = {0};
**     ml_textbuf_printf(&b, "| %s |\n", name);
**     ml_textbuf_html(&b, user_text);            // escaped for HTML
**     if (b.failed) ...; use(b.data); free(b.data);
*/
#ifndef ML_REPORT_TEXTBUF_H
#define ML_REPORT_TEXTBUF_H

#include <stddef.h>

typedef struct MlTextBuf {
    char *data; /* NUL-terminated once anything was appended */
    size_t len, cap;
    int failed;
} MlTextBuf;

void ml_textbuf_printf(MlTextBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ml_textbuf_puts(MlTextBuf *b, const char *s);
/* Appends s with & < > " ' escaped. */
void ml_textbuf_html(MlTextBuf *b, const char *s);
/* Appends s with | and newlines made safe for a Markdown table cell. */
void ml_textbuf_md(MlTextBuf *b, const char *s);

#endif
