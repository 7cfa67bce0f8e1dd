/* test_eval_coco.c: CHAIR ground truth from COCO-format instances and captions
   files, checked against sets derived by hand from chair.py's rules
   (LisaAnne/Hallucination utils/chair.py: get_annotations_from_segments maps
   each category name through inverse_synonym_dict; get_annotations_from_captions
   adds caption_to_words' node words of every ground-truth caption; the two
   are joined as one set per image id), and the CHAIR figures they give. */
#include "test.h"

#include "core/file.h"
#include "eval/coco.h"

/* Category ids as in COCO 2014, plus a made-up 90 whose name is a synonym. */
static const char *instances =
    "{\"info\": {\"year\": 2014}, \"images\": [{\"id\": 100}, {\"id\": 200}, {\"id\": 300}, {\"id\": 400}, {\"id\": 500}],\n"
    " \"licenses\": [],\n"
    " \"annotations\": [\n"
    "  {\"image_id\": 100, \"category_id\": 1, \"segmentation\": [[1.0, 2.0, 3.0, 4.0]], \"id\": 1},\n"
    "  {\"image_id\": 100, \"category_id\": 2, \"id\": 2}, {\"image_id\": 100, \"category_id\": 2, \"id\": 3},\n"
    "  {\"image_id\": 200, \"category_id\": 70, \"id\": 4},\n"
    "  {\"image_id\": 500, \"category_id\": 3, \"id\": 5}, {\"image_id\": 500, \"category_id\": 90, \"id\": 6},\n"
    "  {\"image_id\": 600, \"category_id\": 58, \"id\": 7}],\n"
    " \"categories\": [{\"id\": 1, \"name\": \"person\"}, {\"id\": 2, \"name\": \"bicycle\"}, {\"id\": 3, \"name\": \"car\"},\n"
    "  {\"id\": 4, \"name\": \"motorcycle\"}, {\"id\": 58, \"name\": \"hot dog\"}, {\"id\": 62, \"name\": \"chair\"},\n"
    "  {\"id\": 67, \"name\": \"dining table\"}, {\"id\": 70, \"name\": \"toilet\"}, {\"id\": 90, \"name\": \"sofa\"}]}\n";

static const char *captions =
    "{\"images\": [{\"id\": 100}, {\"id\": 300}],\n"
    " \"annotations\": [\n"
    "  {\"image_id\": 100, \"id\": 1, \"caption\": \"A man rides two bikes past a dining table.\"},\n"
    "  {\"image_id\": 100, \"id\": 2, \"caption\": \"Two hot dogs on a plate near a motorbike.\"},\n"
    "  {\"image_id\": 200, \"id\": 3, \"caption\": \"The seat of the toilet is up.\"},\n"
    "  {\"image_id\": 200, \"id\": 4, \"caption\": \"A toilet seat next to a chair.\"},\n"
    "  {\"image_id\": 300, \"id\": 5, \"caption\": \"A baby dog on the seat of a sofa.\"}]}\n";

/* By hand, per image:
   100  segments: person (1), bicycle (2, twice: a set keeps one)
        "a man ride two bike past a dining table ." -> man=person, bike=bicycle,
          table=dining table ("dining table" is not a double word; "dining" is no object)
        "two hot dog on a plate near a motorbike ." -> "hot dog" merges; motorbike=motorcycle
        -> {person, bicycle, dining table, hot dog, motorcycle}
   200  segments: toilet
        "the seat of the toilet is up ." -> toilet and seat both present: seat dropped -> toilet
        "a toilet seat next to a chair ." -> "toilet seat" merges to toilet; chair
        -> {toilet, chair}
   300  no segments; "a baby dog on the seat of a sofa ." -> "baby dog" -> dog (not person);
        seat=chair (no toilet here); sofa=couch -> {dog, chair, couch}
   400  listed in images only -> {}
   500  segments: car, and category "sofa", a synonym, mapped to couch -> {car, couch}
   600  an annotation whose image is not listed -> {hot dog} */
static const char *const want_100[] = {"person", "bicycle", "dining table", "hot dog", "motorcycle", NULL};
static const char *const want_200[] = {"toilet", "chair", NULL};
static const char *const want_300[] = {"dog", "chair", "couch", NULL};
static const char *const want_400[] = {NULL};
static const char *const want_500[] = {"car", "couch", NULL};
static const char *const want_600[] = {"hot dog", NULL};

static MlChairVocab vocab;
static int vocab_ok;

static int same_set(const MlChairTruth *gt, const char *id, const char *const *want) {
    const size_t *k = ml_strmap_get(&gt->ids, id);
    if (!k) return 0;
    size_t n_want = 0, n_have = 0;
    while (want[n_want]) n_want++;
    for (char **o = gt->objects[*k]; *o; o++) {
        int found = 0;
        for (size_t j = 0; j < n_want; j++) found |= !strcmp(*o, want[j]);
        if (!found) {
            fprintf(stderr, "  image %s: unexpected %s\n", id, *o);
            return 0;
        }
        n_have++;
    }
    return n_have == n_want;
}

static int build(const char *inst, const char *caps, MlChairTruth *gt, MlError *err) {
    MlCocoBuilder b;
    ml_coco_begin(&b, &vocab);
    int rc = ml_coco_add_instances(&b, inst, strlen(inst), "instances.json", NULL, err);
    if (!rc) rc = ml_coco_add_captions(&b, caps, strlen(caps), "captions.json", NULL, err);
    if (rc) {
        ml_coco_abandon(&b);
        return rc;
    }
    return ml_coco_finish(&b, "annotations", gt, err);
}

static void check_truth(const MlChairTruth *gt) {
    CHECK(gt->count == 6);
    CHECK(same_set(gt, "100", want_100));
    CHECK(same_set(gt, "200", want_200));
    CHECK(same_set(gt, "300", want_300));
    CHECK(same_set(gt, "400", want_400));
    CHECK(same_set(gt, "500", want_500));
    CHECK(same_set(gt, "600", want_600));
}

static void test_truth_by_hand(void) {
    if (!vocab_ok) return;
    MlError err = {0};
    MlChairTruth gt;
    CHECK(build(instances, captions, &gt, &err) == 0);
    if (err.msg[0]) fprintf(stderr, "  %s\n", err.msg);
    check_truth(&gt);
    ml_chair_truth_free(&gt);
}

/* Generated captions for 100..400; by hand against the sets above:
   100 "a person riding a bicycle next to a car ."  10 tokens; person, bicycle, car (car hallucinated)
   200 "a toilet and a chair in a bathroom ."         9 tokens; toilet, chair
   300 "a puppy on a couch ."                          6 tokens; dog, couch
   400 "an empty room with a tv ."                     7 tokens; tv hallucinated (empty truth)
   CHAIRs 2/4, CHAIRi 2/8, Recall (2 + 2 + 2 + 0) / (5 + 2 + 3 + 0) = 6/10, Len 32/4. */
static const char *generated =
    "{\"image_id\": 100, \"caption\": \"A person riding a bicycle next to a car.\"}\n"
    "{\"image_id\": 200, \"caption\": \"A toilet and a chair in a bathroom.\"}\n"
    "{\"image_id\": 300, \"caption\": \"A puppy on a couch.\"}\n"
    "{\"image_id\": 400, \"caption\": \"An empty room with a tv.\"}\n";

/* The same truth written in the derived format by hand. */
static const char *derived =
    "{\"100\": [\"person\", \"bicycle\", \"dining table\", \"hot dog\", \"motorcycle\"], \"200\": [\"toilet\", \"chair\"],"
    " \"300\": [\"dog\", \"chair\", \"couch\"], \"400\": [], \"500\": [\"car\", \"couch\"], \"600\": [\"hot dog\"]}";

static void check_score(const MlChairScore *s) {
    CHECK(s->captions == 4 && s->hallucinated_captions == 2);
    CHECK(s->mentions == 8 && s->hallucinated_mentions == 2);
    CHECK(s->gt_objects == 10 && s->recalled_objects == 6);
    CHECK(s->tokens == 32);
    CHECK(s->chair_s == 0.5 && s->chair_i == 0.25 && s->recall == 6.0 / 10.0 && s->avg_len == 8.0);
}

static void test_scores_match_derived(void) {
    if (!vocab_ok) return;
    MlError err = {0};
    MlChairTruth coco, gt;
    MlChairScore a, b;
    CHECK(build(instances, captions, &coco, &err) == 0);
    CHECK(ml_chair_truth_parse(derived, strlen(derived), "derived.json", &gt, &err) == 0);
    CHECK(ml_chair_score_text(&vocab, &coco, generated, strlen(generated), "gen.jsonl", "image_id", "caption", &a,
                              &err) == 0);
    CHECK(ml_chair_score_text(&vocab, &gt, generated, strlen(generated), "gen.jsonl", "image_id", "caption", &b, &err) ==
          0);
    check_score(&a);
    check_score(&b);
    ml_chair_truth_free(&coco);
    ml_chair_truth_free(&gt);
}

static int write_text(const char *dir, const char *name, const char *text) {
    char path[1024];
    MlError err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return ml_file_write(path, text, strlen(text), &err);
}

static void test_directory(void) {
    if (!vocab_ok) return;
    const char *dir = test_tmpdir("test_eval_coco/val");
    MlError err = {0};
    MlChairTruth gt;
    static const char *const names[] = {"instances_val2014.json", "captions_val2014.json", "instances_train2014.json",
                                        "captions_train2014.json"};
    for (int i = 0; i < 4; i++) { /* a previous run's files */
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    CHECK(write_text(dir, "instances_val2014.json", instances) == 0);
    CHECK(ml_coco_truth_load(&vocab, dir, 0, &gt, &err) != 0); /* captions missing */
    CHECK(strstr(err.msg, "captions_val2014.json") != NULL);
    CHECK(write_text(dir, "captions_val2014.json", captions) == 0);
    CHECK(ml_coco_truth_load(&vocab, dir, 0, &gt, &err) == 0);
    check_truth(&gt);
    ml_chair_truth_free(&gt);
    /* the train pair joins in when both files are there; one alone is an error */
    CHECK(write_text(dir, "instances_train2014.json",
                "{\"annotations\": [{\"image_id\": 700, \"category_id\": 1}, {\"image_id\": 100, \"category_id\": 2}],"
                " \"categories\": [{\"id\": 1, \"name\": \"person\"}, {\"id\": 2, \"name\": \"cat\"}]}") == 0);
    memset(&err, 0, sizeof err);
    CHECK(ml_coco_truth_load(&vocab, dir, 0, &gt, &err) != 0);
    CHECK(strstr(err.msg, "captions_train2014.json") != NULL);
    CHECK(write_text(dir, "captions_train2014.json",
                "{\"annotations\": [{\"image_id\": 700, \"caption\": \"A kitten.\"}]}") == 0);
    CHECK(ml_coco_truth_load(&vocab, dir, 0, &gt, &err) == 0);
    static const char *const want_700[] = {"person", "cat", NULL};
    static const char *const want_100_train[] = {"person", "bicycle", "dining table", "hot dog", "motorcycle", "cat",
                                                 NULL};
    CHECK(gt.count == 7);
    CHECK(same_set(&gt, "700", want_700));
    CHECK(same_set(&gt, "100", want_100_train));
    CHECK(same_set(&gt, "200", want_200));
    ml_chair_truth_free(&gt);
}

/* Each malformed file gives an error naming it, never a crash. */
static void test_bad_input(void) {
    if (!vocab_ok) return;
    static const char *const bad_instances[] = {
        "",
        "[]",
        "{",
        "{\"annotations\": []",
        "{\"annotations\": [], \"categories\": []} extra",
        "{\"categories\": []}",
        "{\"annotations\": []}",
        "{\"annotations\": {}, \"categories\": []}",
        "{\"annotations\": [1], \"categories\": []}",
        "{\"annotations\": [{\"image_id\": \"1\", \"category_id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"cat\"}]}",
        "{\"annotations\": [{\"image_id\": 1.5, \"category_id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"cat\"}]}",
        "{\"annotations\": [{\"image_id\": 1e300, \"category_id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"cat\"}]}",
        "{\"annotations\": [{\"image_id\": 1}], \"categories\": [{\"id\": 1, \"name\": \"cat\"}]}",
        "{\"annotations\": [{\"image_id\": 1, \"category_id\": 2}], \"categories\": [{\"id\": 1, \"name\": \"cat\"}]}",
        "{\"annotations\": [], \"categories\": [{\"id\": 1, \"name\": \"spaceship\"}]}",
        "{\"annotations\": [], \"categories\": [{\"id\": 1}]}",
        "{\"annotations\": [], \"categories\": [{\"id\": 1, \"name\": \"cat\"}, {\"id\": 1, \"name\": \"dog\"}]}",
        "{\"annotations\": [], \"annotations\": [], \"categories\": []}",
        "{\"annotations\": [{\"image_id\": 1, \"category_id\": 1},], \"categories\": []}",
        "{\"annotations\" [], \"categories\": []}",
        "{annotations: [], \"categories\": []}",
        "{\"images\": [{\"id\": null}], \"annotations\": [], \"categories\": []}",
        "{\"annotations\": [], \"categories\": []}", /* no images at all */
    };
    for (size_t i = 0; i < sizeof bad_instances / sizeof bad_instances[0]; i++) {
        MlError err = {0};
        MlChairTruth gt;
        int rc = build(bad_instances[i], "{\"annotations\": []}", &gt, &err);
        CHECK(rc != 0);
        if (!rc) {
            fprintf(stderr, "  accepted: %s\n", bad_instances[i]);
            ml_chair_truth_free(&gt);
        }
        CHECK(strstr(err.msg, "instances.json") != NULL || strstr(err.msg, "annotations: no images") != NULL);
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    static const char *const bad_captions[] = {
        "{\"annotations\": [{\"image_id\": 1}]}",
        "{\"annotations\": [{\"image_id\": 1, \"caption\": 7}]}",
        "{\"images\": []}",
        "{\"annotations\": [{\"image_id\": 1, \"caption\": \"a\\ud800\"}",
    };
    for (size_t i = 0; i < sizeof bad_captions / sizeof bad_captions[0]; i++) {
        MlError err = {0};
        MlChairTruth gt;
        CHECK(build(instances, bad_captions[i], &gt, &err) != 0);
        CHECK(strstr(err.msg, "captions.json") != NULL);
    }
}

int main(void) {
    MlError err = {0};
    vocab_ok = ml_chair_vocab_load(test_repo_path("data/chair/synonyms.txt"), &vocab, &err) == 0;
    if (!vocab_ok) fprintf(stderr, "  %s\n", err.msg);
    CHECK(vocab_ok);
    RUN(test_truth_by_hand);
    RUN(test_scores_match_derived);
    RUN(test_directory);
    RUN(test_bad_input);
    ml_chair_vocab_free(&vocab);
    return test_summary("test_eval_coco");
}
