/*
** test.h: the test harness.  Each tests/test_*.c is one program:
**
**     #include "test.h"
**     static void test_something(void) { CHECK(1 + 1 == 2); CHECK_NEAR(x, 0.5, 1e-6); }
**     int main(void) { RUN(test_something); return test_summary("test_example"); }
**
** A failed CHECK prints file:line and the expression and marks the current
** test failed; test_summary prints "<name>: P passed, F failed" (the line
** tests/run.sh adds up) and returns nonzero when anything failed.
** test_repo_path("tests/data/x") names a file of the repository (data/ or
** tests/data/), wherever the program is started from.
*/
#ifndef ML_TEST_H
#define ML_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int test_failed_checks, test_passed, test_failed;

#define CHECK(cond)                                                                                  \
    do {                                                                                             \
        if (!(cond)) {                                                                               \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);              \
            test_failed_checks++;                                                                    \
        }                                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                        \
    do {                                                                                             \
        double a_ = (double)(a), b_ = (double)(b);                                                   \
        if (!(fabs(a_ - b_) <= (tol))) {                                                             \
            fprintf(stderr, "  %s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g (tol %g)\n", __FILE__,  \
                    __LINE__, #a, a_, #b, b_, (double)(tol));                                        \
            test_failed_checks++;                                                                    \
        }                                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                                              \
    do {                                                                                             \
        const char *a_ = (a), *b_ = (b);                                                             \
        if (!a_ || !b_ || strcmp(a_, b_)) {                                                          \
            fprintf(stderr, "  %s:%d: CHECK_STR failed: %s = \"%s\", expected \"%s\"\n", __FILE__,    \
                    __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                           \
            test_failed_checks++;                                                                    \
        }                                                                                            \
    } while (0)

/* Status-returning call expected to succeed; prints the error message otherwise. */
#define CHECK_OK(call, errp)                                                                         \
    do {                                                                                             \
        int rc_ = (call);                                                                            \
        if (rc_ != 0) {                                                                              \
            fprintf(stderr, "  %s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #call, rc_,         \
                    (errp)->msg);                                                                    \
            test_failed_checks++;                                                                    \
        }                                                                                            \
    } while (0)

#define RUN(fn)                                                                                      \
    do {                                                                                             \
        int before_ = test_failed_checks;                                                            \
        fn();                                                                                        \
        if (test_failed_checks == before_) test_passed++;                                            \
        else {                                                                                       \
            test_failed++;                                                                           \
            fprintf(stderr, "FAIL %s\n", #fn);                                                       \
        }                                                                                            \
    } while (0)

static inline int test_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

/* REL under the repository root, three levels above this program
   (<root>/build/tests/test_x); REL itself when that cannot be read.  Returns
   one static buffer: copy it out before the next call. */
static inline const char *test_repo_path(const char *rel) {
    static char buf[4096];
    char exe[3072];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || n >= (ssize_t)sizeof exe - 1) return rel;
    exe[n] = 0;
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
    }
    snprintf(buf, sizeof buf, "%s/%s", exe, rel);
    return buf;
}

/* A scratch directory unique to this test program (created, not cleaned). */
static inline const char *test_tmpdir(const char *name) {
    static char buf[512];
    const char *base = getenv("ML_TEST_TMP");
    snprintf(buf, sizeof buf, "%s/%s", base && *base ? base : "build/tmp", name);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", buf);
    if (system(cmd) != 0) fprintf(stderr, "cannot create %s\n", buf);
    return buf;
}

#endif
