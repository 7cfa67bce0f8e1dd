/* fuzz_tokenizer.c: two targets in one, picked by the low bit of the first byte.
     even: the rest is a tokenizer.json for ml_tokenizer_load_mem; whatever
           loads then encodes and decodes a few fixed texts.
     odd:  the rest is text for the real LLaVA tokenizer (loaded once from
           data/llava-1.5-7b-hf/, run from the repository root): ids stay in range, a short buffer gives
           ML_ERR_RANGE with the same count, and decode(encode(s)) == s for
           valid UTF-8 without "▁" or added tokens.
   Tokenizers whose normalizer or decoder could blow a short text up past a
   megabyte are loaded but not run (legal, only slow); the library's own
   1 GiB limits are covered by the tests. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/tokenizer_impl.h" /* step lists, to size the growth check below */

#define SMALL ((size_t)1 << 20)

static const char *const texts[] = {"", "Hello world", " a  b\n", "<s>x</s>", "\xc3\xa9\xf0\x9f\xa6\x99", "aaaa",
                                    "\xff\xfe", "<image>\n<unk>", "\xe2\x96\x81 \xe2\x96\x81"};

/* An upper bound on how much the steps can multiply a text of len bytes. */
static size_t growth_bound(const MlTokStep *steps, int n, size_t len) {
    for (int i = 0; i < n && len <= SMALL; i++) {
        if (steps[i].kind == ML_TOK_PREPEND) len += steps[i].a_len;
        else if (steps[i].kind == ML_TOK_REPLACE) len *= 1 + (size_t)steps[i].b_len;
    }
    return len;
}

static void run_loaded(const MlTokenizer *tok) {
    if (growth_bound(tok->norm_steps, tok->n_norm_steps, 64) > SMALL) return;
    /* Each id decodes to at most its piece; longest piece bounds a token. */
    size_t longest = 6;
    for (int32_t id = 0; id < tok->n_ids; id++)
        if (tok->piece[id] && tok->piece_len[id] > longest) longest = tok->piece_len[id];
    if (growth_bound(tok->dec_steps, tok->n_dec_steps, 64 * longest) > SMALL) return;
    int32_t ids[64];
    char out[512];
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t n;
        MlError err = {0};
        int rc = ml_tokenizer_encode(tok, texts[t], strlen(texts[t]), ids, 64, &n, &err);
        if (rc != ML_OK && !err.msg[0]) abort(); /* failures always say why */
        if (rc != ML_OK) continue;
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= ml_tokenizer_vocab_size(tok)) abort();
        for (int skip = 0; skip < 2; skip++) {
            size_t len = ml_tokenizer_decode(tok, ids, n, skip, out, sizeof out);
            if (len < sizeof out && memchr(out, 0, len + 1) == NULL) abort(); /* NUL-terminated */
        }
    }
}

static MlTokenizer *real_tokenizer(void) {
    static MlTokenizer *real;
    static int tried;
    if (!tried) {
        tried = 1;
        MlError err = {0};
        if (ml_tokenizer_load(&real, "data/llava-1.5-7b-hf/tokenizer.json", &err))
            fprintf(stderr, "fuzz_tokenizer: %s (text mode skipped)\n", err.msg);
    }
    return real;
}

static int round_trips(const MlTokenizer *tok, const char *s, size_t n) {
    if (!ml_tok_utf8_valid(s, n) || memmem(s, n, "\xe2\x96\x81", 3)) return 0;
    for (int32_t k = 0; k < tok->n_added; k++)
        if (memmem(s, n, tok->added[k].content, tok->added[k].len)) return 0;
    return 1;
}

static void run_text(const uint8_t *data, size_t size) {
    const MlTokenizer *tok = real_tokenizer();
    if (!tok) return;
    const char *s = (const char *)data;
    int32_t *ids = malloc((size + 8) * sizeof *ids); /* at most one id per byte of normalized text */
    char *back = malloc(3 * size + 16);
    if (!ids || !back) abort();
    size_t n, n_short;
    MlError err = {0};
    if (ml_tokenizer_encode(tok, s, size, ids, 3 * size / 4 + 8, &n, &err) == ML_ERR_RANGE) {
        free(ids);
        ids = malloc(n * sizeof *ids);
        if (!ids || ml_tokenizer_encode(tok, s, size, ids, n, &n, &err) != ML_OK) abort();
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= ml_tokenizer_vocab_size(tok)) abort();
    if (n > 0) {
        int32_t one;
        if (ml_tokenizer_encode(tok, s, size, &one, n - 1 ? 1 : 0, &n_short, &err) != ML_ERR_RANGE || n_short != n)
            abort();
        if (n - 1 && one != ids[0]) abort();
    }
    size_t len = ml_tokenizer_decode(tok, ids, n, 1, back, 3 * size + 16);
    if (len >= 3 * size + 16) abort(); /* U+FFFD is at most 3 bytes per input byte */
    if (round_trips(tok, s, size) && (len != size || memcmp(back, s, size))) abort();
    free(ids);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    if (data[0] & 1) {
        run_text(data + 1, size - 1);
        return 0;
    }
    MlTokenizer *tok = (MlTokenizer *)&tok;
    MlError err = {0};
    if (ml_tokenizer_load_mem(&tok, (const char *)data + 1, size - 1, "fuzz.json", &err) != ML_OK) {
        if (tok || !err.msg[0]) abort(); /* failures leave nothing and always say why */
        return 0;
    }
    run_loaded(tok);
    ml_tokenizer_free(tok);
    return 0;
}
