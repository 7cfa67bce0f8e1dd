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
**   RUNDIR/shard-I-of-N.jsonl  shard I's items while an N-shard run is
**                        under way (`misalign eval --shard`, MPI ranks);
**                        ml_runlog_join writes items.jsonl from all of them
**                        in question order and removes them
**   RUNDIR/writers.lock  one writer per directory or shard (eval/runlock.h)
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
** A writer reads every item file of the directory (items.jsonl and any
** segment, of any shape) into its done set and appends to its own file only,
** so a run resumes in another shape (more or fewer shards) without losing or
** repeating an item.  A second writer of the same file, or a writer of another
** shape, is refused naming the pid of the one at work.
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

/* The one writer of the whole run (items.jsonl); ml_runlog_open_shard(.., 0, 1, ..). */
int ml_runlog_open(MlRunlog **out, const char *dir, const cJSON *run, MlError *err);
/* The writer of shard `shard` (0-based) of `shards`: appends to RUNDIR/shard-I-of-N.jsonl
   (to items.jsonl when shards is 1). */
int ml_runlog_open_shard(MlRunlog **out, const char *dir, const cJSON *run, int shard, int shards, MlError *err);
/* Reads a run directory to join it: needs run.json, locks out every writer,
   appends nothing.  repair: an item written twice in one file (by versions
   before the lock) keeps its first answer instead of failing. */
int ml_runlog_open_merge(MlRunlog **out, const char *dir, int repair, MlError *err);
/* A merge's run.json (NULL for a writer, whose caller holds it). */
const cJSON *ml_runlog_run(const MlRunlog *log);
/* Answers a repair dropped. */
size_t ml_runlog_dropped(const MlRunlog *log);
/* "shard-I-of-N.jsonl" into out; -1 when it does not fit. */
int ml_runlog_segment_name(char *out, size_t cap, int shard, int shards);
/* The inverse: 0 and the numbers for a segment's exact name, else -1. */
int ml_runlog_segment_parse(const char *name, int *shard, int *shards);
/* Writes RUNDIR/items.jsonl atomically with the answers of ids (canonical ids,
   as the log keys them) in that order, then removes the segments.  An id
   without an answer fails, unless allow_missing (a repair of a partial run). */
int ml_runlog_join(MlRunlog *log, const char *const *ids, size_t n, int allow_missing, MlError *err);
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
