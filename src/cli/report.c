/* report.c: `misalign report RUNDIR... --out F.md|F.html`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/file.h"
#include "report/report.h"

static void usage(FILE *f) {
    fprintf(f, "usage: misalign report RUNDIR... --out F.md|F.html [--title T]\n\n"
               "Compares finished runs (each RUNDIR holds summary.json and run.json; docs/evaluation.md):\n"
               "yes/no benchmarks as the survey's Table 1 (method x split x Acc/P/R/F1, yes-ratio, s/input),\n"
               "scene-probe families; for scene runs with items.jsonl the cause x method table (per organism\n"
               "and prompt: Acc/P/R/yes-ratio with 95%% Wilson intervals, McNemar's exact test against greedy,\n"
               "describe hallucination rates, forwards per token and s/input relative to greedy, bar plots);\n"
               "and per-layer alignment curves (SVG plots in HTML).\n\n"
               "  --out F      output file; .md writes Markdown, .html writes HTML (required)\n"
               "  --title T    report title (default \"misalign report\")\n");
}

int cmd_report(int argc, char **argv) {
    const char *out = NULL, *title = "misalign report";
    char **dirs = calloc((size_t)argc, sizeof *dirs);
    size_t n = 0;
    if (!dirs) {
        fprintf(stderr, "misalign: error: out of memory\n");
        return 1;
    }
    int rc = 0;
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            free(dirs);
            return 0;
        } else if (!strcmp(argv[i], "--out")) {
            if (!(out = ml_cli_value("report", argc, argv, &i))) rc = 2;
        } else if (!strcmp(argv[i], "--title")) {
            if (!(title = ml_cli_value("report", argc, argv, &i))) rc = 2;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            rc = ml_cli_usage_error("report", "unknown option '%s'", argv[i]);
        } else {
            dirs[n++] = argv[i];
        }
    }
    MlReportFormat fmt = ML_REPORT_MARKDOWN;
    if (!rc && !out) rc = ml_cli_usage_error("report", "--out is required");
    if (!rc && !n) rc = ml_cli_usage_error("report", "give at least one run directory");
    if (!rc && ml_report_format_from_path(out, &fmt))
        rc = ml_cli_usage_error("report", "--out: '%s' must end in .md or .html", out);
    if (rc) {
        free(dirs);
        return rc;
    }
    MlError err = {0};
    MlReport r;
    char *text = NULL;
    if (ml_report_load(&r, dirs, n, &err) == ML_OK) {
        if (ml_report_render(&r, fmt, title, &text, &err) == ML_OK) ml_file_write(out, text, strlen(text), &err);
        ml_report_free(&r);
    }
    free(text);
    free(dirs);
    if (err.code) return ml_cli_fail(&err);
    return 0;
}
