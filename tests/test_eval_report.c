/* test_eval_report.c: reports from run directories this test builds: the
   survey's Table 1 rows come back cell for cell, scene families and
   alignment curves appear, bad run sets are refused. */
#include "test.h"

#include <sys/stat.h>

#include "report/report.h"

static char *make_run(const char *name, const char *run_json, const char *summary_json) {
    static char dir[16][700];
    static int slot;
    char *d = dir[slot++ % 16];
    snprintf(d, sizeof dir[0], "%s/%s", test_tmpdir("test_eval_report"), name);
    mkdir(d, 0777);
    char p[800];
    FILE *f;
    if (run_json) {
        snprintf(p, sizeof p, "%s/run.json", d);
        if ((f = fopen(p, "w"))) fputs(run_json, f), fclose(f);
    }
    snprintf(p, sizeof p, "%s/summary.json", d);
    remove(p);
    if (summary_json && (f = fopen(p, "w"))) fputs(summary_json, f), fclose(f);
    return d;
}

/* A POPE run whose summary holds one row of the survey's Table 1. */
static char *pope_run(const char *name, const char *method, const char *params, const char *split, double acc, double p,
                      double r, double f1, double yes, double sec) {
    char run[512], sum[512], f1_text[32];
    if (isnan(f1)) snprintf(f1_text, sizeof f1_text, "null");
    else snprintf(f1_text, sizeof f1_text, "%.4f", f1);
    snprintf(run, sizeof run,
             "{\"benchmark\": \"pope\", \"split\": \"%s\", \"model\": \"llava-1.5-7b\", \"method\": \"%s\", \"params\": %s}",
             split, method, params);
    snprintf(sum, sizeof sum,
             "{\"benchmark\": \"pope\", \"n\": 3000, \"accuracy\": %.4f, \"precision\": %.4f, \"recall\": %.4f, "
             "\"f1\": %s, \"yes_ratio\": %.4f, \"seconds_per_item\": %g}",
             acc, p, r, f1_text, yes, sec);
    return make_run(name, run, sum);
}

static char *render(char *const *dirs, size_t n, MlReportFormat fmt, MlError *err) {
    MlReport r;
    char *text = NULL;
    if (ml_report_load(&r, dirs, n, err)) return NULL;
    if (ml_report_render(&r, fmt, "a <b> report", &text, err)) text = NULL;
    ml_report_free(&r);
    return text;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* SURVEY-NOTES.md, Table 1: baseline and SID (Random / Adversarial / Popular). */
static void test_table1_shape(void) {
    char *dirs[6] = {
        pope_run("sid_adv", "sid", "{\"alpha\": 0.5, \"keep\": 100}", "adversarial", .804, .774, .859, .814, .55, 1.68),
        pope_run("base_pop", "greedy", "{}", "popular", .848, .817, .897, .855, .55, 1.27),
        pope_run("base_rand", "greedy", "{}", "random", .884, .875, .897, .886, .51, 1.27),
        pope_run("base_adv", "greedy", "{}", "adversarial", .779, .726, .897, .803, .62, 1.27),
        pope_run("sid_rand", "sid", "{\"alpha\": 0.5, \"keep\": 100}", "random", .894, .922, .861, .890, .47, 1.68),
        pope_run("sid_pop", "sid", "{\"alpha\": 0.5, \"keep\": 100}", "popular", .859, .859, .859, NAN, .5, 1.68),
    };
    MlError err = {0};
    char *md = render(dirs, 6, ML_REPORT_MARKDOWN, &err);
    CHECK(md != NULL);
    if (!md) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    CHECK(strstr(md, "# a <b> report") != NULL);
    CHECK(strstr(md, "| method | params | random: Acc / P / R / F1 | popular: Acc / P / R / F1 | adversarial: Acc / P / R / "
                     "F1 | yes % (random / popular / adversarial) | s/input |") != NULL);
    CHECK(strstr(md, "| greedy | defaults | 88.4 / 87.5 / 89.7 / 88.6 | 84.8 / 81.7 / 89.7 / 85.5 | 77.9 / 72.6 / 89.7 / "
                     "80.3 | 51.0 / 55.0 / 62.0 | 1.27 |") != NULL);
    /* SID's popular F1 is "-" in the survey; here it is missing (NaN -> null is not a number) */
    CHECK(strstr(md, "| sid | alpha=0.5, keep=100 | 89.4 / 92.2 / 86.1 / 89.0 | 85.9 / 85.9 / 85.9 / – | 80.4 / 77.4 / "
                     "85.9 / 81.4 |") != NULL);
    CHECK(count(md, "| greedy | defaults |") == 1 && count(md, "| sid | alpha") == 1); /* one row per method */
    free(md);
    /* the same method, parameters and split twice: refused, naming both */
    char *dup[2] = {dirs[2], pope_run("base_rand2", "greedy", "{}", "random", .9, .9, .9, .9, .5, 1)};
    CHECK(render(dup, 2, ML_REPORT_MARKDOWN, &err) == NULL && strstr(err.msg, "base_rand2") &&
          strstr(err.msg, "split random"));
    /* other parameters make another row */
    char *two[2] = {dirs[2], pope_run("vcd_rand", "greedy", "{\"temperature\": 1}", "random", .9, .9, .9, .9, .5, 2.5)};
    md = render(two, 2, ML_REPORT_MARKDOWN, &err);
    CHECK(md && count(md, "| greedy | defaults |") == 1 && strstr(md, "| greedy | temperature=1 | 90.0 / 90.0 / 90.0 / 90.0 |"));
    free(md);
}

static void test_scenes_and_alignment(void) {
    char *dirs[3];
    dirs[0] = make_run("scenes", "{\"benchmark\": \"scenes\", \"split\": \"test\", \"method\": \"vcd\", \"params\": {\"alpha\": 1}}",
                       "{\"benchmark\": \"scenes\", \"families\": {\"object\": {\"accuracy\": 0.9, \"precision\": 0.8, "
                       "\"recall\": 1, \"f1\": 0.888888, \"yes_ratio\": 0.625}, \"relation\": {\"accuracy\": 0.5, "
                       "\"precision\": 0.5, \"recall\": 0.5, \"f1\": 0.5, \"yes_ratio\": 0.5}}, \"describe\": {\"object\": "
                       "{\"rate\": 0.25, \"severity_weighted\": 0.3}}, \"seconds_per_item\": 0.02}");
    const char *align_sum = "{\"benchmark\": \"align\", \"layers\": [0, 1, 2], \"metrics\": {\"mutual_knn\": [0.1, 0.2, "
                            "0.3], \"cka_linear\": [0.5, 0.6, 0.55]}}";
    dirs[1] = make_run("align_a", "{\"benchmark\": \"align\", \"method\": \"base\", \"params\": {}}", align_sum);
    dirs[2] = make_run("align_b", NULL,
                       "{\"benchmark\": \"align\", \"label\": \"tuned\", \"layers\": [0, 1, 2], \"metrics\": "
                       "{\"mutual_knn\": [0.2, 0.3, null]}}");
    MlError err = {0};
    char *md = render(dirs, 3, ML_REPORT_MARKDOWN, &err);
    CHECK(md != NULL);
    if (md) {
        CHECK(strstr(md, "| test | vcd (alpha=1) | 90.0 / 80.0 / 100.0 / 88.9 / 62.5 | – | 50.0 / 50.0 / 50.0 / 50.0 / "
                         "50.0 | – | 25.0 / – / – | 30.0 / – / – | 0.02 |") != NULL);
        CHECK(strstr(md, "| layer | mutual_knn | cka_linear |") != NULL);
        CHECK(strstr(md, "| 2 | 0.3000 | 0.5500 |") != NULL);
        CHECK(strstr(md, "| 2 | – | – |") != NULL); /* run b: null and absent values */
        free(md);
    }
    char *html = render(dirs, 3, ML_REPORT_HTML, &err);
    CHECK(html != NULL);
    if (html) {
        CHECK(strstr(html, "<title>a &lt;b&gt; report</title>") != NULL);
        CHECK(count(html, "<svg") == 2);       /* one plot per metric */
        CHECK(count(html, "<polyline") == 3);  /* mutual_knn: 2 runs; cka_linear: 1 */
        CHECK(count(html, "<circle") == 3 + 2 + 3); /* the null point is skipped */
        CHECK(strstr(html, ">tuned</text>") != NULL);
        CHECK(strstr(html, "<td>90.0 / 80.0 / 100.0 / 88.9 / 62.5</td>") != NULL);
        free(html);
    }
}

static void test_bad_runs(void) {
    MlError err = {0};
    char *missing[1] = {make_run("empty", "{\"method\": \"x\"}", NULL)};
    CHECK(render(missing, 1, ML_REPORT_MARKDOWN, &err) == NULL && strstr(err.msg, "empty/summary.json: cannot open"));
    char *bad[1] = {make_run("bad", "{\"method\": \"x\"}", "[1, 2]")};
    CHECK(render(bad, 1, ML_REPORT_MARKDOWN, &err) == NULL && strstr(err.msg, "bad/summary.json: expected a JSON object"));
    MlReportFormat f;
    CHECK(ml_report_format_from_path("x.html", &f) == 0 && f == ML_REPORT_HTML);
    CHECK(ml_report_format_from_path("x.md", &f) == 0 && f == ML_REPORT_MARKDOWN);
    CHECK(ml_report_format_from_path("x.txt", &f) == -1);
}

int main(void) {
    RUN(test_table1_shape);
    RUN(test_scenes_and_alignment);
    RUN(test_bad_runs);
    return test_summary("test_eval_report");
}
