/* fuzz_hallusionbench.c: HallusionBench question and answer files and the
   yes/no/unclear reading.  The first byte picks: 0 questions (fixed answers),
   1 answers (fixed questions), 2 both, split at the first NUL. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/hallusionbench.h"
#include "eval/yesno.h"

static const char questions[] =
    "[{\"category\": \"VD\", \"subcategory\": \"illusion\", \"set_id\": \"0\", \"figure_id\": \"0\", \"question_id\": \"0\","
    " \"visual_input\": \"1\", \"gt_answer\": \"1\"},"
    " {\"category\": \"VS\", \"subcategory\": \"chart\", \"set_id\": \"0\", \"figure_id\": \"0\", \"question_id\": \"0\","
    " \"visual_input\": \"0\", \"gt_answer\": \"0\"}]";
static const char answers[] = "{\"id\": \"VD_illusion_0_0_0\", \"answer\": \"Yes\"}\n"
                              "{\"id\": \"VS_chart_0_0_0\", \"answer\": \"not sure\"}\n";

static void check(const MlHallusionAcc *a) {
    if (a->correct > a->total) abort();
    if (a->total ? !(a->percent >= 0 && a->percent <= 100) : !isnan(a->percent)) abort();
}

static void run(const char *q, size_t nq, const char *a, size_t na) {
    MlError err = {0};
    MlHallusionSet set;
    if (ml_hallusionbench_parse(q, nq, "questions", &set, &err)) {
        if (!strstr(err.msg, "questions")) abort();
        return;
    }
    MlHallusionScore s;
    memset(&err, 0, sizeof err);
    if (!ml_hallusionbench_score_text(&set, a, na, "answers", &s, &err)) {
        const MlHallusionPart *parts[3] = {&s.vd, &s.vs, &s.all};
        for (int k = 0; k < 3; k++) {
            check(&parts[k]->aacc);
            check(&parts[k]->qacc);
            check(&parts[k]->facc);
            check(&parts[k]->easy);
            check(&parts[k]->hard);
        }
        if (s.all.aacc.total != set.count || s.yes + s.no + s.unclear != set.count) abort();
    } else if (!strstr(err.msg, "answers")) {
        abort();
    }
    ml_hallusionbench_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    char *text = malloc(n + 1);
    if (!text) return 0;
    memcpy(text, s, n);
    text[n] = 0;
    int v = ml_yesno_words(text);
    if (v < -1 || v > 1) abort();
    free(text);
    switch (data[0] % 3) {
    case 0: run(s, n, answers, sizeof answers - 1); break;
    case 1: run(questions, sizeof questions - 1, s, n); break;
    default: {
        const char *z = memchr(s, 0, n);
        size_t nq = z ? (size_t)(z - s) : n;
        run(s, nq, z ? z + 1 : s + n, z ? n - nq - 1 : 0);
    }
    }
    return 0;
}
