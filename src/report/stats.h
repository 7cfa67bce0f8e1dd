/*
** stats.h: the two statistics the cause x method table prints.
**
** Proportions (accuracy, precision, recall, yes-ratio, hallucination rates)
** get the 95% Wilson score interval: unlike the normal (Wald) interval it
** stays inside [0, 1] and keeps close to its nominal coverage at the small
** counts and the rates near 0 or 1 a few hundred probes give.
**
** Paired comparisons (a method against greedy on the same items) use
** McNemar's exact test: the conditional two-sided binomial test on the
** discordant pairs (b = right only with greedy, c = right only with the
** method; under the null each discordant item goes either way with
** probability 1/2), p = min(1, 2 P[X <= min(b, c)]), X ~ Bin(b + c, 1/2).
** Not the mid-p variant: the exact test never rejects more often than its
** level says.
**
**     double lo, hi;
**     ml_stats_wilson(85, 100, ML_STATS_Z95, &lo, &hi);   // 0.767..0.907
**     double p = ml_stats_mcnemar_exact(3, 12);          // 0.0352
*/
#ifndef ML_REPORT_STATS_H
#define ML_REPORT_STATS_H

#include <stddef.h>

/* The 0.975 quantile of the standard normal. */
#define ML_STATS_Z95 1.959963984540054

/* Wilson score interval of k successes in n trials; NaN bounds when n is 0. */
void ml_stats_wilson(size_t k, size_t n, double z, double *lo, double *hi);

/* Two-sided exact McNemar p-value from the discordant counts; 1 when b + c is 0. */
double ml_stats_mcnemar_exact(size_t b, size_t c);

#endif
