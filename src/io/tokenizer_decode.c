/* tokenizer_decode.c: ids -> text through the decoder steps of the file,
   each step turning a list of token strings into another, as the
   `tokenizers` Decoder::decode_chain functions do; the final list is joined. */
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "io/tokenizer_impl.h"

/* A list of byte strings in one buffer: token k is text.data[end[k-1] .. end[k]). */
typedef struct List {
    MlStrBuf text;
    size_t *end;
    size_t n, ncap;
    int oom;
} List;

static void put(List *l, const char *s, size_t n) {
    if (l->oom || !n) return;
    if (n > ML_TOK_MAX_TEXT - l->text.len) { /* decoder steps of a hostile file can grow text without bound */
        l->oom = 1;
        return;
    }
    ml_strbuf_putn(&l->text, s, n);
    l->oom = l->text.failed;
}

/* Ends the token that the puts since the last close built. */
static void close_token(List *l) {
    if (l->oom) return;
    if (l->n == l->ncap) {
        size_t cap = l->ncap ? 2 * l->ncap : 64;
        size_t *grown = realloc(l->end, cap * sizeof *grown);
        if (!grown) {
            l->oom = 1;
            return;
        }
        l->end = grown;
        l->ncap = cap;
    }
    l->end[l->n++] = l->text.len;
}

static const char *token(const List *l, size_t k, size_t *n) {
    size_t start = k ? l->end[k - 1] : 0;
    *n = l->end[k] - start;
    return l->text.data ? l->text.data + start : ""; /* a list of empty tokens has no buffer */
}

static void clear(List *l) {
    ml_strbuf_clear(&l->text);
    l->n = 0;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "<0xXX>": the two characters are parsed like Rust's u8::from_str_radix(_, 16),
   which also takes "+X". */
static int byte_token(const char *s, size_t n, unsigned char *byte) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return 0;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    if (lo < 0) return 0;
    if (s[3] == '+') hi = 0;
    else if (hi < 0) return 0;
    *byte = (unsigned char)(hi * 16 + lo);
    return 1;
}

static void flush_bytes(List *out, const char *run, size_t n) {
    if (!n) return;
    if (ml_tok_utf8_valid(run, n)) {
        put(out, run, n);
        close_token(out);
        return;
    }
    for (size_t i = 0; i < n; i++) { /* one U+FFFD per byte of the run */
        put(out, "\xEF\xBF\xBD", 3);
        close_token(out);
    }
}

static void apply_step(const MlTokStep *st, const List *in, List *out) {
    size_t n;
    const char *s;
    if (st->kind == ML_TOK_FUSE) {
        for (size_t k = 0; k < in->n; k++) s = token(in, k, &n), put(out, s, n);
        close_token(out);
        return;
    }
    if (st->kind == ML_TOK_BYTE_FALLBACK) {
        List run = {0}; /* bytes of consecutive <0xXX> tokens */
        for (size_t k = 0; k < in->n; k++) {
            s = token(in, k, &n);
            unsigned char byte;
            if (byte_token(s, n, &byte)) {
                put(&run, (const char *)&byte, 1);
                continue;
            }
            flush_bytes(out, run.text.data, run.text.len);
            clear(&run);
            put(out, s, n);
            close_token(out);
        }
        flush_bytes(out, run.text.data, run.text.len);
        out->oom |= run.oom;
        ml_strbuf_free(&run.text);
        free(run.end);
        return;
    }
    for (size_t k = 0; k < in->n; k++) {
        s = token(in, k, &n);
        if (st->kind == ML_TOK_REPLACE) {
            const char *p = s, *end = s + n, *hit;
            while ((hit = memmem(p, (size_t)(end - p), st->a, st->a_len))) {
                put(out, p, (size_t)(hit - p));
                put(out, st->b, st->b_len);
                p = hit + st->a_len;
            }
            put(out, p, (size_t)(end - p));
        } else { /* ML_TOK_STRIP: tokens are valid UTF-8, so byte compares of one whole character suffice */
            size_t lo = 0, hi = n;
            for (int32_t i = 0; i < st->start && hi - lo >= st->a_len && !memcmp(s + lo, st->a, st->a_len); i++)
                lo += st->a_len;
            for (int32_t i = 0; i < st->stop && hi - lo >= st->a_len && !memcmp(s + hi - st->a_len, st->a, st->a_len);
                 i++)
                hi -= st->a_len;
            put(out, s + lo, hi - lo);
        }
        close_token(out);
    }
}

size_t ml_tokenizer_decode(const MlTokenizer *tok, const int32_t *ids, size_t n, int skip_special, char *out,
                           size_t cap) {
    List a = {0}, b = {0};
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= tok->n_ids || !tok->piece[id] || (skip_special && tok->special[id])) continue;
        put(&a, tok->piece[id], tok->piece_len[id]);
        close_token(&a);
    }
    for (int k = 0; k < tok->n_dec_steps && tok->has_decoder; k++) {
        clear(&b);
        apply_step(&tok->dec_steps[k], &a, &b);
        b.oom |= a.oom;
        List t = a;
        a = b;
        b = t;
    }
    /* Join: a decoder's output is concatenated; without one, tokens are joined by spaces. */
    size_t total = 0;
    if (!a.oom) {
        for (size_t k = 0; k < a.n; k++) {
            size_t len;
            token(&a, k, &len);
            total += len + (!tok->has_decoder && k > 0);
        }
    }
    if (cap > 0) {
        size_t w = 0;
        for (size_t k = 0; k < a.n && !a.oom && w + 1 < cap; k++) {
            size_t len;
            const char *s = token(&a, k, &len);
            if (!tok->has_decoder && k > 0) out[w++] = ' ';
            size_t take = len < cap - 1 - w ? len : cap - 1 - w;
            if (take) memcpy(out + w, s, take);
            w += take;
        }
        out[w < cap ? w : cap - 1] = 0;
    }
    ml_strbuf_free(&a.text);
    free(a.end);
    ml_strbuf_free(&b.text);
    free(b.end);
    return total;
}
