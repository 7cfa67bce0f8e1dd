/* test_eval_pope.c: POPE answer parsers, file forms, alignment errors, and the
   reference figures in tests/data/expected_metrics.json. */
#include "test.h"

#include "core/json.h"
#include "eval/pope.h"
#include "eval/records.h"
#include "eval/yesno.h"

static const char *write_tmp(const char *name, const char *text) {
    static char path[8][700];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", test_tmpdir("test_eval_pope"), name);
    FILE *f = fopen(p, "wb");
    if (!f) return p;
    fputs(text, f);
    fclose(f);
    return p;
}

/* Each case follows the rule text of the reference script by hand. */
static void test_official_parser(void) {
    MlYesNoParser p = ML_YESNO_OFFICIAL;
    CHECK(ml_yesno_parse(p, "Yes", 0) == 1);
    CHECK(ml_yesno_parse(p, "No", 1) == 0);
    CHECK(ml_yesno_parse(p, "No.", 1) == 0);
    CHECK(ml_yesno_parse(p, "no, there is none", 1) == 0);    /* "no," -> "no" */
    CHECK(ml_yesno_parse(p, "There is not a dog.", 1) == 0);
    CHECK(ml_yesno_parse(p, "NO", 1) == 1);                   /* only No/not/no count */
    CHECK(ml_yesno_parse(p, "I don't think so", 1) == 1);
    CHECK(ml_yesno_parse(p, "Yes. No.", 0) == 1);             /* first sentence only */
    CHECK(ml_yesno_parse(p, "No\n", 1) == 1);                 /* split(' ') keeps "No\n" whole */
    CHECK(ml_yesno_parse(p, "  no", 1) == 0);                 /* empty words are harmless */
    CHECK(ml_yesno_parse(p, "", 1) == 1);
    CHECK(ml_yesno_parse(p, "Nothing", 1) == 1);
    CHECK(ml_yesno_parse(p, ".no", 1) == 1);                  /* text before the first '.' is empty */
}

static void test_opera_parser(void) {
    MlYesNoParser p = ML_YESNO_OPERA;
    CHECK(ml_yesno_parse(p, "NO", 1) == 0);
    CHECK(ml_yesno_parse(p, "I don't think so", 1) == 0);
    CHECK(ml_yesno_parse(p, "There isn't.", 1) == 0);         /* "isn't" after '.' removal */
    CHECK(ml_yesno_parse(p, "Yes. No.", 0) == 0);             /* all periods deleted, whole text read */
    CHECK(ml_yesno_parse(p, "No,", 1) == 0);
    CHECK(ml_yesno_parse(p, "Yes, there is.", 0) == 1);
    CHECK(ml_yesno_parse(p, "n.'.t", 1) == 0);                /* "n't" once '.' is gone */
    CHECK(ml_yesno_parse(p, "Not", 1) == 1);
}

static void test_vcd_parser(void) {
    MlYesNoParser p = ML_YESNO_VCD;
    CHECK(ml_yesno_parse(p, "Yes", 1) == 1);
    CHECK(ml_yesno_parse(p, "YES!", 1) == 1);
    CHECK(ml_yesno_parse(p, "Yesterday", 1) == 1);            /* substring test */
    CHECK(ml_yesno_parse(p, "No", 1) == 0);
    CHECK(ml_yesno_parse(p, "No", 0) == 0);
    CHECK(ml_yesno_parse(p, "Yes", 0) == 1);
    CHECK(ml_yesno_parse(p, "Yes, I know", 0) == 0);          /* "know" contains "no" */
    CHECK(ml_yesno_parse(p, "maybe", 1) == 0);
    CHECK(ml_yesno_parse(p, "maybe", 0) == 1);
    MlYesNoParser q;
    CHECK(ml_yesno_parser_from_name("vcd", &q) == 0 && q == ML_YESNO_VCD);
    CHECK(ml_yesno_parser_from_name("llava", &q) == -1);
}

/* Metrics from counts, worked by hand: TP=3 FP=1 TN=4 FN=2. */
static void test_binary_metrics(void) {
    MlBinaryScore s = {0};
    int pairs[10][2] = {{1, 1}, {1, 1}, {1, 1}, {0, 1}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {1, 0}, {1, 0}};
    for (int i = 0; i < 10; i++) ml_binary_add(&s, pairs[i][0], pairs[i][1]);
    ml_binary_finish(&s);
    CHECK(s.tp == 3 && s.fp == 1 && s.tn == 4 && s.fn == 2);
    CHECK_NEAR(s.accuracy, 0.7, 1e-15);
    CHECK_NEAR(s.precision, 0.75, 1e-15);
    CHECK_NEAR(s.recall, 0.6, 1e-15);
    CHECK_NEAR(s.f1, 2 * 0.75 * 0.6 / 1.35, 1e-15);
    CHECK_NEAR(s.yes_ratio, 0.4, 1e-15);
    MlBinaryScore z = {0};
    ml_binary_add(&z, 0, 0);
    ml_binary_finish(&z);
    CHECK(isnan(z.precision) && isnan(z.recall) && z.accuracy == 1.0);
}

static long long json_int(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

static double json_num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Every entry of pope_computed_here, with all three parsers (the file notes
   they agree on these answers), compared bit for bit. */
static void test_expected_metrics(void) {
    MlError err = {0};
    cJSON *root = NULL;
    CHECK_OK(ml_json_load(test_repo_path("tests/data/expected_metrics.json"), &root, &err), &err);
    if (!root) return;
    const cJSON *set = cJSON_GetObjectItemCaseSensitive(root, "pope_computed_here");
    int entries = 0;
    for (const cJSON *e = set ? set->child : NULL; e; e = e->next) {
        char ans_rel[512], q_rel[512];
        snprintf(ans_rel, sizeof ans_rel, "tests/data/%s", e->string);
        snprintf(q_rel, sizeof q_rel, "tests/data/%s", cJSON_GetObjectItemCaseSensitive(e, "label_file")->valuestring);
        char q_path[4096], a_path[4096];
        snprintf(q_path, sizeof q_path, "%s", test_repo_path(q_rel));
        snprintf(a_path, sizeof a_path, "%s", test_repo_path(ans_rel));
        MlPopeSet qs;
        char **ans = NULL;
        CHECK_OK(ml_pope_questions_load(q_path, &qs, &err), &err);
        CHECK_OK(ml_pope_answers_load(&qs, a_path, &ans, &err), &err);
        if (!ans) continue;
        for (int p = 0; p < 3; p++) {
            MlBinaryScore s;
            ml_pope_score(&qs, ans, (MlYesNoParser)p, &s, NULL);
            CHECK(s.tp == json_int(e, "TP") && s.fp == json_int(e, "FP"));
            CHECK(s.tn == json_int(e, "TN") && s.fn == json_int(e, "FN"));
            CHECK(s.accuracy == json_num(e, "accuracy"));
            CHECK(s.precision == json_num(e, "precision"));
            CHECK(s.recall == json_num(e, "recall"));
            CHECK(s.f1 == json_num(e, "f1"));
            CHECK(s.yes_ratio == json_num(e, "yes_ratio"));
        }
        ml_pope_answers_free(&qs, ans);
        ml_pope_questions_free(&qs);
        entries++;
    }
    CHECK(entries == 3);
    cJSON_Delete(root);
}

/* File facts stated in BENCHMARKS.md / SOURCES.md. */
static void test_question_files(void) {
    MlError err = {0};
    MlPopeSet qs;
    /* SEEM GQA: a pretty-printed JSON array, labels y,y,y,n,n,n per image. */
    CHECK_OK(ml_pope_questions_load(test_repo_path("tests/data/POPE/output/seem/gqa/gqa_pope_seem_random.json"), &qs, &err), &err);
    CHECK(qs.count == 3000);
    int pattern_ok = 1;
    for (size_t i = 0; i < qs.count; i++) pattern_ok &= qs.q[i].label_yes == (i % 6 < 3);
    CHECK(pattern_ok);
    CHECK(qs.count > 1 && qs.q[0].line == 2 && qs.q[1].line == 8); /* each object spans 6 lines */
    ml_pope_questions_free(&qs);
    /* OPERA's older random split: 2910 questions, 1500 yes / 1410 no. */
    CHECK_OK(ml_pope_questions_load(test_repo_path("tests/data/OPERA/pope_coco/coco_pope_random.json"), &qs, &err), &err);
    size_t yes = 0;
    for (size_t i = 0; i < qs.count; i++) yes += qs.q[i].label_yes;
    CHECK(qs.count == 2910 && yes == 1500);
    ml_pope_questions_free(&qs);
}

/* POPE's README answer form, matched by line order (POPE/answer/example.json). */
static void test_pope_answer_form(void) {
    MlError err = {0};
    MlPopeSet qs;
    const char *q = write_tmp("q1.jsonl",
                              "{\"question_id\": 1, \"image\": \"a.jpg\", \"text\": \"Is there a bird in the image?\", "
                              "\"label\": \"no\"}\n");
    CHECK_OK(ml_pope_questions_load(q, &qs, &err), &err);
    char **ans = NULL;
    CHECK_OK(ml_pope_answers_load(&qs, test_repo_path("tests/data/POPE/answer/example.json"), &ans, &err), &err);
    if (ans) {
        MlBinaryScore s;
        ml_pope_score(&qs, ans, ML_YESNO_OFFICIAL, &s, NULL);
        CHECK(s.fp == 1 && s.tp == 0 && s.tn == 0 && s.fn == 0);
        ml_pope_answers_free(&qs, ans);
    }
    ml_pope_questions_free(&qs);
}

static void expect_error(const char *q_text, const char *a_text, const char *pattern) {
    MlError err = {0};
    MlPopeSet qs;
    const char *q = write_tmp("qe.jsonl", q_text);
    int rc = ml_pope_questions_load(q, &qs, &err);
    if (rc == 0) {
        char **ans = NULL;
        const char *a = write_tmp("ae.jsonl", a_text);
        rc = ml_pope_answers_load(&qs, a, &ans, &err);
        if (!rc) ml_pope_answers_free(&qs, ans);
        ml_pope_questions_free(&qs);
    }
    CHECK(rc != 0);
    if (!strstr(err.msg, pattern)) {
        fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err.msg, pattern);
        CHECK(0);
    }
}

static void test_alignment_errors(void) {
    const char *q3 = "{\"question_id\": 1, \"text\": \"Is there a cat?\", \"label\": \"yes\"}\n"
                     "{\"question_id\": 2, \"text\": \"Is there a dog?\", \"label\": \"no\"}\n"
                     "{\"question_id\": 3, \"text\": \"Is there a cow?\", \"label\": \"no\"}\n";
    expect_error(q3, "{\"question_id\": 1, \"text\": \"Yes\"}\n{\"question_id\": 3, \"text\": \"No\"}\n",
                 "ae.jsonl: no answer for question_id 2 (");
    expect_error(q3, "{\"question_id\": 1, \"text\": \"Yes\"}\n{\"question_id\": 2, \"text\": \"No\"}\n"
                     "{\"question_id\": 3, \"text\": \"No\"}\n{\"question_id\": 4, \"text\": \"No\"}\n",
                 "ae.jsonl:4: question_id 4 is not in");
    expect_error(q3, "{\"question_id\": 1, \"text\": \"Yes\"}\n{\"question_id\": 2, \"text\": \"No\"}\n"
                     "{\"question_id\": 2, \"text\": \"No\"}\n",
                 "ae.jsonl:3: question_id 2 answered twice (first on line 2)");
    expect_error(q3, "{\"question_id\": 1, \"text\": \"Yes\"}\n{\"text\": \"No\"}\n", "ae.jsonl:2: no question_id");
    expect_error(q3, "{\"answer\": \"yes\"}\n{\"answer\": \"no\"}\n", "ae.jsonl: 2 answers for 3 questions");
    expect_error(q3, "{\"answer\": \"yes\"}\n{\"question\": \"is there a pig?\", \"answer\": \"no\"}\n{\"answer\": \"no\"}\n",
                 "ae.jsonl:2: question \"is there a pig?\" does not match");
    expect_error(q3, "{\"question_id\": 1, \"text\": \"Yes\"}\n{\"question_id\": 2, \"text\": \"No\"\n",
                 "ae.jsonl:2: malformed JSON");
    expect_error(q3, "{\"question_id\": 1, \"text\": 7}\n", "ae.jsonl:1: text: expected a string");
    expect_error(q3, "{\"question_id\": 1.5, \"text\": \"Yes\"}\n", "ae.jsonl:1: question_id: expected an integer");
    expect_error(q3, "[1, 2]", "ae.jsonl:1: expected a JSON object");
    expect_error(q3, "", "ae.jsonl: no answers");
    expect_error("{\"question_id\": 1, \"text\": \"Is there a cat?\", \"label\": \"Yes\"}\n", "",
                 "qe.jsonl:1: label: expected \"yes\" or \"no\"");
    expect_error("{\"question_id\": 1, \"text\": \"a\", \"label\": \"yes\"}\n\n{\"question_id\": 1, \"text\": \"b\", "
                 "\"label\": \"no\"}\n",
                 "", "qe.jsonl:3: question_id 1 repeats line 1");
}

/* String ids and the three record layouts give the same records. */
static void test_record_layouts(void) {
    MlError err = {0};
    MlRecords r;
    const char *arr = "[\n {\"id\": \"a\"},\n {\"id\": 2}\n]\n";
    CHECK_OK(ml_records_parse(arr, strlen(arr), "arr", &r, &err), &err);
    CHECK(r.count == 2 && r.items[0].line == 2 && r.items[1].line == 3);
    char id[ML_RECORD_ID_MAX + 1];
    CHECK(r.count == 2 && ml_record_id(r.items[1].json, "id", id, "arr", 3, &err) == 0 && !strcmp(id, "2"));
    ml_records_free(&r);
    const char *cat = "{\n \"id\": 1\n}\n{\n \"id\": 2\n}";
    CHECK_OK(ml_records_parse(cat, strlen(cat), "cat", &r, &err), &err);
    CHECK(r.count == 2 && r.items[1].line == 4);
    ml_records_free(&r);
    const char *bad[] = {"[{\"a\":1},]", "[{\"a\":1}", "[{\"a\":1}] x", "{\"a\":1} 5", "[{\"a\":1} {\"b\":2}]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(ml_records_parse(bad[i], strlen(bad[i]), "bad", &r, &err) == ML_ERR_FORMAT);
        CHECK(strncmp(err.msg, "bad:1: ", 7) == 0);
    }
    CHECK_OK(ml_records_parse("[]", 2, "empty", &r, &err), &err);
    CHECK(r.count == 0);
    ml_records_free(&r);
}

int main(void) {
    RUN(test_official_parser);
    RUN(test_opera_parser);
    RUN(test_vcd_parser);
    RUN(test_binary_metrics);
    RUN(test_expected_metrics);
    RUN(test_question_files);
    RUN(test_pope_answer_form);
    RUN(test_alignment_errors);
    RUN(test_record_layouts);
    return test_summary("test_eval_pope");
}
