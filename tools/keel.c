/*
 * keel.c — the command-line entry: `keel <noun> <verb> [options]`.
 *
 * Thin by design: it parses arguments, calls the library and prints. Exit codes are the
 * contract with scripts: 0 success, 1 the work failed or a threshold was crossed, 2 usage.
 */
#include "tools/registry_cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: keel <command> [options]\n"
    "\n"
    "Data\n"
    "  keel data infer FILE [-o schema.yaml]        infer a schema for review\n"
    "  keel data validate FILE --schema S           accept or quarantine every record\n"
    "  keel data profile FILE --schema S            statistics, JSON + HTML report\n"
    "  keel data profile --merge A.json B.json -o C merge two profiles\n"
    "\n"
    "Models\n"
    "  keel train FILE --target COL [-o M.keel]      train a model with good defaults\n"
    "  keel evaluate MODEL FILE                     quality measures on labelled data\n"
    "  keel predict MODEL FILE [-o OUT.csv]         score a file (streaming, threaded)\n"
    "  keel cv FILE --target COL [--folds 5]        stratified cross-validation\n"
    "  keel serve --model NAME@ALIAS|PATH [-p N]    HTTP inference server (OIP v2, v1, MLflow)\n"
    "\n"
    "Explanations\n"
    "  keel explain MODEL FILE [-o OUT]             attributions and reason codes per row\n"
    "  keel card MODEL[@ALIAS] --data FILE          model card (HTML and Markdown)\n"
    "\n"
    "Registry and governance (KEEL_HOME, default ./.keel; the store KEEL_REGISTRY, default\n"
    "sqlite://$KEEL_HOME/registry.db; you are KEEL_USER)\n"
    "  keel model list|show|history|alias|approve|reject|request|register|tag|deploy\n"
    "  keel run list|show                           training runs\n"
    "  keel dataset list|show                       registered datasets\n"
    "  keel lineage NAME[@ALIAS] [--dot]            where a model came from and went\n"
    "  keel user list|whoami|add|remove             identities and roles\n"
    "  keel audit verify|export|checkpoint          the tamper-evident audit trail\n"
    "  keel registry migrate [--dry-run]            bring the registry's schema up to date\n"
    "\n"
    "Other\n"
    "  keel version                                 print the version\n"
    "  keel help                                    this text\n"
    "\n"
    "Every command takes --help. Output is for people; --json gives a JSON summary.\n"
    "Exit status: 0 success, 1 the work failed or a threshold was crossed, 2 usage error.\n";

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
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
    if (!strcmp(argv[1], "audit")) return cmd_audit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "registry")) return cmd_registry(argc - 1, argv + 1);
    fprintf(stderr, "keel: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
