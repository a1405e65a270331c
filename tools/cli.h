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

/* Set by SIGINT/SIGTERM once cli_catch_interrupts ran; long work polls it to stop cleanly. */
extern volatile sig_atomic_t cli_interrupted;
void cli_catch_interrupts(void);
/* The last component of a path. */
const char *cli_base_name(const char *path);
/* "dir/pima2.csv" + ".quarantine.jsonl" -> "pima2.quarantine.jsonl" (in the working
 * directory); "-" counts as "stdin". New string (keel_free), NULL when out of memory. */
char *cli_derived_name(const char *path, const char *suffix);

int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_cv(int argc, char **argv);

#endif
