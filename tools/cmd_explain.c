/* cmd_explain.c — placeholder while `keel explain` is written. */
#include "tools/registry_cli.h"

#include <stdio.h>

int cmd_explain(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("keel: 'explain' is not built yet\n", stderr);
    return 1;
}
