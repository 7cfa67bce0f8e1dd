/* out.c: Markdown or HTML headings, paragraphs and tables. */
#include "report/out.h"

void ml_report_text(MlReportOut *o, const char *s) {
    if (o->fmt == ML_REPORT_HTML) ml_strbuf_html(&o->b, s);
    else ml_strbuf_md(&o->b, s);
}

void ml_report_heading(MlReportOut *o, int level, const char *s) {
    if (o->fmt == ML_REPORT_HTML) {
        ml_strbuf_printf(&o->b, "<h%d>", level);
        ml_report_text(o, s);
        ml_strbuf_printf(&o->b, "</h%d>\n", level);
    } else {
        ml_strbuf_printf(&o->b, "\n%.*s ", level, "######");
        ml_report_text(o, s);
        ml_strbuf_puts(&o->b, "\n\n");
    }
}

void ml_report_para(MlReportOut *o, const char *s) {
    if (o->fmt == ML_REPORT_HTML) ml_strbuf_puts(&o->b, "<p>");
    ml_report_text(o, s);
    ml_strbuf_puts(&o->b, o->fmt == ML_REPORT_HTML ? "</p>\n" : "\n\n");
}

void ml_report_table_start(MlReportOut *o, const char *const *cols, int n) {
    if (o->fmt == ML_REPORT_HTML) {
        ml_strbuf_puts(&o->b, "<table>\n<tr>");
        for (int i = 0; i < n; i++) {
            ml_strbuf_puts(&o->b, "<th>");
            ml_report_text(o, cols[i]);
            ml_strbuf_puts(&o->b, "</th>");
        }
        ml_strbuf_puts(&o->b, "</tr>\n");
        return;
    }
    ml_strbuf_puts(&o->b, "|");
    for (int i = 0; i < n; i++) {
        ml_strbuf_puts(&o->b, " ");
        ml_report_text(o, cols[i]);
        ml_strbuf_puts(&o->b, " |");
    }
    ml_strbuf_puts(&o->b, "\n|");
    for (int i = 0; i < n; i++) ml_strbuf_puts(&o->b, "---|");
    ml_strbuf_puts(&o->b, "\n");
}

void ml_report_table_row(MlReportOut *o, const char *const *cells, int n) {
    ml_strbuf_puts(&o->b, o->fmt == ML_REPORT_HTML ? "<tr>" : "|");
    for (int i = 0; i < n; i++) {
        ml_strbuf_puts(&o->b, o->fmt == ML_REPORT_HTML ? "<td>" : " ");
        ml_report_text(o, cells[i]);
        ml_strbuf_puts(&o->b, o->fmt == ML_REPORT_HTML ? "</td>" : " |");
    }
    ml_strbuf_puts(&o->b, o->fmt == ML_REPORT_HTML ? "</tr>\n" : "\n");
}

void ml_report_table_end(MlReportOut *o) { ml_strbuf_puts(&o->b, o->fmt == ML_REPORT_HTML ? "</table>\n" : "\n"); }
