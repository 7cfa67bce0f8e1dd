/*
** out.h: the report's output, Markdown or HTML through the same calls
** (report.c and matrix.c write their sections with them).  Text is escaped
** for the format; a table is its header, rows of cells, then its end.
**
**     MlReportOut o = {{0}, ML_REPORT_HTML};
**     ml_report_heading(&o, 2, "pope");
**     const char *cols[] = {"method", "Acc"}, *row[] = {"greedy", "85.0"};
**     ml_report_table_start(&o, cols, 2); ml_report_table_row(&o, row, 2); ml_report_table_end(&o);
**     ... o.b.data (free it)
*/
#ifndef ML_REPORT_OUT_H
#define ML_REPORT_OUT_H

#include "core/strbuf.h"
#include "report/report.h"

typedef struct MlReportOut {
    MlStrBuf b;
    MlReportFormat fmt;
} MlReportOut;

void ml_report_text(MlReportOut *o, const char *s);
void ml_report_heading(MlReportOut *o, int level, const char *s);
void ml_report_para(MlReportOut *o, const char *s);
void ml_report_table_start(MlReportOut *o, const char *const *cols, int n);
void ml_report_table_row(MlReportOut *o, const char *const *cells, int n);
void ml_report_table_end(MlReportOut *o);

#endif
