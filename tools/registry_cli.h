/*
 * registry_cli.h — the registry's side of the CLI: locating KEEL_HOME, the store
 * (KEEL_REGISTRY) and the identity, and printing the registry's answers for people.
 */
#ifndef KEEL_TOOLS_REGISTRY_CLI_H
#define KEEL_TOOLS_REGISTRY_CLI_H

#include "registry/registry.h"
#include "report/text.h"
#include "tools/cli.h"

/* KEEL_HOME, else the config file's home, else ".keel" (in the working directory). */
const char *cli_keel_home(void);
/* KEEL_REGISTRY, else the config file's registry, else NULL: the store's location
 * (sqlite:///abs/path/registry.db, sqlite:relative/path); NULL means the library's default,
 * sqlite://KEEL_HOME/registry.db. */
const char *cli_registry_location(void);
/* KEEL_AUDIT_KEY, else the config file's audit_key, else NULL (KEEL_HOME/keys/audit.key):
 * the audit signing key's file. */
const char *cli_audit_key(void);
/* KEEL_AUDIT_WITNESS, else the config file's audit_witness, else NULL: the witness file. */
const char *cli_audit_witness(void);
/* The user's own identity key file: KEEL_IDENTITY_KEY, the config's identity_key, else
 * identity.key beside the config file. */
const char *cli_identity_key(void);
/* Every setting above, as the library's options for opening the registry. */
void cli_registry_options(keel_registry_options *o, unsigned flags);
/* KEEL_USER, else the config file's user, else the login name; NULL when none is known. */
const char *cli_user(void);
/* Opens the registry (cli_keel_home, cli_registry_location) for the user; prints why and
 * returns NULL on failure. */
keel_registry *cli_registry_open(void);
/* The same with KEEL_REGISTRY_OPEN_* flags. */
keel_registry *cli_registry_open_flags(unsigned flags);
/* Prints the registry's message for a failed call; returns the exit code for rc. */
int cli_registry_fail(keel_registry *r, int rc);

struct keel_model;
/* Loads MODEL: a .keel file, or a registry reference (NAME, NAME:VERSION, NAME@ALIAS) when no
 * such file exists, whose stored artifact is then loaded and checked against the SHA-256 the
 * registry recorded (a swapped artifact is refused and audited as artifact.mismatch:
 * keel_registry_version_load). Prints why and returns EXIT_USAGE
 * (a reference the registry does not know) or EXIT_FAIL; EXIT_OK with *m set and, when
 * version is not NULL, *version the registry's version (NULL for a file; free with
 * keel_model_version_free). */
int cli_load_model(const char *path, struct keel_model **m, keel_model_version **version);

struct keel_schema;
struct keel_validate_result;
/* Registers a validated file as a dataset (the registry is opened by the caller). source is
 * the path as given ("-" is recorded as "stdin"); profile_json may be NULL. Prints why and
 * returns EXIT_FAIL when the registry refuses. */
int cli_register_dataset(keel_registry *r, const char *file, const struct keel_schema *s,
                         const struct keel_validate_result *res, const char *profile_json,
                         int64_t *id);

/* Prints json as it is (as_json) or for people (keel_text_json: an array as a table of cols,
 * an object as "key: value" lines). Returns an exit code. */
int cli_print_json(const keel_buf *json, bool as_json, const keel_text_column *cols);
/* Prints n_rows rows as a table of cols, each cell from cell() (keel_text_table): for answers
 * that are records rather than JSON. */
void cli_print_table(const keel_text_column *cols, size_t n_rows, keel_text_cell_fn cell, void *ud);

int cmd_model(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_lineage(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_registry(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_explain(int argc, char **argv); /* tools/cmd_explain.c */
int cmd_card(int argc, char **argv);    /* tools/cmd_card.c */

#endif
