/*
** amber.h: AMBER (junyangwang0410/AMBER inference.py) scored without a model.
**
** Data, from AMBER's data/ folder: annotations.json (entry id-1 describes
** query id), relation.json (object -> associated words), safe_words.txt.
** Responses: [{"id": 1, "response": "..."}] (a JSON array or JSONL).
**
** Discriminative queries, exactly as the reference: the response must be
** exactly "Yes" or "No"; the positive class is "No"; counters start at
** 0.001 (data/metrics.txt) and are summed in file order in doubles;
** Accuracy, Precision, Recall are x100 and rounded to 1 decimal like
** Python's round(); F1 is computed from the rounded P and R with +0.0001 in
** the denominator (+0.001 for existence).  Reported overall and per
** dimension: existence, attribute (state, number, action), relation.
**
** Generative queries: the reference keeps NLTK nouns (NN* tags, WordNet
** lemmas) that are in the relation.json vocabulary, skips safe words, and
** matches a noun to truth / hallucination objects exactly or by spaCy
** similarity > 0.8.  Here every token (eval/words.h, case kept, plural
** folded) in the vocabulary counts as a noun and matching is exact; the
** reference's bookkeeping (an associated word covers its object; only the
** first occurrence of a duplicated truth object can be covered) is kept.
** CHAIR = hallucinated nouns / nouns, Cover = covered truth objects / truth
** objects, Hal = % responses with a hallucinated noun, Cog = hallucination
** objects named / hallucination objects.  See docs/evaluation.md.
**
**     MlAmber a; MlAmberScore s; MlError err = {0};
**     ml_amber_load(&a, "data/amber/annotations.json", "data/amber/relation.json",
**                   "data/amber/safe_words.txt", &err);
**     ml_amber_score_file(&a, "responses.json", NULL, &s, &err);
**     ml_amber_free(&a);
*/
#ifndef ML_EVAL_AMBER_H
#define ML_EVAL_AMBER_H

#include <stddef.h>

#include "core/error.h"
#include "core/strmap.h"

typedef enum MlAmberKind {
    ML_AMBER_GENERATIVE = 0,
    ML_AMBER_EXISTENCE,  /* discriminative-hallucination */
    ML_AMBER_STATE,      /* discriminative-attribute-state */
    ML_AMBER_NUMBER,     /* discriminative-attribute-number */
    ML_AMBER_ACTION,     /* discriminative-attribute-action */
    ML_AMBER_RELATION,   /* discriminative-relation and relation */
    ML_AMBER_N_KINDS
} MlAmberKind;

typedef struct MlAmberEntry {
    MlAmberKind kind;
    int truth_yes;        /* discriminative */
    char **truth, **hallu; /* generative, NULL-terminated */
    size_t n_truth, n_hallu;
} MlAmberEntry;

typedef struct MlAmber {
    MlAmberEntry *entries; /* entries[id - 1] */
    size_t count;
    MlStrMap assoc;        /* word -> index into assoc_words */
    char ***assoc_words;   /* NULL-terminated association lists */
    size_t n_assoc;
    MlStrMap vocab;        /* every relation.json word (keys and values) */
    MlStrMap safe;         /* safe_words.txt */
} MlAmber;

/* relation or safe_words NULL: relation.json or safe_words.txt beside
   annotations, where AMBER's data/ keeps them. */
int ml_amber_load(MlAmber *a, const char *annotations, const char *relation, const char *safe_words, MlError *err);
void ml_amber_free(MlAmber *a);

/* One discriminative dimension; values are percentages as AMBER prints them. */
typedef struct MlAmberDisc {
    size_t n;                 /* queries answered */
    double accuracy, precision, recall, f1;
} MlAmberDisc;

typedef struct MlAmberScore {
    size_t n_generative, n_discriminative;
    double chair, cover, hal, cog;  /* generative, % rounded to 0.1 */
    MlAmberDisc overall, existence, attribute, state, number, action, relation;
    double amber;             /* (100 - CHAIR + overall F1) / 2 rounded, when both parts ran */
} MlAmberScore;

/* queries (optional, may be NULL): an AMBER query file; the responses must
   then cover exactly its ids. */
int ml_amber_score_file(const MlAmber *a, const char *responses, const char *queries, MlAmberScore *out, MlError *err);

/* Python's round(x, 1) (round half to even on the exact binary value). */
double ml_amber_round1(double x);
/* AMBER's F1 from rounded percentages p and r with its epsilon. */
double ml_amber_f1(double p, double r, double eps);

#endif
