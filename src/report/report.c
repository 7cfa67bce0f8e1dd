/* report.c: run directories -> Markdown or HTML comparison tables and plots. */
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "core/strbuf.h"
#include "report/matrix.h"
#include "report/out.h"
#include "report/svg.h"

#define MAX_COLS 32
#define MAX_SERIES 64
#define CELL 640 /* a table cell: params text (< 512) plus decoration */

void ml_report_free(MlReport *r) {
    for (size_t i = 0; i < r->count; i++) {
        free(r->runs[i].dir);
        cJSON_Delete(r->runs[i].run);
        cJSON_Delete(r->runs[i].summary);
    }
    free(r->runs);
    memset(r, 0, sizeof *r);
}

int ml_report_load(MlReport *r, char *const *dirs, size_t n, MlError *err) {
    memset(r, 0, sizeof *r);
    if (!n) return ml_error_set(err, ML_ERR_ARG, "report: no run directories given");
    r->runs = calloc(n, sizeof *r->runs);
    if (!r->runs) return ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
    for (size_t i = 0; i < n; i++) {
        MlReportRun *run = &r->runs[r->count++];
        char path[4200];
        int rc;
        if (!(run->dir = strdup(dirs[i]))) rc = ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
        else if ((rc = ml_path_join(path, sizeof path, dirs[i], "summary.json", err)) == ML_OK)
            rc = ml_json_load(path, &run->summary, err);
        if (!rc && !cJSON_IsObject(run->summary)) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", path);
        if (!rc && (rc = ml_path_join(path, sizeof path, dirs[i], "run.json", err)) == ML_OK) {
            if (ml_file_exists(path)) rc = ml_json_load(path, &run->run, err);
            else if (!(run->run = cJSON_CreateObject())) rc = ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
            if (!rc && !cJSON_IsObject(run->run)) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", path);
        }
        if (rc) {
            ml_report_free(r);
            return rc;
        }
    }
    return ML_OK;
}

int ml_report_format_from_path(const char *path, MlReportFormat *fmt) {
    const char *dot = strrchr(path, '.');
    if (!dot) return -1;
    if (!strcmp(dot, ".md")) *fmt = ML_REPORT_MARKDOWN;
    else if (!strcmp(dot, ".html") || !strcmp(dot, ".htm")) *fmt = ML_REPORT_HTML;
    else return -1;
    return 0;
}

/* ---- reading runs ---- */

/* A string field of the summary, else of run.json; def when absent. */
static const char *field_str(const MlReportRun *run, const char *key, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(run->summary, key);
    if (!cJSON_IsString(v)) v = cJSON_GetObjectItemCaseSensitive(run->run, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

/* A number member; "a.b" reads member b of object a.  NaN when absent. */
static double num(const cJSON *o, const char *key) {
    const char *dot = strchr(key, '.');
    if (dot) {
        char head[64];
        snprintf(head, sizeof head, "%.*s", (int)(dot - key), key);
        return num(cJSON_GetObjectItemCaseSensitive(o, head), dot + 1);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* "alpha=1, beta=0.2" from the params object ("" when none). */
static void params_text(const MlReportRun *run, char *out, size_t cap) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(run->run, "params");
    if (!cJSON_IsObject(p)) p = cJSON_GetObjectItemCaseSensitive(run->summary, "params");
    size_t used = 0;
    out[0] = 0;
    for (const cJSON *x = cJSON_IsObject(p) ? p->child : NULL; x && used < cap; x = x->next) {
        char val[96];
        if (cJSON_IsNumber(x)) snprintf(val, sizeof val, "%g", x->valuedouble);
        else if (cJSON_IsString(x)) snprintf(val, sizeof val, "%s", x->valuestring);
        else {
            char *s = cJSON_PrintUnformatted(x);
            snprintf(val, sizeof val, "%s", s ? s : "?");
            free(s);
        }
        int n = snprintf(out + used, cap - used, "%s%s=%s", used ? ", " : "", x->string ? x->string : "?", val);
        if (n < 0) break;
        used += (size_t)n;
    }
}

static const char *benchmark_of(const MlReportRun *run) {
    const char *b = field_str(run, "benchmark", NULL);
    if (b) return b;
    if (cJSON_GetObjectItemCaseSensitive(run->summary, "families")) return "scenes";
    if (cJSON_GetObjectItemCaseSensitive(run->summary, "layers")) return "align";
    return "pope";
}

/* Yes/no runs: POPE and anything else summarised by TP/FP/TN/FN. */
static int is_yesno(const MlReportRun *run) {
    const char *b = benchmark_of(run);
    return strcmp(b, "scenes") && strcmp(b, "align") && strcmp(b, "amber") && strcmp(b, "chair") &&
           cJSON_GetObjectItemCaseSensitive(run->summary, "accuracy") != NULL;
}

/* ---- tables ---- */

/* x100 with one decimal, "–" when missing. */
static void pct(char *out, size_t cap, double v) {
    if (isfinite(v)) snprintf(out, cap, "%.1f", 100 * v);
    else snprintf(out, cap, "–");
}

static void binary_cell(char *out, size_t cap, const cJSON *o, int with_yes) {
    char a[16], p[16], r[16], f[16], y[16];
    pct(a, sizeof a, num(o, "accuracy"));
    pct(p, sizeof p, num(o, "precision"));
    pct(r, sizeof r, num(o, "recall"));
    pct(f, sizeof f, num(o, "f1"));
    pct(y, sizeof y, num(o, "yes_ratio"));
    if (with_yes) snprintf(out, cap, "%s / %s / %s / %s / %s", a, p, r, f, y);
    else snprintf(out, cap, "%s / %s / %s / %s", a, p, r, f);
}

/* Row identity: model, method and parameters. */
static void row_key(const MlReportRun *run, char *out, size_t cap) {
    char params[512];
    params_text(run, params, sizeof params);
    snprintf(out, cap, "%s\x1f%s\x1f%s", field_str(run, "model", ""), field_str(run, "method", "?"), params);
}

static int split_rank(const char *s) {
    static const char *const order[] = {"random", "popular", "adversarial"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, order[i])) return i;
    return 3;
}

static int several_models(const MlReport *r) {
    const char *first = NULL;
    for (size_t i = 0; i < r->count; i++) {
        const char *m = field_str(&r->runs[i], "model", "");
        if (!first) first = m;
        else if (strcmp(first, m)) return 1;
    }
    return 0;
}

/* The survey's Table 1 for one yes/no benchmark. */
static int yesno_table(MlReportOut *o, const MlReport *r, const char *bench, MlError *err) {
    const char *splits[MAX_COLS];
    int n_splits = 0;
    for (size_t i = 0; i < r->count; i++) {
        const MlReportRun *run = &r->runs[i];
        if (!is_yesno(run) || strcmp(benchmark_of(run), bench)) continue;
        const char *s = field_str(run, "split", "all");
        int known = 0;
        for (int k = 0; k < n_splits && !known; k++) known = !strcmp(splits[k], s);
        if (known) continue;
        if (n_splits == MAX_COLS) return ml_error_set(err, ML_ERR_RANGE, "report: more than %d splits", MAX_COLS);
        splits[n_splits++] = s;
    }
    /* random, popular, adversarial first (the survey's order), then as found */
    for (int a = 1; a < n_splits; a++)
        for (int b = a; b > 0 && split_rank(splits[b]) < split_rank(splits[b - 1]); b--) {
            const char *t = splits[b];
            splits[b] = splits[b - 1];
            splits[b - 1] = t;
        }
    int models = several_models(r);
    const char *cols[MAX_COLS + 5];
    char names[MAX_COLS][96], yes_head[512] = "yes % (";
    int nc = 0;
    if (models) cols[nc++] = "model";
    cols[nc++] = "method";
    cols[nc++] = "params";
    for (int k = 0; k < n_splits; k++) {
        snprintf(names[k], sizeof names[k], "%s: Acc / P / R / F1", splits[k]);
        cols[nc++] = names[k];
        size_t l = strlen(yes_head);
        snprintf(yes_head + l, sizeof yes_head - l, "%s%s", k ? " / " : "", splits[k]);
    }
    strncat(yes_head, ")", sizeof yes_head - strlen(yes_head) - 1);
    cols[nc++] = yes_head;
    cols[nc++] = "s/input";
    ml_report_heading(o, 2, bench);
    ml_report_table_start(o, cols, nc);
    char *done = calloc(r->count, 1);
    if (!done) return ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
    for (size_t i = 0; i < r->count; i++) {
        const MlReportRun *first = &r->runs[i];
        if (done[i] || !is_yesno(first) || strcmp(benchmark_of(first), bench)) continue;
        char key[1200], other[1200];
        row_key(first, key, sizeof key);
        const MlReportRun *at[MAX_COLS] = {0};
        double sec = 0, weight = 0;
        for (size_t j = i; j < r->count; j++) {
            const MlReportRun *run = &r->runs[j];
            if (done[j] || !is_yesno(run) || strcmp(benchmark_of(run), bench)) continue;
            row_key(run, other, sizeof other);
            if (strcmp(key, other)) continue;
            done[j] = 1;
            const char *s = field_str(run, "split", "all");
            for (int k = 0; k < n_splits; k++) {
                if (strcmp(splits[k], s)) continue;
                if (at[k]) {
                    free(done);
                    return ml_error_set(err, ML_ERR_FORMAT, "report: %s and %s are the same method and parameters on split %s",
                                        at[k]->dir, run->dir, s);
                }
                at[k] = run;
            }
            double t = num(run->summary, "seconds_per_item"), w = num(run->summary, "n");
            if (!isfinite(w)) w = 1;
            if (isfinite(t)) sec += t * w, weight += w;
        }
        char cells[MAX_COLS + 5][CELL], params[512];
        const char *row[MAX_COLS + 5];
        int c = 0;
        params_text(first, params, sizeof params);
        if (models) snprintf(cells[c++], sizeof cells[0], "%s", field_str(first, "model", ""));
        snprintf(cells[c++], sizeof cells[0], "%s", field_str(first, "method", "?"));
        snprintf(cells[c++], sizeof cells[0], "%s", params[0] ? params : "defaults");
        char yes[160] = "";
        for (int k = 0; k < n_splits; k++) {
            if (at[k]) binary_cell(cells[c++], sizeof cells[0], at[k]->summary, 0);
            else snprintf(cells[c++], sizeof cells[0], "–");
            char y[16];
            pct(y, sizeof y, at[k] ? num(at[k]->summary, "yes_ratio") : NAN);
            size_t l = strlen(yes);
            snprintf(yes + l, sizeof yes - l, "%s%s", k ? " / " : "", y);
        }
        snprintf(cells[c++], sizeof cells[0], "%s", yes);
        if (weight > 0) snprintf(cells[c++], sizeof cells[0], "%.3g", sec / weight);
        else snprintf(cells[c++], sizeof cells[0], "–");
        for (int k = 0; k < c; k++) row[k] = cells[k];
        ml_report_table_row(o, row, c);
    }
    free(done);
    ml_report_table_end(o);
    return ML_OK;
}

static void scenes_table(MlReportOut *o, const MlReport *r) {
    static const char *const fams[] = {"object", "attribute", "relation", "count"};
    static const char *const kinds[] = {"object", "attribute", "relation"};
    const char *cols[] = {"run",
                          "method",
                          "object: Acc / P / R / F1 / yes%",
                          "attribute: Acc / P / R / F1 / yes%",
                          "relation: Acc / P / R / F1 / yes%",
                          "count: Acc / P / R / F1 / yes%",
                          "describe hallucination % (object / attribute / relation)",
                          "severity-weighted %",
                          "s/input"};
    ml_report_heading(o, 2, "scene probes");
    ml_report_para(o, "Yes/no probes per family (x100); open descriptions: share of claims that are wrong, and the same "
            "weighted by each error's severity (docs/evaluation.md).");
    ml_report_table_start(o, cols, 9);
    for (size_t i = 0; i < r->count; i++) {
        const MlReportRun *run = &r->runs[i];
        if (strcmp(benchmark_of(run), "scenes")) continue;
        char cells[9][CELL], params[512];
        const char *row[9];
        params_text(run, params, sizeof params);
        snprintf(cells[0], sizeof cells[0], "%s", field_str(run, "split", run->dir));
        snprintf(cells[1], sizeof cells[1], "%s%s%s%s", field_str(run, "method", "?"), params[0] ? " (" : "", params,
                 params[0] ? ")" : "");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(run->summary, "families");
        for (int k = 0; k < 4; k++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(f, fams[k]);
            if (cJSON_IsObject(x)) binary_cell(cells[2 + k], sizeof cells[0], x, 1);
            else snprintf(cells[2 + k], sizeof cells[0], "–");
        }
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(run->summary, "describe");
        char rate[3][16], sev[3][16];
        for (int k = 0; k < 3; k++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(d, kinds[k]);
            pct(rate[k], sizeof rate[k], num(x, "rate"));
            pct(sev[k], sizeof sev[k], num(x, "severity_weighted"));
        }
        snprintf(cells[6], sizeof cells[0], "%s / %s / %s", rate[0], rate[1], rate[2]);
        snprintf(cells[7], sizeof cells[0], "%s / %s / %s", sev[0], sev[1], sev[2]);
        double t = num(run->summary, "seconds_per_item");
        if (isfinite(t)) snprintf(cells[8], sizeof cells[0], "%.3g", t);
        else snprintf(cells[8], sizeof cells[0], "–");
        for (int k = 0; k < 9; k++) row[k] = cells[k];
        ml_report_table_row(o, row, 9);
    }
    ml_report_table_end(o);
}

static void simple_table(MlReportOut *o, const MlReport *r, const char *bench, const char *title, const char *const *keys,
                         const char *const *heads, int n, int scale) {
    const char *cols[16];
    cols[0] = "run";
    cols[1] = "method";
    for (int k = 0; k < n; k++) cols[2 + k] = heads[k];
    ml_report_heading(o, 2, title);
    ml_report_table_start(o, cols, n + 2);
    for (size_t i = 0; i < r->count; i++) {
        const MlReportRun *run = &r->runs[i];
        if (strcmp(benchmark_of(run), bench)) continue;
        char cells[16][CELL], params[512];
        const char *row[16];
        params_text(run, params, sizeof params);
        snprintf(cells[0], sizeof cells[0], "%s", run->dir);
        snprintf(cells[1], sizeof cells[0], "%s%s%s%s", field_str(run, "method", "?"), params[0] ? " (" : "", params,
                 params[0] ? ")" : "");
        for (int k = 0; k < n; k++) {
            double v = num(run->summary, keys[k]);
            if (isfinite(v)) snprintf(cells[2 + k], sizeof cells[0], "%.1f", scale ? 100 * v : v);
            else snprintf(cells[2 + k], sizeof cells[0], "–");
        }
        for (int k = 0; k < n + 2; k++) row[k] = cells[k];
        ml_report_table_row(o, row, n + 2);
    }
    ml_report_table_end(o);
}

/* Per-layer curves: one plot (HTML) or table column (Markdown) per metric. */
static int align_section(MlReportOut *o, const MlReport *r, MlError *err) {
    const char *metrics[MAX_COLS];
    int n_metrics = 0;
    for (size_t i = 0; i < r->count; i++) {
        if (strcmp(benchmark_of(&r->runs[i]), "align")) continue;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->runs[i].summary, "metrics");
        for (const cJSON *x = cJSON_IsObject(m) ? m->child : NULL; x; x = x->next) {
            int known = 0;
            for (int k = 0; k < n_metrics && !known; k++) known = !strcmp(metrics[k], x->string);
            if (!known && n_metrics < MAX_COLS) metrics[n_metrics++] = x->string;
        }
    }
    ml_report_heading(o, 2, "representation alignment per layer");
    int rc = ML_OK;
    if (o->fmt == ML_REPORT_HTML) {
        for (int k = 0; k < n_metrics && !rc; k++) {
            MlSvgSeries series[MAX_SERIES];
            double *bufs[MAX_SERIES];
            char labels[MAX_SERIES][200];
            size_t ns = 0;
            for (size_t i = 0; i < r->count && ns < MAX_SERIES; i++) {
                const MlReportRun *run = &r->runs[i];
                if (strcmp(benchmark_of(run), "align")) continue;
                const cJSON *layers = cJSON_GetObjectItemCaseSensitive(run->summary, "layers");
                const cJSON *vals = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run->summary, "metrics"),
                                                                     metrics[k]);
                size_t n = (size_t)cJSON_GetArraySize(vals);
                if (!cJSON_IsArray(vals) || !n) continue;
                double *xy = malloc(2 * n * sizeof *xy);
                if (!xy) {
                    rc = ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
                    break;
                }
                size_t j = 0;
                for (const cJSON *v = vals->child; v; v = v->next, j++) {
                    const cJSON *l = cJSON_GetArrayItem(layers, (int)j);
                    xy[j] = cJSON_IsNumber(l) ? l->valuedouble : (double)j;
                    xy[n + j] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
                }
                snprintf(labels[ns], sizeof labels[ns], "%s", field_str(run, "label", field_str(run, "method", run->dir)));
                bufs[ns] = xy;
                series[ns] = (MlSvgSeries){labels[ns], xy, xy + n, n};
                ns++;
            }
            if (!rc) {
                ml_strbuf_puts(&o->b, "<div class=\"plot\">\n");
                ml_svg_line_plot(&o->b, metrics[k], "layer", series, ns);
                ml_strbuf_puts(&o->b, "</div>\n");
            }
            for (size_t s = 0; s < ns; s++) free(bufs[s]);
        }
        return rc;
    }
    for (size_t i = 0; i < r->count; i++) {
        const MlReportRun *run = &r->runs[i];
        if (strcmp(benchmark_of(run), "align")) continue;
        ml_report_heading(o, 3, field_str(run, "label", field_str(run, "method", run->dir)));
        const cJSON *layers = cJSON_GetObjectItemCaseSensitive(run->summary, "layers");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(run->summary, "metrics");
        const char *cols[MAX_COLS + 1];
        cols[0] = "layer";
        for (int k = 0; k < n_metrics; k++) cols[k + 1] = metrics[k];
        ml_report_table_start(o, cols, n_metrics + 1);
        int n_layers = cJSON_GetArraySize(layers);
        for (int j = 0; j < n_layers; j++) {
            char cells[MAX_COLS + 1][32];
            const char *row[MAX_COLS + 1];
            const cJSON *l = cJSON_GetArrayItem(layers, j);
            snprintf(cells[0], sizeof cells[0], "%g", cJSON_IsNumber(l) ? l->valuedouble : (double)j);
            for (int k = 0; k < n_metrics; k++) {
                const cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, metrics[k]), j);
                if (cJSON_IsNumber(v)) snprintf(cells[k + 1], sizeof cells[0], "%.4f", v->valuedouble);
                else snprintf(cells[k + 1], sizeof cells[0], "–");
            }
            for (int k = 0; k <= n_metrics; k++) row[k] = cells[k];
            ml_report_table_row(o, row, n_metrics + 1);
        }
        ml_report_table_end(o);
    }
    return ML_OK;
}

static int has_bench(const MlReport *r, const char *bench) {
    for (size_t i = 0; i < r->count; i++)
        if (!strcmp(benchmark_of(&r->runs[i]), bench)) return 1;
    return 0;
}

int ml_report_render(const MlReport *r, MlReportFormat fmt, const char *title, char **out, MlError *err) {
    *out = NULL;
    MlReportOut o = {{0}, fmt};
    if (fmt == ML_REPORT_HTML) {
        ml_strbuf_puts(&o.b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
        ml_strbuf_html(&o.b, title);
        ml_strbuf_puts(&o.b, "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
                              "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
                              "th{background:#f4f4f4}.plot{display:inline-block;margin:8px}</style></head><body>\n");
        ml_strbuf_puts(&o.b, "<h1>");
        ml_strbuf_html(&o.b, title);
        ml_strbuf_puts(&o.b, "</h1>\n");
    } else {
        ml_strbuf_puts(&o.b, "# ");
        ml_strbuf_md(&o.b, title);
        ml_strbuf_puts(&o.b, "\n");
    }
    int rc = ML_OK;
    /* yes/no benchmarks, one table each, in order of first appearance */
    for (size_t i = 0; i < r->count && !rc; i++) {
        const MlReportRun *run = &r->runs[i];
        if (!is_yesno(run)) continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = is_yesno(&r->runs[j]) && !strcmp(benchmark_of(&r->runs[j]), benchmark_of(run));
        if (!seen) rc = yesno_table(&o, r, benchmark_of(run), err);
    }
    if (!rc && has_bench(r, "scenes")) scenes_table(&o, r);
    if (!rc && has_bench(r, "scenes")) rc = ml_report_matrix(&o, r, err);
    if (!rc && has_bench(r, "amber")) {
        static const char *const keys[] = {"CHAIR",           "Cover",     "Hal", "Cog", "overall.Accuracy", "overall.Precision",
                                           "overall.Recall", "overall.F1", "AMBER"};
        static const char *const heads[] = {"CHAIR", "Cover", "Hal", "Cog", "Acc", "P", "R", "F1", "AMBER"};
        simple_table(&o, r, "amber", "AMBER", keys, heads, 9, 0);
    }
    if (!rc && has_bench(r, "chair")) {
        static const char *const keys[] = {"CHAIRs", "CHAIRi", "Recall"};
        simple_table(&o, r, "chair", "CHAIR (x100)", keys, keys, 3, 1);
    }
    if (!rc && has_bench(r, "align")) rc = align_section(&o, r, err);
    if (!rc) {
        const char *cols[] = {"run directory", "benchmark", "split", "model", "method"};
        ml_report_heading(&o, 2, "runs");
        ml_report_table_start(&o, cols, 5);
        for (size_t i = 0; i < r->count; i++) {
            const MlReportRun *run = &r->runs[i];
            const char *row[] = {run->dir, benchmark_of(run), field_str(run, "split", "–"), field_str(run, "model", "–"),
                                 field_str(run, "method", "–")};
            ml_report_table_row(&o, row, 5);
        }
        ml_report_table_end(&o);
    }
    if (fmt == ML_REPORT_HTML) ml_strbuf_puts(&o.b, "</body></html>\n");
    if (!rc && o.b.failed) rc = ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
    if (rc) {
        free(o.b.data);
        return rc;
    }
    *out = o.b.data;
    return ML_OK;
}
