/* stats.c: frequency and co-occurrence with POPE's orderings (see stats.h). */
#include "scene/stats.h"

#include <string.h>

void ml_scene_stats_init(MlSceneStats *st) {
    memset(st, 0, sizeof *st);
    for (int a = 0; a < ML_N_CATEGORIES; a++) {
        st->first_seen[a] = -1;
        for (int b = 0; b < ML_N_CATEGORIES; b++) st->pair_first[a][b] = -1;
    }
}

void ml_scene_stats_add(MlSceneStats *st, const int *cats, int n) {
    st->n_images++;
    for (int i = 0; i < n; i++) {
        int a = cats[i];
        st->freq[a]++;
        if (st->first_seen[a] < 0) st->first_seen[a] = st->clock++;
    }
    /* Same loop order as POPE's compute_co_occurrence: for o, for other_o. */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int a = cats[i], b = cats[j];
            if (a == b) continue;
            st->cooc[a][b]++;
            if (st->pair_first[a][b] < 0) st->pair_first[a][b] = st->clock++;
        }
}

/* Insertion sort: stable, and n is at most 12. Larger count first, then earlier key. */
static void sort_desc(int *items, int n, const int64_t *count, const int64_t *key) {
    for (int i = 1; i < n; i++) {
        int v = items[i], j = i - 1;
        while (j >= 0 && (count[items[j]] < count[v] || (count[items[j]] == count[v] && key[items[j]] > key[v]))) {
            items[j + 1] = items[j];
            j--;
        }
        items[j + 1] = v;
    }
}

void ml_scene_stats_finish(MlSceneStats *st) {
    st->n_seen = 0;
    for (int a = 0; a < ML_N_CATEGORIES; a++)
        if (st->first_seen[a] >= 0) st->by_frequency[st->n_seen++] = a;
    sort_desc(st->by_frequency, st->n_seen, st->freq, st->first_seen);
    for (int a = 0; a < ML_N_CATEGORIES; a++) {
        st->n_cooc[a] = 0;
        for (int b = 0; b < ML_N_CATEGORIES; b++)
            if (st->pair_first[a][b] >= 0) st->by_cooc[a][st->n_cooc[a]++] = b;
        sort_desc(st->by_cooc[a], st->n_cooc[a], st->cooc[a], st->pair_first[a]);
    }
}

double ml_scene_stats_lift(const MlSceneStats *st, int a, int b) {
    if (!st->freq[a] || !st->freq[b]) return 0;
    return (double)st->cooc[a][b] * (double)st->n_images / ((double)st->freq[a] * (double)st->freq[b]);
}
