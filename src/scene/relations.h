/*
** relations.h: spatial relations between two objects, with an ambiguity band.
**
** "a left of b" holds when b's centre is more than `margin` (world
** relations.margin x image side) to the right of a's centre, and is false
** when it is more than `margin` to the left; in between it is ambiguous and
** never asserted nor asked (CLEVR's rule).  Likewise above/below with y.
** "a next to b" holds when their pixel bounding boxes are at most `near`
** apart (Chebyshev gap: the larger of the horizontal and vertical gaps,
** 0 when they touch or overlap) and is false when they are at least `far`
** apart.
**
**     int t = ml_relation_truth(&world, &s.obj[0], &s.obj[1], ML_REL_LEFT);
**     if (t == ML_TRUTH_AMBIGUOUS) skip the pair;
*/
#ifndef ML_SCENE_RELATIONS_H
#define ML_SCENE_RELATIONS_H

#include "scene/scene.h"

typedef enum MlRelation {
    ML_REL_LEFT = 0,
    ML_REL_RIGHT,
    ML_REL_ABOVE,
    ML_REL_BELOW,
    ML_REL_NEXT_TO,
    ML_N_RELATIONS
} MlRelation;

enum { ML_TRUTH_NO = 0, ML_TRUTH_YES = 1, ML_TRUTH_AMBIGUOUS = -1 };

const char *ml_relation_name(MlRelation r); /* "left of", "right of", "above", "below", "next to" */
int ml_relation_find(const char *name);     /* -1 when unknown */
MlRelation ml_relation_opposite(MlRelation r); /* left <-> right, above <-> below; next to has none (itself) */

int ml_relation_truth(const MlWorld *w, const MlSceneObject *a, const MlSceneObject *b, MlRelation r);

/* Chebyshev gap between the objects' pixel bounding boxes, px. */
int ml_relation_box_gap(const MlSceneObject *a, const MlSceneObject *b);

/* Severity of the false claim "a r b":
   left/right/above/below: angle between the claimed direction and the true
   offset of a from b: 2 ("opposite") from 135 degrees, else 1 ("orthogonal");
   next to: 1 ("near miss") when the gap is below 2 x far, else 2. */
int ml_relation_severity(const MlWorld *w, const MlSceneObject *a, const MlSceneObject *b, MlRelation r);

#endif
