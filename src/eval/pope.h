/*
** pope.h: POPE-style yes/no benchmarks scored from files, no model needed.
**
** Questions: POPE records {"question_id", "image", "text", "label"} with
** label "yes" or "no" (JSONL or a JSON array; ids unique).  Answers come in
** either reference form, detected from the first record:
**   LLaVA form  {"question_id": 17, "text": "Yes", ...}  matched by id; every
**               question needs exactly one answer and every id must exist;
**   POPE form   {"question": "...", "answer": "yes"}     matched by line
**               order; the counts must agree, and a "question" that differs
**               from the question's text (ignoring case and surrounding
**               spaces) is reported as misaligned.
** A run log's items.jsonl (eval/runlog.h) is an answer file in LLaVA form.
**
**     MlPopeSet qs; MlError err = {0};
**     ml_pope_questions_load("coco_pope_random.json", &qs, &err);
**     char **ans; ml_pope_answers_load(&qs, "answers.jsonl", &ans, &err);
**     MlBinaryScore s; ml_pope_score(&qs, ans, ML_YESNO_OFFICIAL, &s, NULL);
**     ml_pope_answers_free(&qs, ans); ml_pope_questions_free(&qs);
*/
#ifndef ML_EVAL_POPE_H
#define ML_EVAL_POPE_H

#include <stddef.h>

#include "core/error.h"
#include "core/strmap.h"
#include "eval/yesno.h"

typedef struct MlPopeQuestion {
    char *id;    /* question_id as text */
    char *image; /* "" when absent */
    char *text;
    int label_yes;
    size_t line; /* where it is in the question file */
} MlPopeQuestion;

typedef struct MlPopeSet {
    MlPopeQuestion *q;
    size_t count;
    MlStrMap by_id; /* id -> index into q */
    char *path;
} MlPopeSet;

int ml_pope_questions_load(const char *path, MlPopeSet *out, MlError *err);
/* The same from text in memory; `where` names it in messages. */
int ml_pope_questions_parse(const char *text, size_t len, const char *where, MlPopeSet *out, MlError *err);
void ml_pope_questions_free(MlPopeSet *qs);

/* Reads an answer file and returns answers[i] (owned copies) for question i. */
int ml_pope_answers_load(const MlPopeSet *qs, const char *path, char ***answers, MlError *err);
int ml_pope_answers_parse(const MlPopeSet *qs, const char *text, size_t len, const char *where, char ***answers,
                          MlError *err);
void ml_pope_answers_free(const MlPopeSet *qs, char **answers);

/* Scores answers[i] against question i; pred (optional, count entries)
   receives each parsed answer (1 = yes). */
void ml_pope_score(const MlPopeSet *qs, char *const *answers, MlYesNoParser parser, MlBinaryScore *out, int *pred);

#endif
