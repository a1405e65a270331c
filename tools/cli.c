/*
 * cli.c — helpers shared by the command implementations.
 */
#include "tools/cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static keel_progress_bar bar;

void cli_log(int level, const char *msg, void *who)
{
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "%s: %s: %s\n", (const char *)who, names[level & 3], msg);
}

void cli_init(const char *argv0)
{
    (void)argv0;
    keel_set_log(cli_log, KEEL_LOG_WARN, (void *)"keel");
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

/* Matches argv[*i] against an option that takes a value: "--name VALUE" (advancing *i) or
 * "--name=VALUE". Returns 1 with *val set, 0 when it is another argument, -1 (said) when the
 * value is missing. */
static int opt_value(const char *name, int argc, char **argv, int *i, const char **val)
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

/* A number within [lo, hi], whole for the integer kinds; U64 digit by digit, so that a seed
 * past 2^53 keeps every digit. */
static bool store_number(const cli_option *o, const char *v)
{
    char *end;
    errno = 0;
    if (o->kind == CLI_U64) {
        if (*v < '0' || *v > '9') return false;
        unsigned long long u = strtoull(v, &end, 10);
        if (errno || *end || (double)u < o->lo || (double)u > o->hi) return false;
        *(uint64_t *)o->out = u;
        return true;
    }
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= o->lo && x <= o->hi)) return false;
    switch (o->kind) {
    case CLI_INT:
        if (x != floor(x)) return false;
        *(int *)o->out = (int)x;
        break;
    case CLI_UINT:
        if (x != floor(x)) return false;
        *(unsigned *)o->out = (unsigned)x;
        break;
    case CLI_SIZE:
        if (x != floor(x)) return false;
        *(size_t *)o->out = (size_t)x;
        break;
    case CLI_FLOAT:
        *(float *)o->out = (float)x;
        break;
    default:
        *(double *)o->out = x;
    }
    return true;
}

/* The index of the choice v names (each choice lists its synonyms, "utf-8|utf8"), or -1. */
static int find_choice(const char *const *choices, const char *v)
{
    size_t n = strlen(v);
    for (int k = 0; choices[k]; k++)
        for (const char *w = choices[k]; *w;) {
            size_t len = strcspn(w, "|");
            if (len == n && !strncmp(w, v, n)) return k;
            w += len + (w[len] == '|');
        }
    return -1;
}

/* Stores v for o: true when it is a good value. */
static bool store_value(const cli_option *o, const char *v)
{
    int k;
    switch (o->kind) {
    case CLI_TEXT:
        *(const char **)o->out = v;
        return true;
    case CLI_CHOICE:
        if ((k = find_choice(o->choices, v)) < 0) return false;
        *(int *)o->out = k;
        return true;
    case CLI_PARSE:
        return o->parse(v, o->out) == 0;
    default:
        return store_number(o, v);
    }
}

enum { NO_MATCH = -1 };

/* NO_MATCH when argv[*i] is none of opts; 0 when it was one (i advanced past its value, the
 * value stored); EXIT_USAGE, after saying why, for a missing or bad value. */
static int parse_option(const cli_option *opts, const char *cmd, int argc, char **argv, int *i)
{
    for (const cli_option *o = opts; o->name; o++) {
        if (o->kind == CLI_TABLE) {
            int r = parse_option(o->out, cmd, argc, argv, i);
            if (r != NO_MATCH) return r;
            continue;
        }
        if (o->kind == CLI_FLAG) {
            if (strcmp(o->name, argv[*i]) && !(o->alias && !strcmp(o->alias, argv[*i]))) continue;
            *(bool *)o->out = true;
            return 0;
        }
        const char *v;
        int m = opt_value(o->name, argc, argv, i, &v);
        if (!m && o->alias) m = opt_value(o->alias, argc, argv, i, &v);
        if (!m) continue;
        if (m < 0) return EXIT_USAGE;
        if (store_value(o, v)) return 0;
        if (o->hint) {
            cli_error("%s %s (got '%s')", o->name, o->hint, v);
        } else if (o->kind == CLI_CHOICE) {
            keel_buf words;
            keel_buf_init(&words);
            for (int k = 0; o->choices[k]; k++)
                keel_buf_printf(&words, "%s%.*s", k ? ", " : "", (int)strcspn(o->choices[k], "|"),
                                o->choices[k]);
            cli_error("%s must be one of %s (got '%s')", o->name, words.data ? words.data : "", v);
            keel_buf_free(&words);
        } else {
            cli_error("bad value for %s: '%s' (see keel %s --help)", o->name, v, cmd);
        }
        return EXIT_USAGE;
    }
    return NO_MATCH;
}

int cli_usage_error(const cli_command *c, const char *fmt, ...)
{
    va_list ap;
    fputs("keel: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    fputs(c->usage, stderr);
    return EXIT_USAGE;
}

int cli_parse(const cli_command *c, int argc, char **argv)
{
    static const cli_option none[] = {CLI_OPT_END};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(c->usage, stdout);
            return EXIT_OK;
        }
        int r = parse_option(c->opts ? c->opts : none, c->name, argc, argv, &i);
        if (r == EXIT_USAGE) return r;
        if (r == 0) continue;
        if (arg[0] == '-' && arg[1]) {
            cli_error("unknown option '%s' (see keel %s --help)", arg, c->name);
            return EXIT_USAGE;
        }
        if (n == c->max_args) {
            cli_error("too many arguments: '%s' (see keel %s --help)", arg, c->name);
            return EXIT_USAGE;
        }
        c->args[n++] = arg;
    }
    if (c->n_args) *c->n_args = n;
    if (n < c->min_args) {
        const char *name = "an argument";
        for (int k = 0; c->arg_names && c->arg_names[k]; k++) {
            name = c->arg_names[k];
            if (k == n) break;
        }
        return cli_usage_error(c, "missing %s", name);
    }
    return -1;
}

int cli_output_open(cli_output *o, const char *path)
{
    *o = (cli_output){.f = stdout};
    if (!path || !strcmp(path, "-")) return EXIT_OK;
    o->path = path;
    if (!(o->tmp = keel_malloc(strlen(path) + 32))) {
        cli_error("out of memory");
        return EXIT_FAIL;
    }
    sprintf(o->tmp, "%s.tmp.%d", path, (int)getpid());
    if (!(o->f = fopen(o->tmp, "wb"))) {
        cli_error("%s: %s", path, strerror(errno));
        keel_free(o->tmp);
        o->tmp = NULL;
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

int cli_output_close(cli_output *o, bool ok)
{
    int closed = o->f == stdout ? fflush(stdout) : fclose(o->f);
    int status = EXIT_OK;
    if (closed && ok) cli_error("%s: %s", o->path ? o->path : "standard output", strerror(errno));
    if (!ok || closed) status = EXIT_FAIL;
    if (o->tmp && status == EXIT_OK && rename(o->tmp, o->path)) {
        cli_error("%s: %s", o->path, strerror(errno));
        status = EXIT_FAIL;
    }
    if (o->tmp && status != EXIT_OK) unlink(o->tmp);
    keel_free(o->tmp);
    *o = (cli_output){0};
    return status;
}

int cli_write_file(const char *path, const void *data, size_t n)
{
    cli_output o;
    if (cli_output_open(&o, path)) return EXIT_FAIL;
    bool ok = fwrite(data, 1, n, o.f) == n;
    if (!ok) cli_error("%s: %s", path, strerror(errno));
    return cli_output_close(&o, ok);
}

int64_t cli_source_date_micros(void)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    char *end;
    errno = 0;
    long long secs = sde && *sde >= '0' && *sde <= '9' ? strtoll(sde, &end, 10) : -1;
    if (secs >= 0 && !errno && !*end && secs <= 1000000000000LL) return (int64_t)secs * 1000000;
    return keel_wall_micros();
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
