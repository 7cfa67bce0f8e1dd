/* test_scene_knobs.c: each bias knob of the world file moves its statistic as
   docs/scenes.md states, measured on generated data against the expected value. */
#include "test.h"

#include "scene/caption.h"
#include "scene/scene.h"

static MlWorld world_from(const char *json) {
    MlWorld w;
    MlError err = {0};
    int rc = ml_world_parse(json, strlen(json), "knob.json", &w, &err);
    if (rc) fprintf(stderr, "  %s\n", err.msg);
    CHECK(rc == ML_OK);
    return w;
}

static MlScene *sample_many(const MlWorld *w, MlSplit split, int n) {
    MlScene *s = calloc((size_t)n, sizeof *s);
    MlError err = {0};
    for (int i = 0; i < n; i++) CHECK_OK(ml_scene_sample(w, 17, split, i, &s[i], &err), &err);
    return s;
}

/* Share of later objects whose category is in the first object's group (same category included). */
static double same_group_share(const MlWorld *w, const MlScene *s, int n) {
    long in = 0, all = 0;
    for (int i = 0; i < n; i++) {
        int g = w->category[s[i].obj[0].category].group;
        for (int k = 1; k < s[i].n_objects; k++, all++) in += w->category[s[i].obj[k].category].group == g;
    }
    return (double)in / all;
}

/* With strength s a later object comes from the first object's group with
   probability s + (1 - s) * P0, P0 being the chance a free draw lands there. */
static void test_cooccurrence_strength(void) {
    const char *weak = "{\"objects\": {\"repeat\": 0}, \"cooccurrence\": {\"strength\": 0}}";
    const char *strong = "{\"objects\": {\"repeat\": 0}, \"cooccurrence\": {\"strength\": 0.9}}";
    MlWorld w0 = world_from(weak), w9 = world_from(strong);
    /* P0 from the default weights: groups {circle 1.4, ring 1, moon 1}, {square 1.4, house 1, cross 1},
       {triangle 1.2, arrow 1, diamond 1}, {star 1, heart 1, hourglass 0.7}; total 12.7 */
    double g[4] = {3.4, 3.4, 3.2, 2.7}, total = 12.7, p0 = 0;
    for (int i = 0; i < 4; i++) p0 += (g[i] / total) * (g[i] / total);
    MlScene *a = sample_many(&w0, ML_SPLIT_TRAIN, 3000), *b = sample_many(&w9, ML_SPLIT_TRAIN, 3000);
    double s0 = same_group_share(&w0, a, 3000), s9 = same_group_share(&w9, b, 3000);
    printf("  same-group share: strength 0 -> %.3f (expect %.3f), 0.9 -> %.3f (expect %.3f)\n", s0, p0, s9,
           0.9 + 0.1 * p0);
    CHECK_NEAR(s0, p0, 0.02);
    CHECK_NEAR(s9, 0.9 + 0.1 * p0, 0.02);
    free(a);
    free(b);
}

/* categories.<name>.color: {"red": 0.9} makes 90% of hearts red, the rest shared by the other 7 colours. */
static void test_attribute_prior(void) {
    MlWorld w = world_from("{\"categories\": {\"heart\": {\"color\": {\"red\": 0.9}, \"weight\": 4}, \"circle\": {},"
                           "\"square\": {}, \"star\": {}, \"ring\": {}, \"moon\": {}, \"cross\": {}, \"arrow\": {}}}");
    MlScene *s = sample_many(&w, ML_SPLIT_TRAIN, 3000);
    int heart = ml_vocab_find(ML_VOCAB_CATEGORY, "heart"), red = ml_vocab_find(ML_VOCAB_COLOR, "red");
    int blue = ml_vocab_find(ML_VOCAB_COLOR, "blue");
    long hearts = 0, red_hearts = 0, blue_hearts = 0, stars = 0, red_stars = 0;
    for (int i = 0; i < 3000; i++)
        for (int k = 0; k < s[i].n_objects; k++) {
            const MlSceneObject *o = &s[i].obj[k];
            if (o->category == heart) {
                hearts++;
                red_hearts += o->attr[ML_ATTR_COLOR] == red;
                blue_hearts += o->attr[ML_ATTR_COLOR] == blue;
                CHECK((o->atypical != 0) == (o->attr[ML_ATTR_COLOR] != red));
            } else if (o->category == ml_vocab_find(ML_VOCAB_CATEGORY, "star")) {
                stars++;
                red_stars += o->attr[ML_ATTR_COLOR] == red;
            }
        }
    printf("  hearts red %.3f (expect 0.9), blue %.4f (expect %.4f); stars red %.3f (expect 0.125)\n",
           (double)red_hearts / hearts, (double)blue_hearts / hearts, 0.1 / 7, (double)red_stars / stars);
    CHECK(hearts > 3000);
    CHECK_NEAR((double)red_hearts / hearts, 0.9, 0.02);
    CHECK_NEAR((double)blue_hearts / hearts, 0.1 / 7, 0.01);
    CHECK_NEAR((double)red_stars / stars, 0.125, 0.03);
    free(s);
}

/* categories.<name>.weight: the first object is drawn in proportion to the weights. */
static void test_category_weight(void) {
    MlWorld w = world_from("{\"categories\": {\"circle\": {\"weight\": 3}, \"square\": {}, \"star\": {}, \"heart\": {},"
                           "\"ring\": {}, \"moon\": {}, \"cross\": {}, \"arrow\": {}, \"house\": {}, \"diamond\": {},"
                           "\"triangle\": {}, \"hourglass\": {}}}");
    MlScene *s = sample_many(&w, ML_SPLIT_TRAIN, 4000);
    long first_circle = 0;
    for (int i = 0; i < 4000; i++) first_circle += s[i].obj[0].category == ml_vocab_find(ML_VOCAB_CATEGORY, "circle");
    CHECK_NEAR((double)first_circle / 4000, 3.0 / 14, 0.02);
    free(s);
}

/* objects.repeat: later objects copy an earlier category with that probability (plus chance matches). */
static void test_repeat(void) {
    MlWorld w0 = world_from("{\"objects\": {\"repeat\": 0}, \"cooccurrence\": {\"strength\": 0}}");
    MlWorld w5 = world_from("{\"objects\": {\"repeat\": 0.5}, \"cooccurrence\": {\"strength\": 0}}");
    MlScene *a = sample_many(&w0, ML_SPLIT_TRAIN, 2000), *b = sample_many(&w5, ML_SPLIT_TRAIN, 2000);
    long rep[2] = {0}, all[2] = {0};
    for (int v = 0; v < 2; v++) {
        MlScene *s = v ? b : a;
        for (int i = 0; i < 2000; i++)
            for (int k = 1; k < s[i].n_objects; k++, all[v]++) {
                int seen = 0;
                for (int j = 0; j < k; j++) seen |= s[i].obj[j].category == s[i].obj[k].category;
                rep[v] += seen;
            }
    }
    double r0 = (double)rep[0] / all[0], r5 = (double)rep[1] / all[1];
    /* a free draw repeats one of j earlier categories with chance about j/12; with repeat 0.5
       half of the draws copy: 0.5 + 0.5 * r0 */
    CHECK(r0 < 0.25);
    CHECK_NEAR(r5, 0.5 + 0.5 * r0, 0.03);
    free(a);
    free(b);
}

/* training.yes_ratio: the share of "yes" among yes/no QA answers. */
static double yes_share(const MlWorld *w, int n) {
    MlScene *s = sample_many(w, ML_SPLIT_TRAIN, n);
    long yes = 0, yesno = 0;
    MlStrBuf b = {0};
    for (int i = 0; i < n; i++) {
        ml_strbuf_clear(&b);
        ml_qa_lines(w, &s[i], &b);
        for (const char *p = b.data; p && (p = strstr(p, "\"type\":\"yesno\"")); p++) yesno++;
        for (const char *p = b.data; p && (p = strstr(p, "\"answer\":\"yes\"")); p++) yes++;
    }
    ml_strbuf_free(&b);
    free(s);
    return (double)yes / yesno;
}

static void test_yes_ratio(void) {
    MlWorld w5 = world_from("{\"training\": {\"yes_ratio\": 0.5}}"), w8 = world_from("{\"training\": {\"yes_ratio\": 0.8}}");
    double a = yes_share(&w5, 1500), b = yes_share(&w8, 1500);
    printf("  yes share: %.3f (0.5), %.3f (0.8)\n", a, b);
    CHECK_NEAR(a, 0.5, 0.02);
    CHECK_NEAR(b, 0.8, 0.02);
}

/* ---- caption noise ----------------------------------------------------- */

static const char *const CATS[12] = {"circle", "square", "triangle", "star", "heart", "cross",
                                     "diamond", "ring", "moon", "arrow", "house", "hourglass"};
static const char *const COLORS[8] = {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "white"};

static int index_of(const char *const *list, int n, const char *w) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], w)) return i;
    return -1;
}

/* 1 when some "<colour> ... <category>" phrase names no object of the scene. */
static int caption_disagrees(const MlScene *s, const char *caption) {
    char buf[2048], *w[400];
    snprintf(buf, sizeof buf, "%s", caption);
    int n = 0;
    for (char *t = strtok(buf, " ,."); t && n < 400; t = strtok(NULL, " ,.")) w[n++] = t;
    for (int i = 0; i < n; i++) {
        int c = index_of(CATS, 12, w[i]);
        if (c < 0) continue;
        int color = -1;
        for (int j = i - 1; j >= 0 && j >= i - 2 && color < 0; j--) color = index_of(COLORS, 8, w[j]);
        int found = 0;
        for (int k = 0; k < s->n_objects; k++)
            found |= ml_vocab_find(ML_VOCAB_CATEGORY, CATS[c]) == s->obj[k].category &&
                     (color < 0 || ml_vocab_find(ML_VOCAB_COLOR, COLORS[color]) == s->obj[k].attr[ML_ATTR_COLOR]);
        if (!found) return 1;
    }
    return 0;
}

static void caption_stats(const MlWorld *w, int n, double *wrong, double *mismatched, double *flag_none,
                          double *flag_noisy) {
    MlScene *s = sample_many(w, ML_SPLIT_TRAIN, n);
    long total = 0, n_wrong = 0, n_mis = 0, none = 0, none_flagged = 0, noisy_flagged = 0;
    MlStrBuf b = {0};
    for (int i = 0; i < n; i++) {
        ml_strbuf_clear(&b);
        ml_caption_lines(w, s, n, i, &b);
        for (char *line = b.data; line && *line;) {
            char *end = strchr(line, '\n');
            *end = 0;
            char *cap = strstr(line, "\"caption\":\"") + 11, *cap_end = strstr(cap, "\",\"noise\"");
            *cap_end = 0;
            const char *noise = cap_end + 11;
            int flagged = caption_disagrees(&s[i], cap);
            total++;
            if (!strncmp(noise, "none", 4)) {
                none++;
                none_flagged += flagged;
            } else {
                n_wrong += !strncmp(noise, "wrong", 5);
                n_mis += !strncmp(noise, "mismatched", 10);
                noisy_flagged += flagged;
            }
            line = end + 1;
        }
    }
    ml_strbuf_free(&b);
    free(s);
    *wrong = (double)n_wrong / total;
    *mismatched = (double)n_mis / total;
    *flag_none = none ? (double)none_flagged / none : 0;
    *flag_noisy = (total - none) ? (double)noisy_flagged / (double)(total - none) : 1;
}

static void test_caption_noise(void) {
    double wr, mi, fn, fy;
    MlWorld clean = world_from("{\"training\": {\"caption_noise\": {\"wrong\": 0, \"mismatched\": 0}}}");
    caption_stats(&clean, 1000, &wr, &mi, &fn, &fy);
    CHECK(wr == 0 && mi == 0 && fn == 0); /* clean captions agree with their scene */
    MlWorld noisy = world_from("{\"training\": {\"caption_noise\": {\"wrong\": 0.3, \"mismatched\": 0.2}}}");
    caption_stats(&noisy, 2000, &wr, &mi, &fn, &fy);
    printf("  captions: wrong %.3f (0.3), mismatched %.3f (0.2); disagree with the scene: clean %.3f, noisy %.3f\n", wr,
           mi, fn, fy);
    CHECK_NEAR(wr, 0.3, 0.02);
    CHECK_NEAR(mi, 0.2, 0.02);
    CHECK(fn == 0);
    CHECK(fy > 0.95); /* a mismatched caption may by chance fit its image */
}

/* ---- image defects ----------------------------------------------------- */

static double mean_abs_dx(const MlImage *m) {
    double s = 0;
    for (int y = 0; y < m->height; y++)
        for (int x = 1; x < m->width; x++)
            for (int c = 0; c < 3; c++)
                s += abs(m->rgb[(y * m->width + x) * 3 + c] - m->rgb[(y * m->width + x - 1) * 3 + c]);
    return s / (m->height * (m->width - 1) * 3);
}

static long non_background(const MlImage *m) {
    long n = 0;
    for (int i = 0; i < m->width * m->height; i++)
        n += m->rgb[i * 3] != 115 || m->rgb[i * 3 + 1] != 115 || m->rgb[i * 3 + 2] != 115;
    return n;
}

static void test_defects(void) {
    MlWorld w = world_from("{\"image\": {\"noise\": 0, \"background_variation\": 0},"
                           "\"training\": {\"defects\": {\"blur\": 0.3, \"noise\": 0.3, \"crop\": 0.3}}}");
    int n = 2000;
    MlScene *s = sample_many(&w, ML_SPLIT_TRAIN, n);
    long rate[3] = {0};
    double blur_ratio = 0, crop_ratio = 0, noise_sd = 0;
    int n_blur = 0, n_crop = 0, n_noise = 0;
    MlImage a, b;
    MlError err = {0};
    CHECK_OK(ml_image_alloc(&a, 64, 64, &err), &err);
    CHECK_OK(ml_image_alloc(&b, 64, 64, &err), &err);
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < 3; d++) rate[d] += (s[i].defects >> d) & 1;
        if (i >= 300) continue;
        /* one defect at a time, against the same scene rendered clean */
        for (int d = 0; d < 3; d++) {
            if (!((s[i].defects >> d) & 1)) continue;
            MlScene one = s[i], clean = s[i];
            one.defects = 1u << d;
            clean.defects = 0;
            CHECK_OK(ml_scene_render(&w, &one, &a, &err), &err);
            CHECK_OK(ml_scene_render(&w, &clean, &b, &err), &err);
            if (d == 0) {
                blur_ratio += mean_abs_dx(&a) / mean_abs_dx(&b);
                n_blur++;
            } else if (d == 1) {
                double ss = 0;
                for (int p = 0; p < 64 * 64 * 3; p++) ss += (double)(a.rgb[p] - b.rgb[p]) * (a.rgb[p] - b.rgb[p]);
                noise_sd += sqrt(ss / (64 * 64 * 3));
                n_noise++;
            } else {
                crop_ratio += (double)non_background(&a) / non_background(&b);
                n_crop++;
            }
        }
    }
    blur_ratio /= n_blur;
    crop_ratio /= n_crop;
    noise_sd /= n_noise;
    printf("  defect rates %.3f %.3f %.3f; blur keeps %.2f of the gradient; noise sd %.2f (uniform 24: %.2f); "
           "crop enlarges objects %.2fx\n",
           (double)rate[0] / n, (double)rate[1] / n, (double)rate[2] / n, blur_ratio, noise_sd, 24 / sqrt(3.0),
           crop_ratio);
    for (int d = 0; d < 3; d++) CHECK_NEAR((double)rate[d] / n, 0.3, 0.03);
    CHECK(blur_ratio < 0.8);
    /* clipping at 0 and 255 trims the noise a little (white objects) */
    CHECK(noise_sd > 12.5 && noise_sd < 14.2);
    /* a window of 70-85% of the side scaled up: areas grow 1.4-2x, less what is cut off */
    CHECK(crop_ratio > 1.2 && crop_ratio < 2.1);
    /* test splits never carry defects */
    MlScene t;
    int any = 0;
    for (int i = 0; i < 300; i++) {
        CHECK_OK(ml_scene_sample(&w, 17, ML_SPLIT_TEST, i, &t, &err), &err);
        any |= t.defects != 0;
    }
    CHECK(!any);
    ml_image_free(&a);
    ml_image_free(&b);
    free(s);
}

/* objects.max_occlusion: 0 keeps every object whole; 0.3 lets objects hide up to 30% of each other. */
static void test_occlusion(void) {
    MlWorld w0 = world_from("{}"), w3 = world_from("{\"objects\": {\"max_occlusion\": 0.3}}");
    MlScene *a = sample_many(&w0, ML_SPLIT_TEST, 1000), *b = sample_many(&w3, ML_SPLIT_TEST, 1000);
    long hidden0 = 0, hidden3 = 0;
    double worst = 0;
    for (int i = 0; i < 1000; i++)
        for (int k = 0; k < a[i].n_objects; k++) hidden0 += a[i].obj[k].visible_pixels < a[i].obj[k].area_pixels;
    for (int i = 0; i < 1000; i++)
        for (int k = 0; k < b[i].n_objects; k++) {
            const MlSceneObject *o = &b[i].obj[k];
            hidden3 += o->visible_pixels < o->area_pixels;
            double f = 1 - (double)o->visible_pixels / o->area_pixels;
            if (f > worst) worst = f;
        }
    CHECK(hidden0 == 0);
    CHECK(hidden3 > 100);
    CHECK(worst <= 0.3 + 1e-9 && worst > 0.15);
    free(a);
    free(b);
}

int main(void) {
    RUN(test_cooccurrence_strength);
    RUN(test_attribute_prior);
    RUN(test_category_weight);
    RUN(test_repeat);
    RUN(test_yes_ratio);
    RUN(test_caption_noise);
    RUN(test_defects);
    RUN(test_occlusion);
    return test_summary("test_scene_knobs");
}
