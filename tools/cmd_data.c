#include "tools/cli.h"
int cmd_data(int argc, char **argv) { (void)argc; (void)argv; return 2; }
