/*
** evalio.h: what `misalign eval` and `misalign merge` share: loading a
** benchmark's questions and scoring data, and finishing a run directory
** (items.jsonl in question order, summary.json).
**
**     MlCliEvalInputs in = {.bench = ML_EVAL_POPE, .questions = "q.jsonl"};
**     MlCliEvalData d; MlError err = {0};
**     if (ml_cli_eval_load(&in, &d, &err)) return ml_cli_fail(&err);
**     ... run, or ml_runlog_open_merge ...
**     ml_cli_eval_finish(log, &d, "runs/x", run, ML_YESNO_OFFICIAL, &summary, &err);
**     ml_cli_eval_data_free(&d);
*/
#ifndef ML_CLI_EVALIO_H
#define ML_CLI_EVALIO_H

#include <cjson/cJSON.h>

#include "core/error.h"
#include "eval/run.h"

typedef struct MlCliEvalInputs {
    MlEvalBenchmark bench;
    const char *questions;
    unsigned files; /* scenes: probe files (0 = all present) */
    long long limit;
    const char *prompt;                      /* chair */
    const char *gt, *coco, *synonyms;        /* chair: one of gt / coco; synonyms NULL = data/ */
    const char *annotations;                 /* amber: NULL = data/ */
    int quiet;
} MlCliEvalInputs;

typedef struct MlCliEvalData {
    MlEvalSet set;
    MlAmber amber;
    MlChairVocab vocab;
    MlChairTruth truth;
    int have_amber, have_vocab, have_truth;
} MlCliEvalData;

int ml_cli_eval_load(const MlCliEvalInputs *in, MlCliEvalData *d, MlError *err);
void ml_cli_eval_data_free(MlCliEvalData *d);

/* Probe file names ("attribute,relation") -> bit mask; prints a usage error and returns 2 when wrong. */
int ml_cli_eval_files(const char *cmd, const char *list, unsigned *mask);

/* Joins the log's answers into RUNDIR/items.jsonl in question order (removing
   shard segments), scores it and writes summary.json (*summary: the caller's). */
int ml_cli_eval_finish(MlRunlog *log, const MlCliEvalData *d, const char *out, const cJSON *run, MlYesNoParser parser,
                       cJSON **summary, MlError *err);

#endif
