/* unicode.c: property lookups (binary search over generated ranges) and
   NFC: full canonical decomposition, canonical ordering, then canonical
   composition as UAX #15 describes it; Hangul syllables are computed. */
#include "io/unicode.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/tokenizer_impl.h"
#include "io/unicode_tables.h"

static int in_ranges(const MlUniRange *r, int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < r[mid].lo) hi = mid - 1;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return 1;
    }
    return 0;
}

int ml_unicode_is_letter(uint32_t cp) { return in_ranges(ml_uni_letters, ml_uni_letters_count, cp); }
int ml_unicode_is_number(uint32_t cp) { return in_ranges(ml_uni_numbers, ml_uni_numbers_count, cp); }

/* White_Space: what \s matches in the `tokenizers` regexes. */
int ml_unicode_is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int ccc(uint32_t cp) {
    int lo = 0, hi = ml_uni_ccc_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < ml_uni_ccc[mid].lo) hi = mid - 1;
        else if (cp > ml_uni_ccc[mid].hi) lo = mid + 1;
        else return ml_uni_ccc[mid].ccc;
    }
    return 0;
}

static const MlUniDecomp *decomp(uint32_t cp) {
    int lo = 0, hi = ml_uni_decomp_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < ml_uni_decomp[mid].cp) hi = mid - 1;
        else if (cp > ml_uni_decomp[mid].cp) lo = mid + 1;
        else return &ml_uni_decomp[mid];
    }
    return NULL;
}

/* Hangul syllable arithmetic (Unicode 3.12). */
enum {
    S_BASE = 0xAC00,
    L_BASE = 0x1100,
    V_BASE = 0x1161,
    T_BASE = 0x11A7,
    L_COUNT = 19,
    V_COUNT = 21,
    T_COUNT = 28,
    N_COUNT = V_COUNT * T_COUNT,
    S_COUNT = L_COUNT * N_COUNT
};

/* The composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    int lo = 0, hi = ml_uni_compose_count - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const MlUniCompose *c = &ml_uni_compose[mid];
        if (a < c->first || (a == c->first && b < c->second)) hi = mid - 1;
        else if (a > c->first || b > c->second) lo = mid + 1;
        else return c->composite;
    }
    return 0;
}

/* An invalid byte b is carried as INVALID + b: above every scalar value, class 0, no decomposition. */
#define INVALID 0x110000u

static size_t encode(uint32_t cp, char *o) {
    if (cp >= INVALID) {
        o[0] = (char)(cp - INVALID);
        return 1;
    }
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int ml_unicode_nfc(const char *s, size_t n, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (n > ML_TOK_MAX_TEXT) return ML_ERR_RANGE;
    /* NFD yields at most 1.5 code points per UTF-8 byte (U+01D5: 2 bytes, 3 code points): 2 per byte is enough. */
    uint32_t *cp = malloc((n ? n : 1) * 2 * sizeof *cp);
    if (!cp) return ML_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t l = ml_tok_utf8_char((const unsigned char *)s + i, n - i, &c);
        if (!l) {
            cp[m++] = INVALID + (unsigned char)s[i++];
            continue;
        }
        i += l;
        const MlUniDecomp *d;
        if (c >= S_BASE && c < S_BASE + S_COUNT) {
            uint32_t k = c - S_BASE;
            cp[m++] = L_BASE + k / N_COUNT;
            cp[m++] = V_BASE + (k % N_COUNT) / T_COUNT;
            if (k % T_COUNT) cp[m++] = T_BASE + k % T_COUNT;
        } else if ((d = decomp(c))) {
            for (int k = 0; k < d->len; k++) cp[m++] = ml_uni_decomp_pool[d->start + k];
        } else {
            cp[m++] = c;
        }
    }
    /* Canonical ordering: a stable insertion sort of each run of non-starters by class. */
    for (size_t i = 1; i < m; i++) {
        int ci = ccc(cp[i]);
        if (!ci) continue;
        uint32_t x = cp[i];
        size_t j = i;
        while (j > 0 && ccc(cp[j - 1]) > ci) {
            cp[j] = cp[j - 1];
            j--;
        }
        cp[j] = x;
    }
    /* Composition (UAX #15): a character joins the last starter unless a character of the
       same or a higher class, or a starter, stands between them (last == 0: it is adjacent). */
    size_t w = 0;
    if (m) {
        size_t starter = 0;
        int last = ccc(cp[0]) ? 256 : 0;
        w = 1;
        for (size_t i = 1; i < m; i++) {
            uint32_t c = cp[i];
            int cc = ccc(c);
            uint32_t comp = cp[starter] < INVALID && c < INVALID ? compose(cp[starter], c) : 0;
            if (comp && (last < cc || last == 0)) {
                cp[starter] = comp;
                continue;
            }
            if (!cc) starter = w;
            last = cc;
            cp[w++] = c;
        }
    }
    char *o = malloc(w * 4 + 1);
    if (!o) {
        free(cp);
        return ML_ERR_NOMEM;
    }
    size_t len = 0;
    for (size_t i = 0; i < w; i++) len += encode(cp[i], o + len);
    o[len] = 0;
    free(cp);
    if (len > ML_TOK_MAX_TEXT) {
        free(o);
        return ML_ERR_RANGE;
    }
    *out = o;
    *out_len = len;
    return ML_OK;
}
