/* test_qwen2vl_positions.c: M-RoPE position ids against
   tests/reference/qwen2vl_rope_index.py (NumPy, written from transformers'
   get_rope_index) on 40 random prompts of text and images, a worked example
   by hand, and prompts that do not match their grids. */
#include "test.h"

#include <stdint.h>

#include "core/error.h"
#include "core/file.h"
#include "model/qwen2vl_positions.h"

static MlQwen2VLConfig config(void) {
    MlQwen2VLConfig c = {0};
    c.vision.spatial_merge_size = 2;
    c.image_token_id = 151655;
    c.vision_start_id = 151652;
    c.vision_end_id = 151653;
    return c;
}

/* "a <vs> 6 image tokens (grid 1x4x6 -> 2x3) <ve> b": text 0, 1; image base 2: t 2, h 2..3, w 2..4;
   <ve> at max(2+1, 2+2) + 1 = 5, "b" 6; delta = 7 - 10 = -3. */
static void test_by_hand(void) {
    MlQwen2VLConfig c = config();
    const int32_t ids[] = {64, 151652, 151655, 151655, 151655, 151655, 151655, 151655, 151653, 65};
    const int grid[1][3] = {{1, 4, 6}};
    int32_t pos[30];
    int64_t delta;
    MlError err = {0};
    CHECK_OK(ml_qwen2vl_positions(ids, 10, &c, grid, 1, pos, &delta, &err), &err);
    const int32_t want[30] = {0, 1, 2, 2, 2, 2, 2, 2, 5, 6, 0, 1, 2, 2, 2, 3, 3, 3, 5, 6, 0, 1, 2, 3, 4, 2, 3, 4, 5, 6};
    CHECK(!memcmp(pos, want, sizeof want));
    CHECK(delta == -3);
}

static void test_mismatches(void) {
    MlQwen2VLConfig c = config();
    const int32_t ids[] = {151652, 151655, 151655, 151655, 151653};
    const int three[1][3] = {{1, 2, 6}}, four[1][3] = {{1, 4, 4}}, odd[1][3] = {{1, 3, 4}};
    int32_t pos[15];
    int64_t delta;
    MlError err = {0};
    CHECK_OK(ml_qwen2vl_positions(ids, 5, &c, three, 1, pos, &delta, &err), &err);
    CHECK(ml_qwen2vl_positions(ids, 5, &c, four, 1, pos, &delta, &err) == ML_ERR_SHAPE);
    CHECK(strstr(err.msg, "image 0 has 3 image tokens, its grid needs 4"));
    CHECK(ml_qwen2vl_positions(ids, 5, &c, odd, 1, pos, &delta, &err) == ML_ERR_SHAPE);
    CHECK(strstr(err.msg, "not made of 2x2 blocks"));
    CHECK(ml_qwen2vl_positions(ids, 5, &c, NULL, 0, pos, &delta, &err) == ML_ERR_SHAPE);
    CHECK(strstr(err.msg, "the prompt holds 1 images, 0 grids given"));
}

static int64_t parse_ints(char **p, int64_t *out, int64_t cap) {
    int64_t n = 0;
    for (char *end; n < cap; *p = end) {
        long long v = strtoll(*p, &end, 10);
        if (end == *p) break;
        out[n++] = v;
    }
    return n;
}

static void test_against_reference(void) {
    char path[4200], script[4200], cmd[8600];
    snprintf(path, sizeof path, "%s/rope_index.txt", test_tmpdir("test_qwen2vl_positions"));
    snprintf(script, sizeof script, "%s", test_repo_path("tests/reference/qwen2vl_rope_index.py"));
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
    MlQwen2VLConfig c = config();
    static int64_t ids64[4096], g64[64], want[3 * 4096 + 1];
    static int32_t ids[4096], pos[3 * 4096];
    int cases = 0, same = 0, with_images = 0;
    char *p = text;
    while (!strncmp(p, "ids ", 4)) {
        p += 4;
        int64_t n = parse_ints(&p, ids64, 4096);
        if (strncmp(p, "\ngrids ", 7)) break;
        p += 7;
        int64_t ng = parse_ints(&p, g64, 63);
        if (strncmp(p, "\npos ", 5)) break;
        p += 5;
        int64_t np = parse_ints(&p, want, 3 * 4096 + 1);
        if (*p == '\n') p++;
        if (np != 3 * n + 1 || ng % 3) break;
        int grid[21][3];
        for (int64_t k = 0; k < ng; k++) grid[k / 3][k % 3] = (int)g64[k];
        for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)ids64[i];
        int64_t delta;
        cases++;
        with_images += ng > 0;
        int ok = ml_qwen2vl_positions(ids, n, &c, (const int(*)[3])grid, (int)(ng / 3), pos, &delta, &err) == ML_OK &&
                 delta == want[3 * n];
        for (int64_t i = 0; i < 3 * n && ok; i++) ok = pos[i] == want[i];
        same += ok;
        if (!ok) fprintf(stderr, "  case %d differs (%s)\n", cases, err.msg);
    }
    CHECK(cases == 40 && same == cases && with_images >= 20);
    free(text);
}

int main(void) {
    RUN(test_by_hand);
    RUN(test_mismatches);
    RUN(test_against_reference);
    return test_summary("test_qwen2vl_positions");
}
