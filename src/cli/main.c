/* main.c: subcommand dispatch (the helpers of cli.h are in cli.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "kernels/threads.h"

typedef struct MlCommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} MlCommand;

static const MlCommand commands[] = {
#define ML_COMMAND(name, help) {#name, cmd_##name, help},
#include "cli/commands.def"
#undef ML_COMMAND
};

/* C names use '_', command lines use '-' ("init_model" runs as init-model). */
static int command_is(const char *arg, const char *name) {
    for (; *arg && *name; arg++, name++)
        if (*arg != (*name == '_' ? '-' : *name)) return 0;
    return *arg == *name;
}

static void usage(FILE *f) {
    fprintf(f, "misalign: run vision-language models and measure, explain and reduce their misalignment\n\n"
               "usage: misalign COMMAND [options]   (misalign COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char shown[64];
        snprintf(shown, sizeof shown, "%s", commands[i].name);
        for (char *c = shown; *c; c++) *c = *c == '_' ? '-' : *c;
        fprintf(f, "  %-16s %s\n", shown, commands[i].help);
    }
}

int main(int argc, char **argv) {
    /* OpenMP and OpenBLAS read their settings when they load: set them and start over. */
    if (ml_threads_env_prepare()) execv("/proc/self/exe", argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (command_is(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "misalign: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
