/*
** svg.h: a small line plot as inline SVG (for per-layer alignment curves).
** Each series is a polyline with dots; axes get 5 ticks; a legend names the
** series.  Non-finite points are skipped.  Colours cycle through 8.
**
**     MlSvgSeries s[2] = {{"greedy", x, y1, n}, {"vcd", x, y2, n}};
**     ml_svg_line_plot(&buf, "CKA (linear)", "layer", s, 2);
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

void ml_svg_line_plot(MlStrBuf *b, const char *title, const char *x_label, const MlSvgSeries *series, size_t n_series);

#endif
