/*
** yesno.h: turning a free-text answer into yes/no exactly as the reference
** POPE scripts do, and the binary scores they print.
**
** Parsers (see docs/evaluation.md for the full rules):
**   ML_YESNO_OFFICIAL  RUCAIBox/POPE evaluate.py (LLaVA's eval_pope.py is the
**                      same): text before the first '.', ',' deleted, split
**                      on single spaces; "no" if a word is exactly No, not or
**                      no; everything else (NO, don't, gibberish) is "yes".
**   ML_YESNO_OPERA     shikiw/OPERA pope_eval.py recorder(): all '.' and ','
**                      deleted; "no" if a word is No, not, no or NO or ends
**                      in "n't".
**   ML_YESNO_VCD       DAMO-NLP-SG/VCD eval_pope.py: lower-cased; for a "yes"
**                      label the answer is yes iff it contains "yes", for a
**                      "no" label it is no iff it contains "no" (so the
**                      parsed answer depends on the label, as there).
**
**     MlYesNoParser p; ml_yesno_parser_from_name("opera", &p);
**     MlBinaryScore s = {0};
**     ml_binary_add(&s, label_yes, ml_yesno_parse(p, text, label_yes));
**     ml_binary_finish(&s);   s.accuracy, s.f1, ...
*/
#ifndef ML_EVAL_YESNO_H
#define ML_EVAL_YESNO_H

#include <cjson/cJSON.h>
#include <stdint.h>

typedef enum MlYesNoParser { ML_YESNO_OFFICIAL = 0, ML_YESNO_OPERA = 1, ML_YESNO_VCD = 2 } MlYesNoParser;

/* "official", "opera", "vcd" -> parser; returns 0, or -1 for an unknown name. */
int ml_yesno_parser_from_name(const char *name, MlYesNoParser *out);
const char *ml_yesno_parser_name(MlYesNoParser p);

/* 1 = yes, 0 = no.  label_yes is used only by ML_YESNO_VCD. */
int ml_yesno_parse(MlYesNoParser p, const char *answer, int label_yes);

/* A three-way reading for judges that allow "unclear" (HallusionBench; the
   rule of VLMEvalKit's YOrN_Extraction): the answer's words are its runs of
   ASCII letters and digits, lower-cased; 1 (yes) when "yes" is a word and
   "no" is not, 0 (no) for the reverse, -1 (unclear) when both or neither are. */
int ml_yesno_words(const char *answer);

/* Confusion counts with "yes" as the positive class, and the five figures
   the official script prints, computed in its order of operations so they
   match it to the last bit.  A ratio whose denominator is 0 is NaN (the
   Python scripts raise ZeroDivisionError there). */
typedef struct MlBinaryScore {
    int64_t tp, fp, tn, fn;
    double accuracy, precision, recall, f1, yes_ratio;
} MlBinaryScore;

void ml_binary_add(MlBinaryScore *s, int label_yes, int pred_yes);
void ml_binary_finish(MlBinaryScore *s);
/* {"TP","FP","TN","FN","accuracy","precision","recall","f1","yes_ratio"}
   added to obj (NaN as null); returns 0, or -1 when out of memory. */
int ml_binary_add_json(cJSON *obj, const MlBinaryScore *s);

#endif
