/*
** stats.h: category frequency and co-occurrence over a set of images, with
** the orderings POPE's own code (RUCAIBox/POPE utils.py) produces.
**
** Frequency counts images that contain a category (each image lists its
** categories once).  POPE sorts with Python's stable sort on dictionaries
** filled in image order, so ties keep first-insertion order; the sorted
** lists here reproduce that exactly:
**   by_frequency:   categories seen, most images first, ties by first appearance;
**   by_cooc[a]:     categories seen with a, most shared images first, ties by
**                   the first time the pair (a, b) was counted.
**
**     MlSceneStats st; ml_scene_stats_init(&st);
**     for each image: ml_scene_stats_add(&st, cats, n);   // distinct categories, scene order
**     ml_scene_stats_finish(&st);
*/
#ifndef ML_SCENE_STATS_H
#define ML_SCENE_STATS_H

#include <stdint.h>

#include "scene/vocab.h"

typedef struct MlSceneStats {
    int64_t n_images;
    int64_t freq[ML_N_CATEGORIES];                     /* images containing the category */
    int64_t cooc[ML_N_CATEGORIES][ML_N_CATEGORIES];    /* images containing both (a != b) */
    int64_t first_seen[ML_N_CATEGORIES];               /* insertion clock, -1 when never seen */
    int64_t pair_first[ML_N_CATEGORIES][ML_N_CATEGORIES];
    int64_t clock;
    /* filled by ml_scene_stats_finish */
    int n_seen;
    int by_frequency[ML_N_CATEGORIES];
    int n_cooc[ML_N_CATEGORIES];
    int by_cooc[ML_N_CATEGORIES][ML_N_CATEGORIES];
} MlSceneStats;

void ml_scene_stats_init(MlSceneStats *st);
/* cats: one image's distinct categories in the order the scene lists them. */
void ml_scene_stats_add(MlSceneStats *st, const int *cats, int n);
void ml_scene_stats_finish(MlSceneStats *st);

/* P(b | a) / P(b) over the images; 0 when either was never seen. */
double ml_scene_stats_lift(const MlSceneStats *st, int a, int b);

#endif
