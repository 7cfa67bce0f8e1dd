/*
** cli.h: what every subcommand shares: option-value parsing with clear
** messages, and the one place that prints an error and picks an exit code.
*/
#ifndef ML_CLI_CLI_H
#define ML_CLI_CLI_H

#include "core/error.h"
#include "io/image.h"    /* MlAspect */
#include "mitigate/method.h"
#include "model/prompt.h" /* MlTemplate */

#define ML_COMMAND(name, help) int cmd_##name(int argc, char **argv);
#include "cli/commands.def"
#undef ML_COMMAND

/* Prints "misalign: error: <msg>" to stderr and returns the exit code (1 for
   bad input, 2 for bad usage). */
int ml_cli_fail(const MlError *err);
int ml_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option values: print a usage error naming the flag and return nonzero on bad input. */
int ml_cli_int(const char *cmd, const char *flag, const char *val, long long lo, long long hi, long long *out);
int ml_cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, double *out);
/* --template hf|llava-v1|raw and --image-aspect resize|pad, shared by every model command. */
int ml_cli_template(const char *cmd, const char *val, MlTemplate *out);
int ml_cli_aspect(const char *cmd, const char *val, MlAspect *out);
/* --method NAME with its --param K=V assignments into *out (a usage error
   naming the methods or the parameter otherwise); the methods' list for --help. */
int ml_cli_method(const char *cmd, const char *name, const char *const *params, int n_params, MlMethodConfig *out);
void ml_cli_method_help(void);
/* Returns argv[++*i] or NULL (after printing "flag needs a value"). */
const char *ml_cli_value(const char *cmd, int argc, char **argv, int *i);
/* The default of a flag that names a file shipped in the repository's data/: data/REL in the folder above
   the binary's (build/misalign -> data/, found through /proc/self/exe, so the working directory does not
   matter), or ML_DATA_DIR/REL when the build defines it (make DATA_DIR=/usr/share/misalign/data).
   Fails with ML_ERR_MISSING naming the path tried and the flag that overrides it. */
int ml_cli_data_file(const char *rel, const char *flag, char *out, size_t cap, MlError *err);

#endif
