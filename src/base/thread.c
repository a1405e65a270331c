/*
 * thread.c — a small number per thread, for tables of per-thread state; one parallel-for.
 *
 * A counter that every request increments, shared by the server's threads, moves its cache
 * line between cores on every request (about 60 ns here, several times a request). Giving
 * each thread its own slot in such tables keeps each line on one core.
 */
#include "base/base.h"

#include <pthread.h>
#include <stdatomic.h>

size_t keel_thread_slot(void)
{
    static _Atomic size_t next;
    static _Thread_local size_t mine; /* slot + 1; 0: not numbered yet */
    if (!mine) mine = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) + 1;
    return mine - 1;
}

/* The parallel-for starts plain threads per call rather than keeping a pool: its callers
 * (a chunk of a file to predict, a slice of rows to explain, one partial-dependence curve)
 * each do milliseconds of work or more, against tens of microseconds to start a thread, and
 * a library that keeps no threads between calls has nothing to shut down and nothing that
 * outlives a fork. */
typedef struct parallel_call {
    void (*fn)(void *ud, size_t i);
    void *ud;
    size_t i;
} parallel_call;

static void *parallel_run(void *arg)
{
    parallel_call *c = arg;
    c->fn(c->ud, c->i);
    return NULL;
}

void keel_parallel_for(size_t n, bool parallel, void (*fn)(void *ud, size_t i), void *ud)
{
    parallel_call calls[KEEL_PARALLEL_MAX];
    pthread_t tid[KEEL_PARALLEL_MAX];
    bool started[KEEL_PARALLEL_MAX] = {false};
    if (n > KEEL_PARALLEL_MAX) n = KEEL_PARALLEL_MAX; /* a caller's bug; never more threads */
    for (size_t i = 0; i < n; i++) {
        calls[i] = (parallel_call){fn, ud, i};
        /* The last call (or one whose thread could not start) runs here. */
        started[i] =
            parallel && i + 1 < n && !pthread_create(&tid[i], NULL, parallel_run, &calls[i]);
        if (!started[i]) fn(ud, i);
    }
    for (size_t i = 0; i < n; i++)
        if (started[i]) pthread_join(tid[i], NULL);
}

void keel_part_range(size_t n, size_t T, size_t t, size_t *lo, size_t *hi)
{
    size_t per = (n + T - 1) / T;
    *lo = KEEL_MIN(n, t * per);
    *hi = KEEL_MIN(n, *lo + per);
}
