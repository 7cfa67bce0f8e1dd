/* version.c: `misalign version`. */
#include <stdio.h>

#include "cli/cli.h"

#define ML_VERSION "0.1.0"

int cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("misalign %s (C11, OpenBLAS, OpenMP %d)\n", ML_VERSION, _OPENMP);
    return 0;
}
