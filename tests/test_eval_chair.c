/* test_eval_chair.c: tokenizer, plural folding, the CHAIR rules and quirks,
   the published CHAIR-metric-standalone example, and the OPERA caption logs. */
#include "test.h"

#include "eval/chair.h"
#include "eval/words.h"

/* The example of Maxlinn/CHAIR-metric-standalone (README + outputs.json,
   commit 471eb75): two LLaVA captions of COCO images 1290 and 6871.  Its
   outputs.json lists NLTK's 94 and 66 tokens, the object mentions below, and
   CHAIRs 0, CHAIRi 0, Recall 0.8571428571428571. */
static const char *cap_1290 =
    "The image features a young child sitting in a high chair, reaching for a birthday cake placed on a dining table. "
    "The cake has a single pink candle on it, indicating that it is a birthday celebration. \n\nAnother person, "
    "possibly a woman, is present in the scene, standing behind the child and holding out their hand towards the "
    "cake. A cup is also visible on the table, close to the cake. The scene captures a joyful moment of a child's "
    "birthday celebration.";
static const char *cap_6871 =
    "The image features a large white polar bear swimming in a blue pool of water. The bear is in the process of "
    "diving underwater, with its head submerged and its body partially visible. The bear's paw is also visible, as it "
    "swims through the water. The scene captures the bear's natural behavior and movement in its aquatic environment.";
static const char *nodes_1290[] = {"person", "chair", "cake", "dining table", "cake", "person", "person",
                                   "person", "cake",  "cup",  "dining table", "cake", "person"};

static MlChairVocab vocab;
static int vocab_ok;

static void load_vocab(void) {
    MlError err = {0};
    vocab_ok = ml_chair_vocab_load(test_repo_path("data/chair/synonyms.txt"), &vocab, &err) == 0;
    if (!vocab_ok) { /* the data ships with the repository: its absence is a failure, not a skip */
        fprintf(stderr, "  %s\n", err.msg);
        test_failed++;
    }
}

static void test_tokenizer(void) {
    MlWords w = {0};
    const char *want[] = {"a", "dog", "'s", "bowl", ",", "1,000", "cats", "(", "big", ")", "can", "not", "do", "n't",
                          "u.s.", "black-and-white", "...", "end", "."};
    CHECK(ml_words_tokenize("A dog's bowl, 1,000 cats (big) cannot DON'T u.s. black-and-white ... end.", 1, &w) == 0);
    CHECK(w.count == sizeof want / sizeof want[0]);
    for (size_t i = 0; i < w.count && i < sizeof want / sizeof want[0]; i++) CHECK_STR(w.word[i], want[i]);
    CHECK(ml_words_tokenize("Dogs: \"yes\"; ok?", 0, &w) == 0);
    const char *want2[] = {"Dogs", ":", "\"", "yes", "\"", ";", "ok", "?"};
    CHECK(w.count == 8);
    for (size_t i = 0; i < w.count && i < 8; i++) CHECK_STR(w.word[i], want2[i]);
    CHECK(ml_words_tokenize("", 1, &w) == 0 && w.count == 0);
    /* NLTK's token counts for the example captions (outputs.json "words") */
    CHECK(ml_words_tokenize(cap_1290, 1, &w) == 0 && w.count == 94);
    CHECK(ml_words_tokenize(cap_6871, 1, &w) == 0 && w.count == 66);
    ml_words_free(&w);
}

static void test_singular(void) {
    const char *pairs[][2] = {
        {"cars", "car"},         {"buses", "bus"},         {"bus", "bus"},           {"minibuses", "minibus"},
        {"glasses", "glass"},    {"glass", "glass"},       {"benches", "bench"},     {"boxes", "box"},
        {"toothbrushes", "toothbrush"}, {"knives", "knife"}, {"calves", "calf"},     {"ladies", "lady"},
        {"ties", "tie"},         {"skies", "sky"},         {"skis", "ski"},          {"taxis", "taxi"},
        {"tennis", "tennis"},    {"scissors", "scissors"}, {"women", "woman"},       {"policemen", "policeman"},
        {"children", "child"},   {"mice", "mouse"},        {"people", "people"},     {"canoes", "canoe"},
        {"tomatoes", "tomato"},  {"horses", "horse"},      {"suitcases", "suitcase"}, {"stoves", "stove"},
        {"sizes", "size"},       {"headaches", "headache"}, {"series", "series"},    {"analysis", "analysis"},
        {"'s", "'s"},            {"is", "is"},             {"cookies", "cookie"},    {"specimen", "specimen"},
        {"oxen", "ox"},          {"sheep", "sheep"},       {"a", "a"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        ml_words_singular(pairs[i][0], out, sizeof out);
        CHECK_STR(out, pairs[i][1]);
    }
    ml_words_singular("elephants", out, 4); /* truncated, never overflows */
    CHECK_STR(out, "ele");
}

static void test_vocab(void) {
    if (!vocab_ok) CHECK(0);
    if (!vocab_ok) return;
    CHECK(vocab.n_names == 80);
    CHECK_STR(vocab.names[0], "person");
    CHECK_STR(vocab.names[79], "toothbrush");
    const size_t *k = ml_strmap_get(&vocab.synonym, "hydrant");
    CHECK(k && !strcmp(vocab.names[*k], "fire hydrant"));
    /* the ", " split keeps the leading space of " motor bike" and " cheesecake" */
    CHECK(ml_strmap_get(&vocab.synonym, " motor bike") && !ml_strmap_get(&vocab.synonym, "motor bike"));
    CHECK(ml_strmap_get(&vocab.synonym, " cheesecake") && !ml_strmap_get(&vocab.synonym, "cheesecake"));
    MlError err = {0};
    MlChairVocab v;
    CHECK(ml_chair_vocab_parse("\n \n", 3, "empty.txt", &v, &err) == ML_ERR_FORMAT && strstr(err.msg, "empty.txt"));
    int rc = ml_chair_vocab_parse("cat, kitten\r\ndog, puppy, \n", 26, "small.txt", &v, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        /* "dog, puppy, ".strip().split(", ") == ["dog", "puppy,"] */
        k = ml_strmap_get(&v.synonym, "puppy,");
        CHECK(v.n_names == 2 && k && !strcmp(v.names[*k], "dog") && !ml_strmap_get(&v.synonym, "puppy"));
        k = ml_strmap_get(&v.synonym, "kitten");
        CHECK(k && !strcmp(v.names[*k], "cat")); /* the \r went with strip() */
        ml_chair_vocab_free(&v);
    }
}

/* Mentions of one caption as "word>node" joined by spaces. */
static void mentions_of(const char *caption, char *buf, size_t cap, size_t *n_tokens) {
    MlError err = {0};
    MlChairMentions m;
    buf[0] = 0;
    if (ml_chair_mentions(&vocab, caption, &m, &err)) return;
    size_t used = 0;
    for (size_t i = 0; i < m.count; i++)
        used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s%s>%s", i ? " " : "", m.word[i], m.node[i]);
    if (n_tokens) *n_tokens = m.n_tokens;
    ml_chair_mentions_free(&m);
}

static void test_rules_and_quirks(void) {
    if (!vocab_ok) return;
    char got[512];
    size_t n = 0;
    const char *cases[][2] = {
        {"A man rides a motor cycle.", "man>person motor cycle>motorcycle"},
        {"A man rides a motor bike.", "man>person"},                 /* " motor bike" never matches */
        {"A cheesecake and a cake.", "cake>cake"},                   /* " cheesecake" never matches */
        {"A toilet seat.", "toilet>toilet"},
        {"The seat of the toilet.", "toilet>toilet"},                /* seat dropped when toilet is there */
        {"A seat and a sink.", "seat>chair sink>sink"},
        {"A baby elephant and an adult zebra.", "elephant>elephant zebra>zebra"}, /* not person */
        {"A baby in a crib.", "baby>person"},
        {"A passenger train.", "train>train"},
        {"The pitcher at home plate.", "pitcher>person"},            /* home plate hides plate */
        {"Two wine glasses.", "wine glass>wine glass"},
        {"A man in a bow tie.", "man>person tie>tie"},
        {"A stove top oven.", "stove>oven oven>oven"},               /* the three-word phrase never merges */
        {"Hot dogs and teddy bears.", "hot dog>hot dog teddy bear>teddy bear"},
        {"Trains on the train tracks.", "train>train"},              /* train track merges, hides train */
        {"Knives, forks and buses.", "knife>knife fork>fork bus>bus"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mentions_of(cases[i][0], got, sizeof got, NULL);
        if (strcmp(got, cases[i][1])) {
            fprintf(stderr, "  \"%s\": got \"%s\", want \"%s\"\n", cases[i][0], got, cases[i][1]);
            CHECK(0);
        }
    }
    mentions_of("A stop sign near a fire hydrant.", got, sizeof got, &n);
    CHECK_STR(got, "stop sign>stop sign fire hydrant>fire hydrant");
    CHECK(n == 6); /* a, stop sign, near, a, fire hydrant, . */
}

static void test_standalone_example(void) {
    if (!vocab_ok) return;
    MlError err = {0};
    MlChairTruth gt;
    CHECK_OK(ml_chair_truth_load(test_repo_path("data/chair/gt_objects_subset.json"), &gt, &err), &err);
    if (err.code) return;
    CHECK(gt.count == 2956); /* SOURCES.md */
    MlChairMentions m;
    CHECK_OK(ml_chair_mentions(&vocab, cap_1290, &m, &err), &err);
    CHECK(m.count == sizeof nodes_1290 / sizeof nodes_1290[0] && m.n_tokens == 94);
    for (size_t i = 0; i < m.count && i < 13; i++) CHECK_STR(m.node[i], nodes_1290[i]);
    MlChairScore s = {0};
    const size_t *k = ml_strmap_get(&gt.ids, "1290");
    CHECK(k != NULL);
    if (k) ml_chair_add(&s, &m, gt.objects[*k]);
    ml_chair_mentions_free(&m);
    CHECK_OK(ml_chair_mentions(&vocab, cap_6871, &m, &err), &err);
    CHECK(m.count == 4);
    for (size_t i = 0; i < m.count; i++) CHECK_STR(m.node[i], "bear");
    k = ml_strmap_get(&gt.ids, "6871");
    CHECK(k != NULL);
    if (k) ml_chair_add(&s, &m, gt.objects[*k]);
    ml_chair_mentions_free(&m);
    ml_chair_finish(&s);
    CHECK(s.chair_s == 0.0 && s.chair_i == 0.0);
    CHECK(s.recall == 0.8571428571428571);
    CHECK(s.captions == 2 && s.mentions == 17 && s.gt_objects == 7 && s.recalled_objects == 6);
    ml_chair_truth_free(&gt);
}

/* OPERA's logs: every file scores; the paper's claim that OPERA lowers
   CHAIR_s relative to greedy decoding holds for all four models. */
static void test_opera_logs(void) {
    if (!vocab_ok) return;
    MlError err = {0};
    MlChairTruth gt;
    CHECK_OK(ml_chair_truth_load(test_repo_path("data/chair/gt_objects_subset.json"), &gt, &err), &err);
    if (err.code) return;
    const char *models[] = {"instructblip", "llava-1.5", "minigpt4", "shikra"};
    for (int i = 0; i < 4; i++) {
        MlChairScore greedy, ours;
        char rel[256];
        snprintf(rel, sizeof rel, "tests/data/OPERA/log/chair_eval_results/%s/greedy.jsonl", models[i]);
        CHECK_OK(ml_chair_score_file(&vocab, &gt, test_repo_path(rel), "image_id", "caption", &greedy, &err), &err);
        snprintf(rel, sizeof rel, "tests/data/OPERA/log/chair_eval_results/%s/ours.jsonl", models[i]);
        CHECK_OK(ml_chair_score_file(&vocab, &gt, test_repo_path(rel), "image_id", "caption", &ours, &err), &err);
        CHECK(greedy.captions == 500 && ours.captions == 500);
        CHECK(ours.chair_s < greedy.chair_s);
        CHECK(greedy.chair_i > 0.05 && greedy.chair_i < 0.30 && greedy.recall > 0.5);
    }
    ml_chair_truth_free(&gt);
}

static void test_bad_captions(void) {
    if (!vocab_ok) return;
    MlError err = {0};
    MlChairTruth gt;
    char p[700];
    snprintf(p, sizeof p, "%s/gt.json", test_tmpdir("test_eval_chair"));
    FILE *f = fopen(p, "w");
    if (f) {
        fputs("{\"1\": [\"dog\", \"dog\", \"person\"], \"2\": []}", f);
        fclose(f);
    }
    CHECK_OK(ml_chair_truth_load(p, &gt, &err), &err);
    if (err.code) return;
    CHECK(gt.objects[0][2] == NULL); /* duplicates folded: a set */
    const char *cases[][2] = {
        {"{\"image_id\": 1, \"caption\": \"A dog.\"}\n{\"image_id\": 1, \"caption\": \"A cat.\"}\n",
         "c.jsonl:2: image_id 1 captioned twice (first on line 1)"},
        {"{\"image_id\": 3, \"caption\": \"A dog.\"}\n", "c.jsonl:1: image_id 3 has no ground truth in"},
        {"{\"image_id\": 1}\n", "c.jsonl:1: no \"caption\""},
        {"{\"image_id\": 1, \"caption\": \"x\"\n", "c.jsonl:1: malformed JSON"},
    };
    char cpath[700];
    snprintf(cpath, sizeof cpath, "%s/c.jsonl", test_tmpdir("test_eval_chair"));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        f = fopen(cpath, "w");
        if (!f) continue;
        fputs(cases[i][0], f);
        fclose(f);
        MlChairScore s;
        CHECK(ml_chair_score_file(&vocab, &gt, cpath, "image_id", "caption", &s, &err) != 0);
        if (!strstr(err.msg, cases[i][1])) {
            fprintf(stderr, "  \"%s\" lacks \"%s\"\n", err.msg, cases[i][1]);
            CHECK(0);
        }
    }
    /* A cat in image 1 (dog, person) and a person in image 2 (nothing):
       both captions hallucinate; 1 of 3 mentions is right; recall 1/2. */
    f = fopen(cpath, "w");
    if (f) {
        fputs("[{\"image_id\": \"1\", \"caption\": \"A cat and a dog.\"}, {\"image_id\": 2, \"caption\": \"A man.\"}]", f);
        fclose(f);
    }
    MlChairScore s;
    CHECK_OK(ml_chair_score_file(&vocab, &gt, cpath, "image_id", "caption", &s, &err), &err);
    CHECK(s.chair_s == 1.0 && s.mentions == 3 && s.hallucinated_mentions == 2 && s.recall == 0.5);
    CHECK(s.avg_len == 4.5); /* 6 and 3 tokens */
    ml_chair_truth_free(&gt);
}

int main(void) {
    load_vocab();
    RUN(test_tokenizer);
    RUN(test_singular);
    RUN(test_vocab);
    RUN(test_rules_and_quirks);
    RUN(test_standalone_example);
    RUN(test_opera_logs);
    RUN(test_bad_captions);
    if (vocab_ok) ml_chair_vocab_free(&vocab);
    return test_summary("test_eval_chair");
}
