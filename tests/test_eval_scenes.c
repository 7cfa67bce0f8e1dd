/* test_eval_scenes.c: scene-probe scoring on probe files written here by hand:
   yes/no families with severity weighting, answers in both forms, misaligned
   answers, and open descriptions checked claim by claim. */
#include "test.h"

#include <sys/stat.h>

#include "eval/scenes.h"

static void put(const char *dir, const char *name, const char *text) {
    char p[800];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* star 0: red small striped, centre (10, 10); circle 1: blue large solid,
   (40, 12); star 2: green medium checked, (12, 40).  Margin 5.12 px: 0 and 2
   are left of 1, 0 is above 2, 1 above 2; 0 and 1 differ by 2 px vertically
   and 0 and 2 by 2 px horizontally, so those are ambiguous.  Box gaps are
   10 px or more, so nothing is next to anything (far = 9.6 px). */
#define TRUTH                                                                                                           \
    "{\"size\":64,\"objects\":["                                                                                        \
    "{\"id\":0,\"category\":\"star\",\"color\":\"red\",\"size\":\"small\",\"texture\":\"striped\","                \
    "\"center\":[10,10],\"bbox\":[5,5,16,16]},"                                                                           \
    "{\"id\":1,\"category\":\"circle\",\"color\":\"blue\",\"size\":\"large\",\"texture\":\"solid\","               \
    "\"center\":[40,12],\"bbox\":[30,2,50,22]},"                                                                          \
    "{\"id\":2,\"category\":\"star\",\"color\":\"green\",\"size\":\"medium\",\"texture\":\"checked\","             \
    "\"center\":[12,40],\"bbox\":[4,32,20,48]}],"                                                                         \
    "\"relations\":[[0,\"left of\",1],[1,\"right of\",0],[0,\"above\",2],[2,\"below\",0],[2,\"left of\",1],"           \
    "[1,\"right of\",2],[1,\"above\",2],[2,\"below\",1]],"                                                                 \
    "\"ambiguous\":[[0,\"above\",1],[0,\"below\",1],[1,\"above\",0],[1,\"below\",0],[0,\"left of\",2],"                 \
    "[0,\"right of\",2],[2,\"left of\",0],[2,\"right of\",0]]}"

static const char *make_dir(void) {
    static char dir[700];
    snprintf(dir, sizeof dir, "%s/split", test_tmpdir("test_eval_scenes"));
    char p[800];
    snprintf(p, sizeof p, "%s/probes", dir);
    mkdir(dir, 0777);
    mkdir(p, 0777);
    put(dir, "probes/attribute.jsonl",
        "{\"question_id\":1,\"text\":\"Is the star red?\",\"label\":\"yes\",\"family\":\"attribute\",\"negative_kind\":\"none\",\"severity\":0}\n"
        "{\"question_id\":2,\"text\":\"Is the star blue?\",\"label\":\"no\",\"family\":\"attribute\",\"negative_kind\":\"random\",\"severity\":1}\n"
        "{\"question_id\":3,\"text\":\"Is the circle large?\",\"label\":\"yes\",\"family\":\"attribute\",\"negative_kind\":\"none\",\"severity\":0}\n"
        "{\"question_id\":4,\"text\":\"Is the circle small?\",\"label\":\"no\",\"family\":\"attribute\",\"negative_kind\":\"binding\",\"severity\":2}\n");
    put(dir, "probes/pope_random.jsonl",
        "{\"question_id\":1,\"text\":\"Is there a star in the image?\",\"label\":\"yes\",\"severity\":0}\n"
        "{\"question_id\":2,\"text\":\"Is there a moon in the image?\",\"label\":\"no\",\"negative_kind\":\"random\",\"severity\":2}\n");
    put(dir, "probes/describe.jsonl", "{\"question_id\":1,\"text\":\"Describe.\",\"family\":\"describe\",\"truth\":" TRUTH "}\n");
    return dir;
}

static void test_yesno_files(void) {
    const char *dir = make_dir();
    MlError err = {0};
    MlSceneProbes p;
    CHECK_OK(ml_scenes_load(&p, dir, &err), &err);
    if (err.code) return;
    /* attribute: Yes Yes No No vs labels y n y n -> TP 1, FP 1 (random, sev 1),
       FN 1, TN 1 (binding, sev 2): severity-weighted FP rate 1/3 */
    char ans[800];
    snprintf(ans, sizeof ans, "%s/answers.jsonl", test_tmpdir("test_eval_scenes"));
    FILE *f = fopen(ans, "w");
    if (f) {
        fputs("{\"question_id\":\"attribute/1\",\"text\":\"Yes\"}\n{\"question_id\":\"attribute/2\",\"text\":\"Yes, it is.\"}\n"
              "{\"question_id\":\"attribute/4\",\"text\":\"No\"}\n{\"question_id\":\"attribute/3\",\"text\":\"No.\"}\n"
              "{\"question_id\":\"pope_random/2\",\"text\":\"Yes\"}\n{\"question_id\":\"pope_random/1\",\"text\":\"Yes\"}\n",
              f);
        fclose(f);
    }
    MlSceneScore s;
    CHECK_OK(ml_scenes_score(&p, ans, ML_YESNO_OFFICIAL, &s, &err), &err);
    const MlYesNoTally *a = &s.family[ML_FAM_ATTRIBUTE], *o = &s.family[ML_FAM_OBJECT];
    CHECK(a->s.tp == 1 && a->s.fp == 1 && a->s.fn == 1 && a->s.tn == 1);
    CHECK_NEAR(a->fp_severity / a->neg_severity, 1.0 / 3, 1e-15);
    CHECK(o->s.tp == 1 && o->s.fp == 1 && o->fp_severity == 2 && o->s.yes_ratio == 1.0);
    CHECK(s.answered[3] && s.answered[0] && !s.answered[ML_SCENES_DESCRIBE] && !s.answered[5]);
    /* negatives per family and kind: one random wrong attribute and one random absent object (both
       answered yes), one binding negative (no) */
    int seen = 0;
    for (size_t k = 0; k < s.n_kinds; k++) {
        if (!strcmp(s.kind_name[k], "attribute/random") || !strcmp(s.kind_name[k], "object/random")) {
            seen++;
            CHECK(s.kind_n[k] == 1 && s.kind_yes[k] == 1);
        }
        if (!strcmp(s.kind_name[k], "attribute/binding")) {
            seen++;
            CHECK(s.kind_n[k] == 1 && s.kind_yes[k] == 0);
        }
    }
    CHECK(seen == 3 && s.n_kinds == 3);
    cJSON *j = ml_scenes_json(&s);
    const cJSON *fam = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "families"), "attribute");
    CHECK(fam && cJSON_GetObjectItemCaseSensitive(fam, "accuracy")->valuedouble == 0.5);
    CHECK(!cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "families"), "relation"));
    cJSON_Delete(j);
    /* the same answers as a folder of per-file answer files */
    char adir[800];
    snprintf(adir, sizeof adir, "%s/answers", test_tmpdir("test_eval_scenes"));
    mkdir(adir, 0777);
    put(adir, "attribute.jsonl",
        "{\"question_id\":1,\"text\":\"Yes\"}\n{\"question_id\":2,\"text\":\"Yes\"}\n{\"question_id\":3,\"text\":\"No\"}\n"
        "{\"question_id\":4,\"text\":\"No\"}\n");
    MlSceneScore s2;
    CHECK_OK(ml_scenes_score(&p, adir, ML_YESNO_OFFICIAL, &s2, &err), &err);
    CHECK(s2.family[ML_FAM_ATTRIBUTE].s.tp == 1 && s2.family[ML_FAM_ATTRIBUTE].s.tn == 1 && !s2.answered[0]);
    ml_scenes_free(&p);
}

static void expect_answer_error(const char *answers, const char *pattern) {
    const char *dir = make_dir();
    MlError err = {0};
    MlSceneProbes p;
    if (ml_scenes_load(&p, dir, &err)) {
        CHECK(0);
        return;
    }
    char ans[800];
    snprintf(ans, sizeof ans, "%s/bad.jsonl", test_tmpdir("test_eval_scenes"));
    FILE *f = fopen(ans, "w");
    if (f) {
        fputs(answers, f);
        fclose(f);
    }
    MlSceneScore s;
    CHECK(ml_scenes_score(&p, ans, ML_YESNO_OFFICIAL, &s, &err) != 0);
    if (!strstr(err.msg, pattern)) {
        fprintf(stderr, "  \"%s\" lacks \"%s\"\n", err.msg, pattern);
        CHECK(0);
    }
    ml_scenes_free(&p);
}

static void test_misaligned_answers(void) {
    expect_answer_error("{\"question_id\":\"attribute/1\",\"text\":\"Yes\"}\n", "bad.jsonl: no answer for attribute/2 (");
    expect_answer_error("{\"question_id\":\"attribute/9\",\"text\":\"Yes\"}\n", "bad.jsonl:1: question attribute/9 is not in");
    expect_answer_error("{\"question_id\":\"colour/1\",\"text\":\"Yes\"}\n", "bad.jsonl:1: question_id \"colour/1\" is not");
    expect_answer_error("{\"question_id\":7,\"text\":\"Yes\"}\n", "bad.jsonl:1: question_id \"7\" is not");
    expect_answer_error("{\"question_id\":\"count/1\",\"text\":\"Yes\"}\n", "has no count.jsonl");
    expect_answer_error("{\"question_id\":\"pope_random/1\",\"text\":\"Yes\"}\n{\"question_id\":\"pope_random/1\",\"text\":\"No\"}\n",
                        "bad.jsonl:2: question pope_random/1 answered twice (first on line 1)");
    MlSceneProbes p;
    MlError err = {0};
    char empty[800];
    snprintf(empty, sizeof empty, "%s/nothing", test_tmpdir("test_eval_scenes"));
    mkdir(empty, 0777);
    CHECK(ml_scenes_load(&p, empty, &err) == ML_ERR_MISSING && strstr(err.msg, "no probe files"));
}

/* Claims worked by hand against TRUTH (see the comment above it). */
static void test_describe_claims(void) {
    cJSON *truth = cJSON_Parse(TRUTH);
    MlClaimTally c[ML_N_CLAIMS];
    memset(c, 0, sizeof c);
    /* all true: 2 objects, 2 attributes, 1 relation */
    CHECK(ml_scenes_describe("A red star is left of a blue circle.", truth, 9.6, c) == 0);
    CHECK(c[ML_CLAIM_OBJECT].claims == 2 && c[ML_CLAIM_ATTRIBUTE].claims == 2 && c[ML_CLAIM_RELATION].claims == 1);
    /* two stars (right); a small circle (large: 2 size steps); circle left of
       a star: offsets (30, 2) and (28, -28) are both >= 135 degrees from
       "left" (the diagonal counts as opposite): 2; a heart (absent, 2) */
    CHECK(ml_scenes_describe("Two stars and a small circle. The circle is left of the star. A heart.", truth, 9.6, c) == 3);
    /* the striped star (0) is above the checked one (2): "below" is opposite (2) */
    CHECK(ml_scenes_describe("A striped star is below a checked star.", truth, 9.6, c) == 1);
    /* no star is large (medium is 1 step off); nothing is next to the circle,
       but the gaps (14 and 10 px) are under 2 x far: a near miss (1) */
    CHECK(ml_scenes_describe("A large star next to the circle.", truth, 9.6, c) == 2);
    CHECK(c[ML_CLAIM_OBJECT].claims == 11 && c[ML_CLAIM_OBJECT].errors == 1 && c[ML_CLAIM_OBJECT].severity == 2);
    CHECK(c[ML_CLAIM_ATTRIBUTE].claims == 6 && c[ML_CLAIM_ATTRIBUTE].errors == 2 && c[ML_CLAIM_ATTRIBUTE].severity == 3);
    CHECK(c[ML_CLAIM_COUNT].claims == 1 && c[ML_CLAIM_COUNT].errors == 0);
    CHECK(c[ML_CLAIM_RELATION].claims == 4 && c[ML_CLAIM_RELATION].errors == 3 && c[ML_CLAIM_RELATION].severity == 5);
    /* a relation with an absent object is not judged again */
    memset(c, 0, sizeof c);
    CHECK(ml_scenes_describe("The moon is right of the circle", truth, 9.6, c) == 1);
    CHECK(c[ML_CLAIM_RELATION].claims == 0 && c[ML_CLAIM_OBJECT].errors == 1);
    CHECK(ml_scenes_describe("", truth, 9.6, c) == 0);
    /* inside the ambiguity band: not judged; the green star is left of the circle */
    memset(c, 0, sizeof c);
    CHECK(ml_scenes_describe("The red star is above the blue circle. The green star is left of the circle.", truth, 0, c) == 0);
    CHECK(c[ML_CLAIM_RELATION].claims == 1 && c[ML_CLAIM_RELATION].errors == 0);
    /* far = 2 px: the 10 px gap to the green star is now more than 2 x far (2) */
    memset(c, 0, sizeof c);
    CHECK(ml_scenes_describe("The green star is next to the circle.", truth, 2, c) == 1 && c[ML_CLAIM_RELATION].severity == 2);
    cJSON_Delete(truth);
    /* through the file: rates and severity-weighted rates */
    const char *dir = make_dir();
    MlError err = {0};
    MlSceneProbes p;
    CHECK_OK(ml_scenes_load(&p, dir, &err), &err);
    char ans[800];
    snprintf(ans, sizeof ans, "%s/describe.jsonl", test_tmpdir("test_eval_scenes"));
    FILE *f = fopen(ans, "w");
    if (f) {
        fputs("{\"question_id\":\"describe/1\",\"text\":\"Three stars. A heart.\"}\n", f);
        fclose(f);
    }
    MlSceneScore s;
    CHECK_OK(ml_scenes_score(&p, ans, ML_YESNO_OFFICIAL, &s, &err), &err);
    CHECK(s.descriptions == 1 && s.descriptions_wrong == 1);
    cJSON *j = ml_scenes_json(&s);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "describe");
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(d, "object"), *cnt = cJSON_GetObjectItemCaseSensitive(d, "count");
    CHECK(obj && cJSON_GetObjectItemCaseSensitive(obj, "rate")->valuedouble == 0.5);              /* 1 of 2 */
    CHECK(obj && cJSON_GetObjectItemCaseSensitive(obj, "severity_weighted")->valuedouble == 0.5); /* 2 / (2 x 2) */
    CHECK(cnt && cJSON_GetObjectItemCaseSensitive(cnt, "severity_weighted")->valuedouble == 0.5); /* 3 vs 2: 1/2 */
    cJSON_Delete(j);
    ml_scenes_free(&p);
}

int main(void) {
    RUN(test_yesno_files);
    RUN(test_misaligned_answers);
    RUN(test_describe_claims);
    return test_summary("test_eval_scenes");
}
