/* test_scene_render.c: shapes against hand-computed geometry, layout invariants recomputed
   independently, and the rendered pixels against the scene graph. */
#include "test.h"

#include "scene/scene.h"
#include "scene/shapes.h"

#define GRID 600

static double area_fraction(int cat) {
    long in = 0;
    for (int j = 0; j < GRID; j++)
        for (int i = 0; i < GRID; i++)
            in += ml_shape_inside(cat, -1 + (i + 0.5) * 2.0 / GRID, -1 + (j + 0.5) * 2.0 / GRID);
    return (double)in / ((double)GRID * GRID);
}

/* Areas of the shapes as fractions of their box, from their geometric definitions. */
static void test_shape_areas(void) {
    const double pi = 3.14159265358979323846;
    /* lens of two circles (r1 = 1, r2 = 0.85, centres 0.45 apart), for the moon */
    double d = 0.45, r1 = 1, r2 = 0.85;
    double lens = r1 * r1 * acos((d * d + r1 * r1 - r2 * r2) / (2 * d * r1)) +
                  r2 * r2 * acos((d * d + r2 * r2 - r1 * r1) / (2 * d * r2)) -
                  0.5 * sqrt((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2));
    /* the moon's natural box is 1.5333 wide and 2 high; it is stretched to 2 x 2 */
    double moon = (pi - lens) / (1.533333 * 2);
    /* regular star: 10 triangles of outer radius 1, inner 0.45, apex angle 36 degrees;
       natural box 2 sin 72 wide, 1 + cos 36 high */
    double star = 10 * 0.5 * 1 * 0.45 * sin(pi / 5) / (2 * sin(2 * pi / 5) * (1 + cos(pi / 5)));
    struct {
        const char *name;
        double area;
    } expect[] = {
        {"circle", pi / 4},
        {"square", 1},
        {"triangle", 0.5},
        {"star", star},
        {"cross", (2 * 2 * 0.68 - 0.68 * 0.68) / 4},
        {"diamond", 0.5},
        {"ring", pi * (1 - 0.55 * 0.55) / 4},
        {"moon", moon},
        {"arrow", (1.1 * 0.64 + 0.9) / 4},                  /* shaft + head triangle (base 2, height 0.9) */
        {"house", (0.9 + 1.1 * 1.44) / 4},                 /* roof triangle + body */
        {"hourglass", 2 * (0.24 + 0.88) / 4},              /* width 2 (0.12 + 0.88 |v|) over v in [-1, 1] */
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        int c = ml_vocab_find(ML_VOCAB_CATEGORY, expect[i].name);
        double got = area_fraction(c);
        if (fabs(got - expect[i].area) > 0.004) fprintf(stderr, "  %s: area %.4f, expected %.4f\n", expect[i].name, got, expect[i].area);
        CHECK_NEAR(got, expect[i].area, 0.004);
    }
}

/* Each shape reaches all four sides of its box (to 1%) and nothing lies outside. */
static void test_shapes_fill_their_box(void) {
    for (int c = 0; c < ML_N_CATEGORIES; c++) {
        int left = 0, right = 0, top = 0, bottom = 0, outside = 0;
        for (int k = 0; k <= 8000; k++) {
            double t = -1 + k * 2.0 / 8000;
            left |= ml_shape_inside(c, -0.99, t);
            right |= ml_shape_inside(c, 0.99, t);
            top |= ml_shape_inside(c, t, -0.99);
            bottom |= ml_shape_inside(c, t, 0.99);
            outside |= ml_shape_inside(c, -1.001, t) | ml_shape_inside(c, 1.001, t) | ml_shape_inside(c, t, -1.001) |
                       ml_shape_inside(c, t, 1.001);
        }
        if (!(left && right && top && bottom) || outside) fprintf(stderr, "  %s does not fill its box\n", ml_category_name(c));
        CHECK(left && right && top && bottom && !outside);
    }
}

/* Shapes must differ: no two categories agree on more than 90% of the box. */
static void test_shapes_are_distinct(void) {
    for (int a = 0; a < ML_N_CATEGORIES; a++)
        for (int b = a + 1; b < ML_N_CATEGORIES; b++) {
            long same = 0, n = 0;
            for (int j = 0; j < 200; j++)
                for (int i = 0; i < 200; i++, n++) {
                    double u = -1 + (i + 0.5) / 100, v = -1 + (j + 0.5) / 100;
                    same += ml_shape_inside(a, u, v) == ml_shape_inside(b, u, v);
                }
            if ((double)same / n > 0.9) fprintf(stderr, "  %s and %s overlap %.3f\n", ml_category_name(a), ml_category_name(b), (double)same / n);
            CHECK((double)same / n <= 0.9);
        }
}

/* The early-exit ownership test agrees with counting all 16 samples. */
static void test_covers_matches_coverage(void) {
    long agree = 0, n = 0;
    for (int c = 0; c < ML_N_CATEGORIES; c++)
        for (int k = 0; k < 400; k++) {
            double cx = 10 + (k % 20) * 0.125, cy = 10 + (k / 20) * 0.375, half = 3 + (k % 7);
            for (int y = 0; y < 24; y++)
                for (int x = 0; x < 24; x++, n++)
                    agree += ml_shape_covers(c, cx, cy, half, x, y) ==
                             (__builtin_popcount(ml_shape_coverage(c, cx, cy, half, x, y)) >= ML_SHAPE_OWN_SAMPLES);
        }
    CHECK(agree == n);
}

/* Ownership recomputed from scratch with the painter's rule (later objects on
   top, a pixel covered from 8 of 16 samples): it must match the counts the
   layout kept incrementally, and respect the world's limits. */
static void check_layout(const MlWorld *w, const MlScene *s) {
    int n = w->image_size;
    static int owner[512 * 512];
    for (int p = 0; p < n * n; p++) owner[p] = -1;
    int area[ML_WORLD_MAX_OBJECTS] = {0}, visible[ML_WORLD_MAX_OBJECTS] = {0};
    for (int k = 0; k < s->n_objects; k++) {
        const MlSceneObject *o = &s->obj[k];
        int bx0 = n, by0 = n, bx1 = 0, by1 = 0;
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                /* every pixel of the image, not only near the object */
                if (__builtin_popcount(ml_shape_coverage(o->category, o->cx, o->cy, o->half, x, y)) < 8) continue;
                area[k]++;
                owner[y * n + x] = k;
                if (x < bx0) bx0 = x;
                if (y < by0) by0 = y;
                if (x + 1 > bx1) bx1 = x + 1;
                if (y + 1 > by1) by1 = y + 1;
            }
        CHECK(o->bbox[0] == bx0 && o->bbox[1] == by0 && o->bbox[2] == bx1 && o->bbox[3] == by1);
        /* frame: a 1 px border stays free */
        CHECK(bx0 >= 1 && by0 >= 1 && bx1 <= n - 1 && by1 <= n - 1);
        /* size: the larger box side is the size's fraction of the image, less what
           thin tips lose to the half-coverage rule */
        double side = ml_size_fraction(o->attr[ML_ATTR_SIZE]) * n;
        int big = bx1 - bx0 > by1 - by0 ? bx1 - bx0 : by1 - by0;
        CHECK(big <= side + 1.5 && big >= side - 3);
        CHECK(o->cx * 8 == floor(o->cx * 8) && o->cy * 8 == floor(o->cy * 8));
    }
    for (int p = 0; p < n * n; p++)
        if (owner[p] >= 0) visible[owner[p]]++;
    for (int k = 0; k < s->n_objects; k++) {
        CHECK(area[k] == s->obj[k].area_pixels);
        CHECK(visible[k] == s->obj[k].visible_pixels);
        CHECK(visible[k] >= w->min_visible_pixels);
        CHECK(visible[k] >= (1 - w->max_occlusion) * area[k] - 1e-9);
    }
    if (w->max_occlusion == 0) {
        /* clearance: no two objects' pixels closer than min_gap (Chebyshev) */
        int gap = (int)ceil(w->min_gap * n - 1e-9);
        for (int p = 0; p < n * n; p++) {
            if (owner[p] < 0) continue;
            int x = p % n, y = p / n;
            for (int dy = -gap; dy <= gap; dy++)
                for (int dx = -gap; dx <= gap; dx++) {
                    int xx = x + dx, yy = y + dy;
                    if (xx < 0 || yy < 0 || xx >= n || yy >= n) continue;
                    int q = owner[yy * n + xx];
                    if (q >= 0 && q != owner[p]) {
                        CHECK(0);
                        return;
                    }
                }
        }
    }
}

static void test_layout_invariants(void) {
    MlWorld w;
    MlError err = {0};
    ml_world_default(&w);
    for (int i = 0; i < 300; i++) {
        MlScene s;
        CHECK_OK(ml_scene_sample(&w, 3, ML_SPLIT_TEST, i, &s, &err), &err);
        check_layout(&w, &s);
    }
    CHECK_OK(ml_world_load("worlds/crowded96.json", &w, &err), &err);
    int occluded = 0;
    for (int i = 0; i < 150; i++) {
        MlScene s;
        CHECK_OK(ml_scene_sample(&w, 3, ML_SPLIT_TEST, i, &s, &err), &err);
        check_layout(&w, &s);
        for (int k = 0; k < s.n_objects; k++) occluded += s.obj[k].visible_pixels < s.obj[k].area_pixels;
    }
    CHECK(occluded > 50); /* overlap does happen when it is allowed */
}

/* With noise and background variation off, every pixel an object covers with
   all 16 samples and owns shows exactly its colour or its pattern colour;
   pixels no object touches show the flat background; edge pixels mix (anti-aliasing). */
static void test_pixels_match_scene_graph(void) {
    MlWorld w;
    MlError err = {0};
    ml_world_default(&w);
    w.noise = 0;
    w.background_variation = 0;
    MlImage img;
    CHECK_OK(ml_image_alloc(&img, w.image_size, w.image_size, &err), &err);
    int n = w.image_size, mixed = 0;
    for (int i = 0; i < 100; i++) {
        MlScene s;
        CHECK_OK(ml_scene_sample(&w, 11, ML_SPLIT_TEST, i, &s, &err), &err);
        CHECK_OK(ml_scene_render(&w, &s, &img, &err), &err);
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                const uint8_t *p = &img.rgb[(y * n + x) * 3];
                int top = -1, full = 0, touched = 0;
                for (int k = 0; k < s.n_objects; k++) {
                    int c = __builtin_popcount(ml_shape_coverage(s.obj[k].category, s.obj[k].cx, s.obj[k].cy, s.obj[k].half, x, y));
                    touched |= c > 0;
                    if (c == 16) {
                        top = k;
                        full = 1;
                    } else if (c > 0) full = 0;
                }
                if (!touched) {
                    CHECK(p[0] == 115 && p[1] == 115 && p[2] == 115);
                } else if (top >= 0 && full) {
                    const uint8_t *a = ml_color_rgb(s.obj[top].attr[ML_ATTR_COLOR]);
                    const uint8_t *b = ml_color_pattern_rgb(s.obj[top].attr[ML_ATTR_COLOR]);
                    int is_a = p[0] == a[0] && p[1] == a[1] && p[2] == a[2];
                    int is_b = p[0] == b[0] && p[1] == b[1] && p[2] == b[2];
                    int patterned = s.obj[top].attr[ML_ATTR_TEXTURE] != ML_TEXTURE_SOLID;
                    /* a patterned pixel may straddle a stripe edge: then it lies between the two colours */
                    int between = patterned && p[0] >= (a[0] < b[0] ? a[0] : b[0]) && p[0] <= (a[0] > b[0] ? a[0] : b[0]);
                    CHECK(is_a || (patterned && (is_b || between)));
                } else {
                    mixed++;
                }
            }
    }
    CHECK(mixed > 1000);
    ml_image_free(&img);
}

static void test_render_is_deterministic(void) {
    MlWorld w;
    MlError err = {0};
    ml_world_default(&w);
    w.defect_blur = w.defect_noise = w.defect_crop = 0.3;
    MlImage a, b;
    CHECK_OK(ml_image_alloc(&a, 64, 64, &err), &err);
    CHECK_OK(ml_image_alloc(&b, 64, 64, &err), &err);
    int differ_by_seed = 0;
    for (int i = 0; i < 40; i++) {
        MlScene s1, s2, s3;
        CHECK_OK(ml_scene_sample(&w, 5, ML_SPLIT_TRAIN, i, &s1, &err), &err);
        CHECK_OK(ml_scene_sample(&w, 5, ML_SPLIT_TRAIN, i, &s2, &err), &err);
        CHECK(!memcmp(&s1, &s2, sizeof s1));
        CHECK_OK(ml_scene_render(&w, &s1, &a, &err), &err);
        CHECK_OK(ml_scene_render(&w, &s2, &b, &err), &err);
        CHECK(!memcmp(a.rgb, b.rgb, 64 * 64 * 3));
        CHECK_OK(ml_scene_sample(&w, 6, ML_SPLIT_TRAIN, i, &s3, &err), &err);
        CHECK_OK(ml_scene_render(&w, &s3, &b, &err), &err);
        differ_by_seed += memcmp(a.rgb, b.rgb, 64 * 64 * 3) != 0;
    }
    CHECK(differ_by_seed == 40);
    ml_image_free(&a);
    ml_image_free(&b);
}

static void test_render_rejects_wrong_image(void) {
    MlWorld w;
    MlError err = {0};
    ml_world_default(&w);
    MlScene s;
    CHECK_OK(ml_scene_sample(&w, 1, ML_SPLIT_TEST, 0, &s, &err), &err);
    MlImage img;
    CHECK_OK(ml_image_alloc(&img, 32, 32, &err), &err);
    CHECK(ml_scene_render(&w, &s, &img, &err) == ML_ERR_ARG);
    ml_image_free(&img);
}

int main(void) {
    RUN(test_shape_areas);
    RUN(test_shapes_fill_their_box);
    RUN(test_shapes_are_distinct);
    RUN(test_covers_matches_coverage);
    RUN(test_layout_invariants);
    RUN(test_pixels_match_scene_graph);
    RUN(test_render_is_deterministic);
    RUN(test_render_rejects_wrong_image);
    return test_summary("test_scene_render");
}
