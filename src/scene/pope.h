/*
** pope.h: POPE object-existence questions for one image, sampled exactly as
** RUCAIBox/POPE does (utils.py `pope`), over statistics of the generated set.
**
** The image's first 3 distinct categories are the positives, in scene order.
** After each positive comes one negative, a category absent from the image
** and not yet asked about for it:
**   random:      uniform over the categories seen in the set;
**   popular:     the most frequent such category (ties: first seen);
**   adversarial: the category co-occurring most with that positive (ties:
**                the pair counted first);
** popular and adversarial fall back to random when nothing is eligible.
** Labels therefore alternate yes, no, yes, no, yes, no.  Only images with at
** least 3 distinct categories get questions (POPE's own rule).
**
** Severity of a negative: 1 when it co-occurs with an object of the image
** (lift > 1 over the set: seen together more often than chance),
** else 2 (an object that does not go with the scene).
**
**     MlScenePopeQuestion q[6];
**     int n = ml_scene_pope_image(&stats, cats, n_cats, ML_POPE_POPULAR, &rng, q);  // 6, or 0
*/
#ifndef ML_SCENE_POPE_H
#define ML_SCENE_POPE_H

#include "scene/rng.h"
#include "scene/stats.h"

typedef enum MlScenePopeStrategy { ML_POPE_RANDOM = 0, ML_POPE_POPULAR = 1, ML_POPE_ADVERSARIAL = 2 } MlScenePopeStrategy;

#define ML_POPE_POSITIVES 3
#define ML_POPE_COOCCUR_LIFT 1.0

typedef struct MlScenePopeQuestion {
    int category;
    int label;       /* 1 yes, 0 no */
    int fell_back;   /* a popular/adversarial negative drawn at random for want of candidates */
    int severity;    /* 0 for positives, else 1 or 2 (see above) */
} MlScenePopeQuestion;

const char *ml_scene_pope_strategy_name(MlScenePopeStrategy s); /* "random", "popular", "adversarial" */

/* Returns how many questions were written to out (6, or 0 when the image has
   fewer than 3 distinct categories or the set has too few absent ones). */
int ml_scene_pope_image(const MlSceneStats *st, const int *cats, int n_cats, MlScenePopeStrategy strategy, MlRng *r,
                        MlScenePopeQuestion out[2 * ML_POPE_POSITIVES]);

#endif
