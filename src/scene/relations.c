/* relations.c: relation truth with CLEVR-style margins, and error severities. */
#include "scene/relations.h"

#include <math.h>
#include <string.h>

const char *ml_relation_name(MlRelation r) {
    static const char *const names[ML_N_RELATIONS] = {"left of", "right of", "above", "below", "next to"};
    return (unsigned)r < ML_N_RELATIONS ? names[r] : NULL;
}

int ml_relation_find(const char *name) {
    for (int r = 0; r < ML_N_RELATIONS; r++)
        if (!strcmp(ml_relation_name((MlRelation)r), name)) return r;
    return -1;
}

MlRelation ml_relation_opposite(MlRelation r) {
    switch (r) {
    case ML_REL_LEFT: return ML_REL_RIGHT;
    case ML_REL_RIGHT: return ML_REL_LEFT;
    case ML_REL_ABOVE: return ML_REL_BELOW;
    case ML_REL_BELOW: return ML_REL_ABOVE;
    default: return r;
    }
}

int ml_relation_box_gap(const MlSceneObject *a, const MlSceneObject *b) {
    int gx = b->bbox[0] - a->bbox[2], gx2 = a->bbox[0] - b->bbox[2];
    int gy = b->bbox[1] - a->bbox[3], gy2 = a->bbox[1] - b->bbox[3];
    if (gx2 > gx) gx = gx2;
    if (gy2 > gy) gy = gy2;
    if (gx < 0) gx = 0;
    if (gy < 0) gy = 0;
    return gx > gy ? gx : gy;
}

/* Unit direction a claim asserts for a relative to b (y down). */
static void claimed_direction(MlRelation r, double *dx, double *dy) {
    *dx = r == ML_REL_LEFT ? -1 : r == ML_REL_RIGHT ? 1 : 0;
    *dy = r == ML_REL_ABOVE ? -1 : r == ML_REL_BELOW ? 1 : 0;
}

int ml_relation_truth(const MlWorld *w, const MlSceneObject *a, const MlSceneObject *b, MlRelation r) {
    if (r == ML_REL_NEXT_TO) {
        int gap = ml_relation_box_gap(a, b);
        if (gap <= ml_world_px(w, w->near)) return ML_TRUTH_YES;
        if (gap >= ml_world_px(w, w->far)) return ML_TRUTH_NO;
        return ML_TRUTH_AMBIGUOUS;
    }
    double dx, dy;
    claimed_direction(r, &dx, &dy);
    /* Offset of a from b projected on the claimed direction. */
    double along = (a->cx - b->cx) * dx + (a->cy - b->cy) * dy;
    double m = ml_world_px(w, w->margin);
    if (along > m) return ML_TRUTH_YES;
    if (along < -m) return ML_TRUTH_NO;
    return ML_TRUTH_AMBIGUOUS;
}

int ml_relation_severity(const MlWorld *w, const MlSceneObject *a, const MlSceneObject *b, MlRelation r) {
    if (ml_relation_truth(w, a, b, r) != ML_TRUTH_NO) return 0;
    if (r == ML_REL_NEXT_TO) return ml_relation_box_gap(a, b) < 2 * ml_world_px(w, w->far) ? 1 : 2;
    double dx, dy;
    claimed_direction(r, &dx, &dy);
    double ox = a->cx - b->cx, oy = a->cy - b->cy;
    /* The angle is at least 135 degrees exactly when the offset points back
       along the claim at least as far as it points across it.  Centres are
       multiples of 1/8, so this comparison is exact even on the diagonal. */
    double along = ox * dx + oy * dy, across = fabs(ox * dy - oy * dx);
    return -along >= across ? 2 : 1;
}
