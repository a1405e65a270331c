/*
 * timing.h — the clock and the sort order that the benchmark drivers in bench/ share.
 * Header-only, so that each driver still builds from the one command line in its header
 * comment. Include it after the feature macros (clock_gettime is POSIX).
 */
#ifndef KEEL_BENCH_TIMING_H
#define KEEL_BENCH_TIMING_H

#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* qsort's order for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#endif
