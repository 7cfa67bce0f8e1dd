/* strbuf.c: growable text buffer with JSON, HTML and Markdown escaping (see strbuf.h). */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static int reserve(MlStrBuf *b, size_t extra) {
    if (b->failed) return 0;
    if (extra > ((size_t)-1) / 2 - b->len) {
        b->failed = 1;
        return 0;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void ml_strbuf_printf(MlStrBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n)) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ml_strbuf_putn(MlStrBuf *b, const char *s, size_t n) {
    if (!reserve(b, n)) return;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void ml_strbuf_puts(MlStrBuf *b, const char *s) { ml_strbuf_putn(b, s, strlen(s)); }

void ml_strbuf_json_string(MlStrBuf *b, const char *s) {
    size_t need = ml_json_escape(NULL, 0, s);
    if (!reserve(b, need)) return;
    ml_json_escape(b->data + b->len, need + 1, s);
    b->len += need;
}

void ml_strbuf_html(MlStrBuf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': ml_strbuf_puts(b, "&amp;"); break;
        case '<': ml_strbuf_puts(b, "&lt;"); break;
        case '>': ml_strbuf_puts(b, "&gt;"); break;
        case '"': ml_strbuf_puts(b, "&quot;"); break;
        case '\'': ml_strbuf_puts(b, "&#39;"); break;
        default: {
            char c[2] = {*s, 0};
            ml_strbuf_puts(b, c);
        }
        }
    }
}

void ml_strbuf_md(MlStrBuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '|') ml_strbuf_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r') ml_strbuf_puts(b, " ");
        else {
            char c[2] = {*s, 0};
            ml_strbuf_puts(b, c);
        }
    }
}

void ml_strbuf_clear(MlStrBuf *b) {
    b->len = 0;
    b->failed = 0;
    if (b->data) b->data[0] = 0;
}

void ml_strbuf_free(MlStrBuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
