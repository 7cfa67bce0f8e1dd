/*
** scenes.h: scoring answers to the scene benchmark that `misalign scenes`
** writes (docs/scenes.md: DIR/probes/<file>.jsonl).
**
** Yes/no probe files (pope_random, pope_popular, pope_adversarial, attribute,
** count, relation) are scored as POPE is (eval/yesno.h parsers), per file and
** per family: object = the three pope files, attribute, relation, count.
** Each family also reports the severity-weighted false-positive rate:
** sum of the severities of the negatives answered "yes" over the sum of all
** its negatives' severities.
**
** Open descriptions (describe.jsonl, ground truth = the scene graph) are read
** for claims, with the world's vocabulary (scene/vocab.h):
**   object     a noun phrase naming a category: wrong if the scene has none
**              (severity 2: an invented object);
**   attribute  a colour / size / texture word in front of a present
**              category: wrong if no object of that category has it;
**              severity = the world's scale for the closest such object
**              (scene/vocab.h ml_attr_severity);
**   count      a number word with a present category: wrong if the count
**              differs (severity 1 when off by one, else 2, as the count probes);
**   relation   "A left of / right of / above / below / next to B" within one
**              sentence (also "to the left of"), both categories present:
**              wrong if no pair the phrases can mean holds it in the scene
**              graph; not judged when such a pair is in the graph's
**              "ambiguous" band; severity as docs/scenes.md grades relation
**              negatives (direction: 2 when the true offset is 135 degrees or
**              more from the claim; next to: 2 when the boxes are 2 x far
**              apart or more), the mildest over the pairs.
** Each kind reports the error rate (errors / claims) and the
** severity-weighted rate (sum of severities / (2 x claims)).
**
** Answers: one file whose question_id is "<probe file>/<question_id>" (what
** a scenes run's items.jsonl holds, e.g. "relation/17"), or a directory of
** per-file answer files "<probe file>.jsonl" with the probes' own ids.  A
** probe file is scored when it has answers, and then every question in it
** must have exactly one.
**
**     MlSceneProbes p; MlSceneScore s; MlError err = {0};
**     ml_scenes_load(&p, "data/test", &err);
**     ml_scenes_score(&p, "runs/x/items.jsonl", ML_YESNO_OFFICIAL, &s, &err);
**     cJSON *j = ml_scenes_json(&s);  ...  ml_scenes_free(&p);
*/
#ifndef ML_EVAL_SCENES_H
#define ML_EVAL_SCENES_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/error.h"
#include "eval/records.h"
#include "eval/yesno.h"

enum { ML_SCENES_FILES = 7 };            /* the six yes/no files, then describe */
enum { ML_SCENES_DESCRIBE = 6 };
enum { ML_FAM_OBJECT = 0, ML_FAM_ATTRIBUTE, ML_FAM_RELATION, ML_FAM_COUNT, ML_N_FAMS };
enum { ML_CLAIM_OBJECT = 0, ML_CLAIM_ATTRIBUTE, ML_CLAIM_COUNT, ML_CLAIM_RELATION, ML_N_CLAIMS };

const char *ml_scenes_file_name(int file);   /* "pope_random", ..., "describe" */
const char *ml_scenes_family_name(int fam);  /* "object", "attribute", "relation", "count" */
const char *ml_scenes_claim_name(int kind);  /* "object", "attribute", "count", "relation" */

typedef struct MlSceneProbes {
    MlRecords file[ML_SCENES_FILES]; /* count 0 when the file is absent */
    char *dir;
    double far_px; /* manifest.json thresholds_px.far, or 0: 0.15 x the scene's size */
} MlSceneProbes;

int ml_scenes_load(MlSceneProbes *p, const char *dir, MlError *err);
void ml_scenes_free(MlSceneProbes *p);

typedef struct MlYesNoTally {
    MlBinaryScore s;
    double neg_severity, fp_severity; /* sums over negatives / negatives answered yes */
} MlYesNoTally;

typedef struct MlClaimTally {
    size_t claims, errors;
    double severity; /* sum over errors */
} MlClaimTally;

#define ML_SCENES_MAX_KINDS 16

typedef struct MlSceneScore {
    int answered[ML_SCENES_FILES];
    MlYesNoTally file[ML_SCENES_FILES - 1];
    MlYesNoTally family[ML_N_FAMS];
    /* negatives per family and kind ("attribute/binding", "object/adversarial", ...): how many,
       answered yes */
    char kind_name[ML_SCENES_MAX_KINDS][48];
    size_t kind_n[ML_SCENES_MAX_KINDS], kind_yes[ML_SCENES_MAX_KINDS], n_kinds;
    MlClaimTally claim[ML_N_CLAIMS];
    size_t descriptions, descriptions_wrong;
} MlSceneScore;

int ml_scenes_score(const MlSceneProbes *p, const char *answers, MlYesNoParser parser, MlSceneScore *out,
                    MlError *err);

/* Claims of one description against a scene graph (the describe record's
   "truth"), added to claim[ML_N_CLAIMS]; far_px is the world's "far"
   threshold (0: 0.15 x the scene's size).  Returns the number of wrong
   claims, or -1 when out of memory. */
int ml_scenes_describe(const char *text, const cJSON *truth, double far_px, MlClaimTally *claim);

/* The scores as a summary object: families, files, negative kinds, describe. */
cJSON *ml_scenes_json(const MlSceneScore *s);

#endif
