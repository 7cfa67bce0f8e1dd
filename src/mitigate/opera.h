/*
** opera.h: OPERA's rules (shikiw/OPERA, `opera_beam_search` in its
** transformers-4.29.2 fork; the team's reference notes MITIGATIONS.md), as
** pure functions the `opera` method (opera.c) applies and tests drive.
**
** The window holds the generated tokens and one candidate: row i (0-based,
** i < L) is token i's last-layer attention, max over heads, renormalised to
** sum 1 over every key, restricted to the window's columns 0..i.  Column j
** scores 1e-7 * prod_{i >= j} (scale * w[i][j]), stored in float16 as the
** official code does (it overflows to inf or rounds to 0).  The candidate's
** penalty is the best column score, or while L <= 10 minus its attention
** mass on the image; its location is the column with the best score.
**
**     int64_t loc;
**     float p = ml_opera_window_score(w, L, stride, 50.0f, &loc);
**     int64_t pos = ml_opera_rollback_target(history, stride, beams, n, loc, 15, 5, uses, 512);
*/
#ifndef ML_MITIGATE_OPERA_H
#define ML_MITIGATE_OPERA_H

#include <stdint.h>

/* Windows up to this length use the image-attention penalty. */
#define ML_OPERA_SHORT_WINDOW 10
/* Locations below this never roll back. */
#define ML_OPERA_MIN_ROLLBACK 10

/* w: L rows of `stride` floats (row i: columns 0..i).  Returns the best
   column score (float16-rounded); *loc its column (the first on ties). */
float ml_opera_window_score(const float *w, int64_t L, int64_t stride, float scale, int64_t *loc);

/* The most frequent of n values (the smallest on ties); n >= 1. */
int64_t ml_opera_mode(const int64_t *v, int n);

/* The retrospection rule.  history[b * stride + k]: beam slot b's location
   at the k-th step of the history (the current step last, k < n); loc: the
   current location (mode over beams).  When every slot holds loc more than
   threshold times and loc >= ML_OPERA_MIN_ROLLBACK, the step to go back to:
   loc + 1, or loc once loc + 1 was used max_uses times, none once loc was
   too; uses (window entries) counts them and is updated.  Returns -1 for
   no roll-back (also past the window). */
int64_t ml_opera_rollback_target(const int64_t *history, int64_t stride, int beams, int64_t n, int64_t loc, int threshold,
                                 int max_uses, int *uses, int64_t window);

#endif
