/* cmd_card.c — placeholder while `keel card` is written. */
#include "tools/registry_cli.h"

#include <stdio.h>

int cmd_card(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("keel: 'card' is not built yet\n", stderr);
    return 1;
}
