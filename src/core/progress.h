/*
** progress.h: a one-line progress bar with rate and ETA on stderr.
** Redraws at most 10 times a second; prints nothing when stderr is not a
** terminal except a final summary line, so logs stay readable.
**
**     MlProgress p; ml_progress_start(&p, "scenes", n);
**     for (i = 0; i < n; i++) { ...; ml_progress_update(&p, i + 1); }
**     ml_progress_finish(&p);
*/
#ifndef ML_CORE_PROGRESS_H
#define ML_CORE_PROGRESS_H

#include <stdint.h>

typedef struct MlProgress {
    const char *label;
    int64_t total, done, start_done;
    double t_start, t_last_draw;
    int is_tty;
    char extra[96]; /* free text shown after the bar (e.g. "loss 0.693") */
} MlProgress;

void ml_progress_start(MlProgress *p, const char *label, int64_t total);
/* start_done: items already done before this run (resumed work), excluded from the rate. */
void ml_progress_resume(MlProgress *p, int64_t start_done);
void ml_progress_update(MlProgress *p, int64_t done);
void ml_progress_finish(MlProgress *p);

double ml_time_now(void); /* monotonic seconds */

#endif
