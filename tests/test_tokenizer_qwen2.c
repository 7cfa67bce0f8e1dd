/* test_tokenizer_qwen2.c: Qwen2's byte-level BPE from the unchanged
   vocab.json + merges.txt + tokenizer_config.json of data/qwen2-vl-2b:
   llama.cpp's Qwen2 test vectors (ids from HF AutoTokenizer, no special
   tokens) and their round trips, the added tokens of the chat template,
   lossy decoding of broken UTF-8, the split regex against Python's `regex`
   module (tests/reference/qwen2_split.py), NFC against Python's unicodedata
   (tests/reference/unicode_nfc.py), and malformed files. */
#include "test.h"

#include <stdint.h>

#include "core/error.h"
#include "core/file.h"
#include "io/tokenizer_impl.h" /* ml_tok_qwen2_split */
#include "io/unicode.h"

#define QWEN "data/qwen2-vl-2b"
#define VECTORS "data/llama.cpp/ggml-vocab-qwen2.gguf"

static MlTokenizer *tok; /* loaded once in main */

static void test_load(void) {
    CHECK(tok != NULL);
    if (!tok) return;
    /* 151643 vocab pieces, then the 14 added tokens of tokenizer_config.json up to <|video_pad|> 151656. */
    CHECK(ml_tokenizer_vocab_size(tok) == 151657);
    CHECK(ml_tokenizer_token_id(tok, "<|endoftext|>") == 151643);
    CHECK(ml_tokenizer_token_id(tok, "<|im_start|>") == 151644 && ml_tokenizer_token_id(tok, "<|im_end|>") == 151645);
    CHECK(ml_tokenizer_token_id(tok, "<|vision_start|>") == 151652);
    CHECK(ml_tokenizer_token_id(tok, "<|vision_end|>") == 151653);
    CHECK(ml_tokenizer_token_id(tok, "<|image_pad|>") == 151655);
    CHECK(ml_tokenizer_is_special(tok, 151655) && !ml_tokenizer_is_special(tok, 9707));
    CHECK_STR(ml_tokenizer_piece(tok, 9707), "Hello");
    CHECK_STR(ml_tokenizer_piece(tok, 220), "\xC4\xA0"); /* " " spelled as ByteLevel's U+0120 */
}

static void test_vectors(void) {
    MlError err = {0};
    char path[600], *inp = NULL, *out = NULL;
    size_t inp_len, out_len;
    snprintf(path, sizeof path, "%s", test_repo_path(VECTORS ".inp"));
    CHECK_OK(ml_file_read(path, &inp, &inp_len, &err), &err);
    snprintf(path, sizeof path, "%s", test_repo_path(VECTORS ".out"));
    CHECK_OK(ml_file_read(path, &out, &out_len, &err), &err);
    if (!inp || !out || !tok) {
        free(inp);
        free(out);
        return;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    char *text = inp, *line = out;
    int count = 0, matched = 0, round_trips = 0;
    static int32_t ids[4096], want[4096];
    while (text && line) {
        char *text_end = strstr(text, sep), *line_end = strchr(line, '\n');
        size_t text_len = text_end ? (size_t)(text_end - text) : strlen(text);
        if (line_end) *line_end = 0;
        size_t n_want = 0;
        for (char *p = line, *end; n_want < 4096; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            want[n_want++] = (int32_t)v;
        }
        size_t n;
        int rc = ml_tokenizer_encode(tok, text, text_len, ids, 4096, &n, &err);
        count++;
        if (rc == ML_OK && n == n_want && !memcmp(ids, want, n * sizeof *ids)) matched++;
        else {
            fprintf(stderr, "  vector %d (\"%.*s\"): ids differ:", count, (int)(text_len > 40 ? 40 : text_len), text);
            for (size_t i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", ids[i]);
            fprintf(stderr, "\n");
        }
        /* Byte-level BPE loses nothing: decode(encode(s)) == s (all these texts are NFC already). */
        static char back[8192];
        size_t back_len = ml_tokenizer_decode(tok, ids, n, 1, back, sizeof back);
        if (back_len == text_len && !memcmp(back, text, text_len)) round_trips++;
        else fprintf(stderr, "  vector %d: decode gave \"%s\"\n", count, back);
        text = text_end ? text_end + strlen(sep) : NULL;
        line = line_end ? line_end + 1 : NULL;
    }
    CHECK(count == 44); /* 43 strings and the empty one after the final separator */
    CHECK(matched == count);
    CHECK(round_trips == count);
    free(inp);
    free(out);
}

/* The chat template's pieces: added tokens split out before anything else.
   Ids from the vectors' vocabulary: "user" 872, "\n" 198, "Hello" 9707, " world" 1879. */
static void test_added_tokens(void) {
    if (!tok) return;
    const char *text =
        "<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|><|vision_end|>Hello world<|im_end|>";
    int32_t ids[32];
    size_t n;
    MlError err = {0};
    CHECK_OK(ml_tokenizer_encode(tok, text, strlen(text), ids, 32, &n, &err), &err);
    const int32_t want[] = {151644, 872, 198, 151652, 151655, 151655, 151653, 9707, 1879, 151645};
    CHECK(n == 10 && !memcmp(ids, want, sizeof want));
    char back[256];
    ml_tokenizer_decode(tok, ids, n, 0, back, sizeof back);
    CHECK_STR(back, text);
    ml_tokenizer_decode(tok, ids, n, 1, back, sizeof back);
    CHECK_STR(back, "user\nHello world");
}

/* ByteLevel joins all tokens' bytes, then Rust's from_utf8_lossy: one U+FFFD per maximal invalid part. */
static void test_lossy_decode(void) {
    if (!tok) return;
    /* "é" is 0xC3 0xA9: its ByteLevel pieces are "Ã" (id of byte 0xC3) and "©" (0xA9). */
    int c3 = ml_tokenizer_token_id(tok, "\xC3\x83"), a9 = ml_tokenizer_token_id(tok, "\xC2\xA9");
    int e2 = ml_tokenizer_token_id(tok, "\xC3\xA2"), x = ml_tokenizer_token_id(tok, "x");
    CHECK(c3 >= 0 && a9 >= 0 && e2 >= 0 && x >= 0);
    char out[64];
    int32_t split[] = {c3, a9};
    ml_tokenizer_decode(tok, split, 2, 1, out, sizeof out);
    CHECK_STR(out, "\xC3\xA9");
    int32_t broken[] = {c3, x, e2, a9, x}; /* C3 'x' E2 A9 'x': C3 alone, then E2 A9 (a truncated 3-byte form) */
    ml_tokenizer_decode(tok, broken, 5, 1, out, sizeof out);
    CHECK_STR(out, "\xEF\xBF\xBDx\xEF\xBF\xBDx");
}

static int nibble(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

/* By hand: sscanf would measure the rest of the 2 MB buffer at every call. */
static int hex_decode(const char *hex, size_t hex_len, char *out) {
    for (size_t i = 0; i + 1 < hex_len; i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i / 2] = (char)(hi * 16 + lo);
    }
    return (int)(hex_len / 2);
}

static void test_nfc_reference(void) {
    char path[600], script[600], cmd[1400];
    snprintf(path, sizeof path, "%s/nfc.txt", test_tmpdir("test_tokenizer_qwen2"));
    snprintf(script, sizeof script, "%s", test_repo_path("tests/reference/unicode_nfc.py"));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, path);
    if (system(cmd) != 0) {
        CHECK(0);
        return;
    }
    char *text = NULL;
    size_t len;
    MlError err = {0};
    CHECK_OK(ml_file_read(path, &text, &len, &err), &err);
    if (!text) return;
    int lines = 0, same = 0;
    static char in[4096], want[4096];
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        char *sp = memchr(p, ' ', (size_t)(nl - p));
        if (!sp || sp - p > 8000 || nl - sp > 8000) break;
        int n_in = hex_decode(p, (size_t)(sp - p), in), n_want = hex_decode(sp + 1, (size_t)(nl - sp - 1), want);
        if (n_in < 0 || n_want < 0) break;
        char *got;
        size_t got_len;
        lines++;
        if (ml_unicode_nfc(in, (size_t)n_in, &got, &got_len) == ML_OK && got_len == (size_t)n_want &&
            !memcmp(got, want, got_len))
            same++;
        else if (lines - same <= 5) fprintf(stderr, "  NFC differs for %.*s\n", (int)(sp - p), p);
        free(got);
    }
    CHECK(lines > 190000 && same == lines);
    free(text);
    /* NFC also runs inside encode: "e" + U+0301 is encoded as "é". */
    int32_t a[4], b[4];
    size_t na, nb;
    CHECK_OK(ml_tokenizer_encode(tok, "Caf\x65\xCC\x81", 6, a, 4, &na, &err), &err);
    CHECK_OK(ml_tokenizer_encode(tok, "Caf\xC3\xA9", 5, b, 4, &nb, &err), &err);
    CHECK(na == nb && !memcmp(a, b, na * sizeof *a));
}

/* Runs a reference script writing "input-hex rest..." lines into the test's scratch folder; returns the text. */
static char *reference(const char *script_rel, const char *out_name, size_t *len) {
    char path[4200], script[4200], cmd[8600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir("test_tokenizer_qwen2"), out_name);
    snprintf(script, sizeof script, "%s", test_repo_path(script_rel));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, path);
    char *text = NULL;
    MlError err = {0};
    if (system(cmd) != 0 || ml_file_read(path, &text, len, &err) != ML_OK) fprintf(stderr, "  %s failed\n", cmd);
    return text;
}

static void test_split_reference(void) {
    size_t len;
    char *text = reference("tests/reference/qwen2_split.py", "split.txt", &len);
    CHECK(text != NULL);
    if (!text) return;
    int lines = 0, same = 0;
    static char in[4096], piece[4096];
    for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
        char *sp = memchr(p, ' ', (size_t)(nl - p));
        if (!sp || sp - p > 8000) break;
        int n = hex_decode(p, (size_t)(sp - p), in), ok = n > 0;
        size_t pos = 0;
        for (char *q = sp + 1, *end; ok && q < nl; q = end + (*end == ' ')) {
            end = q;
            while (end < nl && *end != ' ') end++;
            int k = hex_decode(q, (size_t)(end - q), piece);
            size_t stop = pos < (size_t)n ? ml_tok_qwen2_split(in, (size_t)n, pos) : pos;
            ok = k > 0 && stop - pos == (size_t)k && !memcmp(in + pos, piece, (size_t)k);
            pos = stop;
        }
        ok = ok && pos == (size_t)n;
        lines++;
        same += ok;
        if (!ok && lines - same <= 5) fprintf(stderr, "  split differs for %.*s\n", (int)(sp - p), p);
    }
    CHECK(lines == 5000 && same == lines);
    free(text);
}

static void test_bad_files(void) {
    const char *vocab = "{\"a\":0,\"b\":1,\"ab\":2}";
    const char *bad_merges[][2] = {
        {"#version: 0.2\na  b\n", "t/merges.txt: line 2: expected two pieces separated by one space"},
        {"a\n", "t/merges.txt: line 1: expected two pieces"},
        {"a c\n", "t (vocab.json, merges.txt): model.merges[0]: 'c' is not in the vocab"},
        {"b a\n", "t (vocab.json, merges.txt): model.merges[0]: 'ba' is not in the vocab"},
    };
    MlTokenizer *t;
    MlError err = {0};
    for (size_t i = 0; i < sizeof bad_merges / sizeof bad_merges[0]; i++) {
        int rc = ml_tokenizer_load_bpe_mem(&t, vocab, strlen(vocab), bad_merges[i][0], strlen(bad_merges[i][0]), NULL,
                                           0, "t", &err);
        CHECK(rc == ML_ERR_FORMAT && t == NULL && strstr(err.msg, bad_merges[i][1]) == err.msg);
        if (rc == ML_OK) ml_tokenizer_free(t);
    }
    const char *merges = "#version: 0.2\na b\n";
    const char *bad_vocab[][2] = {
        {"[1]", "t/vocab.json: expected an object"},
        {"{\"a\":0,\"b\":\"x\"}", "t (vocab.json, merges.txt): model.vocab"},
        {"{\"a\":0,", "t/vocab.json: "},
    };
    for (size_t i = 0; i < sizeof bad_vocab / sizeof bad_vocab[0]; i++) {
        int rc = ml_tokenizer_load_bpe_mem(&t, bad_vocab[i][0], strlen(bad_vocab[i][0]), merges, strlen(merges), NULL,
                                           0, "t", &err);
        CHECK(rc != ML_OK && t == NULL && strstr(err.msg, bad_vocab[i][1]) == err.msg);
        if (rc == ML_OK) ml_tokenizer_free(t);
        else if (strstr(err.msg, bad_vocab[i][1]) != err.msg) fprintf(stderr, "  vocab case %zu: %s\n", i, err.msg);
    }
    const char *bad_config = "{\"added_tokens_decoder\":{\"x\":{\"content\":\"<|a|>\"}}}";
    CHECK(ml_tokenizer_load_bpe_mem(&t, vocab, strlen(vocab), merges, strlen(merges), bad_config, strlen(bad_config),
                                    "t", &err) == ML_ERR_FORMAT);
    CHECK(strstr(err.msg, "t/tokenizer_config.json: added_tokens_decoder: expected") == err.msg);
    CHECK(ml_tokenizer_load_bpe_dir(&t, "/nonexistent-dir", &err) != ML_OK && t == NULL);
    /* A small valid folder: "ab" merges, an added token, byte-level characters for the rest. */
    const char *config = "{\"added_tokens_decoder\":{\"3\":{\"content\":\"<|x|>\",\"special\":true}}}";
    CHECK_OK(
        ml_tokenizer_load_bpe_mem(&t, vocab, strlen(vocab), merges, strlen(merges), config, strlen(config), "t", &err),
        &err);
    if (t) {
        int32_t ids[8];
        size_t n;
        CHECK_OK(ml_tokenizer_encode(t, "ab<|x|>ba", 9, ids, 8, &n, &err), &err);
        CHECK(n == 4 && ids[0] == 2 && ids[1] == 3 && ids[2] == 1 && ids[3] == 0);
        ml_tokenizer_free(t);
    }
}

int main(void) {
    MlError err = {0};
    char dir[600];
    snprintf(dir, sizeof dir, "%s", test_repo_path(QWEN));
    if (ml_tokenizer_load_bpe_dir(&tok, dir, &err)) fprintf(stderr, "  load: %s\n", err.msg);
    RUN(test_load);
    RUN(test_vectors);
    RUN(test_added_tokens);
    RUN(test_lossy_decode);
    RUN(test_split_reference);
    RUN(test_nfc_reference);
    RUN(test_bad_files);
    ml_tokenizer_free(tok);
    return test_summary("test_tokenizer_qwen2");
}
