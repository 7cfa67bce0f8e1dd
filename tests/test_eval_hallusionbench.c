/* test_eval_hallusionbench.c: the yes/no/unclear reading, and qAcc, fAcc and
   aAcc on a small question set whose figures are derived by hand from the
   rules of HallusionBench's utils.py (assign_correctness, get_eval_all,
   get_eval_pair_all, get_eval_pair_easy / _hard, get_eval_fig). */
#include "test.h"

#include "eval/hallusionbench.h"
#include "eval/yesno.h"

static void test_words(void) {
    CHECK(ml_yesno_words("Yes, it is.") == 1);
    CHECK(ml_yesno_words("NO!") == 0);
    CHECK(ml_yesno_words("yes and no") == -1);
    CHECK(ml_yesno_words("I cannot tell") == -1);
    CHECK(ml_yesno_words("Not at all") == -1); /* "not" is no "no" */
    CHECK(ml_yesno_words("eyes, nose") == -1); /* whole words only */
    CHECK(ml_yesno_words("(no)") == 0);
    CHECK(ml_yesno_words("") == -1);
}

#define Q(cat, sub, set, fig, qid, vis, gt)                                                                     \
    "{\"category\": \"" cat "\", \"subcategory\": \"" sub "\", \"set_id\": \"" set "\", \"figure_id\": \"" fig \
    "\", \"question_id\": \"" qid "\", \"visual_input\": \"" vis "\", \"gt_answer\": \"" gt "\"}"

/* Nine questions: VD illusion set 0 with two figures of two questions, VS chart
   set 0 (question 0 without a figure, then on figures 1 and 2) and set 1. */
static const char *questions = "[" Q("VD", "illusion", "0", "0", "0", "1", "1") ",\n"   /* 1 */
                               Q("VD", "illusion", "0", "0", "1", "1", "0") ",\n"       /* 2 */
                               Q("VD", "illusion", "0", "1", "0", "2", "0") ",\n"       /* 3 */
                               Q("VD", "illusion", "0", "1", "1", "2", "1") ",\n"       /* 4 */
                               Q("VS", "chart", "0", "0", "0", "0", "1") ",\n"          /* 5 */
                               Q("VS", "chart", "0", "1", "0", "1", "1") ",\n"          /* 6 */
                               Q("VS", "chart", "0", "2", "0", "2", "0") ",\n"          /* 7 */
                               Q("VS", "chart", "1", "0", "0", "0", "0") ",\n"          /* 8 */
                               Q("VS", "chart", "1", "1", "0", "1", "0") "]\n";         /* 9 */

/* Answers and their judgement:
   1 "Yes, it is."   yes = gt 1      correct
   2 "No."           no = gt 0       correct
   3 "Yes"           yes, gt 0       wrong
   4 "yes"           yes = gt 1      correct
   5 "I am not sure" unclear (2), VS without figure: correct
   6 "Yes and no"    unclear (2), VS with a figure: wrong
   7 "no"            no = gt 0       correct
   8 "Yes."          yes, gt 0       wrong
   9 "NO!"           no = gt 0       correct
   aAcc: 6/9 = 66.6667 (VD 3/4 = 75, VS 3/5 = 60)
   qAcc, (category, subcategory, set, question): VD_illusion_0_0 {1, 3} wrong, VD_illusion_0_1 {2, 4} right,
     VS_chart_0_0 {5, 6, 7} wrong, VS_chart_1_0 {8, 9} wrong: 1/4 = 25 (VD 1/2 = 50, VS 0/2 = 0)
   fAcc, (category, subcategory, set, figure), VS figure 0 left out: VD_illusion_0_0 {1, 2} right,
     VD_illusion_0_1 {3, 4} wrong, VS_chart_0_1 {6} wrong, VS_chart_0_2 {7} right, VS_chart_1_1 {9} right:
     3/5 = 60 (VD 1/2 = 50, VS 2/3 = 66.6667)
   easy (visual_input != 2) pairs: {1} right, {2} right, {5, 6} wrong, {8, 9} wrong: 2/4 = 50 (VD 100, VS 0)
   hard (visual_input == 2) pairs: {3} wrong, {4} right, {7} right: 2/3 = 66.6667 (VD 50, VS 100)
   read as yes 4 (1, 3, 4, 8), no 3 (2, 7, 9), unclear 2 (5, 6) */
static const char *answers_by_id = "{\"id\": \"VD_illusion_0_0_0\", \"answer\": \"Yes, it is.\"}\n"
                                   "{\"id\": \"VD_illusion_0_0_1\", \"answer\": \"No.\"}\n"
                                   "{\"id\": \"VD_illusion_0_1_0\", \"answer\": \"Yes\"}\n"
                                   "{\"id\": \"VD_illusion_0_1_1\", \"answer\": \"yes\"}\n"
                                   "{\"id\": \"VS_chart_0_0_0\", \"answer\": \"I am not sure\"}\n"
                                   "{\"id\": \"VS_chart_0_1_0\", \"answer\": \"Yes and no\"}\n"
                                   "{\"id\": \"VS_chart_0_2_0\", \"answer\": \"no\"}\n"
                                   "{\"id\": \"VS_chart_1_0_0\", \"answer\": \"Yes.\"}\n"
                                   "{\"id\": \"VS_chart_1_1_0\", \"answer\": \"NO!\"}\n";

/* The same answers by position in the question file, in another order. */
static const char *answers_by_index = "[{\"index\": 8, \"answer\": \"NO!\"}, {\"index\": 0, \"answer\": \"Yes, it is.\"},"
                                      " {\"index\": 1, \"answer\": \"No.\"}, {\"index\": 2, \"answer\": \"Yes\"},"
                                      " {\"index\": 3, \"answer\": \"yes\"}, {\"index\": 4, \"answer\": \"I am not sure\"},"
                                      " {\"index\": 5, \"answer\": \"Yes and no\"}, {\"index\": 6, \"answer\": \"no\"},"
                                      " {\"index\": 7, \"answer\": \"Yes.\"}]";

/* The same answers as the official result file carries them (the fields, in
   another order, integers where str() gives the same, model_prediction). */
#define R(cat, sub, set, fig, qid, text)                                                                 \
    "{\"category\": \"" cat "\", \"subcategory\": \"" sub "\", \"set_id\": " set ", \"figure_id\": " fig \
    ", \"question_id\": \"" qid "\", \"model_prediction\": \"" text "\"}"
static const char *answers_official =
    "[" R("VS", "chart", "1", "1", "0", "NO!") ", " R("VS", "chart", "1", "0", "0", "Yes.") ", "
    R("VS", "chart", "0", "2", "0", "no") ", " R("VS", "chart", "0", "1", "0", "Yes and no") ", "
    R("VS", "chart", "0", "0", "0", "I am not sure") ", " R("VD", "illusion", "0", "1", "1", "yes") ", "
    R("VD", "illusion", "0", "1", "0", "Yes") ", " R("VD", "illusion", "0", "0", "1", "No.") ", "
    R("VD", "illusion", "0", "0", "0", "Yes, it is.") "]";

static void check_acc(const MlHallusionAcc *a, size_t correct, size_t total, double percent) {
    CHECK(a->correct == correct);
    CHECK(a->total == total);
    CHECK(a->percent == percent);
}

static void check_scores(const MlHallusionScore *s) {
    check_acc(&s->all.aacc, 6, 9, 66.6667);
    check_acc(&s->vd.aacc, 3, 4, 75.0);
    check_acc(&s->vs.aacc, 3, 5, 60.0);
    check_acc(&s->all.qacc, 1, 4, 25.0);
    check_acc(&s->vd.qacc, 1, 2, 50.0);
    check_acc(&s->vs.qacc, 0, 2, 0.0);
    check_acc(&s->all.facc, 3, 5, 60.0);
    check_acc(&s->vd.facc, 1, 2, 50.0);
    check_acc(&s->vs.facc, 2, 3, 66.6667);
    check_acc(&s->all.easy, 2, 4, 50.0);
    check_acc(&s->vd.easy, 2, 2, 100.0);
    check_acc(&s->vs.easy, 0, 2, 0.0);
    check_acc(&s->all.hard, 2, 3, 66.6667);
    check_acc(&s->vd.hard, 1, 2, 50.0);
    check_acc(&s->vs.hard, 1, 1, 100.0);
    CHECK(s->yes == 4 && s->no == 3 && s->unclear == 2);
}

static void test_scores_by_hand(void) {
    MlError err = {0};
    MlHallusionSet set;
    MlHallusionScore s;
    CHECK(ml_hallusionbench_parse(questions, strlen(questions), "q.json", &set, &err) == 0);
    CHECK(set.count == 9 && set.n_pairs == 4 && set.n_figures == 5);
    CHECK(ml_hallusionbench_score_text(&set, answers_by_id, strlen(answers_by_id), "a.jsonl", &s, &err) == 0);
    check_scores(&s);
    CHECK(ml_hallusionbench_score_text(&set, answers_official, strlen(answers_official), "result.json", &s, &err) == 0);
    if (err.msg[0]) fprintf(stderr, "  %s\n", err.msg);
    check_scores(&s);
    CHECK(ml_hallusionbench_score_text(&set, answers_by_index, strlen(answers_by_index), "i.json", &s, &err) == 0);
    check_scores(&s);
    ml_hallusionbench_free(&set);
}

/* The shipped copy: 1129 questions in 455 pairs and 346 figures (BENCHMARKS.md, the paper's counts). */
static void test_shipped_file(void) {
    MlError err = {0};
    MlHallusionSet set;
    CHECK(ml_hallusionbench_load("data/hallusionbench/HallusionBench.json", &set, &err) == 0);
    if (err.msg[0]) fprintf(stderr, "  %s\n", err.msg);
    CHECK(set.count == 1129 && set.n_pairs == 455 && set.n_figures == 346);
    ml_hallusionbench_free(&set);
}

static void test_bad_questions(void) {
    static const char *const bad[] = {
        "",
        "{}",
        "[1]",
        "[{\"category\": \"VD\"}]",
        "[" Q("VX", "a", "0", "0", "0", "1", "1") "]",
        "[" Q("VD", "a", "0", "0", "0", "1", "yes") "]",
        "[" Q("VD", "a", "0", "0", "0", "1", "1") ", " Q("VD", "a", "0", "0", "0", "2", "0") "]",
        "[{\"category\": \"VD\", \"subcategory\": \"a\", \"set_id\": 0.5, \"figure_id\": 0, \"question_id\": 0, "
        "\"visual_input\": 1, \"gt_answer\": 1}]",
        "[{\"category\": \"VD\", \"subcategory\": \"\", \"set_id\": 0, \"figure_id\": 0, \"question_id\": 0, "
        "\"visual_input\": 1, \"gt_answer\": 1}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MlError err = {0};
        MlHallusionSet set;
        int rc = ml_hallusionbench_parse(bad[i], strlen(bad[i]), "q.json", &set, &err);
        CHECK(rc != 0);
        if (!rc) {
            fprintf(stderr, "  accepted: %s\n", bad[i]);
            ml_hallusionbench_free(&set);
        }
        CHECK(strncmp(err.msg, "q.json", 6) == 0);
    }
}

static void test_bad_answers(void) {
    static const char *const bad[] = {
        "",
        "{\"id\": \"VD_illusion_0_0_0\", \"answer\": \"yes\"}\n", /* eight unanswered */
        "{\"id\": \"VD_nope_0_0_0\", \"answer\": \"yes\"}\n",
        "{\"id\": \"VD_illusion_0_0_0\", \"answer\": \"yes\"}\n{\"id\": \"VD_illusion_0_0_0\", \"answer\": \"no\"}\n",
        "{\"id\": \"VD_illusion_0_0_0\"}\n",
        "{\"id\": \"VD_illusion_0_0_0\", \"answer\": 1}\n",
        "{\"answer\": \"yes\"}\n",
        "{\"category\": \"VD\", \"answer\": \"yes\"}\n",
        "{\"id\": [], \"answer\": \"yes\"}\n",
        "[{\"id\": \"VD_illusion_0_0_0\", \"answer\": \"yes\"}",
        "{\"index\": 9, \"answer\": \"yes\"}\n",
        "{\"index\": -1, \"answer\": \"yes\"}\n",
        "{\"index\": 0.5, \"answer\": \"yes\"}\n",
        "{\"index\": \"0\", \"answer\": \"yes\"}\n",
        "{\"index\": 0, \"answer\": \"yes\"}\n{\"id\": \"VD_illusion_0_0_0\", \"answer\": \"no\"}\n",
    };
    MlError err = {0};
    MlHallusionSet set;
    CHECK(ml_hallusionbench_parse(questions, strlen(questions), "q.json", &set, &err) == 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MlHallusionScore s;
        memset(&err, 0, sizeof err);
        CHECK(ml_hallusionbench_score_text(&set, bad[i], strlen(bad[i]), "a.jsonl", &s, &err) != 0);
        CHECK(strncmp(err.msg, "a.jsonl", 7) == 0);
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    ml_hallusionbench_free(&set);
}

int main(void) {
    RUN(test_words);
    RUN(test_scores_by_hand);
    RUN(test_shipped_file);
    RUN(test_bad_questions);
    RUN(test_bad_answers);
    return test_summary("test_eval_hallusionbench");
}
