/* test_eval_amber.c: AMBER's rounding and F1, its starting counters
   (data/metrics.txt), the published LLaVA-1.5 discriminative row rebuilt from
   the real annotations, hand-worked generative cases, and bad responses. */
#include "test.h"

#include "core/file.h"
#include "eval/amber.h"

static MlAmber amber;
static int amber_ok;

static void load(void) {
    MlError err = {0};
    char ann[1024], rel[1024], safe[1024];
    snprintf(ann, sizeof ann, "%s", test_repo_path("data/amber/annotations.json"));
    snprintf(rel, sizeof rel, "%s", test_repo_path("data/amber/relation.json"));
    snprintf(safe, sizeof safe, "%s", test_repo_path("data/amber/safe_words.txt"));
    amber_ok = ml_amber_load(&amber, ann, rel, safe, &err) == 0;
    if (!amber_ok) { /* the data ships with the repository: its absence is a failure, not a skip */
        fprintf(stderr, "  %s\n", err.msg);
        test_failed++;
    }
}

static const char *tmp_file(const char *name, const char *text) {
    static char path[4][700];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", test_tmpdir("test_eval_amber"), name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* Expected values printed by Python 3.11's round(x, 1). */
static void test_round_like_python(void) {
    double x[] = {0.25, 0.35, 0.15, 2.25, 2.35, 0.05, 99.95, 83.45, 1.45, -0.25};
    double want[] = {0.2, 0.3, 0.1, 2.2, 2.4, 0.1, 100.0, 83.5, 1.4, -0.2};
    for (int i = 0; i < 10; i++) CHECK(ml_amber_round1(x[i]) == want[i]);
}

/* The published rows (README result.jpg, in tests/data/expected_metrics.json):
   F1 from the rounded P and R, and AMBER = (100 - CHAIR + F1) / 2. */
static void test_published_formulas(void) {
    CHECK(ml_amber_f1(93.2, 62.4, 0.0001) == 74.7);  /* LLaVA-1.5 */
    CHECK(ml_amber_f1(84.9, 90.1, 0.0001) == 87.4);  /* GPT-4V */
    CHECK(ml_amber_round1((100 - 7.8 + 74.7) / 2) == 83.5);
    CHECK(ml_amber_round1((100 - 4.6 + 87.4) / 2) == 91.4);
}

/* metrics.txt holds the reference's starting counters: every *_num is
   0.001 and every *_score 0, which the scorer hard-codes. */
static void test_metrics_txt(void) {
    char *text = NULL;
    size_t len = 0;
    MlError err = {0};
    CHECK_OK(ml_file_read(test_repo_path("data/amber/metrics.txt"), &text, &len, &err), &err);
    if (!text) return;
    int nums = 0, scores = 0, other = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        double v = strtod(eq + 1, NULL);
        if (strstr(line, "_num") && v == 0.001) nums++;
        else if (strstr(line, "_score") && v == 0) scores++;
        else other++;
    }
    CHECK(nums == 22 && scores == 22 && other == 0);
    free(text);
}

/* The published LLaVA-1.5 discriminative figures (Acc 72.0, P 93.2, R 62.4,
   F1 74.7) must be reachable: find No-answer counts a (on "no" queries) and
   b (on "yes" queries) that give them by AMBER's definitions, answer the real
   14,216 queries that way, and score the file. */
static void test_published_discriminative_row(void) {
    if (!amber_ok) CHECK(0);
    if (!amber_ok) return;
    size_t n_no = 0, n_yes = 0;
    for (size_t i = 0; i < amber.count; i++) {
        if (amber.entries[i].kind == ML_AMBER_GENERATIVE) continue;
        if (amber.entries[i].truth_yes) n_yes++;
        else n_no++;
    }
    CHECK(n_no == 9427 && n_yes == 4789); /* counts of BENCHMARKS.md's types */
    long a_pick = -1, b_pick = -1;
    for (long a = 0; a <= (long)n_no && a_pick < 0; a++) {
        double r = ml_amber_round1(a / (n_no + 0.001) * 100);
        if (r != 62.4) continue;
        for (long b = 0; b <= (long)n_yes; b++) {
            double p = ml_amber_round1(a / (a + b + 0.001) * 100);
            double acc = ml_amber_round1((a + (double)n_yes - b) / (n_no + n_yes + 0.001) * 100);
            if (p == 93.2 && acc == 72.0) {
                a_pick = a;
                b_pick = b;
                break;
            }
        }
    }
    CHECK(a_pick >= 0);
    if (a_pick < 0) return;
    char path[700];
    snprintf(path, sizeof path, "%s/disc.json", test_tmpdir("test_eval_amber"));
    FILE *f = fopen(path, "w");
    if (!f) return;
    long no_left = a_pick, yes_left = b_pick;
    fputs("[\n", f);
    int first = 1;
    for (size_t i = 0; i < amber.count; i++) {
        const MlAmberEntry *e = &amber.entries[i];
        if (e->kind == ML_AMBER_GENERATIVE) continue;
        int say_no = e->truth_yes ? yes_left-- > 0 : no_left-- > 0;
        fprintf(f, "%s{\"id\": %zu, \"response\": \"%s\"}", first ? "" : ",\n", i + 1, say_no ? "No" : "Yes");
        first = 0;
    }
    fputs("\n]\n", f);
    fclose(f);
    MlError err = {0};
    MlAmberScore s;
    char q[1024];
    snprintf(q, sizeof q, "%s", test_repo_path("data/amber/query/query_discriminative.json"));
    CHECK_OK(ml_amber_score_file(&amber, path, q, &s, &err), &err);
    CHECK(s.n_discriminative == 14216 && s.n_generative == 0);
    CHECK(s.overall.accuracy == 72.0 && s.overall.precision == 93.2);
    CHECK(s.overall.recall == 62.4 && s.overall.f1 == 74.7);
    CHECK(isnan(s.chair) && isnan(s.amber));
    CHECK(s.existence.n == 4924 && s.relation.n == 975 + 689 && s.attribute.n == 4764 + 2072 + 792);
}

/* Worked by hand from relation.json (see docs/evaluation.md for the rules).
   id 1: truth sky forest grass person lake mountain road, hallu cloud sun bird
   dog flower.  Nouns: man (-> person), path (-> road), lake, dog (hallu),
   tree (-> forest), water (-> lake), sun (hallu); "Dogs" keeps its capital and
   is no noun of the vocabulary.  Hallucinated 2 of 7; covered 4 of 7 truth
   objects; named 2 of 5 hallucination objects.
   id 3: truth child grass flower: girl (-> child), ground (-> grass), flowers. */
static void test_generative_by_hand(void) {
    if (!amber_ok) return;
    MlError err = {0};
    MlAmberScore s;
    const char *one = "[{\"id\": 1, \"response\": \"A man walks on the path by the lake. Dogs and a dog play near trees, "
                      "water and the sun.\"}]";
    CHECK_OK(ml_amber_score_file(&amber, tmp_file("g1.json", one), NULL, &s, &err), &err);
    CHECK(s.n_generative == 1);
    CHECK(s.chair == 28.6 && s.cover == 57.1 && s.cog == 40.0 && s.hal == 100.0); /* 2/7.001, 4/7.001, 2/5.001 */
    const char *two = "{\"id\": 1, \"response\": \"A man walks on the path by the lake. Dogs and a dog play near trees, "
                      "water and the sun.\"}\n{\"id\": 3, \"response\": \"A girl on the ground with flowers.\"}\n";
    CHECK_OK(ml_amber_score_file(&amber, tmp_file("g2.jsonl", two), NULL, &s, &err), &err);
    CHECK(s.chair == 20.0 && s.cover == 70.0 && s.cog == 20.0 && s.hal == 50.0); /* 2/10.001, 7/10.001, 2/10.001, 1/2.001 */
    /* Safe words ("sign") count as nouns but are never hallucinations:
       1 of 2 nouns hallucinated (1/2.001 -> 50.0, not 1/1.001 -> 99.9). */
    const char *safe = "[{\"id\": 1, \"response\": \"A sign and a dog.\"}]";
    CHECK_OK(ml_amber_score_file(&amber, tmp_file("g3.json", safe), NULL, &s, &err), &err);
    CHECK(s.chair == 50.0 && s.hal == 100.0);
}

static void test_discriminative_quirks(void) {
    if (!amber_ok) return;
    MlError err = {0};
    MlAmberScore s;
    /* 1005 yes, 1006 no (attribute-state): "yes" is not "Yes", "No." is not "No". */
    const char *r = "[{\"id\": 1005, \"response\": \"yes\"}, {\"id\": 1006, \"response\": \"No.\"}]";
    CHECK_OK(ml_amber_score_file(&amber, tmp_file("d.json", r), NULL, &s, &err), &err);
    CHECK(s.overall.accuracy == 0.0 && s.overall.precision == 0.0 && s.state.n == 2 && isnan(s.existence.accuracy));
}

static void test_bad_responses(void) {
    if (!amber_ok) return;
    const char *cases[][2] = {
        {"[{\"id\": 0, \"response\": \"Yes\"}]", "r.json:1: id: expected an integer in [1, 15220]"},
        {"[{\"id\": 15221, \"response\": \"Yes\"}]", "r.json:1: id: expected an integer in [1, 15220]"},
        {"[{\"id\": 5, \"response\": \"a\"},\n{\"id\": 5, \"response\": \"b\"}]", "r.json:2: id 5 answered twice (first on line 1)"},
        {"[{\"id\": 5, \"response\": 3}]", "r.json:1: response: expected a string"},
        {"[{\"id\": 5}]", "r.json:1: no \"response\""},
        {"", "r.json: no responses"},
    };
    MlError err = {0};
    MlAmberScore s;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(ml_amber_score_file(&amber, tmp_file("r.json", cases[i][0]), NULL, &s, &err) != 0);
        if (!strstr(err.msg, cases[i][1])) {
            fprintf(stderr, "  \"%s\" lacks \"%s\"\n", err.msg, cases[i][1]);
            CHECK(0);
        }
    }
    const char *q = tmp_file("q.json", "[{\"id\": 1}, {\"id\": 2}]");
    CHECK(ml_amber_score_file(&amber, tmp_file("r.json", "[{\"id\": 1, \"response\": \"x\"}]"), q, &s, &err) != 0);
    CHECK(strstr(err.msg, "r.json: no response for id 2 (") != NULL);
    CHECK(ml_amber_score_file(&amber, tmp_file("r.json", "[{\"id\": 1, \"response\": \"x\"}, {\"id\": 2, \"response\": "
                                                         "\"x\"}, {\"id\": 3, \"response\": \"x\"}]"),
                              q, &s, &err) != 0);
    CHECK(strstr(err.msg, "r.json: id 3 was answered but is not in") != NULL);
    MlAmber bad;
    CHECK(ml_amber_load(&bad, tmp_file("ann.json", "[{\"id\": 2, \"type\": \"relation\", \"truth\": \"no\"}]"),
                        test_repo_path("data/amber/relation.json"), tmp_file("safe.txt", "sign\n"), &err) != 0);
    CHECK(strstr(err.msg, "ann.json:1: id 2 is entry 1") != NULL);
}

int main(void) {
    load();
    RUN(test_round_like_python);
    RUN(test_published_formulas);
    RUN(test_metrics_txt);
    RUN(test_published_discriminative_row);
    RUN(test_generative_by_hand);
    RUN(test_discriminative_quirks);
    RUN(test_bad_responses);
    if (amber_ok) ml_amber_free(&amber);
    return test_summary("test_eval_amber");
}
