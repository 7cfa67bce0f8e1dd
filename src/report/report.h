/*
** report.h: one comparison report from run directories (docs/evaluation.md
** defines the RUNDIR layout: run.json, items.jsonl, summary.json).
**
** Sections, each present when some run supplies it:
**   yes/no benchmarks (POPE and POPE-style files): the survey's Table 1 shape,
**     one row per method (+ parameters), one column per split with
**     Acc / P / R / F1 (x100), then the yes-ratio per split and s/input;
**   scene probes: per family (object, attribute, relation, count)
**     Acc / P / R / F1 / yes%, and the open-description hallucination rates;
**   cause x method (report/matrix.h): from scene runs' items.jsonl, per
**     organism and prompt, each probe file x method with 95% intervals,
**     McNemar's exact test against greedy, describe rates, cost, bar plots;
**   alignment: per-layer curves of each metric, one line per run (inline SVG
**     plots in HTML, a table per run in Markdown).
**
**     MlReport r; MlError err = {0};
**     if (ml_report_load(&r, dirs, n_dirs, &err)) ...
**     char *text; ml_report_render(&r, ML_REPORT_HTML, "title", &text, &err);
**     ml_report_free(&r); free(text);
*/
#ifndef ML_REPORT_REPORT_H
#define ML_REPORT_REPORT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/error.h"

typedef enum MlReportFormat { ML_REPORT_MARKDOWN = 0, ML_REPORT_HTML = 1 } MlReportFormat;

typedef struct MlReportRun {
    char *dir;
    cJSON *run;     /* run.json (may be an empty object) */
    cJSON *summary; /* summary.json */
} MlReportRun;

typedef struct MlReport {
    MlReportRun *runs;
    size_t count;
} MlReport;

/* Reads DIR/summary.json (required) and DIR/run.json (optional) of each run. */
int ml_report_load(MlReport *r, char *const *dirs, size_t n, MlError *err);
void ml_report_free(MlReport *r);

/* Renders the whole report into a malloc'd NUL-terminated string. */
int ml_report_render(const MlReport *r, MlReportFormat fmt, const char *title, char **out, MlError *err);

/* "F.md" -> Markdown, "F.html"/"F.htm" -> HTML; -1 for anything else. */
int ml_report_format_from_path(const char *path, MlReportFormat *fmt);

#endif
