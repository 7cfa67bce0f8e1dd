/* test_report_matrix.c: the cause x method section from item logs this test
   writes, with counts chosen by hand: the cells come back with the Wilson
   intervals and McNemar p-values of tests/reference/stats_ref.py (run on
   those counts), costs are the hand-made sums, bad logs are refused. */
#include "test.h"

#include <sys/stat.h>

#include "report/report.h"

static void write_file(const char *dir, const char *name, const char *text) {
    char p[900];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) fputs(text, f), fclose(f);
}

/* A scene run: answers[i] ('y' or 'n') to pope_random/1..12 (labels: 1-6 yes,
   7-12 no), then one description; fw = forwards per token, sec = seconds per yes/no item. */
static char *scene_run(const char *name, const char *method, const char *suffix, const char *answers, int fw, double sec,
                       const char *summary) {
    static char dirs[8][700];
    static int slot;
    char *d = dirs[slot++ % 8];
    snprintf(d, sizeof dirs[0], "%s/%s", test_tmpdir("test_report_matrix"), name);
    mkdir(d, 0777);
    char run[600];
    snprintf(run, sizeof run,
             "{\"benchmark\": \"scenes\", \"split\": \"s\", \"model\": \"models/organism-x\", \"questions\": \"runs/m/scenes\", "
             "\"method\": \"%s\", \"params\": {\"alpha\": 1}, \"prompt_suffix\": \"%s\"}",
             method, suffix);
    write_file(d, "run.json", run);
    write_file(d, "summary.json", summary);
    char items[4096] = "";
    for (int i = 0; i < 12; i++) {
        size_t l = strlen(items);
        snprintf(items + l, sizeof items - l,
                 "{\"question_id\": \"pope_random/%d\", \"parsed\": \"%s\", \"label\": \"%s\", \"seconds\": %g, "
                 "\"tokens\": 2, \"forwards\": %d}\n",
                 i + 1, answers[i] == 'y' ? "yes" : "no", i < 6 ? "yes" : "no", sec, 2 * fw);
    }
    size_t l = strlen(items);
    snprintf(items + l, sizeof items - l,
             "{\"question_id\": \"describe/1\", \"parsed\": null, \"label\": null, \"seconds\": %g, \"tokens\": 10, "
             "\"forwards\": %d}\n",
             10 * sec, 10 * fw);
    write_file(d, "items.jsonl", items);
    return d;
}

static char *render(char *const *dirs, size_t n, MlReportFormat fmt, MlError *err) {
    MlReport r;
    char *text = NULL;
    if (ml_report_load(&r, dirs, n, err)) return NULL;
    if (ml_report_render(&r, fmt, "m", &text, err)) text = NULL;
    ml_report_free(&r);
    return text;
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static const char *const describe_summary =
    "{\"benchmark\": \"scenes\", \"describe\": {\"n\": 4, \"object\": {\"claims\": 20, \"errors\": 3}, "
    "\"attribute\": {\"claims\": 0, \"errors\": 0}, \"relation\": {\"claims\": 1, \"errors\": 1}}}";

static void test_table(void) {
    /* greedy: wrong on 6 (a miss), 7 and 8 (false yes): TP 5 FN 1 FP 2 TN 4.
       vcd: wrong on 12 only: TP 6 FP 1 TN 5; b = 1 (item 12), c = 3 (6, 7, 8). */
    char *dirs[3] = {
        scene_run("vcd", "vcd", "", "yyyyyyn" "nnnny", 2, 0.03, describe_summary),
        scene_run("greedy", "greedy", "", "yyyyynyynnnn", 1, 0.01, "{\"benchmark\": \"scenes\"}"),
        scene_run("vcd_suffix", "vcd", " One word.", "yyyyyyn" "nnnny", 2, 0.03, "{\"benchmark\": \"scenes\"}"),
    };
    MlError err = {0};
    char *md = render(dirs, 3, ML_REPORT_MARKDOWN, &err);
    CHECK(md != NULL);
    if (!md) {
        fprintf(stderr, "  %s\n", err.msg);
        return;
    }
    CHECK(strstr(md, "### models/organism-x, default prompt") != NULL);
    CHECK(strstr(md, "### models/organism-x, prompt suffix \" One word.\"") != NULL);
    /* greedy first though given second */
    CHECK(strstr(md, "| pope_random | greedy | 12 | 75.0 [46.8, 91.1] | 71.4 [35.9, 91.8] | 83.3 [43.6, 97.0] | 76.9 | "
                     "58.3 [32.0, 80.7] | baseline | – |") != NULL);
    CHECK(strstr(md, "| pope_random | greedy |") < strstr(md, "| pope_random | vcd |"));
    CHECK(strstr(md, "| pope_random | vcd | 12 | 91.7 [64.6, 98.5] | 85.7 [48.7, 97.4] | 100.0 [61.0, 100.0] | 92.3 | "
                     "58.3 [32.0, 80.7] | 1 / 3 | 0.625 |") != NULL);
    /* the suffix group has no greedy run: the one on the same items with the default prompt */
    CHECK(strstr(md, "| 1 / 3 (greedy with another prompt suffix) | 0.625 |") != NULL);
    CHECK(strstr(md, "| vcd | 4 | 15.0 [5.2, 36.0] (3 / 20) | – (0 / 0) | 100.0 [20.7, 100.0] (1 / 1) |") != NULL);
    /* 13 inputs, 34 tokens; forwards 34 (greedy) and 68 (vcd); seconds 0.22 and 0.66 */
    CHECK(strstr(md, " | 13 | 2.62 | 1.00 | 1.00 | 0.0169 | 1.00 |") != NULL);
    CHECK(strstr(md, "| vcd {\"alpha\":1} | 13 | 2.62 | 2.00 | 2.00 | 0.0508 | 3.00 |") != NULL);
    free(md);
    char *html = render(dirs, 3, ML_REPORT_HTML, &err);
    CHECK(html != NULL);
    if (html) {
        CHECK(count(html, "<svg") == 4);        /* accuracy and yes-ratio per group */
        CHECK(count(html, "<path d=\"M") == 6); /* a whisker per bar: 2 + 2 + 1 + 1 */
        CHECK(strstr(html, "<td>1 / 3</td><td>0.625</td>") != NULL);
        free(html);
    }
}

static void test_bad_logs(void) {
    MlError err = {0};
    char *d = scene_run("nolabel", "greedy", "", "yyyyyyyyyyyy", 1, 0.01, "{\"benchmark\": \"scenes\"}");
    write_file(d, "items.jsonl", "{\"question_id\": \"pope_random/1\", \"parsed\": \"yes\"}\n");
    CHECK(render(&d, 1, ML_REPORT_MARKDOWN, &err) == NULL && strstr(err.msg, "nolabel/items.jsonl:1: a yes/no probe needs label"));
    write_file(d, "items.jsonl",
               "{\"question_id\": \"count/1\", \"parsed\": \"yes\", \"label\": \"yes\"}\n"
               "{\"question_id\": \"count/1\", \"parsed\": \"no\", \"label\": \"yes\"}\n");
    CHECK(render(&d, 1, ML_REPORT_MARKDOWN, &err) == NULL && strstr(err.msg, "items.jsonl:2: question count/1 answered twice"));
    write_file(d, "items.jsonl", "{\"parsed\": \"no\", \"label\": \"yes\"}\n");
    CHECK(render(&d, 1, ML_REPORT_MARKDOWN, &err) == NULL && strstr(err.msg, "items.jsonl:1: no \"question_id\""));
    write_file(d, "items.jsonl", "{\"question_id\": \"count/1\", \"parsed\": \"yes\", \"label\": \"yes\"}\n");
    write_file(d, "summary.json", "{\"describe\": {\"relation\": {\"claims\": 2, \"errors\": 3}}}");
    CHECK(render(&d, 1, ML_REPORT_MARKDOWN, &err) == NULL &&
          strstr(err.msg, "nolabel/summary.json: describe.relation: claims and errors must be counts"));
    write_file(d, "summary.json", "{\"describe\": {\"object\": {\"claims\": -1, \"errors\": 0}}}");
    CHECK(render(&d, 1, ML_REPORT_MARKDOWN, &err) == NULL && strstr(err.msg, "describe.object"));
    write_file(d, "summary.json", "{\"benchmark\": \"scenes\"}");
    /* without an item log a scene run only has its summary row */
    char path[900];
    snprintf(path, sizeof path, "%s/items.jsonl", d);
    remove(path);
    char *md = render(&d, 1, ML_REPORT_MARKDOWN, &err);
    CHECK(md && !strstr(md, "cause x method"));
    free(md);
}

int main(void) {
    RUN(test_table);
    RUN(test_bad_logs);
    return test_summary("test_report_matrix");
}
