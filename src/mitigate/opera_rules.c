/* opera_rules.c: OPERA's window score and retrospection rule (opera.h). */
#include <math.h>

#include "core/half.h"
#include "mitigate/opera.h"

float ml_opera_window_score(const float *w, int64_t L, int64_t stride, float scale, int64_t *loc) {
    float best = -INFINITY;
    *loc = 0;
    for (int64_t j = 0; j < L; j++) {
        float prod = 1.0f;
        for (int64_t i = j; i < L; i++) prod *= scale * w[i * stride + j];
        float s = ml_f16_to_f32(ml_f32_to_f16(1e-7f * prod));
        if (s > best) best = s, *loc = j;
    }
    return best;
}

int64_t ml_opera_mode(const int64_t *v, int n) {
    int64_t best = v[0];
    int best_count = 0;
    for (int i = 0; i < n; i++) {
        int c = 0;
        for (int k = 0; k < n; k++) c += v[k] == v[i];
        if (c > best_count || (c == best_count && v[i] < best)) best = v[i], best_count = c;
    }
    return best;
}

int64_t ml_opera_rollback_target(const int64_t *history, int64_t stride, int beams, int64_t n, int64_t loc, int threshold,
                                 int max_uses, int *uses, int64_t window) {
    for (int b = 0; b < beams; b++) {
        int64_t c = 0;
        for (int64_t k = 0; k < n; k++) c += history[(int64_t)b * stride + k] == loc;
        if (c <= threshold) return -1;
    }
    if (loc < ML_OPERA_MIN_ROLLBACK || loc + 1 >= window) return -1;
    int64_t pos = loc + 1;
    if (uses[pos] >= max_uses) {
        pos = loc;
        if (uses[pos] >= max_uses) return -1;
    }
    uses[pos]++;
    return pos;
}
