/*
** runlog.h: the crash-safe record of one model run over a benchmark (RUNDIR).
**
**   RUNDIR/run.json      what the run is (benchmark, split, model, method,
**                        params, ...): written once, atomically; resuming
**                        requires the very same object (a different method or
**                        parameter is refused with a message naming the key)
**   RUNDIR/items.jsonl   one JSON line per answered item, appended with one
**                        write() per whole line; fsync every N items
**                        (ml_runlog_set_checkpoint, default 32) and at the end
**   RUNDIR/summary.json  written atomically by ml_runlog_finish
**
** Item lines are LLaVA-style answer lines, so `misalign score pope --answers
** RUNDIR/items.jsonl` reads them directly:
**   {"question_id": 17, "prompt": "...", "text": "<raw answer>", "parsed": "yes",
**    "label": "no", "seconds": 0.41, "method": "vcd", "params": {...}, ...extra}
**
** On open, a torn last line (a crash mid-write: bytes after the last newline,
** or an unparseable final line) is cut off and its item counts as not done;
** any other damage is an error naming the line.  The caller skips the ids
** ml_runlog_done() reports, so a resumed run neither redoes nor loses items.
**
**     cJSON *run = ...;  // object with "method" (string) and "params" (object)
**     MlRunlog *log; MlError err = {0};
**     if (ml_runlog_open(&log, "runs/x", run, &err)) fail(&err);
**     for each question q:
**         if (ml_runlog_done(log, q.id)) continue;
**         MlRunItem it = {.id = q.id, .id_is_number = 1, .prompt = p, .answer = raw,
**                         .parsed = "yes", .label = q.label, .seconds = dt};
**         if (ml_runlog_append(log, &it, &err)) fail(&err);
**     ml_runlog_finish(log, summary_object, &err);
**     ml_runlog_close(log);
** The caller keeps ownership of `run`, items' strings and the summary.
*/
#ifndef ML_EVAL_RUNLOG_H
#define ML_EVAL_RUNLOG_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/error.h"
#include "eval/yesno.h"

typedef struct MlRunlog MlRunlog;

typedef struct MlRunItem {
    const char *id;      /* question id as text */
    int id_is_number;    /* write question_id as a JSON number (POPE, AMBER ids) */
    const char *prompt;  /* may be NULL */
    const char *answer;  /* raw model output */
    const char *parsed;  /* "yes"/"no" or NULL */
    const char *label;   /* ground truth or NULL */
    double seconds;      /* wall time of this item */
    const cJSON *extra;  /* optional object: more fields copied into the line */
} MlRunItem;

int ml_runlog_open(MlRunlog **out, const char *dir, const cJSON *run, MlError *err);
/* Items already in the log (after open) plus those appended since. */
size_t ml_runlog_count(const MlRunlog *log);
int ml_runlog_done(const MlRunlog *log, const char *id);
/* Bytes cut from a torn last line when the log was opened (0 if none). */
size_t ml_runlog_torn_bytes(const MlRunlog *log);
/* All item lines as parsed objects, in file order (owned by the log). */
const cJSON *ml_runlog_items(const MlRunlog *log);

int ml_runlog_append(MlRunlog *log, const MlRunItem *item, MlError *err);
void ml_runlog_set_checkpoint(MlRunlog *log, int every_n_items);
int ml_runlog_checkpoint(MlRunlog *log, MlError *err); /* fsync now */

/* Counts "parsed" against "label" over items that have both ("yes"/"no"),
   and the mean of "seconds" over all items (NaN when there are none). */
void ml_runlog_binary(const MlRunlog *log, MlBinaryScore *score, double *mean_seconds);

/* fsyncs the items and writes summary.json atomically. */
int ml_runlog_finish(MlRunlog *log, const cJSON *summary, MlError *err);
void ml_runlog_close(MlRunlog *log);

#endif
