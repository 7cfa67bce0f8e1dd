/* test_tokenizer.c: the real LLaVA tokenizer.json against the 47 llama.cpp
   vectors (produced by the Hugging Face tokenizer) and against a naive Python
   reference on 400 random texts (tests/reference/hf_tokenizer.py, which
   checks itself on the same vectors), HF decode semantics on hand-computed
   cases, BPE rules on small hand-built tokenizers, and malformed files. */
#include "test.h"

#include <time.h>

#include "core/file.h"
#include "io/tokenizer.h"

#define LLAVA_TOKENIZER "data/llava-1.5-7b-hf/tokenizer.json"
#define VECTORS "data/llama.cpp/ggml-vocab-llama-spm.gguf"
#define REFERENCE "/usr/bin/python3 tests/reference/hf_tokenizer.py"

static MlTokenizer *real; /* loaded once in main */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Encodes text (NUL-terminated) and compares with the expected ids. */
static int encodes_to(const MlTokenizer *tok, const char *text, const int32_t *want, size_t n_want) {
    int32_t ids[256];
    size_t n;
    MlError err = {0};
    int rc = ml_tokenizer_encode(tok, text, strlen(text), ids, 256, &n, &err);
    if (rc) {
        fprintf(stderr, "  encode(\"%s\"): %s\n", text, err.msg);
        return 0;
    }
    if (n == n_want && !memcmp(ids, want, n * sizeof *ids)) return 1;
    fprintf(stderr, "  encode(\"%s\") gave", text);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
    return 0;
}
#define ENCODES(tok, text, ...)                                                                                   \
    do {                                                                                                          \
        const int32_t want_[] = {__VA_ARGS__};                                                                    \
        CHECK(encodes_to(tok, text, want_, sizeof want_ / sizeof want_[0]));                                      \
    } while (0)

static const char *decoded(const MlTokenizer *tok, const int32_t *ids, size_t n, int skip) {
    static char buf[1024];
    size_t len = ml_tokenizer_decode(tok, ids, n, skip, buf, sizeof buf);
    if (len != strlen(buf)) return "(length mismatch)";
    return buf;
}
#define DECODES(tok, skip, want, ...)                                                                             \
    do {                                                                                                          \
        const int32_t ids_[] = {__VA_ARGS__};                                                                     \
        CHECK_STR(decoded(tok, ids_, sizeof ids_ / sizeof ids_[0], skip), want);                                  \
    } while (0)

/* ---- the real tokenizer ------------------------------------------------- */

static void test_vectors(void) {
    MlError err = {0};
    char path[512], *inp = NULL, *out = NULL;
    size_t inp_len, out_len;
    snprintf(path, sizeof path, "%s", test_repo_path(VECTORS ".inp"));
    CHECK_OK(ml_file_read(path, &inp, &inp_len, &err), &err);
    snprintf(path, sizeof path, "%s", test_repo_path(VECTORS ".out"));
    CHECK_OK(ml_file_read(path, &out, &out_len, &err), &err);
    if (!inp || !out || !real) {
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
        int rc = ml_tokenizer_encode(real, text, text_len, ids, 4096, &n, &err);
        count++;
        if (rc == ML_OK && n == n_want && !memcmp(ids, want, n * sizeof *ids)) matched++;
        else fprintf(stderr, "  vector %d (\"%.*s\"): ids differ\n", count, (int)(text_len > 40 ? 40 : text_len), text);
        /* decode(encode(s)) == s: none of these strings holds "▁" or an added token. */
        static char back[8192];
        size_t back_len = ml_tokenizer_decode(real, ids, n, 1, back, sizeof back);
        if (back_len == text_len && !memcmp(back, text, text_len)) round_trips++;
        else fprintf(stderr, "  vector %d: decode gave \"%s\"\n", count, back);
        text = text_end ? text_end + strlen(sep) : NULL;
        line = line_end ? line_end + 1 : NULL;
    }
    CHECK(count == 47); /* 46 strings and the empty one after the final separator */
    CHECK(matched == count);
    CHECK(round_trips == count);
    free(inp);
    free(out);
}

static int hex_decode(const char *hex, size_t hex_len, char *out) {
    for (size_t i = 0; i + 1 < hex_len; i += 2) {
        unsigned v;
        if (sscanf(hex + i, "%2x", &v) != 1) return -1;
        out[i / 2] = (char)v;
    }
    return (int)(hex_len / 2);
}

/* Random texts mixing words, whitespace, scripts, emoji, "▁" and added tokens. */
static void test_python_reference(void) {
    if (!real) return;
    char path[600], cmd[2048];
    snprintf(path, sizeof path, "%s/reference_encode.txt", test_tmpdir("test_tokenizer"));
    /* test_repo_path returns one static buffer: copy each path out first. */
    char tj[512], vec[512];
    snprintf(tj, sizeof tj, "%s", test_repo_path(LLAVA_TOKENIZER));
    snprintf(vec, sizeof vec, "%s", test_repo_path(VECTORS));
    snprintf(cmd, sizeof cmd, REFERENCE " encode '%s' '%s' '%s'", tj, vec, path);
    CHECK(system(cmd) == 0);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    static char line[1 << 16], text[1 << 15];
    static int32_t want[4096], got[4096];
    int cases = 0, same = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        int len = hex_decode(line, (size_t)(tab - line), text);
        size_t n_want = 0, n;
        for (char *p = tab + 1, *end; n_want < 4096; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            want[n_want++] = (int32_t)v;
        }
        MlError err = {0};
        cases++;
        if (len >= 0 && ml_tokenizer_encode(real, text, (size_t)len, got, 4096, &n, &err) == ML_OK && n == n_want &&
            !memcmp(got, want, n * sizeof *got))
            same++;
        else
            fprintf(stderr, "  reference case %d (%.*s) differs\n", cases, len > 40 ? 40 : len, text);
    }
    fclose(f);
    CHECK(cases == 400);
    CHECK(same == cases);
}

static void test_accessors(void) {
    if (!real) return;
    CHECK(ml_tokenizer_vocab_size(real) == 32002);
    CHECK(ml_tokenizer_bos_id(real) == 1);
    CHECK(ml_tokenizer_eos_id(real) == 2);
    CHECK_STR(ml_tokenizer_piece(real, 13), "<0x0A>");
    CHECK_STR(ml_tokenizer_piece(real, 0), "<unk>");
    CHECK_STR(ml_tokenizer_piece(real, 32000), "<image>");
    CHECK_STR(ml_tokenizer_piece(real, 32001), "<pad>");
    CHECK_STR(ml_tokenizer_piece(real, 15043), "\xe2\x96\x81Hello");
    CHECK(ml_tokenizer_piece(real, 32002) == NULL);
    CHECK(ml_tokenizer_piece(real, -1) == NULL);
    CHECK(ml_tokenizer_token_id(real, "\xe2\x96\x81Hello") == 15043);
    CHECK(ml_tokenizer_token_id(real, "<image>") == 32000);
    CHECK(ml_tokenizer_token_id(real, "<0xFF>") == 258);
    CHECK(ml_tokenizer_token_id(real, "no such piece at all") == -1);
    CHECK(ml_tokenizer_is_special(real, 1) && ml_tokenizer_is_special(real, 32000));
    CHECK(!ml_tokenizer_is_special(real, 15043) && !ml_tokenizer_is_special(real, 40000));
}

static void test_special_tokens_in_text(void) {
    if (!real) return;
    ENCODES(real, "<s>", 1);
    ENCODES(real, "</s>", 2);
    ENCODES(real, "<image>", 32000);
    ENCODES(real, "<pad>", 32001);
    ENCODES(real, "<unk>", 0);
    ENCODES(real, "<s><s>", 1, 1);
    /* Text on each side is its own segment with its own "▁": "Hello" = 15043, "▁world" = 3186. */
    ENCODES(real, "Hello<image>world", 15043, 32000, 3186);
    ENCODES(real, "Hello<image>", 15043, 32000);
    /* §5 of LLAVA.md: "USER: " and "\n..." segments around <image>. */
    ENCODES(real, "USER: <image>\nWhat's the content of the image? ASSISTANT:", 3148, 1001, 29901, 29871, 32000, 29871,
            13, 5618, 29915, 29879, 278, 2793, 310, 278, 1967, 29973, 319, 1799, 9047, 13566, 29901);
}

static void test_decode_semantics(void) {
    if (!real) return;
    DECODES(real, 0, "<s> Hello world", 1, 15043, 3186);
    DECODES(real, 1, "Hello world", 1, 15043, 3186, 2);
    DECODES(real, 1, "Hello world", 15043, 32000, 3186);
    DECODES(real, 0, "Hello<image> world", 15043, 32000, 3186);
    DECODES(real, 1, "\xf0\x9f\xa6\x99", 29871, 243, 162, 169, 156); /* "▁" + F0 9F A6 99, stripped */
    DECODES(real, 1, "\n", 29871, 13);                               /* " \n" loses its leading space */
    DECODES(real, 1, " ", 259);                                      /* "▁▁": only one space is stripped */
    DECODES(real, 1, "\xef\xbf\xbd\xef\xbf\xbd", 243, 162);          /* F0 9F alone: one U+FFFD per byte */
    /* A run that is invalid anywhere becomes U+FFFD for every byte, as `tokenizers` does. */
    DECODES(real, 1, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 243, 162, 169, 156, 243);
    DECODES(real, 1, "\xf0\x9f\xa6\x99 x", 243, 162, 169, 156, 921); /* 921 = "▁x" */
    DECODES(real, 1, "Hello", 15043, 99999, -5);                      /* out-of-range ids are skipped */
    DECODES(real, 1, "", 1, 2);
    /* snprintf semantics */
    char small[4];
    int32_t ids[] = {15043, 3186};
    CHECK(ml_tokenizer_decode(real, ids, 2, 1, small, sizeof small) == 11);
    CHECK_STR(small, "Hel");
    CHECK(ml_tokenizer_decode(real, ids, 2, 1, NULL, 0) == 11);
}

static void test_encode_capacity(void) {
    if (!real) return;
    MlError err = {0};
    int32_t ids[2] = {-7, -7};
    size_t n;
    CHECK(ml_tokenizer_encode(real, "Hello, world!", 13, ids, 2, &n, &err) == ML_ERR_RANGE);
    CHECK(n == 4 && ids[0] == 15043 && ids[1] == 29892);
    CHECK(strstr(err.msg, "4 tokens") != NULL);
    CHECK(ml_tokenizer_encode(real, "Hello", 5, NULL, 0, &n, &err) == ML_ERR_RANGE && n == 1);
    CHECK(ml_tokenizer_encode(real, "", 0, ids, 2, &n, &err) == ML_OK && n == 0);
    /* Invalid UTF-8 falls back to the bytes: "▁" then <0xFF> (id 258) then "a" (29874). */
    ENCODES(real, "\xff" "a", 29871, 258, 29874);
    /* Embedded NUL is a character like any other: <0x00> = 3. */
    CHECK(ml_tokenizer_encode(real, "a\0", 2, ids, 2, &n, &err) == ML_OK && n == 2 && ids[1] == 3);
}

/* Load, encode and decode speed on the real file with 1 MB of mixed text: the figures are printed
   (not checked: sanitizer builds run 10-30x slower); the round trip is checked. */
static void test_speed(void) {
    MlError err = {0};
    MlTokenizer *tok;
    double t0 = now_s();
    if (ml_tokenizer_load(&tok, test_repo_path(LLAVA_TOKENIZER), &err)) return;
    double load_s = now_s() - t0;
    size_t len = 1 << 20, pos = 0;
    char *text = malloc(len + 1);
    const char *words[] = {"The ", "quick ", "brown ", "fox, ", "jumps ", "über ", "the ", "lazy ",
                           "dog.\n", "3141 ", "naïve ", "résumé ", "(test) ", "🦙 ", "x"};
    for (size_t w = 0; pos < len; w = (w * 7 + 3) % 15) {
        size_t l = strlen(words[w]);
        if (pos + l > len) break;
        memcpy(text + pos, words[w], l);
        pos += l;
    }
    size_t cap = pos + 1, n;
    int32_t *ids = malloc(cap * sizeof *ids);
    t0 = now_s();
    CHECK_OK(ml_tokenizer_encode(tok, text, pos, ids, cap, &n, &err), &err);
    double enc_s = now_s() - t0;
    char *back = malloc(pos + 1);
    t0 = now_s();
    size_t back_len = ml_tokenizer_decode(tok, ids, n, 1, back, pos + 1);
    double dec_s = now_s() - t0;
    CHECK(back_len == pos && !memcmp(back, text, pos));
    printf("tokenizer: load %.1f ms, encode %.2f MB/s (%zu tokens), decode %.2f MB/s\n", load_s * 1e3,
           pos / enc_s / 1e6, n, pos / dec_s / 1e6);
    free(text);
    free(ids);
    free(back);
    ml_tokenizer_free(tok);
}

/* ---- small hand-built tokenizers ---------------------------------------- */

#define W "\xe2\x96\x81" /* "▁" */
static const char *mini_vocab =
    "{\"<unk>\":0,\"a\":1,\"b\":2,\"c\":3,\"ab\":4,\"bc\":5,\"abc\":6,\"aa\":7,\"" W "\":8,\"" W "a\":9,"
    "\"<0xC3>\":10,\"<0xA9>\":11}";
static const char *llama_normalizer =
    "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"" W "\"},"
    "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"" W "\"}]}";
static const char *llama_decoder =
    "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"" W "\"},\"content\":\" \"},"
    "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}";

/* A tokenizer.json from its parts; NULL parts are written as null. */
static MlTokenizer *mini(const char *merges, const char *model_opts, const char *added, const char *normalizer,
                         const char *decoder) {
    static char json[8192];
    snprintf(json, sizeof json,
             "{\"version\":\"1.0\",\"added_tokens\":%s,\"normalizer\":%s,\"pre_tokenizer\":null,\"decoder\":%s,"
             "\"model\":{\"type\":\"BPE\",\"vocab\":%s,\"merges\":%s%s%s}}",
             added ? added : "[]", normalizer ? normalizer : "null", decoder ? decoder : "null", mini_vocab, merges,
             model_opts ? "," : "", model_opts ? model_opts : "");
    MlTokenizer *tok = NULL;
    MlError err = {0};
    if (ml_tokenizer_load_mem(&tok, json, strlen(json), "mini.json", &err)) fprintf(stderr, "  mini: %s\n", err.msg);
    return tok;
}

static void test_bpe_rank_order(void) {
    /* bc ranks before ab: "abc" -> a + bc -> abc. */
    MlTokenizer *t = mini("[[\"b\",\"c\"],[\"a\",\"b\"],[\"a\",\"bc\"],[\"a\",\"a\"]]", NULL, NULL, NULL, NULL);
    CHECK(t != NULL);
    if (!t) return;
    ENCODES(t, "abc", 6);
    ENCODES(t, "aaa", 7, 1);    /* equal ranks: the leftmost pair merges first */
    ENCODES(t, "aaaa", 7, 7);
    ENCODES(t, "abab", 4, 4);
    ml_tokenizer_free(t);
    /* ab ranks before bc and nothing joins ab + c. */
    t = mini("[\"a b\",\"b c\",\"a bc\"]", NULL, NULL, NULL, NULL);
    CHECK(t != NULL);
    if (!t) return;
    ENCODES(t, "abc", 4, 3);
    ENCODES(t, "bc", 5);
    ml_tokenizer_free(t);
}

static void test_fallback_and_unk(void) {
    const char *m = "[[\"a\",\"a\"]]";
    MlTokenizer *t = mini(m, "\"unk_token\":\"<unk>\",\"byte_fallback\":true,\"fuse_unk\":true", NULL, NULL, NULL);
    CHECK(t != NULL);
    if (t) {
        ENCODES(t, "a\xc3\xa9", 1, 10, 11); /* é is not a piece: its bytes are */
        ENCODES(t, "ad", 1, 0);             /* d: no piece, and <0x64> is absent too: unk */
        ml_tokenizer_free(t);
    }
    t = mini(m, "\"unk_token\":\"<unk>\",\"fuse_unk\":true", NULL, NULL, NULL);
    CHECK(t != NULL);
    if (t) {
        ENCODES(t, "a\xc3\xa9\xc3\xa9" "a", 1, 0, 1); /* consecutive unknowns fuse into one unk */
        ml_tokenizer_free(t);
    }
    t = mini(m, "\"unk_token\":\"<unk>\",\"fuse_unk\":false", NULL, NULL, NULL);
    CHECK(t != NULL);
    if (t) {
        ENCODES(t, "a\xc3\xa9\xc3\xa9" "a", 1, 0, 0, 1);
        ml_tokenizer_free(t);
    }
    t = mini(m, NULL, NULL, NULL, NULL); /* no unk, no fallback: unknown characters vanish */
    CHECK(t != NULL);
    if (t) {
        ENCODES(t, "xax", 1);
        ml_tokenizer_free(t);
    }
    t = mini(m, "\"unk_token\":\"<nope>\"", NULL, NULL, NULL); /* unk not in the vocab: an error when needed */
    CHECK(t != NULL);
    if (t) {
        int32_t ids[4];
        size_t n;
        MlError err = {0};
        CHECK(ml_tokenizer_encode(t, "a", 1, ids, 4, &n, &err) == ML_OK);
        CHECK(ml_tokenizer_encode(t, "x", 1, ids, 4, &n, &err) == ML_ERR_FORMAT);
        CHECK(strstr(err.msg, "mini.json") && strstr(err.msg, "<nope>"));
        ml_tokenizer_free(t);
    }
}

static void test_normalizer_and_decoder(void) {
    MlTokenizer *t = mini("[[\"" W "\",\"a\"],[\"a\",\"b\"]]", "\"byte_fallback\":true", NULL, llama_normalizer,
                          llama_decoder);
    CHECK(t != NULL);
    if (!t) return;
    ENCODES(t, "a b", 9, 8, 2); /* "▁a▁b" */
    ENCODES(t, "ab", 9, 2);     /* "▁ab": (▁,a) ranks first; then "▁a"+"b" is no merge */
    ENCODES(t, " ", 8, 8);      /* "▁▁" */
    int32_t ids[4];
    size_t n;
    MlError err = {0};
    CHECK(ml_tokenizer_encode(t, "", 0, ids, 4, &n, &err) == ML_OK && n == 0); /* no "▁" for empty text */
    DECODES(t, 0, "a b", 9, 8, 2);
    DECODES(t, 0, "\xc3\xa9", 10, 11);
    DECODES(t, 0, "ab", 1, 2);
    ml_tokenizer_free(t);

    /* Without a decoder `tokenizers` joins the pieces with spaces. */
    t = mini("[]", NULL, NULL, NULL, NULL);
    CHECK(t != NULL);
    if (!t) return;
    DECODES(t, 0, "a b " W "a", 1, 2, 9);
    ml_tokenizer_free(t);

    /* Strip from the end after Fuse: "aaa" loses up to two trailing "a". */
    t = mini("[]", NULL, NULL, NULL,
             "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Fuse\"},"
             "{\"type\":\"Strip\",\"content\":\"a\",\"start\":0,\"stop\":2}]}");
    CHECK(t != NULL);
    if (!t) return;
    DECODES(t, 0, "ba", 2, 1, 1, 1);
    DECODES(t, 0, "", 1);
    DECODES(t, 0, "");
    ml_tokenizer_free(t);
}

static void test_added_tokens(void) {
    /* <m> widens over whitespace on both sides; <k> does not. Neither is normalized. */
    const char *added =
        "[{\"id\":12,\"content\":\"<m>\",\"special\":true,\"lstrip\":true,\"rstrip\":true,\"normalized\":false},"
        "{\"id\":13,\"content\":\"<k>\",\"special\":false,\"normalized\":false},"
        "{\"id\":14,\"content\":\"<kk>\",\"special\":true,\"normalized\":false},"
        "{\"id\":15,\"content\":\"ca\",\"special\":false,\"normalized\":true}]";
    MlTokenizer *t = mini("[[\"" W "\",\"a\"]]", "\"unk_token\":\"<unk>\"", added, NULL, NULL);
    CHECK(t != NULL);
    if (!t) return;
    CHECK(ml_tokenizer_vocab_size(t) == 16);
    ENCODES(t, "a  <m>  b", 1, 12, 2);
    ENCODES(t, "a <k> b", 1, 0, 13, 0, 2);
    ENCODES(t, "<kk><k>", 14, 13); /* the longest token that starts at a position wins */
    ENCODES(t, "ca", 15);          /* a normalized token with the identity normalizer */
    DECODES(t, 1, "a b", 1, 12, 2);
    DECODES(t, 0, "a <m> b", 1, 12, 2);
    DECODES(t, 1, "a <k>", 1, 13);
    ml_tokenizer_free(t);

    /* With the LLaMA normalizer a normalized token matches its normalized form: "ca" -> "▁ca". */
    t = mini("[[\"" W "\",\"a\"]]", "\"unk_token\":\"<unk>\"", added, llama_normalizer, NULL);
    CHECK(t != NULL);
    if (!t) return;
    ENCODES(t, "ca", 15);          /* "▁ca" */
    ENCODES(t, "aca", 9, 3, 1);    /* "▁aca" holds "ca" but not "▁ca" */
    ENCODES(t, "a ca", 9, 15);     /* "▁a▁ca" */
    ENCODES(t, "b<k>ca", 8, 2, 13, 15); /* each raw segment gets its own "▁" */
    ml_tokenizer_free(t);
}

static void test_ignore_merges(void) {
    /* "abc" is a piece: with ignore_merges it is taken whole even though no merge builds it. */
    MlTokenizer *t = mini("[[\"a\",\"b\"]]", "\"ignore_merges\":true", NULL, NULL, NULL);
    CHECK(t != NULL);
    if (!t) return;
    ENCODES(t, "abc", 6);
    ENCODES(t, "abcab", 4, 3, 4);
    ml_tokenizer_free(t);
}

/* ---- malformed files ---------------------------------------------------- */

static void expect_load_error(const char *json, int code, const char *fragment) {
    MlTokenizer *tok = (MlTokenizer *)1;
    MlError err = {0};
    int rc = ml_tokenizer_load_mem(&tok, json, strlen(json), "bad.json", &err);
    CHECK(rc == code);
    CHECK(tok == NULL);
    CHECK(strncmp(err.msg, "bad.json", 8) == 0);
    CHECK(strchr(err.msg, '\n') == NULL);
    if (!strstr(err.msg, fragment)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err.msg, fragment);
        CHECK(0);
    }
}

#define MODEL(body) "{\"model\":{\"type\":\"BPE\"," body "}}"
/* Another top-level key first, then the model. */
#define WITH(key, body) "{" key ",\"model\":{\"type\":\"BPE\"," body "}}"
static void test_malformed(void) {
    expect_load_error("[1,2]", ML_ERR_FORMAT, "expected a JSON object");
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0", ML_ERR_FORMAT, "malformed JSON");
    expect_load_error("{}", ML_ERR_MISSING, "model");
    expect_load_error("{\"model\":[]}", ML_ERR_FORMAT, "model: expected an object");
    expect_load_error("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", ML_ERR_UNSUPPORTED, "only BPE");
    expect_load_error("{\"model\":{\"type\":7}}", ML_ERR_FORMAT, "model.type");
    expect_load_error(MODEL("\"merges\":[]"), ML_ERR_MISSING, "model.vocab");
    expect_load_error(MODEL("\"vocab\":[\"a\"],\"merges\":[]"), ML_ERR_FORMAT, "model.vocab: expected an object");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":5},\"merges\":[]"), ML_ERR_FORMAT, "outside [0, 2)");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":-1},\"merges\":[]"), ML_ERR_FORMAT, "outside");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]"), ML_ERR_FORMAT, "used twice");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"a\":1},\"merges\":[]"), ML_ERR_FORMAT, "twice");
    expect_load_error(MODEL("\"vocab\":{\"a\":\"0\"},\"merges\":[]"), ML_ERR_FORMAT, "expected an integer id");
    expect_load_error(MODEL("\"vocab\":{\"a\":0.5},\"merges\":[]"), ML_ERR_FORMAT, "expected an integer id");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":1}"), ML_ERR_MISSING, "model.merges");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":1},\"merges\":{}"), ML_ERR_FORMAT, "model.merges: expected an array");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\",\"x\"]]"), ML_ERR_FORMAT,
                      "model.merges[0]: 'x' is not in the vocab");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]"), ML_ERR_FORMAT, "'ab' is not in the vocab");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b c\"]"), ML_ERR_FORMAT,
                      "exactly one space");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\"]]"), ML_ERR_FORMAT, "merges[0]");
    expect_load_error(MODEL("\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\",2]]"), ML_ERR_FORMAT, "merges[0]");
    expect_load_error(MODEL("\"vocab\":{\"a\":0},\"merges\":[],\"dropout\":0.1"), ML_ERR_UNSUPPORTED, "dropout");
    expect_load_error(MODEL("\"vocab\":{\"a\":0},\"merges\":[],\"byte_fallback\":\"yes\""), ML_ERR_FORMAT,
                      "byte_fallback");
    expect_load_error(MODEL("\"vocab\":{\"a\":0},\"merges\":[],\"continuing_subword_prefix\":\"##\""),
                      ML_ERR_UNSUPPORTED, "continuing_subword_prefix");
    expect_load_error(WITH("\"pre_tokenizer\":{\"type\":\"ByteLevel\"}", "\"vocab\":{},\"merges\":[]"),
                      ML_ERR_UNSUPPORTED, "pre_tokenizer");
    expect_load_error(WITH("\"normalizer\":{\"type\":\"NFKC\"}", "\"vocab\":{},\"merges\":[]"), ML_ERR_UNSUPPORTED,
                      "NFKC");
    expect_load_error(WITH("\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" +\"},\"content\":\" \"}", "\"vocab\":{},\"merges\":[]"),
                      ML_ERR_UNSUPPORTED, "Regex");
    expect_load_error(WITH("\"normalizer\":{\"type\":\"Prepend\"}", "\"vocab\":{},\"merges\":[]"), ML_ERR_FORMAT,
                      "prepend");
    expect_load_error(WITH("\"decoder\":{\"type\":\"Metaspace\"}", "\"vocab\":{},\"merges\":[]"),
                      ML_ERR_UNSUPPORTED, "Metaspace");
    expect_load_error(WITH("\"decoder\":{\"type\":\"Strip\",\"content\":\"ab\"}", "\"vocab\":{},\"merges\":[]"),
                      ML_ERR_FORMAT, "single character");
    expect_load_error(WITH("\"decoder\":7", "\"vocab\":{},\"merges\":[]"), ML_ERR_FORMAT, "decoder");
    expect_load_error(WITH("\"added_tokens\":{}", "\"vocab\":{},\"merges\":[]"), ML_ERR_FORMAT, "added_tokens");
    expect_load_error(WITH("\"added_tokens\":[{\"id\":0,\"content\":\"<x>\"}]", "\"vocab\":{\"a\":0},\"merges\":[]"),
                      ML_ERR_FORMAT, "another piece");
    expect_load_error(WITH("\"added_tokens\":[{\"id\":7,\"content\":\"<x>\"}]", "\"vocab\":{\"a\":0},\"merges\":[]"),
                      ML_ERR_FORMAT, "gap");
    expect_load_error(WITH("\"added_tokens\":[{\"id\":1,\"content\":\"a\"}]", "\"vocab\":{\"a\":0},\"merges\":[]"),
                      ML_ERR_FORMAT, "another id");
    expect_load_error(WITH("\"added_tokens\":[{\"id\":1,\"content\":\"<x>\"},{\"id\":1,\"content\":\"<y>\"}]", "\"vocab\":{\"a\":0},\"merges\":[]"),
                      ML_ERR_FORMAT, "used twice");
    expect_load_error(WITH("\"added_tokens\":[{\"id\":1,\"content\":\"\"}]", "\"vocab\":{\"a\":0},\"merges\":[]"),
                      ML_ERR_FORMAT, "non-empty");
    expect_load_error(WITH("\"added_tokens\":[{\"id\":1}]", "\"vocab\":{\"a\":0},\"merges\":[]"), ML_ERR_FORMAT,
                      "content");
    expect_load_error(WITH("\"added_tokens\":[{\"content\":\"<x>\"}]", "\"vocab\":{\"a\":0},\"merges\":[]"),
                      ML_ERR_FORMAT, "id");
    expect_load_error(WITH("\"added_tokens\":[{\"id\":1,\"content\":\"<x>\",\"single_word\":true}]", "\"vocab\":{\"a\":0},\"merges\":[]"),
                      ML_ERR_UNSUPPORTED, "single_word");
    expect_load_error(MODEL("\"vocab\":{\"\xff\":0},\"merges\":[]"), ML_ERR_FORMAT, "UTF-8");

    /* The real file cut short anywhere is refused cleanly. */
    char *text;
    size_t len;
    MlError err = {0};
    if (ml_file_read(test_repo_path(LLAVA_TOKENIZER), &text, &len, &err)) return;
    size_t cuts[] = {0, 1, 100, len / 3, len / 2, len - 2};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        MlTokenizer *tok = (MlTokenizer *)1;
        CHECK(ml_tokenizer_load_mem(&tok, text, cuts[i], "cut.json", &err) == ML_ERR_FORMAT && tok == NULL);
    }
    free(text);
}

int main(void) {
    MlError err = {0};
    if (ml_tokenizer_load(&real, test_repo_path(LLAVA_TOKENIZER), &err)) {
        fprintf(stderr, "  cannot load the LLaVA tokenizer: %s\n", err.msg);
        test_failed++;
    }
    RUN(test_vectors);
    RUN(test_python_reference);
    RUN(test_accessors);
    RUN(test_special_tokens_in_text);
    RUN(test_decode_semantics);
    RUN(test_encode_capacity);
    RUN(test_speed);
    RUN(test_bpe_rank_order);
    RUN(test_fallback_and_unk);
    RUN(test_normalizer_and_decoder);
    RUN(test_added_tokens);
    RUN(test_ignore_merges);
    RUN(test_malformed);
    ml_tokenizer_free(real);
    return test_summary("test_tokenizer");
}
