/*
 * keel.c — the command-line entry: `keel <noun> <verb> [options]`.
 *
 * Thin by design: it parses arguments, calls the library and prints. Exit codes are the
 * contract with scripts: 0 success, 1 the work failed or a threshold was crossed, 2 cli_help_keel.
 */
#include "tools/cli_help.h"
#include "tools/registry_cli.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        fputs(cli_help_keel, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("keel %s\n", keel_version());
        return 0;
    }
    if (!strcmp(argv[1], "data")) return cmd_data(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "evaluate")) return cmd_evaluate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "predict")) return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cv")) return cmd_cv(argc - 1, argv + 1);
    if (!strcmp(argv[1], "serve")) return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "explain")) return cmd_explain(argc - 1, argv + 1);
    if (!strcmp(argv[1], "card")) return cmd_card(argc - 1, argv + 1);
    if (!strcmp(argv[1], "model")) return cmd_model(argc - 1, argv + 1);
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dataset")) return cmd_dataset(argc - 1, argv + 1);
    if (!strcmp(argv[1], "lineage")) return cmd_lineage(argc - 1, argv + 1);
    if (!strcmp(argv[1], "user")) return cmd_user(argc - 1, argv + 1);
    if (!strcmp(argv[1], "token")) return cmd_token(argc - 1, argv + 1);
    if (!strcmp(argv[1], "audit")) return cmd_audit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "registry")) return cmd_registry(argc - 1, argv + 1);
    fprintf(stderr, "keel: unknown command '%s'\n\n%s", argv[1], cli_help_keel);
    return 2;
}
