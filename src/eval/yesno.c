/* yesno.c: the three reference yes/no answer parsers and the POPE figures. */
#include "eval/yesno.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

int ml_yesno_parser_from_name(const char *name, MlYesNoParser *out) {
    if (!strcmp(name, "official")) *out = ML_YESNO_OFFICIAL;
    else if (!strcmp(name, "opera")) *out = ML_YESNO_OPERA;
    else if (!strcmp(name, "vcd")) *out = ML_YESNO_VCD;
    else return -1;
    return 0;
}

const char *ml_yesno_parser_name(MlYesNoParser p) {
    switch (p) {
    case ML_YESNO_OPERA: return "opera";
    case ML_YESNO_VCD: return "vcd";
    default: return "official";
    }
}

/* Python's text.replace(c, '') for each c in `drop`, then .split(' '): the
   words are the space-separated segments of text[0:end] read without the
   dropped characters (they are never spaces, so the order does not matter). */
typedef struct Segment {
    const char *text;
    size_t a, b; /* [a, b) in text */
    const char *drop;
} Segment;

static int seg_equals(const Segment *s, const char *word) {
    size_t k = 0;
    for (size_t i = s->a; i < s->b; i++) {
        if (strchr(s->drop, s->text[i])) continue;
        if (!word[k] || word[k] != s->text[i]) return 0;
        k++;
    }
    return word[k] == 0;
}

static int seg_ends_with(const Segment *s, const char *tail) {
    size_t m = strlen(tail), i = s->b;
    while (m > 0) {
        while (i > s->a && strchr(s->drop, s->text[i - 1])) i--;
        if (i == s->a || s->text[i - 1] != tail[m - 1]) return 0;
        i--;
        m--;
    }
    return 1;
}

static int official_no(const Segment *s) {
    return seg_equals(s, "No") || seg_equals(s, "not") || seg_equals(s, "no");
}

static int opera_no(const Segment *s) {
    return seg_equals(s, "No") || seg_equals(s, "not") || seg_equals(s, "no") || seg_equals(s, "NO") ||
           seg_ends_with(s, "n't");
}

/* 1 if is_no holds for any word of text[0:end]. */
static int any_word(const char *text, size_t end, const char *drop, int (*is_no)(const Segment *)) {
    Segment s = {text, 0, 0, drop};
    for (size_t i = 0; i <= end; i++) {
        if (i < end && text[i] != ' ') continue;
        s.b = i;
        if (is_no(&s)) return 1;
        s.a = i + 1;
    }
    return 0;
}

static int contains_lower(const char *text, const char *needle) {
    size_t m = strlen(needle);
    for (const char *p = text; *p; p++) {
        size_t k = 0;
        while (k < m && p[k]) {
            char c = p[k];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != needle[k]) break;
            k++;
        }
        if (k == m) return 1;
    }
    return 0;
}

int ml_yesno_parse(MlYesNoParser p, const char *answer, int label_yes) {
    size_t len = strlen(answer);
    switch (p) {
    case ML_YESNO_OPERA:
        return !any_word(answer, len, ".,", opera_no);
    case ML_YESNO_VCD:
        if (label_yes) return contains_lower(answer, "yes");
        return !contains_lower(answer, "no");
    default: {
        const char *dot = strchr(answer, '.');
        size_t end = dot ? (size_t)(dot - answer) : len;
        return !any_word(answer, end, ",", official_no);
    }
    }
}

static int is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

int ml_yesno_words(const char *answer) {
    int yes = 0, no = 0;
    for (const char *p = answer; *p;) {
        if (!is_alnum(*p)) {
            p++;
            continue;
        }
        const char *w = p;
        while (is_alnum(*p)) p++;
        size_t n = (size_t)(p - w);
        char lower[4] = {0};
        for (size_t i = 0; i < n && n <= 3; i++) lower[i] = (char)(w[i] | 0x20);
        yes |= n == 3 && !strcmp(lower, "yes");
        no |= n == 2 && !strcmp(lower, "no");
    }
    return yes == no ? -1 : yes;
}

void ml_binary_add(MlBinaryScore *s, int label_yes, int pred_yes) {
    if (pred_yes && label_yes) s->tp++;
    else if (pred_yes) s->fp++;
    else if (label_yes) s->fn++;
    else s->tn++;
}

static double ratio(double a, double b) { return b != 0 ? a / b : NAN; }

void ml_binary_finish(MlBinaryScore *s) {
    double tp = (double)s->tp, fp = (double)s->fp, tn = (double)s->tn, fn = (double)s->fn;
    double n = (double)(s->tp + s->fp + s->tn + s->fn);
    s->precision = ratio(tp, tp + fp);
    s->recall = ratio(tp, tp + fn);
    /* 2*precision*recall / (precision + recall), evaluated left to right as in Python */
    s->f1 = ratio(2 * s->precision * s->recall, s->precision + s->recall);
    s->accuracy = ratio(tp + tn, n);
    s->yes_ratio = ratio(tp + fp, n);
}

static int add_num(cJSON *o, const char *k, double v) {
    return (isfinite(v) ? cJSON_AddNumberToObject(o, k, v) : cJSON_AddNullToObject(o, k)) != NULL;
}

int ml_binary_add_json(cJSON *obj, const MlBinaryScore *s) {
    int ok = add_num(obj, "TP", (double)s->tp) & add_num(obj, "FP", (double)s->fp) & add_num(obj, "TN", (double)s->tn) &
             add_num(obj, "FN", (double)s->fn) & add_num(obj, "accuracy", s->accuracy) &
             add_num(obj, "precision", s->precision) & add_num(obj, "recall", s->recall) & add_num(obj, "f1", s->f1) &
             add_num(obj, "yes_ratio", s->yes_ratio);
    return ok ? 0 : -1;
}
