/*
** cli.h: what every subcommand shares: option-value parsing with clear
** messages, the one place that prints an error and picks an exit code,
** and the options and model opening of every command that runs a model.
**
**     static const MlCliOption table[] = {ML_CLI_S("--prompt", prompt), ML_CLI_I("--max-tokens", max_tokens, 0, 1 << 30),
**                                         ML_CLI_B("--json", json, 1)};
**     static const MlCliCommand command = {"generate", table, ML_CLI_COUNT(table), ML_CLI_SEED, help, NULL};
**     int rc = ml_cli_parse(&command, argc, argv, 1, o, &o->mo);
**     if (rc) return rc;
**     MlLvlm *m; MlError err = {0};
**     if (ml_cli_model_open(&o->mo, &m, &err)) return ml_cli_fail(&err);
*/
#ifndef ML_CLI_CLI_H
#define ML_CLI_CLI_H

#include <stddef.h>

#include "core/error.h"
#include "io/image.h"    /* MlAspect */
#include "mitigate/method.h"
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
/* --method NAME with its --param K=V assignments into *out (a usage error
   naming the methods or the parameter otherwise); the methods' list for --help. */
int ml_cli_method(const char *cmd, const char *name, const char *const *params, int n_params, MlMethodConfig *out);
void ml_cli_method_help(void);
/* Returns argv[++*i] or NULL (after printing "flag needs a value"). */
const char *ml_cli_value(const char *cmd, int argc, char **argv, int *i);
/* The file a flag names: `given` when the flag was given, else its default
   data/REL, the repository's data folder: the folder above the binary's
   (build/misalign -> data/, found through /proc/self/exe, so the working
   directory does not matter), or ML_DATA_DIR/REL when the build defines it
   (make DATA_DIR=/usr/share/misalign/data).  The default path is written to
   buf.  NULL (ML_ERR_MISSING in err, naming the path tried and the flag that
   overrides it) when the default is not there. */
const char *ml_cli_data_file(const char *given, const char *rel, const char *flag, char *buf, size_t cap,
                             MlError *err);

/* A command's options as a table: the flag, what it holds and where in the
   command's option struct (offsetof).  STR: const char *; INT: long long in
   [lo, hi]; FLOAT: double in [lo, hi]; SET: int set to lo, no value. */
typedef enum MlCliKind { ML_CLI_STR, ML_CLI_INT, ML_CLI_FLOAT, ML_CLI_SET } MlCliKind;
typedef struct MlCliOption {
    const char *flag;
    MlCliKind kind;
    size_t offset;
    double lo, hi;
} MlCliOption;
#define ML_CLI_COUNT(table) (sizeof(table) / sizeof((table)[0]))
/* Rows of a table for a command whose option struct is named Opts. */
#define ML_CLI_S(flag, field) {flag, ML_CLI_STR, offsetof(Opts, field), 0, 0}
#define ML_CLI_I(flag, field, lo, hi) {flag, ML_CLI_INT, offsetof(Opts, field), lo, hi}
#define ML_CLI_F(flag, field, lo, hi) {flag, ML_CLI_FLOAT, offsetof(Opts, field), lo, hi}
#define ML_CLI_B(flag, field, value) {flag, ML_CLI_SET, offsetof(Opts, field), value, 0}

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

/* Reads argv[*i] (and its value) when it is --help/-h (prints help(), -1),
   a shared model option (above; mo NULL: none) or in the table: returns
   1 when read, 0 when it is none of them, 2 after printing a usage error. */
int ml_cli_options(const char *cmd, const MlCliOption *table, size_t n, unsigned takes, void (*help)(void), int argc,
                   char **argv, int *i, void *opts, MlCliModelOpts *mo);
/* For an option nobody read: "needs a value" when it has none, else "unknown option"; returns 2. */
int ml_cli_unknown(const char *cmd, int argc, char **argv, int *i);

/* A command's parsing: its name, option table, which optional model
   options it takes, its help, and `other` (NULL: none) for options a table
   cannot say, which reads argv[*i] and returns 0, 2 after a usage error or
   ML_CLI_NOT_MINE. */
#define ML_CLI_NOT_MINE 3
typedef struct MlCliCommand {
    const char *name;
    const MlCliOption *options;
    size_t n_options;
    unsigned takes;
    void (*help)(void);
    int (*other)(const char *cmd, int argc, char **argv, int *i, void *opts);
} MlCliCommand;
/* Reads argv[first..] into opts and mo (when not NULL: its defaults first,
   --model required last): 0, -1 after --help, 2 after a usage error. */
int ml_cli_parse(const MlCliCommand *c, int argc, char **argv, int first, void *opts, MlCliModelOpts *mo);

void ml_cli_model_defaults(MlCliModelOpts *o); /* hf template, resize, the rest 0/NULL */
/* 0, or the usage error "--model DIR is required". */
int ml_cli_model_required(const char *cmd, const MlCliModelOpts *o);
/* Sets the worker threads and opens the model. */
int ml_cli_model_open(const MlCliModelOpts *o, MlLvlm **m, MlError *err);
/* The template and system text as prompt options. */
MlPromptOptions ml_cli_prompt_options(const MlCliModelOpts *o);

#endif
