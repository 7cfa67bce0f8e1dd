/*
** probe.h: yes/no probes with exact labels, negative kinds and severities.
**
** Families (docs/scenes.md has the counts and the full severity table):
**   pope       object existence, POPE file format (scene/pope.h);
**   attribute  "Is the star red?" for colour, size, texture; negatives are
**              random (a value no object in the image has), binding (the value
**              of another object in the image) or knowledge_conflict (the
**              category's typical value, asked about an atypical object);
**   count      "Are there exactly two stars in the image?"; negatives random
**              or binding (the count of another category in the image);
**   relation   "Is the star left of the circle?"; direction negatives swap
**              subject and object or use the opposite relation; next-to
**              negatives ask about a pair that is far apart (far_pair).
** Every family is built from positive/negative pairs about the same
** object(s), so each is balanced 50/50 by construction.  Pairs whose truth
** is ambiguous (scene/relations.h) or whose objects cannot be named uniquely
** (scene/text.h) are never asked.
**
**     MlProbe p[ML_PROBES_PER_SCENE_MAX];
**     int n = ml_probe_scene(&world, &scene, &rng, p);     // attribute + count + relation
**     ml_probe_json(&p[i], image_name, question_id, &line);
*/
#ifndef ML_SCENE_PROBE_H
#define ML_SCENE_PROBE_H

#include "core/strbuf.h"
#include "scene/rng.h"
#include "scene/scene.h"

typedef enum MlProbeFamily {
    ML_FAMILY_POPE = 0,
    ML_FAMILY_ATTRIBUTE,
    ML_FAMILY_COUNT,
    ML_FAMILY_RELATION,
    ML_N_FAMILIES
} MlProbeFamily;

typedef enum MlNegKind {
    ML_NEG_NONE = 0, /* positives */
    ML_NEG_RANDOM,
    ML_NEG_POPULAR,
    ML_NEG_ADVERSARIAL,
    ML_NEG_BINDING,
    ML_NEG_KNOWLEDGE_CONFLICT,
    ML_NEG_SWAP,
    ML_NEG_OPPOSITE,
    ML_NEG_FAR_PAIR,
    ML_N_NEG_KINDS
} MlNegKind;

/* Relation subtypes. */
enum { ML_PROBE_DIRECTION = 0, ML_PROBE_NEXT_TO = 1 };

/* Per scene at most: 3 attribute pairs, 1 count pair, 2 direction pairs, 1 next-to pair. */
#define ML_PROBE_DIRECTION_PAIRS 2
#define ML_PROBES_PER_SCENE_MAX 14

typedef struct MlProbe {
    MlProbeFamily family;
    int subtype;            /* pope: MlScenePopeStrategy; attribute: MlAttr; count: 0; relation: ML_PROBE_* */
    int label;              /* 1 yes, 0 no */
    MlNegKind negative_kind;
    int severity;           /* 0 for positives; 1 mild, 2 severe (docs/scenes.md) */
    int subject, object;    /* object indices in the scene, -1 when unused */
    int category;           /* pope and count: the category asked about, else -1 */
    int value;              /* attribute: claimed value; count: claimed count; relation: MlRelation; else -1 */
    int truth;              /* attribute: true value; count: true count; else -1 */
    char text[192];
} MlProbe;

const char *ml_probe_family_name(MlProbeFamily f);
const char *ml_probe_subtype_name(MlProbeFamily f, int subtype);
const char *ml_neg_kind_name(MlNegKind k);

/* Attribute, count and relation probes of one scene (draws from r). Returns how many. */
int ml_probe_scene(const MlWorld *w, const MlScene *s, MlRng *r, MlProbe *out);

/* One JSONL record (no newline): question_id, image, text, label first (POPE's fields). */
void ml_probe_json(const MlProbe *p, const char *image, long long question_id, MlStrBuf *out);

/* The open describe prompt with the scene graph as ground truth. */
void ml_probe_describe_json(const MlWorld *w, const MlScene *s, long long question_id, MlStrBuf *out);

#endif
