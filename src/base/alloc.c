/*
 * alloc.c — every allocation in keel passes through one hook.
 *
 * Why: an embedding program may need its own allocator (a mainframe batch job with a fixed
 * region), and tests must be able to fail the Nth allocation to prove that every error path
 * frees what it took and reports KEEL_ENOMEM instead of crashing (curl's "torture" runs).
 * The hook is a plain global set once at start-up, like SQLite's sqlite3_config().
 */
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

static void *sys_malloc(size_t size, void *ud)
{
    (void)ud;
    return malloc(size);
}

static void *sys_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return realloc(ptr, size);
}

static void sys_free(void *ptr, void *ud)
{
    (void)ud;
    free(ptr);
}

static keel_allocator hook = {sys_malloc, sys_realloc, sys_free, NULL};

void keel_set_allocator(const keel_allocator *a)
{
    if (a)
        hook = *a;
    else
        hook = (keel_allocator){sys_malloc, sys_realloc, sys_free, NULL};
}

void *keel_malloc(size_t size)
{
    return hook.malloc(size ? size : 1, hook.ud);
}

void *keel_calloc(size_t n, size_t size)
{
    size_t total;
    if (!keel_size_mul(n, size, &total)) return NULL;
    void *p = keel_malloc(total);
    if (p) memset(p, 0, total);
    return p;
}

void *keel_realloc(void *ptr, size_t size)
{
    return hook.realloc(ptr, size ? size : 1, hook.ud);
}

void *keel_reallocarray(void *ptr, size_t n, size_t size)
{
    size_t total;
    if (!keel_size_mul(n, size, &total)) return NULL;
    return keel_realloc(ptr, total);
}

void keel_free(void *ptr)
{
    if (ptr) hook.free(ptr, hook.ud);
}

char *keel_strndup(const char *s, size_t n)
{
    char *p = keel_malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *keel_strdup(const char *s)
{
    return keel_strndup(s, strlen(s));
}
