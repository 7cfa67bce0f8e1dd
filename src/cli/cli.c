/* cli.c: the helpers every subcommand shares (see cli.h). */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/threads.h"

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

const char *ml_cli_data_file(const char *given, const char *rel, const char *flag, char *out, size_t cap,
                             MlError *err) {
    if (given) return given;
#ifdef ML_DATA_DIR
    int len = snprintf(out, cap, "%s/%s", ML_DATA_DIR, rel);
#else
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || n >= (ssize_t)sizeof exe - 1) {
        ml_error_set(err, ML_ERR_IO, "cannot read /proc/self/exe to find data/%s; pass %s FILE", rel, flag);
        return NULL;
    }
    exe[n] = 0;
    for (int up = 0; up < 2; up++) { /* <checkout>/build/misalign -> <checkout> */
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
    }
    int len = snprintf(out, cap, "%s/data/%s", exe, rel);
#endif
    if (len < 0 || (size_t)len >= cap) {
        ml_error_set(err, ML_ERR_RANGE, "the path of data/%s is too long; pass %s FILE", rel, flag);
        return NULL;
    }
    if (access(out, R_OK)) {
        ml_error_set(err, ML_ERR_MISSING, "%s: default file %s: %s; pass %s FILE", flag, out, strerror(errno), flag);
        return NULL;
    }
    return out;
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

int ml_cli_parse(const MlCliCommand *c, int argc, char **argv, int first, void *opts, MlCliModelOpts *mo) {
    if (mo) ml_cli_model_defaults(mo);
    for (int i = first; i < argc; i++) {
        int r = ml_cli_options(c->name, c->options, c->n_options, c->takes, c->help, argc, argv, &i, opts, mo);
        if (r == 1) continue;
        if (r) return r;
        r = c->other ? c->other(c->name, argc, argv, &i, opts) : ML_CLI_NOT_MINE;
        if (r == ML_CLI_NOT_MINE) return ml_cli_unknown(c->name, argc, argv, &i);
        if (r) return r;
    }
    return mo && ml_cli_model_required(c->name, mo) ? 2 : 0;
}

void ml_cli_model_defaults(MlCliModelOpts *o) {
    *o = (MlCliModelOpts){.tmpl = ML_TEMPLATE_HF, .aspect = ML_ASPECT_RESIZE};
}

/* The shared model options (ml_cli_options without a table). */
static int model_option(const char *cmd, unsigned takes, int argc, char **argv, int *i, MlCliModelOpts *o) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--quiet") && (takes & ML_CLI_QUIET)) {
        o->quiet = 1;
        return 1;
    }
    int is_seed = !strcmp(a, "--seed") && (takes & ML_CLI_SEED), is_system = !strcmp(a, "--system") && (takes & ML_CLI_SYSTEM);
    if (!is_seed && !is_system && strcmp(a, "--model") && strcmp(a, "--threads") && strcmp(a, "--template") &&
        strcmp(a, "--image-aspect"))
        return 0;
    if (!(v = ml_cli_value(cmd, argc, argv, i))) return 2;
    if (!strcmp(a, "--model")) o->model = v;
    else if (is_system) o->system = v;
    else if (is_seed) {
        if (ml_cli_int(cmd, a, v, 0, 9223372036854775807LL, &o->seed)) return 2;
    } else if (!strcmp(a, "--threads")) {
        if (ml_cli_int(cmd, a, v, 0, 1024, &o->threads)) return 2;
    } else if (!strcmp(a, "--template")) {
        if (ml_cli_template(cmd, v, &o->tmpl)) return 2;
    } else if (ml_cli_aspect(cmd, v, &o->aspect)) {
        return 2;
    }
    return 1;
}

int ml_cli_options(const char *cmd, const MlCliOption *table, size_t n, unsigned takes, void (*help)(void), int argc,
                   char **argv, int *i, void *opts, MlCliModelOpts *mo) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
        help();
        return -1;
    }
    int r = mo ? model_option(cmd, takes, argc, argv, i, mo) : 0;
    if (r) return r;
    const MlCliOption *o = NULL;
    for (size_t k = 0; k < n && !o; k++)
        if (!strcmp(a, table[k].flag)) o = &table[k];
    if (!o) return 0;
    char *field = (char *)opts + o->offset;
    if (o->kind == ML_CLI_SET) {
        *(int *)field = (int)o->lo;
        return 1;
    }
    if (!(v = ml_cli_value(cmd, argc, argv, i))) return 2;
    if (o->kind == ML_CLI_STR) *(const char **)field = v;
    else if (o->kind == ML_CLI_INT) {
        if (ml_cli_int(cmd, a, v, (long long)o->lo, (long long)o->hi, (long long *)field)) return 2;
    } else if (ml_cli_float(cmd, a, v, o->lo, o->hi, (double *)field)) {
        return 2;
    }
    return 1;
}

int ml_cli_unknown(const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!ml_cli_value(cmd, argc, argv, i)) return 2;
    return ml_cli_usage_error(cmd, "unknown option '%s'", a);
}

int ml_cli_model_required(const char *cmd, const MlCliModelOpts *o) {
    return o->model ? 0 : ml_cli_usage_error(cmd, "--model DIR is required");
}

int ml_cli_model_open(const MlCliModelOpts *o, MlLvlm **m, MlError *err) {
    ml_threads_set((int)o->threads);
    return ml_lvlm_open(m, o->model, err);
}

MlPromptOptions ml_cli_prompt_options(const MlCliModelOpts *o) {
    return (MlPromptOptions){.tmpl = o->tmpl, .system = o->system, .drop_space_after_image = 0};
}
