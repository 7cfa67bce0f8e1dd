/* test_scene_world.c: world files: defaults, prior resolution, bad input, feasibility, round trips. */
#include "test.h"

#include "core/file.h"
#include "scene/scene.h"
#include "scene/world.h"

static int parse(const char *json, MlWorld *w, MlError *err) {
    memset(err, 0, sizeof *err);
    return ml_world_parse(json, strlen(json), "w.json", w, err);
}

static void test_default_file_matches_builtin(void) {
    MlWorld file, builtin;
    MlError err = {0};
    CHECK_OK(ml_world_load("worlds/default.json", &file, &err), &err);
    ml_world_default(&builtin);
    MlStrBuf a = {0}, b = {0};
    ml_world_to_json(&file, &a);
    ml_world_to_json(&builtin, &b);
    CHECK(a.data && b.data && !strcmp(a.data, b.data));
    ml_strbuf_free(&a);
    ml_strbuf_free(&b);
}

/* Hand-computed: a listed probability stays, the rest is shared equally. */
static void test_prior_resolution(void) {
    MlWorld w;
    MlError err;
    int red = ml_vocab_find(ML_VOCAB_COLOR, "red"), blue = ml_vocab_find(ML_VOCAB_COLOR, "blue");
    int heart = ml_vocab_find(ML_VOCAB_CATEGORY, "heart"), star = ml_vocab_find(ML_VOCAB_CATEGORY, "star");
    CHECK_OK(parse("{\"categories\": {\"heart\": {\"color\": {\"red\": 0.9}}, \"star\": {\"color\": {\"red\": 0.1}},"
                   "\"circle\": {}, \"square\": {}, \"ring\": {}, \"moon\": {}, \"cross\": {}, \"arrow\": {}}}",
                   &w, &err),
             &err);
    CHECK_NEAR(w.category[heart].prior[ML_ATTR_COLOR][red], 0.9, 1e-12);
    CHECK_NEAR(w.category[heart].prior[ML_ATTR_COLOR][blue], 0.1 / 7, 1e-12);
    CHECK(w.category[heart].typical[ML_ATTR_COLOR] == red);
    /* 0.1 is below uniform (1/8): nothing is typical */
    CHECK(w.category[star].typical[ML_ATTR_COLOR] == -1);
    CHECK_NEAR(w.category[star].prior[ML_ATTR_COLOR][blue], 0.9 / 7, 1e-12);
    /* sizes untouched: uniform, no typical value */
    CHECK_NEAR(w.category[heart].prior[ML_ATTR_SIZE][0], 1.0 / 3, 1e-12);
    CHECK(w.category[heart].typical[ML_ATTR_SIZE] == -1);
    CHECK(ml_world_n_categories(&w) == 8);
    /* listing categories drops the default co-occurrence groups */
    CHECK(w.n_groups == 0);
    /* a colour list restricts the priors to it */
    CHECK_OK(parse("{\"colors\": [\"red\", \"blue\", \"green\"]}", &w, &err), &err);
    CHECK_NEAR(w.category[star].prior[ML_ATTR_COLOR][red], 1.0 / 3, 1e-12);
    CHECK(w.category[star].prior[ML_ATTR_COLOR][ml_vocab_find(ML_VOCAB_COLOR, "white")] == 0);
}

static void test_bad_input_names_the_key(void) {
    static const char *const cases[][2] = {
        {"{\"objects\": {\"mx\": 3}}", "w.json: objects.mx: unknown key"},
        {"{\"imgae\": {}}", "w.json: imgae: unknown key"},
        {"{\"objects\": {\"max\": 6}}", "w.json: objects.max: 6 large objects do not fit in a 64 px image (at most 5)"},
        {"{\"image\": {\"size\": 48}, \"objects\": {\"min\": 1, \"max\": 9}}", "objects.max: 9 large objects do not fit"},
        {"{\"objects\": {\"min\": 4, \"max\": 3}}", "w.json: objects.min"},
        {"{\"image\": {\"size\": 16}}", "w.json: image.size: 16 is outside [32, 512]"},
        {"{\"relations\": {\"near\": 0.2, \"far\": 0.1}}", "w.json: relations.far"},
        {"{\"categories\": {\"dragon\": {}}}", "w.json: categories.dragon: unknown category"},
        {"{\"categories\": {\"heart\": {\"color\": {\"red\": 0.7, \"blue\": 0.5}}}}",
         "categories.heart.color: probabilities sum to 1.2"},
        {"{\"categories\": {\"heart\": {\"color\": {\"pink\": 0.7}}}}", "w.json: categories.heart.color.pink: unknown color"},
        {"{\"categories\": {\"heart\": {\"shape\": 1}}}", "w.json: categories.heart.shape: unknown key"},
        {"{\"categories\": {\"heart\": {\"weight\": 0}}}", "w.json: categories.heart.weight: 0 is outside"},
        {"{\"colors\": [\"red\"]}", "w.json: colors: at least 2 colours"},
        {"{\"colors\": [\"red\", \"red\"]}", "w.json: colors[1]: \"red\" is listed twice"},
        {"{\"colors\": [\"red\", \"mauve\"]}", "w.json: colors[1]: unknown name"},
        {"{\"textures\": []}", "w.json: textures: at least 1 texture"},
        {"{\"categories\": {\"circle\": {}, \"square\": {}}}", "w.json: categories: 2 categories are too few"},
        {"{\"objects\": {\"min_visible_pixels\": 5000}}", "w.json: objects.min_visible_pixels: 5000 is more than a small"},
        {"{\"version\": 2}", "w.json: version: 2 is not supported"},
        {"{\"cooccurrence\": {\"groups\": [[\"circle\"]]}}", "w.json: cooccurrence.groups[0]: a group needs at least 2"},
        {"{\"cooccurrence\": {\"groups\": [[\"circle\", \"ring\"], [\"ring\", \"moon\"]]}}",
         "w.json: cooccurrence.groups[1][0]: \"ring\" is already in group 0"},
        {"{\"cooccurrence\": {\"strength\": 1.5}}", "w.json: cooccurrence.strength: 1.5 is outside [0, 1]"},
        {"{\"training\": {\"caption_noise\": {\"wrong\": 0.7, \"mismatched\": 0.5}}}", "w.json: training.caption_noise"},
        {"{\"training\": {\"defects\": {\"smear\": 0.1}}}", "w.json: training.defects.smear: unknown key"},
        {"{\"objects\": {\"min\": 2.5}}", "w.json: objects.min: expected an integer"},
        {"{\"objects\": {\"repeat\": \"high\"}}", "w.json: objects.repeat: expected a number"},
        {"{\"objects\": 3}", "w.json: objects: expected an object"},
        {"[1, 2]", "w.json: (top level): expected an object"},
        {"{\"a\":", "w.json: malformed JSON"},
        {"{\"objects\": {\"min\": 3, \"min\": 4}}", "w.json: objects.min: duplicate key"},
        {"{\"colors\": [\"red\", \"blue\"], \"categories\": {\"heart\": {\"color\": {\"green\": 0.5}},"
         "\"circle\": {}, \"square\": {}, \"ring\": {}, \"moon\": {}, \"cross\": {}, \"arrow\": {}, \"star\": {}}}",
         "w.json: categories.heart.color.green: this color is not in the world's list"},
        {"{\"categories\": {\"heart\": {\"size\": {\"small\": 0.5, \"medium\": 0.2, \"large\": 0.1}}}}",
         "w.json: categories.heart.size: every value is listed, so the probabilities must sum to 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        MlWorld w;
        MlError err;
        int rc = parse(cases[i][0], &w, &err);
        if (rc == ML_OK || !strstr(err.msg, cases[i][1])) {
            fprintf(stderr, "  case %zu: %s\n    got rc %d: %s\n    want: %s\n", i, cases[i][0], rc, err.msg, cases[i][1]);
            CHECK(0);
        }
        CHECK(!strchr(err.msg, '\n'));
    }
}

/* The feasibility bound is honest: the largest world it accepts really generates. */
static void test_largest_accepted_world_generates(void) {
    const char *json = "{\"objects\": {\"min\": 5, \"max\": 5},"
                       "\"categories\": {\"circle\": {\"size\": {\"large\": 1}}, \"square\": {\"size\": {\"large\": 1}},"
                       "\"star\": {\"size\": {\"large\": 1}}, \"heart\": {\"size\": {\"large\": 1}},"
                       "\"ring\": {\"size\": {\"large\": 1}}, \"moon\": {\"size\": {\"large\": 1}},"
                       "\"cross\": {\"size\": {\"large\": 1}}, \"house\": {\"size\": {\"large\": 1}}}}";
    MlWorld w;
    MlError err;
    CHECK_OK(parse(json, &w, &err), &err);
    int ok = 0;
    for (int i = 0; i < 300; i++) {
        MlScene s;
        if (ml_scene_sample(&w, 7, ML_SPLIT_TEST, i, &s, &err) == ML_OK && s.n_objects == 5) ok++;
        else fprintf(stderr, "  scene %d: %s\n", i, err.msg);
    }
    CHECK(ok == 300);
}

static void test_round_trip_every_world_file(void) {
    const char *files[] = {"worlds/default.json", "worlds/clean.json", "worlds/strong-bias.json", "worlds/crowded96.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        MlWorld w, back;
        MlError err = {0};
        CHECK_OK(ml_world_load(files[i], &w, &err), &err);
        MlStrBuf a = {0}, b = {0};
        ml_world_to_json(&w, &a);
        CHECK_OK(ml_world_parse(a.data, a.len, files[i], &back, &err), &err);
        ml_world_to_json(&back, &b);
        CHECK(a.data && b.data && !strcmp(a.data, b.data));
        ml_strbuf_free(&a);
        ml_strbuf_free(&b);
    }
}

static void test_missing_file(void) {
    MlWorld w;
    MlError err = {0};
    CHECK(ml_world_load("worlds/no-such-world.json", &w, &err) != ML_OK);
    CHECK(strstr(err.msg, "worlds/no-such-world.json") != NULL);
}

static void test_conflict_split_needs_a_prior(void) {
    MlWorld w;
    MlError err;
    CHECK_OK(parse("{\"categories\": {\"circle\": {}, \"square\": {}, \"ring\": {}, \"moon\": {}, \"cross\": {},"
                   "\"arrow\": {}, \"star\": {}, \"heart\": {}}}",
                   &w, &err),
             &err);
    MlScene s;
    CHECK(ml_scene_sample(&w, 1, ML_SPLIT_CONFLICT, 0, &s, &err) == ML_ERR_ARG);
    CHECK(strstr(err.msg, "conflict split") != NULL);
}

int main(void) {
    RUN(test_default_file_matches_builtin);
    RUN(test_prior_resolution);
    RUN(test_bad_input_names_the_key);
    RUN(test_largest_accepted_world_generates);
    RUN(test_round_trip_every_world_file);
    RUN(test_missing_file);
    RUN(test_conflict_split_needs_a_prior);
    return test_summary("test_scene_world");
}
