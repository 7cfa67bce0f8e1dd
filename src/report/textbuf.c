/* textbuf.c: growing text buffer with HTML and Markdown escaping. */
#include "report/textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(MlTextBuf *b, size_t more) {
    if (b->failed) return -1;
    if (b->len + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void ml_textbuf_printf(MlTextBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ml_textbuf_puts(MlTextBuf *b, const char *s) {
    size_t n = strlen(s);
    if (reserve(b, n)) return;
    memcpy(b->data + b->len, s, n + 1);
    b->len += n;
}

void ml_textbuf_html(MlTextBuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': ml_textbuf_puts(b, "&amp;"); break;
        case '<': ml_textbuf_puts(b, "&lt;"); break;
        case '>': ml_textbuf_puts(b, "&gt;"); break;
        case '"': ml_textbuf_puts(b, "&quot;"); break;
        case '\'': ml_textbuf_puts(b, "&#39;"); break;
        default: {
            char c[2] = {*s, 0};
            ml_textbuf_puts(b, c);
        }
        }
    }
}

void ml_textbuf_md(MlTextBuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '|') ml_textbuf_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r') ml_textbuf_puts(b, " ");
        else {
            char c[2] = {*s, 0};
            ml_textbuf_puts(b, c);
        }
    }
}
