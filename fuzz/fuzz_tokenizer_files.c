/* fuzz_tokenizer_files.c: the vocab.json + merges.txt + tokenizer_config.json
   loader and the byte-level tokenizer, picked by the low bit of the first byte.
     even: the rest is vocab.json, merges.txt and tokenizer_config.json
           separated by NUL bytes (a missing third part: no config); what
           loads then encodes and decodes a few fixed texts.
     odd:  the rest is text for the real Qwen2 tokenizer (data/qwen2-vl-2b,
           run from the repository root): ids stay in range and, for valid
           UTF-8 without added tokens, decode(encode(s)) == NFC(s). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/tokenizer_impl.h"
#include "io/unicode.h"

static const char *const texts[] = {"",
                                    "Hello world",
                                    " a  b\n\r\n",
                                    "'s 'LL",
                                    "e\xcc\x81\xf0\x9f\xa6\x99 12",
                                    "\xff\xfe",
                                    "<|im_start|>x<|im_end|>",
                                    "   \t x"};

static void check_ids(const MlTokenizer *tok, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= ml_tokenizer_vocab_size(tok)) abort();
}

static void run_loaded(const MlTokenizer *tok) {
    int32_t ids[256];
    char out[2048];
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        size_t n;
        MlError err = {0};
        int rc = ml_tokenizer_encode(tok, texts[t], strlen(texts[t]), ids, 256, &n, &err);
        if (rc != ML_OK && !err.msg[0]) abort(); /* failures always say why */
        if (rc != ML_OK) continue;
        check_ids(tok, ids, n);
        size_t len = ml_tokenizer_decode(tok, ids, n, 0, out, sizeof out);
        if (len < sizeof out && memchr(out, 0, len + 1) == NULL) abort();
    }
}

static MlTokenizer *real_tokenizer(void) {
    static MlTokenizer *real;
    static int tried;
    if (!tried) {
        tried = 1;
        MlError err = {0};
        if (ml_tokenizer_load_bpe_dir(&real, "data/qwen2-vl-2b", &err))
            fprintf(stderr, "fuzz_tokenizer_files: %s (text mode skipped)\n", err.msg);
    }
    return real;
}

static void run_text(const char *s, size_t size) {
    const MlTokenizer *tok = real_tokenizer();
    if (!tok) return;
    char *nfc;
    size_t nfc_len;
    if (ml_unicode_nfc(s, size, &nfc, &nfc_len)) abort();
    int32_t *ids = malloc((nfc_len + 8) * sizeof *ids); /* at most one id per byte of normalized text */
    char *back = malloc(3 * nfc_len + 16);
    if (!ids || !back) abort();
    size_t n;
    MlError err = {0};
    if (ml_tokenizer_encode(tok, s, size, ids, nfc_len + 8, &n, &err) != ML_OK) abort();
    check_ids(tok, ids, n);
    size_t len = ml_tokenizer_decode(tok, ids, n, 1, back, 3 * nfc_len + 16);
    if (len >= 3 * nfc_len + 16) abort(); /* U+FFFD is at most 3 bytes per input byte */
    int plain = ml_tok_utf8_valid(s, size);
    for (int32_t k = 0; k < tok->n_added && plain; k++)
        if (memmem(s, size, tok->added[k].content, tok->added[k].len)) plain = 0;
    if (plain && (len != nfc_len || memcmp(back, nfc, nfc_len))) abort();
    free(nfc);
    free(ids);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > (1 << 20)) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        run_text(s, n);
        return 0;
    }
    const char *z1 = memchr(s, 0, n);
    if (!z1) return 0;
    const char *merges = z1 + 1, *z2 = memchr(merges, 0, (size_t)(s + n - merges));
    size_t merges_len = z2 ? (size_t)(z2 - merges) : (size_t)(s + n - merges);
    const char *config = z2 ? z2 + 1 : NULL;
    size_t config_len = z2 ? (size_t)(s + n - config) : 0;
    MlTokenizer *tok = (MlTokenizer *)&tok;
    MlError err = {0};
    if (ml_tokenizer_load_bpe_mem(&tok, s, (size_t)(z1 - s), merges, merges_len, config, config_len, "fuzz", &err)) {
        if (tok || !err.msg[0] || strchr(err.msg, '\n')) abort(); /* failures leave nothing and say why in one line */
        return 0;
    }
    run_loaded(tok);
    ml_tokenizer_free(tok);
    return 0;
}
