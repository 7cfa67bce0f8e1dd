/* test_core.c: error, JSON getters, half floats, .npy round trip. */
#include "test.h"

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "core/json.h"
#include "core/npy.h"
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

int main(void) {
    RUN(test_json_getters);
    RUN(test_json_escape);
    RUN(test_half);
    RUN(test_npy_roundtrip);
    return test_summary("test_core");
}
