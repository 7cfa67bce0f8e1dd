/*
** svg.h: small plots as inline SVG.
** Line plot (per-layer alignment curves): each series is a polyline with
** dots; axes get 5 ticks; a legend names the series.  Non-finite points are
** skipped.  Colours cycle through 8 (12 for bars).
** Bar plot (the cause x method table): groups along x (splits), one bar per
** series (method) in each, heights in [0, 1] with a whisker from lo to hi
** (a confidence interval); a non-finite value draws no bar, a non-finite
** bound no whisker.
**
**     MlSvgSeries s[2] = {{"greedy", x, y1, n}, {"vcd", x, y2, n}};
**     ml_svg_line_plot(&buf, "CKA (linear)", "layer", s, 2);
**     MlSvgBars bars[2] = {{"greedy", acc0, lo0, hi0}, {"vcd", acc1, lo1, hi1}};
**     const char *groups[3] = {"random", "popular", "adversarial"};
**     ml_svg_bar_plot(&buf, "accuracy", groups, 3, bars, 2);
*/
#ifndef ML_REPORT_SVG_H
#define ML_REPORT_SVG_H

#include <stddef.h>

#include "core/strbuf.h"

typedef struct MlSvgSeries {
    const char *name;
    const double *x, *y;
    size_t n;
} MlSvgSeries;

typedef struct MlSvgBars {
    const char *name;
    const double *y, *lo, *hi; /* one per group */
} MlSvgBars;

void ml_svg_line_plot(MlStrBuf *b, const char *title, const char *x_label, const MlSvgSeries *series, size_t n_series);

void ml_svg_bar_plot(MlStrBuf *b, const char *title, const char *const *groups, size_t n_groups,
                     const MlSvgBars *series, size_t n_series);

#endif
