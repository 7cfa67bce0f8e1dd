/* tokenizer_pretok.c: the byte-level pre-tokenizer of GPT-2-style BPE files:
   the Qwen2 split regex (matched by hand, alternative by alternative, with
   the backtracking the regex engine would do) and the byte <-> character
   map of `tokenizers` ByteLevel (bytes_to_unicode). */
#include <string.h>

#include "io/tokenizer_impl.h"
#include "io/unicode.h"

/* Bytes that stand for themselves in ByteLevel: '!'..'~', '¡'..'¬', '®'..'ÿ'. */
static int printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

void ml_tok_byte_level_init(MlTokenizer *tok) {
    unsigned next = 256;
    for (unsigned b = 0; b < 256; b++) {
        unsigned cp = printable(b) ? b : next++;
        char *o = tok->byte_utf8[b];
        if (cp < 0x80) o[0] = (char)cp, o[1] = 0;
        else o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), o[2] = 0;
        tok->byte_of_cp[cp] = (int16_t)b;
    }
    for (unsigned cp = 0; cp < 256; cp++)
        if (!printable(cp)) tok->byte_of_cp[cp] = -1;
}

typedef struct Ch {
    uint32_t cp; /* INVALID for a byte that is not UTF-8 */
    size_t len;
} Ch;

#define INVALID 0xFFFFFFFFu

static Ch char_at(const char *s, size_t n, size_t i) {
    Ch c = {INVALID, 0};
    if (i >= n) return c;
    c.len = ml_tok_utf8_char((const unsigned char *)s + i, n - i, &c.cp);
    if (!c.len) c = (Ch){INVALID, 1};
    return c;
}

static int is_l(uint32_t cp) { return cp != INVALID && ml_unicode_is_letter(cp); }
static int is_n(uint32_t cp) { return cp != INVALID && ml_unicode_is_number(cp); }
static int is_s(uint32_t cp) { return cp != INVALID && ml_unicode_is_space(cp); }
static int is_crlf(uint32_t cp) { return cp == '\r' || cp == '\n'; }

/* s[i..] starts with the ASCII letter lower, in either case (and 's' also as U+017F, which case-folds to it). */
static size_t letter_ci(const char *s, size_t n, size_t i, char lower) {
    if (i < n && (s[i] == lower || s[i] == lower - 32)) return 1;
    if (lower == 's' && i + 1 < n && (unsigned char)s[i] == 0xC5 && (unsigned char)s[i + 1] == 0xBF) return 2;
    return 0;
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d): the length matched at i, or 0. */
static size_t contraction(const char *s, size_t n, size_t i) {
    if (s[i] != '\'') return 0;
    static const char *const alts[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    for (int k = 0; k < 7; k++) {
        size_t j = i + 1, l;
        const char *a = alts[k];
        for (; *a && (l = letter_ci(s, n, j, *a)); a++) j += l;
        if (!*a) return j - i;
    }
    return 0;
}

/* Qwen2's pattern, tried in order at i:
     (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N} | ' '?[^\s\p{L}\p{N}]+[\r\n]*
     | \s*[\r\n]+ | \s+(?!\S) | \s+
   Every character matches some alternative, so the matches tile the text. */
size_t ml_tok_qwen2_split(const char *s, size_t n, size_t i) {
    size_t len = contraction(s, n, i);
    if (len) return i + len;
    Ch c = char_at(s, n, i);
    size_t j = i;
    if (!is_l(c.cp) && !is_n(c.cp) && !is_crlf(c.cp)) j += c.len;
    if (!is_l(char_at(s, n, j).cp)) j = i; /* without the optional prefix, \p{L}+ must start at i */
    Ch d;
    if (is_l((d = char_at(s, n, j)).cp)) {
        while (is_l((d = char_at(s, n, j)).cp)) j += d.len;
        return j;
    }
    if (is_n(c.cp)) return i + c.len;
    j = i + (c.cp == ' ');
    size_t k = j;
    while ((d = char_at(s, n, k)).len && !is_s(d.cp) && !is_l(d.cp) && !is_n(d.cp)) k += d.len;
    if (k > j) {
        while (k < n && (s[k] == '\r' || s[k] == '\n')) k++;
        return k;
    }
    /* c is whitespace from here on. */
    size_t end = i, last_crlf = 0, last_start = i;
    int have_crlf = 0, count = 0;
    while ((d = char_at(s, n, end)).len && is_s(d.cp)) {
        if (is_crlf(d.cp)) have_crlf = 1, last_crlf = end;
        last_start = end;
        end += d.len;
        count++;
    }
    if (have_crlf) return last_crlf + 1;
    if (end == n || count < 2) return end; /* \s+(?!\S) whole, or the plain \s+ */
    return last_start;                     /* \s+(?!\S) backs off one character */
}
