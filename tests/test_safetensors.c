/* test_safetensors.c: the reader on hand-built files (valid, truncated and
   lying headers) and the writer's layout, checked byte by byte. */
#include "test.h"

#include <stdint.h>

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "core/tensor.h"
#include "io/safetensors.h"

/* A file image: 8-byte little-endian length, header, data (data_len bytes of i*7). */
static size_t build(uint8_t *buf, size_t cap, const char *header, size_t data_len) {
    size_t h = strlen(header), n = 8 + h + data_len;
    if (n > cap) abort();
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    for (size_t i = 0; i < data_len; i++) buf[8 + h + i] = (uint8_t)(i * 7);
    return n;
}

static int parse_fails(const char *header, size_t data_len, int code, const char *needle) {
    static uint8_t buf[1 << 16];
    size_t n = build(buf, sizeof buf, header, data_len);
    MlSafetensors *st = (MlSafetensors *)1;
    MlError err = {0};
    int rc = ml_safetensors_parse(&st, buf, n, "bad.safetensors", &err);
    int ok = rc == code && st == NULL && strstr(err.msg, "bad.safetensors: ") == err.msg && strstr(err.msg, needle);
    if (!ok) fprintf(stderr, "  want %d '%s', got %d: %s\n", code, needle, rc, err.msg);
    if (rc == ML_OK) ml_safetensors_close(st);
    return ok;
}

static void test_valid_by_hand(void) {
    uint8_t buf[512];
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
                      "\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[30,32]},"
                      "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[32,32]}}  ";
    size_t n = build(buf, sizeof buf, hdr, 32);
    MlSafetensors *st;
    MlError err = {0};
    CHECK_OK(ml_safetensors_parse(&st, buf, n, "ok.safetensors", &err), &err);
    if (!st) return;
    CHECK(ml_safetensors_count(st) == 4);
    CHECK_STR(ml_safetensors_metadata(st, "format"), "pt");
    CHECK_STR(ml_safetensors_metadata(st, "note"), "x");
    CHECK(ml_safetensors_metadata(st, "nope") == NULL);
    CHECK(ml_safetensors_data_bytes(st) == 32);
    MlTensor t;
    const uint8_t *data = buf + 8 + strlen(hdr);
    CHECK(ml_safetensors_find(st, "a", &t) && t.dtype == ML_F32 && t.ndim == 2 && t.shape[0] == 2 &&
          t.shape[1] == 3 && t.nbytes == 24 && t.data == data);
    CHECK(ml_safetensors_find(st, "b", &t) && t.dtype == ML_F16 && t.ndim == 1 && t.data == data + 24);
    CHECK(ml_safetensors_find(st, "c", &t) && t.dtype == ML_BF16 && t.ndim == 0 && t.nbytes == 2);
    CHECK(ml_safetensors_find(st, "z", &t) && t.nbytes == 0 && t.shape[0] == 0);
    CHECK(!ml_safetensors_find(st, "__metadata__", NULL));
    CHECK(!ml_safetensors_find(st, "d", NULL));
    const char *name;
    ml_safetensors_at(st, 0, &name, NULL); /* name order */
    CHECK_STR(name, "a");
    ml_safetensors_at(st, 3, &name, NULL);
    CHECK_STR(name, "z");
    ml_safetensors_close(st);
}

static void test_lying_headers(void) {
    uint8_t buf[64] = {0};
    MlSafetensors *st;
    MlError err = {0};
    /* Too short for the length field. */
    CHECK(ml_safetensors_parse(&st, buf, 5, "short.st", &err) == ML_ERR_FORMAT && strstr(err.msg, "short.st: 5 bytes"));
    /* Header length past the end of the file. */
    size_t n = build(buf, sizeof buf, "{}", 0);
    buf[0] = 200;
    CHECK(ml_safetensors_parse(&st, buf, n, "len.st", &err) == ML_ERR_FORMAT &&
          strstr(err.msg, "header length 200 runs past the end"));
    memset(buf, 0xff, 8); /* 2^64 - 1 */
    CHECK(ml_safetensors_parse(&st, buf, n, "len.st", &err) == ML_ERR_FORMAT && strstr(err.msg, "runs past the end"));

    CHECK(parse_fails("{\"a\":", 0, ML_ERR_FORMAT, "header is not valid JSON"));
    CHECK(parse_fails("not json at all", 0, ML_ERR_FORMAT, "header is not valid JSON"));
    CHECK(parse_fails("{} x", 0, ML_ERR_FORMAT, "bytes after its JSON"));
    CHECK(parse_fails("[1,2]", 0, ML_ERR_FORMAT, "not a JSON object"));
    CHECK(parse_fails("", 0, ML_ERR_FORMAT, "not valid JSON"));
    /* Offsets past the end of the data area. */
    CHECK(parse_fails("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, ML_ERR_FORMAT,
                      "tensor 'w': data_offsets [0, 16] run past the end of the data area (8 bytes)"));
    /* Overlapping ranges. */
    CHECK(parse_fails("{\"p\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"q\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                      12, ML_ERR_FORMAT, "tensors 'p' and 'q' overlap"));
    /* Same range twice. */
    CHECK(parse_fails("{\"p\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"q\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                      8, ML_ERR_FORMAT, "overlap"));
    /* A gap, and bytes after the last tensor. */
    CHECK(parse_fails("{\"p\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, ML_ERR_FORMAT,
                      "tensor 'p': 4 unused bytes before"));
    CHECK(parse_fails("{\"p\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, ML_ERR_FORMAT,
                      "4 bytes after the last tensor"));
    /* Size does not match the shape; huge shapes overflow. */
    CHECK(parse_fails("{\"p\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, ML_ERR_FORMAT,
                      "tensor 'p': data_offsets [0, 8] hold 8 bytes but F16 shape needs 6"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
                      ML_ERR_FORMAT, "tensor 'h': shape is too large"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 8, ML_ERR_FORMAT,
                      "tensor 'h': shape[0]"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e30]}}", 8, ML_ERR_FORMAT,
                      "tensor 'h': data_offsets"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, ML_ERR_FORMAT,
                      "shape[0]: expected a non-negative integer"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, ML_ERR_FORMAT,
                      "shape[0]"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
                      ML_ERR_FORMAT, "tensor 'h': rank 9 exceeds 8"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, ML_ERR_FORMAT,
                      "end before they begin"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, ML_ERR_FORMAT,
                      "tensor 'h': data_offsets: expected [begin, end]"));
    CHECK(parse_fails("{\"h\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, ML_ERR_FORMAT, "data_offsets"));
    /* Wrong dtypes. */
    CHECK(parse_fails("{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, ML_ERR_UNSUPPORTED,
                      "tensor 'ids': dtype I64 is not supported"));
    CHECK(parse_fails("{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, ML_ERR_UNSUPPORTED,
                      "tensor 'x': dtype F64"));
    CHECK(parse_fails("{\"x\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, ML_ERR_FORMAT,
                      "tensor 'x': dtype: expected a string"));
    CHECK(parse_fails("{\"x\":[1]}", 0, ML_ERR_FORMAT, "tensor 'x': expected an object"));
    /* Duplicates. */
    CHECK(parse_fails("{\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                      8, ML_ERR_FORMAT, "duplicate tensor name 'd'"));
    CHECK(parse_fails("{\"__metadata__\":{},\"__metadata__\":{}}", 0, ML_ERR_FORMAT, "duplicate __metadata__"));
    CHECK(parse_fails("{\"__metadata__\":{\"k\":1}}", 0, ML_ERR_FORMAT, "__metadata__.k: expected a string"));
    /* Control characters in a lying name stay out of the one-line message. */
    CHECK(parse_fails("{\"a\\nb\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, ML_ERR_UNSUPPORTED,
                      "tensor 'a?b'"));
}

/* Every truncation and every single-byte corruption of a valid file either
   parses or fails with a message; none crashes (ASan/UBSan builds check). */
static void test_truncation_and_corruption(void) {
    uint8_t buf[512], tmp[512];
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],"
                      "\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]}}";
    size_t n = build(buf, sizeof buf, hdr, 30);
    int failures = 0, unclear = 0;
    for (size_t len = 0; len < n; len++) {
        MlSafetensors *st;
        MlError err = {0};
        if (ml_safetensors_parse(&st, buf, len, "t.st", &err) == ML_OK) ml_safetensors_close(st);
        else failures++, unclear += strncmp(err.msg, "t.st: ", 6) != 0;
    }
    CHECK(failures == (int)n); /* any truncation loses data */
    CHECK(unclear == 0);
    const uint8_t flips[] = {0x01, 0x80, 0xff, '"', '[', '9', '{', '}'};
    for (size_t i = 0; i < 8 + strlen(hdr); i++) {
        for (size_t f = 0; f < sizeof flips; f++) {
            memcpy(tmp, buf, n);
            tmp[i] = f < 3 ? (uint8_t)(tmp[i] ^ flips[f]) : flips[f];
            MlSafetensors *st;
            MlError err = {0};
            if (ml_safetensors_parse(&st, tmp, n, "t.st", &err) == ML_OK) ml_safetensors_close(st);
            else unclear += strncmp(err.msg, "t.st: ", 6) != 0 || strchr(err.msg, '\n') != NULL;
        }
    }
    CHECK(unclear == 0);
}

static void test_write_read_back(void) {
    MlError err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/rt.safetensors", test_tmpdir("test_safetensors"));
    float a[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    uint16_t b[5], c[3];
    for (int i = 0; i < 5; i++) b[i] = ml_f32_to_f16(0.25f * (float)i - 1);
    for (int i = 0; i < 3; i++) c[i] = ml_f32_to_bf16(3.0f * (float)i + 0.5f);
    MlNamedTensor w[] = {
        {"z.f16", {.dtype = ML_F16, .ndim = 1, .shape = {5}, .data = b, .nbytes = sizeof b}},
        {"y.bf16", {.dtype = ML_BF16, .ndim = 3, .shape = {3, 1, 1}, .data = c, .nbytes = sizeof c}},
        {"x.f32", {.dtype = ML_F32, .ndim = 2, .shape = {2, 3}, .data = a, .nbytes = sizeof a}},
        {"quote\"name", {.dtype = ML_F32, .ndim = 0, .data = a, .nbytes = 4}},
    };
    CHECK_OK(ml_safetensors_write(path, w, 4, &err), &err);
    /* Layout by hand: 8-byte length, header padded to a multiple of 8 with
       spaces, F32 tensors first (by name), then the 2-byte ones (by name). */
    char *raw;
    size_t n;
    CHECK_OK(ml_file_read(path, &raw, &n, &err), &err);
    if (!raw) return;
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | (uint8_t)raw[i];
    CHECK(h % 8 == 0 && 8 + h + 28 + 10 + 6 == n);
    CHECK(raw[8] == '{' && raw[8 + h - 1] != 0);
    CHECK(strstr(raw + 8, "\"__metadata__\":{\"format\":\"pt\"}") == raw + 9);
    CHECK(strstr(raw + 8, "\"quote\\\"name\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}") != NULL);
    CHECK(strstr(raw + 8, "\"x.f32\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[4,28]}") != NULL);
    CHECK(strstr(raw + 8, "\"y.bf16\":{\"dtype\":\"BF16\",\"shape\":[3,1,1],\"data_offsets\":[28,34]}") != NULL);
    CHECK(strstr(raw + 8, "\"z.f16\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[34,44]}") != NULL);
    CHECK(memcmp(raw + 8 + h + 4, a, sizeof a) == 0);
    free(raw);

    MlSafetensors *st;
    CHECK_OK(ml_safetensors_open(&st, path, &err), &err);
    if (!st) return;
    MlTensor t;
    CHECK(ml_safetensors_find(st, "x.f32", &t) && t.dtype == ML_F32 && !memcmp(t.data, a, sizeof a));
    CHECK(((uintptr_t)t.data) % 4 == 0);
    CHECK(ml_safetensors_find(st, "y.bf16", &t) && t.dtype == ML_BF16 && t.ndim == 3 && !memcmp(t.data, c, sizeof c));
    float back[3];
    ml_convert_to_f32(back, t.data, t.dtype, 3);
    CHECK(back[0] == 0.5f && back[1] == 3.5f && back[2] == 6.5f);
    CHECK(ml_safetensors_find(st, "z.f16", &t) && t.dtype == ML_F16 && !memcmp(t.data, b, sizeof b));
    CHECK(ml_safetensors_find(st, "quote\"name", &t) && t.ndim == 0);
    CHECK_STR(ml_safetensors_metadata(st, "format"), "pt");
    CHECK_STR(ml_safetensors_path(st), path);
    ml_safetensors_close(st);
}

static int fill_ramp(void *ctx, int index, void *dst, size_t nbytes, MlError *err) {
    (void)err;
    int *calls = ctx;
    calls[index]++;
    float *f = dst;
    for (size_t i = 0; i < nbytes / 4; i++) f[i] = (float)(index * 1000 + (int)i);
    return ML_OK;
}

static void test_write_with_fill_and_metadata(void) {
    MlError err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/fill.safetensors", test_tmpdir("test_safetensors"));
    MlNamedTensor w[] = {{"b", {.dtype = ML_F32, .ndim = 1, .shape = {3}}},
                         {"a", {.dtype = ML_F32, .ndim = 2, .shape = {2, 2}}}};
    int calls[2] = {0, 0};
    const char *md[] = {"step", "12", NULL};
    MlSafetensorsWriteOpts o = {.fill = fill_ramp, .fill_ctx = calls, .metadata = md};
    CHECK_OK(ml_safetensors_write_ex(path, w, 2, &o, &err), &err);
    CHECK(calls[0] == 1 && calls[1] == 1);
    MlSafetensors *st;
    CHECK_OK(ml_safetensors_open(&st, path, &err), &err);
    if (!st) return;
    MlTensor t;
    CHECK(ml_safetensors_find(st, "b", &t) && ((const float *)t.data)[2] == 2.0f);
    CHECK(ml_safetensors_find(st, "a", &t) && ((const float *)t.data)[3] == 1003.0f);
    CHECK_STR(ml_safetensors_metadata(st, "step"), "12");
    CHECK_STR(ml_safetensors_metadata(st, "format"), "pt");
    ml_safetensors_close(st);
}

static void test_writer_rejects(void) {
    MlError err = {0};
    char path[600];
    snprintf(path, sizeof path, "%s/bad.safetensors", test_tmpdir("test_safetensors"));
    float a[4] = {0};
    MlNamedTensor dup[] = {{"w", {.dtype = ML_F32, .ndim = 1, .shape = {4}, .data = a, .nbytes = 16}},
                           {"w", {.dtype = ML_F16, .ndim = 1, .shape = {8}, .data = a, .nbytes = 16}}};
    CHECK(ml_safetensors_write(path, dup, 2, &err) == ML_ERR_ARG && strstr(err.msg, "duplicate tensor name 'w'"));
    MlNamedTensor size[] = {{"w", {.dtype = ML_F32, .ndim = 1, .shape = {5}, .data = a, .nbytes = 16}}};
    CHECK(ml_safetensors_write(path, size, 1, &err) == ML_ERR_ARG && strstr(err.msg, "tensor 'w'"));
    MlNamedTensor neg[] = {{"w", {.dtype = ML_F32, .ndim = 1, .shape = {-1}, .data = a, .nbytes = 16}}};
    CHECK(ml_safetensors_write(path, neg, 1, &err) == ML_ERR_ARG);
    MlNamedTensor meta[] = {{"__metadata__", {.dtype = ML_F32, .ndim = 1, .shape = {4}, .data = a, .nbytes = 16}}};
    CHECK(ml_safetensors_write(path, meta, 1, &err) == ML_ERR_ARG);
    CHECK(!ml_file_exists(path));
    MlSafetensors *st;
    CHECK(ml_safetensors_open(&st, path, &err) == ML_ERR_IO && strstr(err.msg, path) && st == NULL);
}

int main(void) {
    RUN(test_valid_by_hand);
    RUN(test_lying_headers);
    RUN(test_truncation_and_corruption);
    RUN(test_write_read_back);
    RUN(test_write_with_fill_and_metadata);
    RUN(test_writer_rejects);
    return test_summary("test_safetensors");
}
