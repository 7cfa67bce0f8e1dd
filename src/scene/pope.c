/* pope.c: POPE negative sampling (see pope.h). */
#include "scene/pope.h"

const char *ml_scene_pope_strategy_name(MlScenePopeStrategy s) {
    static const char *const names[] = {"random", "popular", "adversarial"};
    return (unsigned)s < 3 ? names[s] : "?";
}

static int contains(const int *list, int n, int v) {
    for (int i = 0; i < n; i++)
        if (list[i] == v) return 1;
    return 0;
}

/* POPE redraws random.choice until it hits an eligible category: the result
   is uniform over the eligible ones, which is what we draw directly. */
static int draw_random(const MlSceneStats *st, const int *cats, int n_cats, const int *history, int n_hist, MlRng *r) {
    int pool[ML_N_CATEGORIES], n = 0;
    for (int i = 0; i < st->n_seen; i++) {
        int c = st->by_frequency[i];
        if (!contains(cats, n_cats, c) && !contains(history, n_hist, c)) pool[n++] = c;
    }
    if (!n) return -1;
    /* by_frequency order is a permutation of the seen set; sort the pool by
       category index so the draw does not depend on frequencies. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && pool[j - 1] > pool[j]; j--) {
            int t = pool[j];
            pool[j] = pool[j - 1];
            pool[j - 1] = t;
        }
    return pool[ml_rng_below(r, n)];
}

static int negative_severity(const MlSceneStats *st, const int *cats, int n_cats, int c) {
    for (int i = 0; i < n_cats; i++)
        if (ml_scene_stats_lift(st, cats[i], c) > ML_POPE_COOCCUR_LIFT) return 1;
    return 2;
}

int ml_scene_pope_image(const MlSceneStats *st, const int *cats, int n_cats, MlScenePopeStrategy strategy, MlRng *r,
                        MlScenePopeQuestion out[2 * ML_POPE_POSITIVES]) {
    if (n_cats < ML_POPE_POSITIVES) return 0;
    int history[2 * ML_POPE_POSITIVES], n_hist = 0, n_out = 0;
    for (int i = 0; i < ML_POPE_POSITIVES; i++) {
        int pos = cats[i];
        history[n_hist++] = pos;
        out[n_out++] = (MlScenePopeQuestion){pos, 1, 0, 0};
        int neg = -1;
        if (strategy == ML_POPE_POPULAR) {
            for (int j = 0; j < st->n_seen && neg < 0; j++) {
                int c = st->by_frequency[j];
                if (!contains(cats, n_cats, c) && !contains(history, n_hist, c)) neg = c;
            }
        } else if (strategy == ML_POPE_ADVERSARIAL) {
            for (int j = 0; j < st->n_cooc[pos] && neg < 0; j++) {
                int c = st->by_cooc[pos][j];
                if (!contains(cats, n_cats, c) && !contains(history, n_hist, c)) neg = c;
            }
        }
        int fell_back = 0;
        if (neg < 0) {
            fell_back = strategy != ML_POPE_RANDOM;
            neg = draw_random(st, cats, n_cats, history, n_hist, r);
            if (neg < 0) return 0; /* a set too small to have an absent category left */
        }
        history[n_hist++] = neg;
        out[n_out++] = (MlScenePopeQuestion){neg, 0, fell_back, negative_severity(st, cats, n_cats, neg)};
    }
    return n_out;
}
