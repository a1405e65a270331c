/*
 * cli_help.h — every command's --help text. The texts live in docs/cli.md, the CLI reference,
 * and the build compiles them into keel (scripts/gen-cli-help.sh writes build/gen/cli_help.c),
 * so the reference and --help are one text. A name here without its section there fails the
 * link.
 */
#ifndef KEEL_TOOLS_CLI_HELP_H
#define KEEL_TOOLS_CLI_HELP_H

extern const char cli_help_keel[];
extern const char cli_help_data[];
extern const char cli_help_data_infer[];
extern const char cli_help_data_validate[];
extern const char cli_help_data_profile[];
extern const char cli_help_train[];
extern const char cli_help_evaluate[];
extern const char cli_help_predict[];
extern const char cli_help_cv[];
extern const char cli_help_serve[];
extern const char cli_help_explain[];
extern const char cli_help_card[];
extern const char cli_help_model[];
extern const char cli_help_run[];
extern const char cli_help_dataset[];
extern const char cli_help_lineage[];
extern const char cli_help_user[];
extern const char cli_help_token[];
extern const char cli_help_audit[];
extern const char cli_help_registry[];

#endif
