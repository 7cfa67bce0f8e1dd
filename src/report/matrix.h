/*
** matrix.h: the cause x method section of a report (report/report.h), from
** the item logs (RUNDIR/items.jsonl) of scene runs (`misalign eval scenes`).
**
** Runs are grouped by model (the organism), question folder and prompt
** suffix (run.json); each group gets, per yes/no probe file (pope_random,
** pope_popular, pope_adversarial, attribute, relation, count) and method:
**   Acc / P / R / yes-ratio (x100) with 95% Wilson score intervals
**     (report/stats.h), F1 without one (it is no proportion of counts);
**   the paired comparison with greedy on the same question ids: b (right
**     only with greedy), c (right only with the method) and McNemar's exact
**     two-sided p.  The baseline is the group's greedy run, else a greedy run
**     of the same model and questions with another suffix (noted);
**   the describe answers' object / attribute / relation hallucination rates
**     (summary.json "describe": errors / claims) with Wilson intervals;
**   cost: tokens per input, decoder forwards per generated token (items'
**     "forwards" over "tokens") and seconds per input, each relative to the
**     baseline;
** and in HTML, bar plots of accuracy and yes-ratio per split with the
** interval as whiskers.  Scene runs without items.jsonl are left out.
**
**     MlReportOut o = {{0}, ML_REPORT_MARKDOWN};
**     if (ml_report_matrix(&o, &report, &err)) ...   // appends to o.b
*/
#ifndef ML_REPORT_MATRIX_H
#define ML_REPORT_MATRIX_H

#include "core/error.h"
#include "report/out.h"
#include "report/report.h"

int ml_report_matrix(MlReportOut *o, const MlReport *r, MlError *err);

#endif
