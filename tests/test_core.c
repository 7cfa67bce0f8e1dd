/* test_core.c: error, JSON getters, half floats, .npy round trip, random numbers, FNV-1a, text buffer, string map, file parsing. */
#include "test.h"

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/npy.h"
#include "core/rng.h"
#include "core/strbuf.h"
#include "core/strmap.h"
#include "core/tensor.h"

static void test_json_getters(void) {
    MlError err = {0};
    cJSON *root;
    const char *txt = "{\"a\": 3, \"b\": 2.5, \"c\": true, \"d\": \"x\", \"e\": 1.5}";
    CHECK_OK(ml_json_parse(txt, strlen(txt), "t.json", &root, &err), &err);
    long long i;
    double d;
    int b;
    const char *s;
    CHECK(ml_json_int(root, "a", 0, 1, 10, &i, "t.json", &err) == ML_OK && i == 3);
    CHECK(ml_json_int(root, "zz", 7, 1, 10, &i, "t.json", &err) == ML_OK && i == 7);
    CHECK(ml_json_int(root, "e", 0, 0, 10, &i, "t.json", &err) == ML_ERR_FORMAT);
    CHECK(strstr(err.msg, "t.json: e: expected an integer") != NULL);
    CHECK(ml_json_int(root, "a", 0, 5, 10, &i, "t.json", &err) == ML_ERR_FORMAT);
    CHECK(ml_json_num(root, "b", 0, 0, 10, &d, "t.json", &err) == ML_OK && d == 2.5);
    CHECK(ml_json_bool(root, "c", 0, &b, "t.json", &err) == ML_OK && b == 1);
    CHECK(ml_json_bool(root, "a", 0, &b, "t.json", &err) == ML_ERR_FORMAT);
    CHECK(ml_json_str(root, "d", NULL, &s, "t.json", &err) == ML_OK && !strcmp(s, "x"));
    cJSON_Delete(root);
    CHECK(ml_json_parse("{\"a\":\n[1,", 9, "bad.json", &root, &err) == ML_ERR_FORMAT);
    CHECK(strstr(err.msg, "bad.json: malformed JSON") != NULL);
}

static void test_json_escape(void) {
    char buf[64];
    ml_json_escape(buf, sizeof buf, "a\"b\\c\n\x01");
    CHECK_STR(buf, "\"a\\\"b\\\\c\\n\\u0001\"");
    CHECK(ml_json_escape(buf, 4, "abcdef") == 8);
}

static void test_half(void) {
    /* Known encodings (IEEE 754 binary16 / bfloat16). */
    CHECK(ml_f32_to_f16(1.0f) == 0x3c00);
    CHECK(ml_f32_to_f16(-2.0f) == 0xc000);
    CHECK(ml_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(ml_f16_to_f32(0x3555) == 0x1.554p-2f);
    CHECK(ml_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(ml_bf16_to_f32(0x4049) == 3.140625f);
    CHECK(ml_f32_to_bf16(1.00390625f) == 0x3f80); /* tie rounds to even */
    CHECK(ml_f32_to_bf16(1.01171875f) == 0x3f82);
}

static void test_npy_roundtrip(void) {
    MlError err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/x.npy", test_tmpdir("test_core"));
    float v[6] = {1, 2, 3, 4, 5, -6.5f};
    int64_t shape[2] = {2, 3};
    CHECK_OK(ml_npy_write_f32(path, v, shape, 2, &err), &err);
    float *r = NULL;
    int64_t sh[ML_NPY_MAX_DIMS];
    int nd = 0;
    CHECK_OK(ml_npy_read_f32(path, &r, sh, &nd, &err), &err);
    CHECK(nd == 2 && sh[0] == 2 && sh[1] == 3);
    CHECK(r && r[5] == -6.5f);
    free(r);
    char *raw;
    size_t n;
    CHECK_OK(ml_file_read(path, &raw, &n, &err), &err);
    CHECK(n % 64 == 0 || (n - 24) % 64 == 0); /* header padded to 64 bytes; data 24 bytes */
    CHECK(strstr(raw + 10, "'shape': (2, 3)") != NULL);
    free(raw);
}

static void test_rng_generators(void) {
    /* splitmix64 from 0 and xoshiro256** from {1, 2, 3, 4}: the sequences of Vigna's reference C code. */
    uint64_t x = 0;
    CHECK(ml_splitmix64(&x) == 0xe220a8397b1dcdafull);
    CHECK(ml_splitmix64(&x) == 0x6e789e6aa1b965f4ull);
    CHECK(ml_splitmix64(&x) == 0x06c45d188009454full);
    MlRng r = {{1, 2, 3, 4}};
    CHECK(ml_rng_u64(&r) == 11520u);
    CHECK(ml_rng_u64(&r) == 0u);
    CHECK(ml_rng_u64(&r) == 1509978240u);
    CHECK(ml_rng_u64(&r) == 1215971899390074240ull);
    /* xorshift64* (Marsaglia shifts 12, 25, 27; Vigna's multiplier) from 1, computed with Python integers */
    x = 1;
    CHECK(ml_xorshift64s(&x) == 0x47e4ce4b896cdd1dull);
    CHECK(ml_xorshift64s(&x) == 0xabcfa6a8e079651dull);
    CHECK(ml_xorshift64s(&x) == 0xb9d10d8feb731f57ull);
    CHECK(ml_rng_unit53(UINT64_MAX) == 1.0 - 0x1.0p-53 && ml_rng_unit53(0) == 0.0);
    for (int i = 0; i < 1000; i++) CHECK(ml_rng_below(&r, 7) < 7);
}

static void test_rng_normals(void) {
    /* Box-Muller: u1 = e^-1/2 gives radius 1; the angle is 2 pi u2. */
    double z0, z1;
    ml_box_muller(exp(-0.5), 0.0, 1.0, &z0, &z1);
    CHECK_NEAR(z0, 1.0, 1e-15);
    CHECK_NEAR(z1, 0.0, 1e-15);
    ml_box_muller(exp(-2.0), 0.25, 3.0, &z0, &z1);
    CHECK_NEAR(z0, 0.0, 1e-14);
    CHECK_NEAR(z1, 6.0, 1e-14);
    /* ml_rng_normal is the cosine half of the pair ml_rng_normals makes from the same stream */
    float v[3];
    ml_rng_normals(v, 3, 42);
    uint64_t s = 42;
    CHECK((float)ml_rng_normal(&s, 1.0) == v[0]);
    CHECK((float)ml_rng_normal(&s, 1.0) == v[2]);
    /* moments of many draws: mean 0, variance 1 */
    enum { N = 200000 };
    static float big[N];
    ml_rng_normals(big, N, 7);
    double m = 0, m2 = 0;
    for (int i = 0; i < N; i++) m += big[i], m2 += (double)big[i] * big[i];
    CHECK_NEAR(m / N, 0.0, 0.01);
    CHECK_NEAR(m2 / N, 1.0, 0.02);
}

static void test_fnv1a(void) {
    /* test vectors of the FNV reference (isthe.com/chongo/tech/comp/fnv) */
    CHECK(ml_fnv1a64("", 0) == 0xcbf29ce484222325ull);
    CHECK(ml_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(ml_fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
}

static void test_strbuf(void) {
    MlStrBuf b = {0};
    for (int i = 0; i < 1000; i++) ml_strbuf_printf(&b, "%03d,", i); /* grows well past the first allocation */
    CHECK(!b.failed && b.len == 4000 && strlen(b.data) == 4000 && !strncmp(b.data + 3996, "999,", 4));
    ml_strbuf_clear(&b);
    CHECK(b.len == 0 && b.data[0] == 0);
    ml_strbuf_html(&b, "<a href=\"x\">&'</a>");
    CHECK_STR(b.data, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    ml_strbuf_clear(&b);
    ml_strbuf_md(&b, "a|b\nc\rd");
    CHECK_STR(b.data, "a\\|b c d");
    ml_strbuf_clear(&b);
    ml_strbuf_puts(&b, "k=");
    ml_strbuf_json_string(&b, "q\"\\");
    CHECK_STR(b.data, "k=\"q\\\"\\\\\"");
    ml_strbuf_clear(&b);
    ml_strbuf_putn(&b, "x\0y", 3);
    CHECK(b.len == 3 && !memcmp(b.data, "x\0y", 4)); /* bytes kept, NUL-terminated after them */
    ml_strbuf_free(&b);
    CHECK(b.data == NULL && b.len == 0);
}

static void test_strmap(void) {
    MlStrMap m = {0};
    int existed = -1;
    size_t old = 0;
    CHECK(ml_strmap_get(&m, "absent") == NULL);
    char key[16];
    for (size_t i = 0; i < 5000; i++) { /* many grows */
        snprintf(key, sizeof key, "k%zu", i);
        CHECK(ml_strmap_put(&m, key, i * 3, &existed, NULL) == ML_OK && existed == 0);
    }
    CHECK(m.count == 5000);
    int all = 1;
    for (size_t i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%zu", i);
        const size_t *v = ml_strmap_get(&m, key);
        all &= v && *v == i * 3;
    }
    CHECK(all);
    CHECK(ml_strmap_put(&m, "k7", 1, &existed, &old) == ML_OK && existed == 1 && old == 21 && m.count == 5000);
    CHECK(*ml_strmap_get(&m, "k7") == 1);
    /* keys are bytes with a length: a NUL inside is part of the key */
    CHECK(ml_strmap_putn(&m, "a\0b", 3, 11, &existed, NULL) == ML_OK && existed == 0);
    CHECK(ml_strmap_putn(&m, "a\0c", 3, 12, &existed, NULL) == ML_OK && existed == 0);
    CHECK(*ml_strmap_getn(&m, "a\0b", 3) == 11 && *ml_strmap_getn(&m, "a\0c", 3) == 12);
    CHECK(ml_strmap_get(&m, "a") == NULL && ml_strmap_getn(&m, "k7x", 2) && *ml_strmap_getn(&m, "k7x", 2) == 1);
    ml_strmap_free(&m);
    CHECK(m.cap == 0 && m.count == 0 && ml_strmap_get(&m, "k7") == NULL);
}

static int count_lines(const char *text, size_t len, const char *where, void *out, MlError *err) {
    (void)where;
    (void)err;
    size_t *n = out;
    for (size_t i = 0; i < len; i++) *n += text[i] == '\n';
    return text[len] == 0 ? ML_OK : ML_ERR_FORMAT; /* the text arrives NUL-terminated */
}

static void test_file_parse(void) {
    MlError err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/lines.txt", test_tmpdir("test_core"));
    CHECK_OK(ml_file_write(path, "a\nb\nc\n", 6, &err), &err);
    size_t n = 0;
    CHECK_OK(ml_file_parse(path, count_lines, &n, &err), &err);
    CHECK(n == 3);
    snprintf(path, sizeof path, "%s/absent.txt", test_tmpdir("test_core"));
    CHECK(ml_file_parse(path, count_lines, &n, &err) != ML_OK && strstr(err.msg, "absent.txt") != NULL);
}

int main(void) {
    RUN(test_json_getters);
    RUN(test_json_escape);
    RUN(test_half);
    RUN(test_npy_roundtrip);
    RUN(test_rng_generators);
    RUN(test_rng_normals);
    RUN(test_fnv1a);
    RUN(test_strbuf);
    RUN(test_strmap);
    RUN(test_file_parse);
    return test_summary("test_core");
}
