/*
** chair.h: CHAIR object hallucination of captions (Rohrbach et al. 2018), with
** the rules of the reference chair.py (LisaAnne/Hallucination as copied into
** OPERA and CHAIR-metric-standalone):
**
**   caption -> lower-case -> tokens (eval/words.h) -> singular forms
**   -> two-word phrases merged left to right ("traffic light", "hot dog", ...,
**      "baby cat" -> cat, "passenger train" -> train, "bow tie" -> tie,
**      "toilet seat" -> toilet, "wine glas" -> wine glass)
**   -> if both toilet and seat occur, every seat is dropped
**   -> words in the synonym list (synonyms.txt: one line per COCO object, the
**      first entry canonical, entries split on ", ") mapped to canonical names.
** The reference's quirks follow from these rules and are kept: "home plate"
** and "train track" merge but are not objects (so they hide plate/train),
** "stove top oven" never merges, " motor bike" and " cheesecake" keep the
** leading space the ", " split leaves and never match.
**
** Scores over a caption file (image id -> caption) and ground truth
** ({"<image id>": ["canonical object", ...]}):
**   CHAIR_s = captions with a hallucinated object / captions
**   CHAIR_i = hallucinated object mentions / object mentions (duplicates count)
**   Recall  = sum of distinct mentioned ground-truth objects / sum of |ground truth|
**   Len     = tokens per caption (after phrase merging)
**
**     MlChairVocab v; MlChairTruth gt; MlChairScore s; MlError err = {0};
**     ml_chair_vocab_load("synonyms.txt", &v, &err);
**     ml_chair_truth_load("chair_gt_objects_subset.json", &gt, &err);
**     ml_chair_score_file(&v, &gt, "greedy.jsonl", "image_id", "caption", &s, &err);
**     ml_chair_truth_free(&gt); ml_chair_vocab_free(&v);
*/
#ifndef ML_EVAL_CHAIR_H
#define ML_EVAL_CHAIR_H

#include <stddef.h>

#include "core/error.h"
#include "core/strmap.h"

typedef struct MlChairVocab {
    MlStrMap synonym; /* every synonym -> index into names (a later line wins, as in a Python dict) */
    char **names;     /* canonical name of each line */
    size_t n_names;
    MlStrMap phrase;  /* "w1 w2" -> index into phrase_to */
    char **phrase_to;
    size_t n_phrases;
} MlChairVocab;

int ml_chair_vocab_parse(const char *text, size_t len, const char *where, MlChairVocab *v, MlError *err);
int ml_chair_vocab_load(const char *path, MlChairVocab *v, MlError *err);
void ml_chair_vocab_free(MlChairVocab *v);

/* The objects one caption mentions. */
typedef struct MlChairMentions {
    size_t n_tokens;   /* tokens after phrase merging (the Len numerator) */
    size_t count;      /* object mentions */
    const char **word; /* as written (singular, merged), points into the caption's words */
    const char **node; /* canonical name, points into the vocabulary */
    char *store;       /* owns the words */
} MlChairMentions;

int ml_chair_mentions(const MlChairVocab *v, const char *caption, MlChairMentions *m, MlError *err);
void ml_chair_mentions_free(MlChairMentions *m);

/* Ground-truth object sets per image id. */
typedef struct MlChairTruth {
    MlStrMap ids;   /* image id -> index */
    char ***objects; /* objects[i] = NULL-terminated list of names */
    size_t count;
    char *path;
} MlChairTruth;

int ml_chair_truth_load(const char *path, MlChairTruth *gt, MlError *err);
int ml_chair_truth_parse(const char *text, size_t len, const char *where, MlChairTruth *gt, MlError *err);
void ml_chair_truth_free(MlChairTruth *gt);

typedef struct MlChairScore {
    size_t captions, hallucinated_captions;
    size_t mentions, hallucinated_mentions;
    size_t gt_objects, recalled_objects;
    size_t tokens;
    double chair_s, chair_i, recall, avg_len; /* fractions; avg_len in tokens */
} MlChairScore;

/* Captions are records with id_key (integer or string) and caption_key; each
   image may appear once and must be in the ground truth. */
int ml_chair_score_file(const MlChairVocab *v, const MlChairTruth *gt, const char *captions_path, const char *id_key,
                        const char *caption_key, MlChairScore *out, MlError *err);
/* The same for caption records in memory; `where` names them in messages. */
int ml_chair_score_text(const MlChairVocab *v, const MlChairTruth *gt, const char *text, size_t len, const char *where,
                        const char *id_key, const char *caption_key, MlChairScore *out, MlError *err);
/* Adds one caption's mentions against truth objects (NULL-terminated). */
void ml_chair_add(MlChairScore *s, const MlChairMentions *m, char *const *truth);
void ml_chair_finish(MlChairScore *s);

#endif
