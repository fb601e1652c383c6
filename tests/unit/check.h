/* check.h - the whole unit-test framework: CHECK macros that count failures.
 *
 * A test file defines test functions, calls them from main, and ends with
 * `return check_summary();`. A failed CHECK prints file:line and the
 * expression, and makes the program exit non-zero; the test goes on, so one
 * run shows every failure.
 */
#ifndef QVL_CHECK_H
#define QVL_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures_;
static int check_count_;

#define CHECK(cond) do { \
        check_count_++; \
        if (!(cond)) { \
            check_failures_++; \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        } \
    } while (0)

#define CHECK_MSG(cond, ...) do { \
        check_count_++; \
        if (!(cond)) { \
            check_failures_++; \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__); \
            fputc('\n', stderr); \
        } \
    } while (0)

#define CHECK_EQ_INT(a, b) CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld", \
                                     (long long)(a), (long long)(b))
#define CHECK_STR(a, b) CHECK_MSG(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

static inline int check_summary(void) {
    fprintf(stderr, "%d checks, %d failed\n", check_count_, check_failures_);
    return check_failures_ ? 1 : 0;
}

/* Where the read-only shared test data lives (CI puts ../shared beside the repo). */
static inline const char *testdata_dir(void) {
    const char *d = getenv("QVL_TESTDATA");
    return d ? d : "../shared/testdata";
}

#endif
