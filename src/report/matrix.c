/* matrix.c: the cause x method section: scene runs' items -> intervals, paired tests, costs, bar plots. */
#include "report/matrix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/strmap.h"
#include "eval/records.h"
#include "eval/scenes.h"
#include "report/stats.h"
#include "report/svg.h"

enum { N_SPLITS = ML_SCENES_FILES - 1 }; /* the yes/no probe files; describe is the last file */

typedef struct Tally {
    size_t tp, fp, tn, fn;
} Tally;

typedef struct MxRun {
    const MlReportRun *run;
    MlRecords rec;
    signed char *split; /* per record: probe file, ML_SCENES_DESCRIBE, or -1 */
    signed char *right; /* per yes/no record: answered as labelled */
    MlStrMap ids;       /* yes/no question_id -> record */
    Tally tally[N_SPLITS];
    double tokens, forwards, seconds;
    size_t items, with_forwards;
    const char *key; /* model \x1f questions \x1f suffix */
    char key_buf[1400];
    int done; /* rendered */
} MxRun;

static const char *run_str(const MlReportRun *run, const char *key, const char *def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(run->run, key);
    if (!cJSON_IsString(v)) v = cJSON_GetObjectItemCaseSensitive(run->summary, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static int is_scenes(const MlReportRun *run) {
    const char *b = run_str(run, "benchmark", NULL);
    return b ? !strcmp(b, "scenes") : cJSON_GetObjectItemCaseSensitive(run->summary, "families") != NULL;
}

static void mx_free(MxRun *x) {
    ml_records_free(&x->rec);
    free(x->split);
    free(x->right);
    ml_strmap_free(&x->ids);
}

static double num_or(const cJSON *o, const char *key, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

/* summary.json "describe": each kind's claims and errors are counts, errors <= claims. */
static int check_describe(const MlReportRun *run, MlError *err) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(run->summary, "describe");
    for (int k = 0; k < ML_N_CLAIMS && cJSON_IsObject(d); k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(d, ml_scenes_claim_name(k));
        if (!x) continue;
        const double claims = num_or(x, "claims", 0), errors = num_or(x, "errors", 0);
        if (!(claims >= 0 && claims <= 1e15 && errors >= 0 && errors <= claims && claims == floor(claims) &&
              errors == floor(errors)))
            return ml_error_set(err, ML_ERR_FORMAT, "%s/summary.json: describe.%s: claims and errors must be counts, errors <= claims",
                                run->dir, ml_scenes_claim_name(k));
    }
    return ML_OK;
}

/* Reads RUNDIR/items.jsonl; *found 0 when the run has none. */
static int mx_load(MxRun *x, const MlReportRun *run, int *found, MlError *err) {
    char path[4200];
    memset(x, 0, sizeof *x);
    x->run = run;
    *found = 0;
    int rc = ml_path_join(path, sizeof path, run->dir, "items.jsonl", err);
    if (rc || !ml_file_exists(path)) return rc;
    *found = 1;
    if ((rc = check_describe(run, err)) || (rc = ml_records_load(path, &x->rec, err))) return rc;
    size_t n = x->rec.count ? x->rec.count : 1;
    x->split = malloc(n);
    x->right = calloc(n, 1);
    if (!x->split || !x->right) return ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
    for (size_t i = 0; i < x->rec.count; i++) {
        const cJSON *o = x->rec.items[i].json;
        const size_t line = x->rec.items[i].line;
        char id[ML_RECORD_ID_MAX + 1];
        if ((rc = ml_record_id(o, "question_id", id, path, line, err))) return rc;
        x->split[i] = -1;
        const char *slash = strchr(id, '/');
        for (int f = 0; f < ML_SCENES_FILES && slash; f++) {
            const char *name = ml_scenes_file_name(f);
            if (strlen(name) == (size_t)(slash - id) && !strncmp(id, name, strlen(name))) x->split[i] = (signed char)f;
        }
        x->items++;
        x->seconds += num_or(o, "seconds", 0);
        double t = num_or(o, "tokens", NAN), fw = num_or(o, "forwards", NAN);
        if (isfinite(t) && isfinite(fw)) x->tokens += t, x->forwards += fw, x->with_forwards++;
        if (x->split[i] < 0 || x->split[i] == ML_SCENES_DESCRIBE) continue;
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
        const cJSON *parsed = cJSON_GetObjectItemCaseSensitive(o, "parsed");
        if (!cJSON_IsString(label) || (strcmp(label->valuestring, "yes") && strcmp(label->valuestring, "no")))
            return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: a yes/no probe needs label \"yes\" or \"no\"", path, line);
        /* as the scorer counts: anything but "yes" is a no */
        const int yes = cJSON_IsString(parsed) && !strcmp(parsed->valuestring, "yes");
        const int pos = !strcmp(label->valuestring, "yes");
        Tally *t2 = &x->tally[x->split[i]];
        if (pos) yes ? t2->tp++ : t2->fn++;
        else yes ? t2->fp++ : t2->tn++;
        x->right[i] = (signed char)(yes == pos);
        int existed = 0;
        if (ml_strmap_put(&x->ids, id, i, &existed, NULL))
            return ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
        if (existed) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question %s answered twice", path, line, id);
    }
    snprintf(x->key_buf, sizeof x->key_buf, "%s\x1f%s\x1f%s", run_str(run, "model", ""), run_str(run, "questions", ""),
             run_str(run, "prompt_suffix", ""));
    x->key = x->key_buf;
    return ML_OK;
}

static int is_greedy(const MxRun *x) { return !strcmp(run_str(x->run, "method", ""), "greedy"); }

/* The same model and questions (the key up to its last field). */
static int same_items(const MxRun *a, const MxRun *b) {
    const char *ea = strrchr(a->key, '\x1f'), *eb = strrchr(b->key, '\x1f');
    return ea - a->key == eb - b->key && !strncmp(a->key, b->key, (size_t)(ea - a->key));
}

/* The group's greedy run, else one on the same items with another prompt suffix (*other = 1). */
static const MxRun *baseline_of(const MxRun *xs, size_t n, const MxRun *x, int *other) {
    *other = 0;
    for (size_t i = 0; i < n; i++)
        if (is_greedy(&xs[i]) && !strcmp(xs[i].key, x->key)) return &xs[i];
    for (size_t i = 0; i < n; i++)
        if (is_greedy(&xs[i]) && same_items(&xs[i], x)) {
            *other = 1;
            return &xs[i];
        }
    return NULL;
}

/* "85.0 [76.7, 90.7]" for k of n, "–" when n is 0. */
static void prop_cell(char *out, size_t cap, size_t k, size_t n) {
    if (!n) {
        snprintf(out, cap, "–");
        return;
    }
    double lo, hi;
    ml_stats_wilson(k, n, ML_STATS_Z95, &lo, &hi);
    snprintf(out, cap, "%.1f [%.1f, %.1f]", 100.0 * (double)k / (double)n, 100 * lo, 100 * hi);
}

/* The method's name; with its parameters when asked or when another run of the group has the same name. */
static void method_label(const MxRun *x, const MxRun *const *grp, size_t ng, int with_params, char *out, size_t cap) {
    const char *name = run_str(x->run, "method", "?");
    for (size_t k = 0; k < ng && !with_params; k++)
        with_params = grp[k] != x && !strcmp(run_str(grp[k]->run, "method", "?"), name);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(x->run->run, "params");
    char *params = with_params && cJSON_IsObject(p) && p->child ? cJSON_PrintUnformatted(p) : NULL;
    snprintf(out, cap, "%s%s%s", name, params ? " " : "", params ? params : "");
    free(params);
}

/* b, c over the split's yes/no items both runs answered; returns how many were paired. */
static size_t pair(const MxRun *x, const MxRun *g, int split, size_t *b, size_t *c) {
    size_t n = 0;
    *b = *c = 0;
    for (size_t i = 0; i < x->rec.count; i++) {
        if (x->split[i] != split) continue;
        char id[ML_RECORD_ID_MAX + 1];
        MlError ignored = {0}; /* mx_load read every id already */
        if (ml_record_id(x->rec.items[i].json, "question_id", id, "", 0, &ignored)) continue;
        const size_t *j = ml_strmap_get(&g->ids, id);
        if (!j) continue;
        n++;
        *b += g->right[*j] && !x->right[i];
        *c += !g->right[*j] && x->right[i];
    }
    return n;
}

#define COLS 10
#define CELL 700

static void yesno_rows(MlReportOut *o, const MxRun *xs, size_t n, const MxRun *const *grp, size_t ng) {
    static const char *const cols[COLS] = {"split",  "method", "n",         "Acc % [95% CI]", "P % [95% CI]", "R % [95% CI]",
                                           "F1 %", "yes % [95% CI]", "b / c vs greedy", "McNemar p (exact)"};
    ml_report_table_start(o, cols, COLS);
    for (int f = 0; f < N_SPLITS; f++)
        for (size_t k = 0; k < ng; k++) {
            const MxRun *x = grp[k];
            const Tally *t = &x->tally[f];
            const size_t total = t->tp + t->fp + t->tn + t->fn;
            if (!total) continue;
            char cells[COLS][CELL];
            const char *row[COLS];
            snprintf(cells[0], CELL, "%s", ml_scenes_file_name(f));
            method_label(x, grp, ng, 0, cells[1], CELL);
            snprintf(cells[2], CELL, "%zu", total);
            prop_cell(cells[3], CELL, t->tp + t->tn, total);
            prop_cell(cells[4], CELL, t->tp, t->tp + t->fp);
            prop_cell(cells[5], CELL, t->tp, t->tp + t->fn);
            /* F1 = 2 TP / (2 TP + FP + FN): the harmonic mean of P and R without dividing by them */
            if (2 * t->tp + t->fp + t->fn)
                snprintf(cells[6], CELL, "%.1f", 100.0 * 2 * (double)t->tp / (double)(2 * t->tp + t->fp + t->fn));
            else snprintf(cells[6], CELL, "–");
            prop_cell(cells[7], CELL, t->tp + t->fp, total);
            int other;
            const MxRun *g = baseline_of(xs, n, x, &other);
            if (!g || g == x) {
                snprintf(cells[8], CELL, "%s", g ? "baseline" : "no greedy run");
                snprintf(cells[9], CELL, "–");
            } else {
                size_t b, c;
                const size_t paired = pair(x, g, f, &b, &c);
                snprintf(cells[8], CELL, "%zu / %zu%s%s", b, c, paired < total ? " (paired items only)" : "",
                         other ? " (greedy with another prompt suffix)" : "");
                snprintf(cells[9], CELL, "%.3g", ml_stats_mcnemar_exact(b, c));
            }
            for (int i = 0; i < COLS; i++) row[i] = cells[i];
            ml_report_table_row(o, row, COLS);
        }
    ml_report_table_end(o);
}

static void describe_rows(MlReportOut *o, const MxRun *const *grp, size_t ng) {
    static const int kinds[] = {ML_CLAIM_OBJECT, ML_CLAIM_ATTRIBUTE, ML_CLAIM_RELATION};
    static const char *const cols[] = {"method", "descriptions", "object % [95% CI] (errors / claims)",
                                       "attribute % [95% CI] (errors / claims)", "relation % [95% CI] (errors / claims)"};
    int any = 0;
    for (size_t k = 0; k < ng && !any; k++)
        any = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(grp[k]->run->summary, "describe"));
    if (!any) return;
    ml_report_para(o, "Describe answers: hallucinated claims per kind, as `misalign score scenes` reads them.");
    ml_report_table_start(o, cols, 5);
    for (size_t k = 0; k < ng; k++) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(grp[k]->run->summary, "describe");
        if (!cJSON_IsObject(d)) continue;
        char cells[5][CELL];
        const char *row[5];
        method_label(grp[k], grp, ng, 0, cells[0], CELL);
        snprintf(cells[1], CELL, "%.0f", num_or(d, "n", 0));
        for (int i = 0; i < 3; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(d, ml_scenes_claim_name(kinds[i]));
            const double claims = num_or(x, "claims", 0), errors = num_or(x, "errors", 0);
            char p[96];
            prop_cell(p, sizeof p, (size_t)errors, (size_t)claims);
            snprintf(cells[2 + i], CELL, "%s (%.0f / %.0f)", p, errors, claims);
        }
        for (int i = 0; i < 5; i++) row[i] = cells[i];
        ml_report_table_row(o, row, 5);
    }
    ml_report_table_end(o);
}

static void ratio_cell(char *out, size_t cap, double v, double base) {
    if (isfinite(v) && isfinite(base) && base > 0) snprintf(out, cap, "%.2f", v / base);
    else snprintf(out, cap, "–");
}

static void cost_rows(MlReportOut *o, const MxRun *xs, size_t n, const MxRun *const *grp, size_t ng) {
    static const char *const cols[] = {"method (parameters)", "inputs", "tokens / input", "forwards / token",
                                       "x greedy",            "s / input", "x greedy"};
    ml_report_para(o, "Cost over every input of the run (probes and descriptions): decoder forward calls per generated "
                      "token (one per pass for its prompt, then every call of the generation) and seconds per input, "
                      "each relative to greedy on the same items.");
    ml_report_table_start(o, cols, 7);
    for (size_t k = 0; k < ng; k++) {
        const MxRun *x = grp[k];
        int other;
        const MxRun *g = baseline_of(xs, n, x, &other);
        const double fpt = x->with_forwards && x->tokens > 0 ? x->forwards / x->tokens : NAN;
        const double gfpt = g && g->with_forwards && g->tokens > 0 ? g->forwards / g->tokens : NAN;
        const double spi = x->items ? x->seconds / (double)x->items : NAN;
        const double gspi = g && g->items ? g->seconds / (double)g->items : NAN;
        char cells[7][CELL];
        const char *row[7];
        method_label(x, grp, ng, 1, cells[0], CELL);
        snprintf(cells[1], CELL, "%zu", x->items);
        if (x->with_forwards) snprintf(cells[2], CELL, "%.2f", x->tokens / (double)x->with_forwards);
        else snprintf(cells[2], CELL, "–");
        if (isfinite(fpt)) snprintf(cells[3], CELL, "%.2f", fpt);
        else snprintf(cells[3], CELL, "–");
        ratio_cell(cells[4], CELL, fpt, gfpt);
        if (isfinite(spi)) snprintf(cells[5], CELL, "%.3g", spi);
        else snprintf(cells[5], CELL, "–");
        ratio_cell(cells[6], CELL, spi, gspi);
        for (int i = 0; i < 7; i++) row[i] = cells[i];
        ml_report_table_row(o, row, 7);
    }
    ml_report_table_end(o);
}

/* Accuracy and yes-ratio bars per split, one bar per method, Wilson whiskers. */
static int plots(MlReportOut *o, const MxRun *const *grp, size_t ng, const char *title, MlError *err) {
    const char *groups[N_SPLITS];
    int fs[N_SPLITS], nf = 0;
    for (int f = 0; f < N_SPLITS; f++) {
        int any = 0;
        for (size_t k = 0; k < ng && !any; k++) {
            const Tally *t = &grp[k]->tally[f];
            any = t->tp + t->fp + t->tn + t->fn > 0;
        }
        if (any) groups[nf] = ml_scenes_file_name(f), fs[nf++] = f;
    }
    double *v = malloc(sizeof(double) * 3 * N_SPLITS * (ng ? ng : 1));
    MlSvgBars *bars = malloc(sizeof *bars * (ng ? ng : 1));
    char (*names)[64] = malloc(64 * (ng ? ng : 1));
    if (!v || !bars || !names) {
        free(v), free(bars), free(names);
        return ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
    }
    for (int which = 0; which < 2; which++) {
        for (size_t k = 0; k < ng; k++) {
            double *y = v + 3 * N_SPLITS * k, *lo = y + N_SPLITS, *hi = lo + N_SPLITS;
            for (int i = 0; i < nf; i++) {
                const Tally *t = &grp[k]->tally[fs[i]];
                const size_t total = t->tp + t->fp + t->tn + t->fn, hits = which ? t->tp + t->fp : t->tp + t->tn;
                y[i] = total ? (double)hits / (double)total : NAN;
                ml_stats_wilson(hits, total, ML_STATS_Z95, &lo[i], &hi[i]);
            }
            snprintf(names[k], 64, "%s", run_str(grp[k]->run, "method", "?"));
            bars[k] = (MlSvgBars){names[k], y, lo, hi};
        }
        char t[1700];
        snprintf(t, sizeof t, "%s: %s (95%% Wilson)", which ? "yes-ratio" : "accuracy", title);
        ml_strbuf_puts(&o->b, "<div class=\"plot\">\n");
        ml_svg_bar_plot(&o->b, t, groups, (size_t)nf, bars, ng);
        ml_strbuf_puts(&o->b, "</div>\n");
    }
    free(v), free(bars), free(names);
    return ML_OK;
}

static int render_groups(MlReportOut *o, MxRun *xs, size_t n, MlError *err) {
    const MxRun **grp = malloc(sizeof *grp * (n ? n : 1));
    if (!grp) return ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
    int rc = ML_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        if (xs[i].done) continue;
        size_t ng = 0;
        /* greedy first, then the methods in the order given */
        for (int pass = 0; pass < 2; pass++)
            for (size_t j = i; j < n; j++)
                if (!xs[j].done && !strcmp(xs[j].key, xs[i].key) && is_greedy(&xs[j]) == !pass) {
                    grp[ng++] = &xs[j];
                    xs[j].done = 1;
                }
        const char *suffix = run_str(xs[i].run, "prompt_suffix", "");
        char title[1600];
        snprintf(title, sizeof title, "%s, %s%s%s", run_str(xs[i].run, "model", "?"), suffix[0] ? "prompt suffix \"" : "default prompt",
                 suffix, suffix[0] ? "\"" : "");
        ml_report_heading(o, 3, title);
        yesno_rows(o, xs, n, grp, ng);
        describe_rows(o, grp, ng);
        cost_rows(o, xs, n, grp, ng);
        if (o->fmt == ML_REPORT_HTML) rc = plots(o, grp, ng, title, err);
    }
    free(grp);
    return rc;
}

int ml_report_matrix(MlReportOut *o, const MlReport *r, MlError *err) {
    MxRun *xs = calloc(r->count ? r->count : 1, sizeof *xs);
    if (!xs) return ml_error_set(err, ML_ERR_NOMEM, "report: out of memory");
    size_t n = 0;
    int rc = ML_OK;
    for (size_t i = 0; i < r->count && !rc; i++) {
        if (!is_scenes(&r->runs[i])) continue;
        int found;
        rc = mx_load(&xs[n], &r->runs[i], &found, err);
        if (rc || found) n++;
        else mx_free(&xs[n]);
    }
    if (!rc && n) {
        ml_report_heading(o, 2, "cause x method");
        ml_report_para(o, "Per organism (model) and prompt: every method on the same scene probes. Proportions carry 95% "
                          "Wilson score intervals; F1 has none. b / c: items only greedy / only the method answered right; "
                          "McNemar p: the exact two-sided binomial test on b and c (docs/mitigation.md).");
        rc = render_groups(o, xs, n, err);
    }
    for (size_t i = 0; i < n; i++) mx_free(&xs[i]);
    free(xs);
    return rc;
}
