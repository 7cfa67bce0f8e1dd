/* svg.c: inline SVG line plots. */
#include "report/svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define W 520.0
#define H 300.0
#define LEFT 56.0
#define RIGHT 130.0 /* room for the legend */
#define TOP 30.0
#define BOTTOM 44.0

/* the first 8 for lines; bars (one per method, a dozen or so) use all 12 */
static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                                     "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#ad494a"};

void ml_svg_line_plot(MlStrBuf *b, const char *title, const char *x_label, const MlSvgSeries *series, size_t n_series) {
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t s = 0; s < n_series; s++)
        for (size_t i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = fmin(x0, x), x1 = fmax(x1, x), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 == x0) x0 -= 1, x1 += 1;
    /* metrics in [0, 1] read best on the full unit range */
    if (y0 >= 0 && y1 <= 1) y0 = 0, y1 = 1;
    if (y1 == y0) y0 -= 1, y1 += 1;
    double pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
#define PX(x) (LEFT + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (TOP + ph - ((y) - y0) / (y1 - y0) * ph)
    ml_strbuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                         "font-family=\"sans-serif\" font-size=\"11\">\n", W, H, W, H);
    ml_strbuf_puts(b, "<text x=\"10\" y=\"18\" font-size=\"13\" font-weight=\"bold\">");
    ml_strbuf_html(b, title);
    ml_strbuf_puts(b, "</text>\n");
    ml_strbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", LEFT,
                      TOP, pw, ph);
    for (int t = 0; t <= 4; t++) {
        double xv = x0 + (x1 - x0) * t / 4, yv = y0 + (y1 - y0) * t / 4;
        ml_strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", LEFT, PY(yv),
                          LEFT + pw, PY(yv));
        ml_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", LEFT - 4, PY(yv) + 4, yv);
        ml_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>\n", PX(xv), TOP + ph + 14, xv);
    }
    ml_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", LEFT + pw / 2, H - 8);
    ml_strbuf_html(b, x_label);
    ml_strbuf_puts(b, "</text>\n");
    for (size_t s = 0; s < n_series; s++) {
        const char *c = colors[s % 8];
        ml_strbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", c);
        for (size_t i = 0; i < series[s].n; i++)
            if (isfinite(series[s].x[i]) && isfinite(series[s].y[i]))
                ml_strbuf_printf(b, "%.1f,%.1f ", PX(series[s].x[i]), PY(series[s].y[i]));
        ml_strbuf_puts(b, "\"/>\n");
        for (size_t i = 0; i < series[s].n; i++)
            if (isfinite(series[s].x[i]) && isfinite(series[s].y[i]))
                ml_strbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"%s\"/>\n", PX(series[s].x[i]),
                                  PY(series[s].y[i]), c);
        double ly = TOP + 10 + 16.0 * (double)s;
        ml_strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                          W - RIGHT + 10, ly, W - RIGHT + 26, ly, c);
        ml_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", W - RIGHT + 30, ly + 4);
        ml_strbuf_html(b, series[s].name);
        ml_strbuf_puts(b, "</text>\n");
    }
    ml_strbuf_puts(b, "</svg>\n");
#undef PX
#undef PY
}

#define BAR_W 10.0
#define GROUP_GAP 14.0

void ml_svg_bar_plot(MlStrBuf *b, const char *title, const char *const *groups, size_t n_groups,
                     const MlSvgBars *series, size_t n_series) {
    /* wide enough for its bars and for its label (~6.5 px a character at 11 px) */
    double group_w = BAR_W * (double)(n_series ? n_series : 1);
    for (size_t g = 0; g < n_groups; g++) group_w = fmax(group_w, 6.5 * (double)strlen(groups[g]));
    group_w += GROUP_GAP;
    const double pw = fmax(200, group_w * (double)n_groups), ph = H - TOP - BOTTOM;
    const double w = LEFT + pw + RIGHT;
#define PY(y) (TOP + ph - (y) * ph)
    ml_strbuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                         "font-family=\"sans-serif\" font-size=\"11\">\n", w, H, w, H);
    ml_strbuf_puts(b, "<text x=\"10\" y=\"18\" font-size=\"13\" font-weight=\"bold\">");
    ml_strbuf_html(b, title);
    ml_strbuf_puts(b, "</text>\n");
    for (int t = 0; t <= 4; t++) {
        double yv = t / 4.0;
        ml_strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n", LEFT, PY(yv),
                          LEFT + pw, PY(yv));
        ml_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2g</text>\n", LEFT - 4, PY(yv) + 4, yv);
    }
    ml_strbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", LEFT,
                      TOP, pw, ph);
    for (size_t g = 0; g < n_groups; g++) {
        const double gx = LEFT + GROUP_GAP / 2 + group_w * (double)g;
        const double bx = gx + (group_w - GROUP_GAP - BAR_W * (double)n_series) / 2; /* bars centred under the label */
        for (size_t s = 0; s < n_series; s++) {
            const double y = series[s].y[g], lo = series[s].lo[g], hi = series[s].hi[g], x = bx + BAR_W * (double)s;
            if (!isfinite(y)) continue;
            const double yc = fmin(1, fmax(0, y));
            ml_strbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x, PY(yc),
                              BAR_W - 1, yc * ph, colors[s % 12]);
            if (isfinite(lo) && isfinite(hi)) {
                const double cx = x + (BAR_W - 1) / 2;
                ml_strbuf_printf(b, "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" stroke=\"#222\" fill=\"none\"/>\n",
                                  cx, PY(lo), PY(hi), cx - 3, PY(lo), cx + 3, cx - 3, PY(hi), cx + 3);
            }
        }
        ml_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", gx + (group_w - GROUP_GAP) / 2,
                          TOP + ph + 14);
        ml_strbuf_html(b, groups[g]);
        ml_strbuf_puts(b, "</text>\n");
    }
    for (size_t s = 0; s < n_series; s++) {
        double ly = TOP + 10 + 16.0 * (double)s;
        ml_strbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"10\" fill=\"%s\"/>\n", LEFT + pw + 10, ly - 5,
                          colors[s % 12]);
        ml_strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", LEFT + pw + 28, ly + 4);
        ml_strbuf_html(b, series[s].name);
        ml_strbuf_puts(b, "</text>\n");
    }
    ml_strbuf_puts(b, "</svg>\n");
#undef PY
}
