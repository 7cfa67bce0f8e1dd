/* main.c: subcommand dispatch and the helpers in cli.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
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

int ml_cli_fail(const MlError *err) {
    fprintf(stderr, "misalign: error: %s\n", err->msg[0] ? err->msg : ml_error_name(err->code));
    return err->code == ML_ERR_ARG ? 2 : 1;
}

int ml_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "misalign %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see misalign %s --help)\n", cmd);
    return 2;
}

const char *ml_cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        ml_cli_usage_error(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int ml_cli_data_file(const char *rel, const char *flag, char *out, size_t cap, MlError *err) {
#ifdef ML_DATA_DIR
    int len = snprintf(out, cap, "%s/%s", ML_DATA_DIR, rel);
#else
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || n >= (ssize_t)sizeof exe - 1)
        return ml_error_set(err, ML_ERR_IO, "cannot read /proc/self/exe to find data/%s; pass %s FILE", rel, flag);
    exe[n] = 0;
    for (int up = 0; up < 2; up++) { /* <checkout>/build/misalign -> <checkout> */
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
    }
    int len = snprintf(out, cap, "%s/data/%s", exe, rel);
#endif
    if (len < 0 || (size_t)len >= cap)
        return ml_error_set(err, ML_ERR_RANGE, "the path of data/%s is too long; pass %s FILE", rel, flag);
    if (access(out, R_OK))
        return ml_error_set(err, ML_ERR_MISSING, "%s: default file %s: %s; pass %s FILE", flag, out, strerror(errno), flag);
    return 0;
}

int ml_cli_int(const char *cmd, const char *flag, const char *val, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi)
        return ml_cli_usage_error(cmd, "%s: '%s' is not an integer in [%lld, %lld]", flag, val, lo, hi);
    *out = v;
    return 0;
}

int ml_cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v) || v < lo || v > hi)
        return ml_cli_usage_error(cmd, "%s: '%s' is not a number in [%g, %g]", flag, val, lo, hi);
    *out = v;
    return 0;
}

int ml_cli_template(const char *cmd, const char *val, MlTemplate *out) {
    MlError err = {0};
    if (ml_template_parse(val, out, &err)) return ml_cli_usage_error(cmd, "--template: %s", err.msg);
    return 0;
}

int ml_cli_aspect(const char *cmd, const char *val, MlAspect *out) {
    if (!strcmp(val, "resize")) *out = ML_ASPECT_RESIZE;
    else if (!strcmp(val, "pad")) *out = ML_ASPECT_PAD;
    else return ml_cli_usage_error(cmd, "--image-aspect: '%s' is not resize or pad", val);
    return 0;
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
