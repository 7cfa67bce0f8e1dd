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

/* Length of the longest prefix of s[0..n) that starts a valid UTF-8 sequence (at least 1):
   Rust's from_utf8_lossy replaces each such maximal part with one U+FFFD. */
static size_t invalid_part(const unsigned char *s, size_t n) {
    unsigned b = s[0];
    size_t need = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
    if (!need) return 1;
    unsigned lo = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80, hi = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF;
    size_t k = 1;
    for (; k < need && k < n && s[k] >= (k == 1 ? lo : 0x80) && s[k] <= (k == 1 ? hi : 0xBF); k++) {
    }
    return k;
}

/* ByteLevel decode_chain: every token's characters back to bytes (a token with a character
   outside the map keeps its own bytes), all joined, then invalid UTF-8 lossily replaced. */
static void byte_level(const MlTokenizer *tok, const List *in, List *out) {
    List raw = {0};
    for (size_t k = 0; k < in->n; k++) {
        size_t n, i = 0;
        const char *s = token(in, k, &n);
        size_t mark = raw.text.len;
        while (i < n) {
            uint32_t cp;
            size_t l = ml_tok_utf8_char((const unsigned char *)s + i, n - i, &cp);
            if (!l || cp >= 324 || tok->byte_of_cp[cp] < 0) break;
            char b = (char)tok->byte_of_cp[cp];
            put(&raw, &b, 1);
            i += l;
        }
        if (i < n && !raw.oom) { /* a character outside the map: the token keeps its own bytes */
            raw.text.len = mark;
            put(&raw, s, n);
        }
    }
    const unsigned char *b = (const unsigned char *)raw.text.data;
    for (size_t i = 0, n = raw.text.len, l; i < n; i += l) {
        uint32_t cp;
        if ((l = ml_tok_utf8_char(b + i, n - i, &cp))) put(out, (const char *)b + i, l);
        else l = invalid_part(b + i, n - i), put(out, "\xEF\xBF\xBD", 3);
    }
    close_token(out);
    out->oom |= raw.oom;
    ml_strbuf_free(&raw.text);
    free(raw.end);
}

static void apply_step(const MlTokenizer *tok, const MlTokStep *st, const List *in, List *out) {
    size_t n;
    const char *s;
    if (st->kind == ML_TOK_BYTE_LEVEL) {
        byte_level(tok, in, out);
        return;
    }
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
        apply_step(tok, &tok->dec_steps[k], &a, &b);
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
