/* test_report_stats.c: Wilson intervals and McNemar's exact test against
   tests/reference/stats_ref.py (the formulas and binomial sums written from
   their definitions, in exact fractions for McNemar). */
#include "test.h"

#include "report/stats.h"

static void test_wilson(void) {
    static const struct {
        size_t k, n;
        double lo, hi;
    } ref[] = {
        {85, 100, 0.7671644040916764, 0.9069401471634336}, {0, 10, 0.0, 0.27753279986288915},
        {10, 10, 0.7224672001371109, 1.0},                 {1, 3, 0.06149194472039632, 0.7923403991979523},
        {512, 1000, 0.48103255440609094, 0.5428756033902558}, {7, 250, 0.013628058600839224, 0.05665777612286045},
    };
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        double lo, hi;
        ml_stats_wilson(ref[i].k, ref[i].n, ML_STATS_Z95, &lo, &hi);
        CHECK_NEAR(lo, ref[i].lo, 1e-12);
        CHECK_NEAR(hi, ref[i].hi, 1e-12);
    }
    double lo, hi;
    ml_stats_wilson(0, 0, ML_STATS_Z95, &lo, &hi);
    CHECK(isnan(lo) && isnan(hi));
}

static void test_mcnemar(void) {
    static const struct {
        size_t b, c;
        double p;
    } ref[] = {{3, 12, 0.03515625}, {0, 0, 1.0},  {5, 5, 1.0},  {0, 7, 0.015625},
               {1, 1, 1.0},         {0, 1, 1.0},  {40, 62, 0.037066767438560536},
               {300, 370, 0.0076364578992933144}};
    for (size_t i = 0; i < sizeof ref / sizeof ref[0]; i++) {
        CHECK_NEAR(ml_stats_mcnemar_exact(ref[i].b, ref[i].c), ref[i].p, 1e-10 * ref[i].p);
        /* the test is symmetric in which side is right */
        CHECK_NEAR(ml_stats_mcnemar_exact(ref[i].c, ref[i].b), ref[i].p, 1e-10 * ref[i].p);
    }
}

int main(void) {
    RUN(test_wilson);
    RUN(test_mcnemar);
    return test_summary("test_report_stats");
}
