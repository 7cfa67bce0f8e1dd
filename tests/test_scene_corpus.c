/* test_scene_corpus.c: the corpus writer end to end: files, counts, balance,
   byte-identical output for a seed at any thread count, and splits that share no image. */
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>

#include "core/file.h"
#include "scene/corpus.h"

static char *slurp(const char *dir, const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *data = NULL;
    MlError err = {0};
    if (ml_file_read(path, &data, len, &err)) {
        fprintf(stderr, "  %s\n", err.msg);
        return NULL;
    }
    return data;
}

static int same_file(const char *a, const char *b, const char *name) {
    size_t la, lb;
    char *x = slurp(a, name, &la), *y = slurp(b, name, &lb);
    int same = x && y && la == lb && !memcmp(x, y, la);
    if (!same) fprintf(stderr, "  %s differs between %s and %s\n", name, a, b);
    free(x);
    free(y);
    return same;
}

static int generate(const char *dir, MlSplit split, int64_t n, uint64_t seed, int threads, MlCorpusSummary *sum) {
    MlWorld w;
    ml_world_default(&w);
    MlCorpusOptions o = {.out_dir = dir, .n = n, .seed = seed, .split = split, .threads = threads};
    MlError err = {0};
    int rc = ml_corpus_generate(&w, &o, sum, &err);
    if (rc) fprintf(stderr, "  %s\n", err.msg);
    return rc;
}

static const char *const files[] = {"manifest.json", "world.json", "scenes.jsonl", "probes/pope_random.jsonl",
                                    "probes/pope_popular.jsonl", "probes/pope_adversarial.jsonl",
                                    "probes/attribute.jsonl", "probes/count.jsonl", "probes/relation.jsonl",
                                    "probes/describe.jsonl"};

static void test_thread_count_does_not_change_bytes(void) {
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s/t1", test_tmpdir("scene_corpus"));
    snprintf(b, sizeof b, "%s/t2", test_tmpdir("scene_corpus"));
    snprintf(c, sizeof c, "%s/t2again", test_tmpdir("scene_corpus"));
    MlCorpusSummary s1, s2, s3;
    CHECK(generate(a, ML_SPLIT_TEST, 150, 42, 1, &s1) == ML_OK);
    CHECK(generate(b, ML_SPLIT_TEST, 150, 42, 2, &s2) == ML_OK);
    CHECK(generate(c, ML_SPLIT_TEST, 150, 42, 2, &s3) == ML_OK);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        CHECK(same_file(a, b, files[i]));
        CHECK(same_file(b, c, files[i]));
    }
    for (int i = 0; i < 150; i++) {
        char name[64];
        snprintf(name, sizeof name, "images/test_%06d.png", i);
        CHECK(same_file(a, b, name));
    }
}

/* Line counts, ids, balance and the manifest agree with each other. */
static void test_files_and_manifest(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/counts", test_tmpdir("scene_corpus"));
    MlCorpusSummary sum;
    CHECK(generate(dir, ML_SPLIT_TEST, 200, 7, 0, &sum) == ML_OK);
    size_t len;
    char *manifest = slurp(dir, "manifest.json", &len);
    cJSON *m = manifest ? cJSON_Parse(manifest) : NULL;
    CHECK(m != NULL);
    if (!m) return;
    CHECK(cJSON_GetObjectItem(m, "n_scenes")->valueint == 200);
    CHECK(!strcmp(cJSON_GetObjectItem(m, "split")->valuestring, "test"));
    const cJSON *probes = cJSON_GetObjectItem(m, "probes");
    const char *names[] = {"pope_random", "pope_popular", "pope_adversarial", "attribute", "count", "relation"};
    for (int f = 0; f < 6; f++) {
        char rel[64];
        snprintf(rel, sizeof rel, "probes/%s.jsonl", names[f]);
        char *text = slurp(dir, rel, &len);
        CHECK(text != NULL);
        if (!text) continue;
        long lines = 0, yes = 0, expect_id = 1;
        for (char *line = text; *line;) {
            char *end = strchr(line, '\n');
            CHECK(end != NULL);
            if (!end) break;
            *end = 0;
            cJSON *j = cJSON_Parse(line);
            CHECK(j != NULL);
            if (j) {
                CHECK(cJSON_GetObjectItem(j, "question_id")->valueint == expect_id++);
                yes += !strcmp(cJSON_GetObjectItem(j, "label")->valuestring, "yes");
                /* the image exists */
                char img[1024];
                snprintf(img, sizeof img, "%s/images/%s", dir, cJSON_GetObjectItem(j, "image")->valuestring);
                CHECK(ml_file_exists(img));
                cJSON_Delete(j);
            }
            lines++;
            line = end + 1;
        }
        const cJSON *counts = cJSON_GetObjectItem(cJSON_GetObjectItem(probes, names[f]), "counts");
        CHECK(cJSON_GetObjectItem(counts, "total")->valueint == lines);
        CHECK(cJSON_GetObjectItem(counts, "yes")->valueint == yes);
        CHECK(2 * yes == lines && lines > 0);
        if (f < 3) CHECK(lines == 6 * cJSON_GetObjectItem(m, "pope_eligible_scenes")->valueint);
        free(text);
    }
    char *scenes = slurp(dir, "scenes.jsonl", &len), *describe = slurp(dir, "probes/describe.jsonl", &len);
    long n_scenes = 0, n_describe = 0;
    for (char *p = scenes; p && *p; p++) n_scenes += *p == '\n';
    for (char *p = describe; p && *p; p++) n_describe += *p == '\n';
    CHECK(n_scenes == 200 && n_describe == 200);
    free(scenes);
    free(describe);
    cJSON_Delete(m);
    free(manifest);
}

/* Train and test share no image: same seed, same indices, different pictures. */
static void test_splits_share_no_image(void) {
    char tr[600], te[600];
    snprintf(tr, sizeof tr, "%s/train", test_tmpdir("scene_corpus"));
    snprintf(te, sizeof te, "%s/test", test_tmpdir("scene_corpus"));
    MlCorpusSummary a, b;
    CHECK(generate(tr, ML_SPLIT_TRAIN, 120, 3, 0, &a) == ML_OK);
    CHECK(generate(te, ML_SPLIT_TEST, 120, 3, 0, &b) == ML_OK);
    CHECK(a.captions == 120 * 2 && a.qa == 120 * 8);
    /* every test image's bytes differ from every train image's */
    static char *train_png[120];
    static size_t train_len[120];
    for (int i = 0; i < 120; i++) {
        char name[64];
        snprintf(name, sizeof name, "images/train_%06d.png", i);
        train_png[i] = slurp(tr, name, &train_len[i]);
    }
    int shared = 0;
    for (int i = 0; i < 120; i++) {
        char name[64];
        size_t len;
        snprintf(name, sizeof name, "images/test_%06d.png", i);
        char *png = slurp(te, name, &len);
        for (int j = 0; j < 120 && png; j++) shared += train_len[j] == len && !memcmp(train_png[j], png, len);
        free(png);
    }
    CHECK(shared == 0);
    for (int i = 0; i < 120; i++) free(train_png[i]);
    /* the train folder has text for training, not probes */
    char path[700];
    snprintf(path, sizeof path, "%s/captions.jsonl", tr);
    CHECK(ml_file_exists(path));
    snprintf(path, sizeof path, "%s/probes", tr);
    CHECK(!ml_file_exists(path));
}

static void test_bad_options(void) {
    MlWorld w;
    ml_world_default(&w);
    MlCorpusSummary sum;
    MlError err = {0};
    MlCorpusOptions o = {.out_dir = "build/tmp/never", .n = 0, .seed = 1, .split = ML_SPLIT_TEST};
    CHECK(ml_corpus_generate(&w, &o, &sum, &err) == ML_ERR_ARG);
    o.n = 5;
    o.out_dir = "/proc/no/such/place";
    CHECK(ml_corpus_generate(&w, &o, &sum, &err) == ML_ERR_IO);
    CHECK(strstr(err.msg, "/proc/no") != NULL);
}

int main(void) {
    RUN(test_thread_count_does_not_change_bytes);
    RUN(test_files_and_manifest);
    RUN(test_splits_share_no_image);
    RUN(test_bad_options);
    return test_summary("test_scene_corpus");
}
