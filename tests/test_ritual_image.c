/* test_ritual_image.c: RITUAL's transforms (mitigate/ritual.h) against
   Pillow and NumPy (tests/reference/ritual_ref.py): every kind on several
   draws of a non-square image, byte for byte (blur within 1 level); draws
   are seeded and cover every kind. */
#include "test.h"

#include "mitigate/ritual.h"

static MlImage source(int w, int h) {
    MlImage img;
    MlError err = {0};
    CHECK_OK(ml_image_alloc(&img, w, h, &err), &err);
    uint64_t s = 5;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.rgb + ((size_t)y * w + x) * 3;
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            p[0] = (uint8_t)(x * 255 / w), p[1] = (uint8_t)(y * 255 / h), p[2] = (uint8_t)(s >> 56);
            if ((x / 7 + y / 5) % 3 == 0) p[0] = p[1] = p[2] = (uint8_t)(s >> 48); /* grey cells: zero saturation */
        }
    return img;
}

static void test_against_pillow(void) {
    MlError err = {0};
    const char *dir = test_tmpdir("ritual_image");
    char src[700], cases[700], out[800], cmd[5000];
    snprintf(src, sizeof src, "%s/src.png", dir);
    snprintf(cases, sizeof cases, "%s/cases.jsonl", dir);
    MlImage img = source(61, 47);
    CHECK_OK(ml_image_write_png(src, &img, &err), &err);
    FILE *f = fopen(cases, "w");
    CHECK(f != NULL);
    if (!f) return;
    int seen[ML_RITUAL_KINDS] = {0}, n = 0;
    for (uint64_t seed = 0; seed < 200 && n < 36; seed++) {
        MlRitualDraw d;
        ml_ritual_draw(seed, img.width, img.height, &d);
        if (seen[d.kind] >= 6) continue;
        seen[d.kind]++;
        if (d.kind == ML_RITUAL_ROTATE && seen[d.kind] == 1) d.angle = 180.0; /* and the special angles */
        if (d.kind == ML_RITUAL_ROTATE && seen[d.kind] == 2) d.angle = -90.0;
        MlImage t;
        CHECK_OK(ml_ritual_apply(&img, &d, &t, &err), &err);
        snprintf(out, sizeof out, "%s/out_%d.png", dir, n++);
        CHECK_OK(ml_image_write_png(out, &t, &err), &err);
        ml_image_free(&t);
        fprintf(f,
                "{\"src\": \"%s\", \"out\": \"%s\", \"kind\": \"%s\", \"angle\": %.17g, \"order\": [%d, %d, %d, %d], "
                "\"brightness\": %.17g, \"contrast\": %.17g, \"saturation\": %.17g, \"hue\": %.17g, \"sigma\": %.17g, "
                "\"top\": %d, \"left\": %d, \"height\": %d, \"width\": %d}\n",
                src, out, ml_ritual_kind_name(d.kind), d.angle, d.order[0], d.order[1], d.order[2], d.order[3],
                d.brightness, d.contrast, d.saturation, d.hue, d.sigma, d.top, d.left, d.height, d.width);
    }
    fclose(f);
    for (int k = 0; k < ML_RITUAL_KINDS; k++) CHECK(seen[k] == 6);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", test_repo_path("tests/reference/ritual_ref.py"), cases);
    CHECK(system(cmd) == 0);
    ml_image_free(&img);
}

/* The same seed, the same draw; draws stay inside the image and their ranges. */
static void test_draws(void) {
    for (uint64_t seed = 0; seed < 2000; seed++) {
        MlRitualDraw a, b;
        ml_ritual_draw(seed, 640, 480, &a);
        ml_ritual_draw(seed, 640, 480, &b);
        CHECK(!memcmp(&a, &b, sizeof a));
        if (a.kind == ML_RITUAL_ROTATE) CHECK(a.angle >= -180 && a.angle < 180);
        if (a.kind == ML_RITUAL_BLUR) CHECK(a.sigma >= 1.5 && a.sigma < 2);
        if (a.kind == ML_RITUAL_JITTER)
            CHECK(a.brightness < 2 && a.contrast < 2 && a.saturation < 2 && fabs(a.hue) <= 0.5 &&
                  a.order[0] + a.order[1] + a.order[2] + a.order[3] == 6);
        if (a.kind == ML_RITUAL_CROP)
            CHECK(a.top >= 0 && a.left >= 0 && a.top + a.height <= 480 && a.left + a.width <= 640 && a.width > 0);
    }
    MlError err = {0};
    MlImage img = source(8, 8), out;
    MlRitualDraw bad = {.kind = ML_RITUAL_CROP, .top = 4, .left = 0, .height = 5, .width = 2};
    CHECK(ml_ritual_apply(&img, &bad, &out, &err) == ML_ERR_ARG && out.rgb == NULL);
    ml_image_free(&img);
}

int main(void) {
    RUN(test_against_pillow);
    RUN(test_draws);
    return test_summary("test_ritual_image");
}
