/*
 * harness.h — keel's unit-test harness.
 *
 *   TEST(csv_quotes) { CHECK_EQ_INT(n, 3); }
 *
 * Tests register themselves before main() runs. Each test runs in its own forked process,
 * so a crash fails that test and not the run. A failing check prints both sides and the
 * place, and the test carries on so that one run shows every broken check.
 */
#ifndef KEEL_TEST_HARNESS_H
#define KEEL_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void harness_register(const char *name, test_fn fn);
void harness_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A directory for scratch files of the running test (created, emptied for each test). */
const char *test_tmpdir(void);
/* The repository root (tests read data/ and tests/data/ from there). */
const char *test_root(void);
/* Fails the Nth allocation from now (1 = the next); 0 turns failing off. */
void test_fail_alloc_after(long n);
/* Allocations made since the counter was last reset, and those still live. */
long test_alloc_count(void);
long test_alloc_live(void);
void test_alloc_reset(void);

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        harness_register(#name, name);                                                             \
    }                                                                                              \
    static void name(void)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                         \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                      \
        if (va_ != vb_)                                                                            \
            harness_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, va_, vb_);          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double va_ = (double)(a), vb_ = (double)(b);                                               \
        if (!(fabs(va_ - vb_) <= (tol)))                                                           \
            harness_fail(__FILE__, __LINE__, "%s ~= %s: %.17g vs %.17g (tol %g)", #a, #b, va_,     \
                         vb_, (double)(tol));                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0)                                                 \
            harness_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b,                 \
                         sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                              \
    } while (0)

/* Stops the test at once (for checks whose failure makes the rest meaningless). */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            harness_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#endif
