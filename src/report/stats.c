/* stats.c: Wilson score intervals and McNemar's exact test. */
#include "report/stats.h"

#include <math.h>

void ml_stats_wilson(size_t k, size_t n, double z, double *lo, double *hi) {
    if (!n) {
        *lo = *hi = NAN;
        return;
    }
    const double N = (double)n, p = (double)k / N, z2 = z * z;
    const double centre = (p + z2 / (2 * N)) / (1 + z2 / N);
    const double half = z / (1 + z2 / N) * sqrt(p * (1 - p) / N + z2 / (4 * N * N));
    *lo = fmax(0, centre - half);
    *hi = fmin(1, centre + half);
}

double ml_stats_mcnemar_exact(size_t b, size_t c) {
    const size_t n = b + c, k = b < c ? b : c;
    if (!n) return 1;
    /* binomial terms in logs: C(n, i) / 2^n underflows as a product for large n */
    const double N = (double)n, base = lgamma(N + 1) - N * log(2.0);
    double tail = 0;
    for (size_t i = 0; i <= k; i++) tail += exp(base - lgamma((double)i + 1) - lgamma(N - (double)i + 1));
    return fmin(1, 2 * tail);
}
