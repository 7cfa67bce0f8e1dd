/*
** cli.h: what every subcommand shares: option-value parsing with clear
** messages, the one place that prints an error and picks an exit code,
** and the options and model opening of every command that runs a model.
**
**     MlCliModelOpts mo; ml_cli_model_defaults(&mo);
**     for (int i = 1; i < argc; i++) {
**         int r = ml_cli_model_option("generate", ML_CLI_SEED, help, argc, argv, &i, &mo);
**         if (r == 1) continue;
**         if (r) return r;
**         ... the command's own options ...
**     }
**     if ((rc = ml_cli_model_required("generate", &mo))) return rc;
**     MlLvlm *m; MlError err = {0};
**     if (ml_cli_model_open(&mo, &m, &err)) return ml_cli_fail(&err);
*/
#ifndef ML_CLI_CLI_H
#define ML_CLI_CLI_H

#include "core/error.h"
#include "io/image.h"    /* MlAspect */
#include "model/lvlm.h"
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
/* Returns argv[++*i] or NULL (after printing "flag needs a value"). */
const char *ml_cli_value(const char *cmd, int argc, char **argv, int *i);

/* The options of the commands that run a model: --model DIR, --threads N
   (0 = all cores), --template NAME, --image-aspect MODE always; --seed S,
   --system TEXT and --quiet where the command takes them. */
typedef struct MlCliModelOpts {
    const char *model, *system; /* system NULL: none */
    long long threads, seed;
    MlTemplate tmpl;
    MlAspect aspect;
    int quiet;
} MlCliModelOpts;

enum { ML_CLI_SEED = 1, ML_CLI_SYSTEM = 2, ML_CLI_QUIET = 4 }; /* the optional ones a command takes */

void ml_cli_model_defaults(MlCliModelOpts *o); /* hf template, resize, the rest 0/NULL */
/* Reads argv[*i] (and its value) when it is one of these options: returns 1
   when read, 0 when it is not one, 2 after printing a usage error, -1
   after printing help() for --help or -h. */
int ml_cli_model_option(const char *cmd, unsigned takes, void (*help)(void), int argc, char **argv, int *i,
                        MlCliModelOpts *o);
/* 0, or the usage error "--model DIR is required". */
int ml_cli_model_required(const char *cmd, const MlCliModelOpts *o);
/* Sets the worker threads and opens the model. */
int ml_cli_model_open(const MlCliModelOpts *o, MlLvlm **m, MlError *err);
/* The template and system text as prompt options. */
MlPromptOptions ml_cli_prompt_options(const MlCliModelOpts *o);

#endif
