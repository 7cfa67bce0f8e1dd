/* merge.c: `misalign merge RUNDIR`: joins the shards of a run into items.jsonl and summary.json. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/evalio.h"
#include "eval/run.h"

static void help(void) {
    printf("usage: misalign merge RUNDIR [options]\n\n"
           "Joins the shards of a run (RUNDIR/shard-I-of-N.jsonl, written by `misalign eval --shard I/N` or MPI\n"
           "ranks) into RUNDIR/items.jsonl in question order and writes RUNDIR/summary.json, as a one-process run\n"
           "would.  The questions are those run.json names; a merge while any writer works is refused.  When\n"
           "questions have no answer yet it names the shards to run again and writes nothing.\n\n"
           "  --repair               a log written twice over by older versions (two processes on one --out):\n"
           "                         keep the first answer of each question, report what was dropped, and\n"
           "                         rewrite items.jsonl (summary.json too when every question is answered)\n"
           "  --gt F                 chair: ground-truth objects  [this or the next]\n"
           "  --coco-annotations DIR chair: ground truth from COCO annotation files\n"
           "  --synonyms F           chair: synonym list  [data/chair/synonyms.txt]\n"
           "  --annotations F        amber: annotations.json  [data/amber/annotations.json]\n"
           "  --quiet                no progress output  [off]\n");
}

typedef struct Opts {
    const char *dir, *gt, *coco, *synonyms, *annotations;
    int repair, quiet;
} Opts;

static int parse(int argc, char **argv, Opts *o) {
    const char *cmd = "merge", *v;
    *o = (Opts){0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return -1;
        }
        if (!strcmp(a, "--repair")) o->repair = 1;
        else if (!strcmp(a, "--quiet")) o->quiet = 1;
        else if (a[0] != '-') {
            if (o->dir) return ml_cli_usage_error(cmd, "one RUNDIR only ('%s' and '%s')", o->dir, a);
            o->dir = a;
        } else if (!(v = ml_cli_value(cmd, argc, argv, &i))) return 2;
        else if (!strcmp(a, "--gt")) o->gt = v;
        else if (!strcmp(a, "--coco-annotations")) o->coco = v;
        else if (!strcmp(a, "--synonyms")) o->synonyms = v;
        else if (!strcmp(a, "--annotations")) o->annotations = v;
        else return ml_cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!o->dir) return ml_cli_usage_error(cmd, "name the run directory: misalign merge RUNDIR");
    return 0;
}

static const char *run_string(const cJSON *run, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The benchmark inputs run.json records. */
static int inputs_from_run(const Opts *o, const cJSON *run, MlCliEvalInputs *in, MlYesNoParser *parser, MlError *err) {
    const char *bench = run_string(run, "benchmark"), *parser_name = run_string(run, "parser");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(run, "limit");
    *in = (MlCliEvalInputs){.questions = run_string(run, "questions"), .prompt = run_string(run, "prompt"), .gt = o->gt,
                            .coco = o->coco, .synonyms = o->synonyms, .annotations = o->annotations, .quiet = o->quiet};
    if (!bench || ml_eval_benchmark_parse(bench, &in->bench) || !in->questions || !cJSON_IsNumber(limit) ||
        limit->valuedouble < 0 || !parser_name || ml_yesno_parser_from_name(parser_name, parser))
        return ml_error_set(err, ML_ERR_FORMAT,
                            "%s/run.json: not written by `misalign eval` (benchmark, questions, limit or parser)", o->dir);
    in->limit = (long long)limit->valuedouble;
    const char *files = run_string(run, "files");
    if (in->bench == ML_EVAL_SCENES && files && strcmp(files, "all") && ml_cli_eval_files("merge", files, &in->files))
        return ml_error_set(err, ML_ERR_FORMAT, "%s/run.json: bad files list", o->dir);
    if (in->bench == ML_EVAL_CHAIR && !o->gt == !o->coco)
        return ml_error_set(err, ML_ERR_ARG, "%s: scoring a chair run needs one of --gt F and --coco-annotations DIR",
                            o->dir);
    return ML_OK;
}

/* The shapes of the segments in dir, as a bit set of N (N < 64), for naming unfinished shards. */
static unsigned long long shapes_present(const char *dir) {
    unsigned long long shapes = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));) {
        int i, n;
        if (!ml_runlog_segment_parse(e->d_name, &i, &n) && n < 64) shapes |= 1ULL << n;
    }
    closedir(d);
    return shapes;
}

/* Fails naming how many questions have no answer and, for the one shape present, which shards to run again. */
static int check_complete(const char *dir, const MlRunlog *log, const MlEvalSet *s, MlError *err) {
    size_t missing = 0, first = 0;
    for (size_t i = 0; i < s->count; i++)
        if (!ml_runlog_done(log, s->items[i].id) && !missing++) first = i;
    if (!missing) return ML_OK;
    unsigned long long shapes = shapes_present(dir);
    int n = 0;
    for (int k = 2; k < 64; k++)
        if (shapes == 1ULL << k) n = k;
    char which[512] = "";
    int *shard_of = n ? malloc(sizeof(int) * s->count) : NULL;
    if (shard_of && !ml_eval_shards(s, n, shard_of, err)) {
        size_t len = (size_t)snprintf(which, sizeof which, "; unfinished shards of %d:", n);
        for (int r = 0; r < n && len < sizeof which; r++)
            for (size_t i = 0; i < s->count; i++)
                if (shard_of[i] == r && !ml_runlog_done(log, s->items[i].id)) {
                    len += (size_t)snprintf(which + len, sizeof which - len, " %d/%d", r, n);
                    break;
                }
    }
    free(shard_of);
    return ml_error_set(err, ML_ERR_MISSING,
                        "%s: %zu of %zu questions have no answer (first: %s)%s; run the missing shards, then merge again",
                        dir, missing, s->count, s->items[first].id, which);
}

int cmd_merge(int argc, char **argv) {
    Opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    MlError err = {0};
    MlRunlog *log = NULL;
    MlCliEvalData d = {0};
    MlCliEvalInputs in;
    MlYesNoParser parser = ML_YESNO_OFFICIAL;
    cJSON *summary = NULL;
    int exit_code = 1;
    if ((rc = ml_runlog_open_merge(&log, o.dir, o.repair, &err)) ||
        (rc = inputs_from_run(&o, ml_runlog_run(log), &in, &parser, &err)) || (rc = ml_cli_eval_load(&in, &d, &err)))
        goto fail;
    if (o.repair) {
        printf("%s: dropped %zu repeated answers (each question keeps its first)\n", o.dir, ml_runlog_dropped(log));
        if (check_complete(o.dir, log, &d.set, &err)) {
            /* a partial run: rewrite the log only; eval resumes it */
            const char **ids = malloc(sizeof(char *) * (d.set.count ? d.set.count : 1));
            if (!ids) {
                ml_error_set(&err, ML_ERR_NOMEM, "out of memory");
                goto fail;
            }
            for (size_t i = 0; i < d.set.count; i++) ids[i] = d.set.items[i].id;
            rc = ml_runlog_join(log, ids, d.set.count, 1, &err);
            free(ids);
            if (rc) goto fail;
            printf("%s: %s\n", o.dir, err.msg);
            exit_code = 0;
            goto out;
        }
    } else if (check_complete(o.dir, log, &d.set, &err)) {
        goto fail;
    }
    if (ml_cli_eval_finish(log, &d, o.dir, ml_runlog_run(log), parser, &summary, &err)) goto fail;
    printf("%s/summary.json: %zu questions joined\n", o.dir, d.set.count);
    exit_code = 0;
    goto out;
fail:
    exit_code = ml_cli_fail(&err);
out:
    ml_runlog_close(log);
    cJSON_Delete(summary);
    ml_cli_eval_data_free(&d);
    return exit_code;
}
