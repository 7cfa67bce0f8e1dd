/*
** hallusionbench.h: HallusionBench's accuracies (tianyi-lab/HallusionBench
** @744007c, utils.py and evaluation.py) over an answer file.
**
** Questions: HallusionBench.json, a list of {category "VD"|"VS", subcategory,
** set_id, figure_id, question_id, visual_input, gt_answer "1" (yes) | "0"
** (no), ...}; the item id is "<category>_<subcategory>_<set_id>_<figure_id>_
** <question_id>" as utils.py builds it, and must be unique.
**
** Answers (JSONL or a JSON list): {"id": "VD_illusion_0_0_0", "answer": text},
** or the five id fields or {"index": position in the question file, from 0}
** instead of "id", and "model_prediction" instead of
** "answer" (so the official result file, HallusionBench.json entries with
** model_prediction added, is read as it is).  Every question needs exactly
** one answer; unknown ids are errors.
**
** Judge: upstream asks GPT-4 whether the answer is correct (codes 0 wrong,
** 1 correct, 2 unclear).  Here the answer is read with ml_yesno_words: yes or
** no equal to gt_answer is 1, the other one 0, unclear 2.  Correct = code 1,
** or code 1 or 2 for VS questions without a figure (figure_id "0").
**
**   aAcc  correct questions / questions                      (get_eval_all)
**   qAcc  groups (category, subcategory, set_id, question_id) with every
**         question correct / groups                          (get_eval_pair_all)
**   fAcc  groups (category, subcategory, set_id, figure_id), VS figure 0
**         left out, every question correct / groups          (get_eval_fig)
**   easy, hard: qAcc over questions with visual_input != "2" / == "2"
** Percentages are round(100 * correct / total, 4) as evaluation.py prints
** them; NaN when there is nothing to count.
**
**     MlHallusionSet s; MlHallusionScore sc; MlError err = {0};
**     ml_hallusionbench_load("data/hallusionbench/HallusionBench.json", &s, &err);
**     ml_hallusionbench_score_file(&s, "answers.jsonl", &sc, &err);
**     printf("%g %g %g\n", sc.all.qacc.percent, sc.all.facc.percent, sc.all.aacc.percent);
**     ml_hallusionbench_free(&s);
*/
#ifndef ML_EVAL_HALLUSIONBENCH_H
#define ML_EVAL_HALLUSIONBENCH_H

#include <stddef.h>

#include "core/error.h"
#include "core/strmap.h"

typedef struct MlHallusionQuestion {
    int vs;        /* category VS, else VD */
    int no_figure; /* figure_id "0" */
    int hard;      /* visual_input "2" */
    int gt_yes;
    size_t pair;   /* (category, subcategory, set_id, question_id) group */
    size_t figure; /* (category, subcategory, set_id, figure_id) group; SIZE_MAX for VS without a figure */
    size_t index;  /* position in the file */
} MlHallusionQuestion;

typedef struct MlHallusionSet {
    MlHallusionQuestion *q;
    size_t count;
    MlStrMap ids; /* item id -> index */
    size_t n_pairs, n_figures;
    char *where;
} MlHallusionSet;

int ml_hallusionbench_load(const char *path, MlHallusionSet *s, MlError *err);
int ml_hallusionbench_parse(const char *text, size_t len, const char *where, MlHallusionSet *s, MlError *err);
void ml_hallusionbench_free(MlHallusionSet *s);

typedef struct MlHallusionAcc {
    size_t correct, total;
    double percent;
} MlHallusionAcc;

typedef struct MlHallusionPart {
    MlHallusionAcc aacc, qacc, facc, easy, hard;
} MlHallusionPart;

typedef struct MlHallusionScore {
    MlHallusionPart vd, vs, all;
    size_t yes, no, unclear; /* how the answers read */
} MlHallusionScore;

int ml_hallusionbench_score_file(const MlHallusionSet *s, const char *answers_path, MlHallusionScore *out,
                                 MlError *err);
int ml_hallusionbench_score_text(const MlHallusionSet *s, const char *text, size_t len, const char *where,
                                 MlHallusionScore *out, MlError *err);

#endif
