/*
 * cli.c — helpers shared by the command implementations.
 */
#include "tools/cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static keel_progress_bar bar;

static void log_to_stderr(int level, const char *msg, void *ud)
{
    (void)ud;
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "keel: %s: %s\n", names[level & 3], msg);
}

void cli_init(const char *argv0)
{
    (void)argv0;
    keel_set_log(log_to_stderr, KEEL_LOG_WARN, NULL);
    keel_progress_bar_init(&bar, isatty(2) ? stderr : NULL);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("keel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

keel_progress_bar *cli_progress(void)
{
    return bar.out ? &bar : NULL;
}

int opt_value(const char *name, int argc, char **argv, int *i, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        cli_error("option %s needs a value", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

bool opt_flag(const char *name, const char *arg)
{
    return strcmp(name, arg) == 0;
}

volatile sig_atomic_t cli_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

/* The handler runs on an alternate stack of its own. The JIT kernels of oneDNN's sgemm keep
 * data below the stack pointer (valgrind reports their reads there), beyond the 128-byte red
 * zone a signal frame skips: a Ctrl-C that lands inside a GEMM wrote the handler's frame
 * over them, and the process later died freeing a pointer oneDNN had saved there (one
 * interrupted `keel train` in four or five, never under AddressSanitizer, whose runtime
 * puts handlers on an alternate stack). This covers the thread that calls this function,
 * where keel's computing runs unless --threads asks for more. */
void cli_catch_interrupts(void)
{
    static char altstack[64 * 1024];
    static int have_altstack;
    if (!have_altstack) {
        stack_t ss;
        memset(&ss, 0, sizeof ss);
        ss.ss_sp = altstack;
        ss.ss_size = sizeof altstack;
        have_altstack = sigaltstack(&ss, NULL) == 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = have_altstack ? SA_ONSTACK : 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

const char *cli_base_name(const char *path)
{
    return keel_path_base(path);
}

char *cli_derived_name(const char *path, const char *suffix)
{
    return keel_path_derived(path, suffix);
}
