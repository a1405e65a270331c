/*
 * thread.c — a small number per thread, for tables of per-thread state.
 *
 * A counter that every request increments, shared by the server's threads, moves its cache
 * line between cores on every request (about 60 ns here, several times a request). Giving
 * each thread its own slot in such tables keeps each line on one core.
 */
#include "base/base.h"

#include <stdatomic.h>

size_t keel_thread_slot(void)
{
    static _Atomic size_t next;
    static _Thread_local size_t mine; /* slot + 1; 0: not numbered yet */
    if (!mine) mine = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) + 1;
    return mine - 1;
}
