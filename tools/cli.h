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
/* The library's log on stderr: "WHO: level: message" (who: a const char *, "keel"). */
void cli_log(int level, const char *msg, void *who);
/* Returns a progress bar drawing on stderr when it is a terminal, else NULL. */
keel_progress_bar *cli_progress(void);

/* The option parser: a command lists its options in a table and its positional arguments in
 * a cli_command, and one call reads argv against them: it checks each value (a number within
 * [lo, hi], whole for the integer kinds; one of a list of words; or whatever a command's own
 * parse function accepts), stores it, answers -h/--help, and says what is wrong with an
 * unknown option, a missing value or argument, or one argument too many. A table ends with an
 * entry whose name is NULL. Options take "--name VALUE" and "--name=VALUE". */
typedef enum cli_kind {
    CLI_FLAG,   /* bool *: set to true; takes no value */
    CLI_TEXT,   /* const char **: the value as given */
    CLI_INT,    /* int * */
    CLI_UINT,   /* unsigned * */
    CLI_SIZE,   /* size_t * */
    CLI_U64,    /* uint64_t * (read exactly, not through a double) */
    CLI_FLOAT,  /* float * */
    CLI_DOUBLE, /* double * */
    CLI_CHOICE, /* int *: the index in choices of the word given ("utf-8|utf8": synonyms) */
    CLI_PARSE,  /* anything: parse(value, out) stores it and returns 0, or -1 for a bad value */
    CLI_TABLE   /* const cli_option *: another table whose options this one takes too */
} cli_kind;

typedef struct cli_option {
    const char *name;  /* "--threads" */
    const char *alias; /* "-t", or NULL */
    cli_kind kind;
    void *out;
    double lo, hi;    /* numbers: the range, both ends allowed */
    const char *hint; /* what a bad value is told, e.g. "must be a whole number from 2 to 100";
                       * NULL: "bad value for NAME: 'V' (see keel CMD --help)" */
    const char *const *choices;                 /* CLI_CHOICE: the words, NULL-terminated */
    int (*parse)(const char *value, void *out); /* CLI_PARSE */
} cli_option;

/* Table entries, named so that a table reads as a list of options (one line each: kept out of
 * clang-format, which would spread each over four). */
// clang-format off
#define CLI_OPT_TEXT(n, a, p) {.name = (n), .alias = (a), .kind = CLI_TEXT, .out = (p)}
#define CLI_OPT_FLAG(n, a, p) {.name = (n), .alias = (a), .kind = CLI_FLAG, .out = (p)}
#define CLI_OPT_NUM(n, k, p, l, h) {.name = (n), .kind = (k), .out = (p), .lo = (l), .hi = (h)}
#define CLI_OPT_NUM_HINT(n, k, p, l, h, t) \
    {.name = (n), .kind = (k), .out = (p), .lo = (l), .hi = (h), .hint = (t)}
#define CLI_OPT_CHOICE(n, p, c) {.name = (n), .kind = CLI_CHOICE, .out = (p), .choices = (c)}
#define CLI_OPT_PARSE(n, a, p, f, t) \
    {.name = (n), .alias = (a), .kind = CLI_PARSE, .out = (p), .parse = (f), .hint = (t)}
#define CLI_OPT_TABLE(t) {.name = "", .kind = CLI_TABLE, .out = (void *)(t)}
#define CLI_OPT_END {.name = NULL}
// clang-format on

/* A command: its name in messages ("train", "data infer"), its usage text, its options, and
 * where its positional arguments go. */
typedef struct cli_command {
    const char *name;
    const char *usage;
    const cli_option *opts;
    const char **args;            /* the positional arguments, in order */
    const char *const *arg_names; /* their names in the usage ("MODEL", "FILE"), for
                                   * "missing FILE"; NULL-terminated; the last one names
                                   * every argument past it */
    int min_args, max_args;
    int *n_args; /* how many were given, or NULL */
} cli_command;

/* Reads argv[1..argc) against c. Returns -1 when the command should go on, else its exit
 * status: EXIT_OK after printing the usage for -h/--help, EXIT_USAGE after saying what was
 * wrong (and, for a missing argument, the usage on stderr). */
int cli_parse(const cli_command *c, int argc, char **argv);

/* Says why a command cannot go on (cli_error's format), then the usage on stderr; returns
 * EXIT_USAGE. */
int cli_usage_error(const cli_command *c, const char *fmt, ...) KEEL_PRINTF(2, 3);

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

/* ---- reading data files (cli_data.c) ---- */
struct keel_schema;
struct keel_frame;
struct keel_validate_result;
/* Where the rejected records of file go: given (--quarantine), else NAME.quarantine.jsonl in
 * the working directory; NULL when none (--no-quarantine). EXIT_FAIL (said) when out of
 * memory. */
int cli_quarantine_path(const char *file, const char *given, bool none, char **out);
/* Says on stderr how many records of file were quarantined, and where, when any were. */
void cli_note_quarantined(const char *file, const struct keel_validate_result *vr,
                          const char *quarantine);
/* Loads the accepted records of file through s (keel_frame_load, with its SHA-256; Ctrl-C
 * stops it), quarantining the rest to quarantine (or counting them, when NULL), with a
 * progress bar and then cli_note_quarantined unless quiet. Returns keel_frame_load's code,
 * its message said. */
int cli_load_frame(const char *file, const struct keel_schema *s, const char *quarantine,
                   bool quiet, struct keel_frame **f, struct keel_validate_result *vr);

struct keel_scoring_summary;
/* Prints what keel predict or keel explain did (keel_scoring_summary_write) on to: JSON, or
 * a line for people after "keel: ". */
void cli_print_summary(const struct keel_scoring_summary *s, bool json, FILE *to);

/* Set by SIGINT/SIGTERM once cli_catch_interrupts ran; long work polls it to stop cleanly. */
extern volatile sig_atomic_t cli_interrupted;
void cli_catch_interrupts(void);

int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_cv(int argc, char **argv);

#endif
