/*
 * log.c — the library never prints; messages go to a callback the program installs.
 */
#include "base/base.h"

#include <stdio.h>

static keel_log_fn log_fn;
static int log_min = KEEL_LOG_INFO;
static void *log_ud;

void keel_set_log(keel_log_fn fn, int min_level, void *ud)
{
    log_fn = fn;
    log_min = min_level;
    log_ud = ud;
}

void keel_log(int level, const char *fmt, ...)
{
    if (!log_fn || level < log_min) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_ud);
}
