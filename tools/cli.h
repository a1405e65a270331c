/*
 * cli.h — shared helpers of the command-line tools (argument parsing, output, progress).
 */
#ifndef KEEL_TOOLS_CLI_H
#define KEEL_TOOLS_CLI_H

#include "base/base.h"

#include <signal.h>
#include <stdbool.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

void cli_init(const char *argv0);
/* Prints "keel: message" to stderr. */
void cli_error(const char *fmt, ...) KEEL_PRINTF(1, 2);
/* Returns a progress bar drawing on stderr when it is a terminal, else NULL. */
keel_progress_bar *cli_progress(void);

/* Option parsing: opt_match("--schema", argv, &i, &val) accepts "--schema X" and
 * "--schema=X", advances i and sets val; returns 1 if matched, 0 if not, -1 when the
 * value is missing (after printing an error). */
int opt_value(const char *name, int argc, char **argv, int *i, const char **val);
bool opt_flag(const char *name, const char *arg);

/* The ranged-option parser: a command lists its options in a table, and one call matches
 * argv[*i] against it, checks the value (a number within [lo, hi], whole for the integer
 * kinds) and stores it. A table ends with an entry whose name is NULL. */
typedef enum cli_kind {
    CLI_FLAG,  /* bool *: set to true; takes no value */
    CLI_TEXT,  /* const char **: the value as given */
    CLI_INT,   /* int * */
    CLI_UINT,  /* unsigned * */
    CLI_SIZE,  /* size_t * */
    CLI_U64,   /* uint64_t * (read exactly, not through a double) */
    CLI_FLOAT, /* float * */
    CLI_DOUBLE /* double * */
} cli_kind;

typedef struct cli_option {
    const char *name;  /* "--threads" */
    const char *alias; /* "-t", or NULL */
    cli_kind kind;
    void *out;
    double lo, hi;    /* numbers: the range, both ends allowed */
    const char *hint; /* what a bad value is told, e.g. "needs a whole number from 2 to 100";
                       * NULL: "bad value for NAME: 'V' (see keel CMD --help)" */
} cli_option;

/* Table entries, named so that a table reads as a list of options. */
#define CLI_OPT_TEXT(n, a, p)                                                                      \
    {                                                                                              \
        .name = (n), .alias = (a), .kind = CLI_TEXT, .out = (p)                                    \
    }
#define CLI_OPT_FLAG(n, a, p)                                                                      \
    {                                                                                              \
        .name = (n), .alias = (a), .kind = CLI_FLAG, .out = (p)                                    \
    }
#define CLI_OPT_NUM(n, k, p, l, h)                                                                 \
    {                                                                                              \
        .name = (n), .kind = (k), .out = (p), .lo = (l), .hi = (h)                                 \
    }
#define CLI_OPT_NUM_HINT(n, k, p, l, h, t)                                                         \
    {                                                                                              \
        .name = (n), .kind = (k), .out = (p), .lo = (l), .hi = (h), .hint = (t)                    \
    }
#define CLI_OPT_END                                                                                \
    {                                                                                              \
        .name = NULL                                                                               \
    }

enum { CLI_NO_MATCH = -1 };
/* CLI_NO_MATCH when argv[*i] is none of opts; 0 when it was one (i advanced past its value,
 * the value stored); EXIT_USAGE, after saying why, for a missing or bad value. cmd names the
 * command in messages ("train", "data infer"). */
int cli_option_parse(const cli_option *opts, const char *cmd, int argc, char **argv, int *i);

/* An output file written under a temporary name beside its path and renamed into place when
 * closed after a success, so that nobody ever reads half a file. A NULL path or "-" is
 * standard output. Both calls say what went wrong ("PATH: reason") and return an exit
 * status; cli_output_close after a failure (ok false) removes the temporary file. */
typedef struct cli_output {
    FILE *f;
    const char *path;
    char *tmp;
} cli_output;
int cli_output_open(cli_output *o, const char *path);
int cli_output_close(cli_output *o, bool ok);
/* The whole of data to path (or standard output) through cli_output. */
int cli_write_file(const char *path, const void *data, size_t n);

/* When a document or a model says it was made: SOURCE_DATE_EPOCH (seconds, the reproducible
 * builds' convention) when it holds a plain number, else now; microseconds since 1970. */
int64_t cli_source_date_micros(void);

/* Set by SIGINT/SIGTERM once cli_catch_interrupts ran; long work polls it to stop cleanly. */
extern volatile sig_atomic_t cli_interrupted;
void cli_catch_interrupts(void);

int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_cv(int argc, char **argv);

#endif
