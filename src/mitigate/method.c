/* method.c: the registry of methods and their parameters (see method.h). */
#include "mitigate/method.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ML_METHOD(name) extern const MlMethod ml_method_##name;
#include "mitigate/methods.def"
#undef ML_METHOD

static const MlMethod *const registry[] = {
#define ML_METHOD(name) &ml_method_##name,
#include "mitigate/methods.def"
#undef ML_METHOD
};

size_t ml_method_count(void) { return sizeof registry / sizeof registry[0]; }
const MlMethod *ml_method_at(size_t i) { return i < ml_method_count() ? registry[i] : NULL; }

const MlMethod *ml_method_find(const char *name) {
    for (size_t i = 0; i < ml_method_count(); i++)
        if (!strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

void ml_method_names(char *buf, size_t cap) {
    size_t used = 0;
    if (cap) buf[0] = 0;
    for (size_t i = 0; i < ml_method_count() && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", registry[i]->name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

void ml_method_defaults(MlMethodConfig *c, const MlMethod *m) {
    memset(c, 0, sizeof *c);
    c->method = m;
    for (int i = 0; i < m->n_params && i < ML_METHOD_MAX_PARAMS; i++) c->value[i] = m->params[i].def;
}

static int param_index(const MlMethod *m, const char *name, size_t len) {
    for (int i = 0; i < m->n_params; i++)
        if (strlen(m->params[i].name) == len && !strncmp(m->params[i].name, name, len)) return i;
    return -1;
}

static void param_list(const MlMethod *m, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < m->n_params && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", m->params[i].name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* The index of name among "a|b|c", or -1. */
static int choice_index(const char *choices, const char *name) {
    size_t len = strlen(name);
    int index = 0;
    for (const char *c = choices; *c; index++) {
        const char *bar = strchr(c, '|');
        size_t n = bar ? (size_t)(bar - c) : strlen(c);
        if (n == len && !strncmp(c, name, n)) return index;
        if (!bar) break;
        c = bar + 1;
    }
    return -1;
}

/* The name of value index in "a|b|c" into buf. */
static const char *choice_name(const char *choices, int index, char *buf, size_t cap) {
    const char *c = choices;
    for (int i = 0; i < index && c; i++) c = strchr(c, '|'), c = c ? c + 1 : NULL;
    size_t n = c ? strcspn(c, "|") : 0;
    snprintf(buf, cap, "%.*s", (int)n, c ? c : "");
    return buf;
}

int ml_method_set(MlMethodConfig *c, const char *assignment, MlError *err) {
    const MlMethod *m = c->method;
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return ml_error_set(err, ML_ERR_ARG, "--param '%s': expected NAME=VALUE", assignment);
    int k = param_index(m, assignment, (size_t)(eq - assignment));
    if (k < 0) {
        char names[512];
        param_list(m, names, sizeof names);
        return ml_error_set(err, ML_ERR_ARG, "--param '%s': method %s has no parameter '%.*s' (%s%s)", assignment,
                            m->name, (int)(eq - assignment), assignment, m->n_params ? "it has: " : "it has none",
                            names);
    }
    const MlParamSpec *p = &m->params[k];
    if (p->choices) {
        int index = choice_index(p->choices, eq + 1);
        if (index < 0)
            return ml_error_set(err, ML_ERR_ARG, "--param '%s': %s must be one of %s", assignment, p->name, p->choices);
        c->value[k] = index;
        return ML_OK;
    }
    char *end;
    errno = 0;
    double v = strtod(eq + 1, &end);
    if (eq[1] == 0 || *end || errno || !isfinite(v) || v < p->lo || v > p->hi || (p->integer && v != floor(v)))
        return ml_error_set(err, ML_ERR_ARG, "--param '%s': %s must be %s in [%g, %g]", assignment, p->name,
                            p->integer ? "an integer" : "a number", p->lo, p->hi);
    c->value[k] = v;
    return ML_OK;
}

double ml_method_param(const MlMethodConfig *c, const char *name) {
    int k = param_index(c->method, name, strlen(name));
    return k < 0 ? NAN : c->value[k];
}

void ml_method_sampler(const MlMethodConfig *c, uint64_t seed, MlSamplerConfig *out) {
    double t = ml_method_param(c, "temperature"), p = ml_method_param(c, "top_p"), k = ml_method_param(c, "top_k");
    if (ml_method_param(c, "decode") == ML_DECODE_GREEDY) t = NAN;
    *out = (MlSamplerConfig){.temperature = isnan(t) ? 0.0f : (float)t,
                             .top_p = isnan(p) ? 1.0f : (float)p,
                             .top_k = isnan(k) ? 0 : (int)k,
                             .seed = seed};
}

MlPass ml_method_pass(const MlMethod *m, int pass) {
    return m->passes ? m->passes[pass] : (MlPass){ML_PASS_CLEAN, ML_PASS_SAME_PROMPT};
}

const MlHooks *ml_method_hooks(MlMethodRun *run, int pass, int64_t step) {
    const MlMethod *m = run->cfg->method;
    return m->pass_hooks ? m->pass_hooks(run, pass, step) : NULL;
}

void ml_method_combine_contrast(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                                void *user) {
    (void)n_passes, (void)step;
    const MlMethodConfig *c = ((const MlMethodRun *)user)->cfg;
    ml_contrast_combine(scores, logits[0], logits[1], vocab, (float)ml_method_param(c, "alpha"));
    ml_contrast_apc(scores, logits[0], vocab, (float)ml_method_param(c, "beta"));
}

cJSON *ml_method_params_json(const MlMethodConfig *c) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < c->method->n_params; i++) {
        const MlParamSpec *p = &c->method->params[i];
        char name[64];
        cJSON *v = p->choices ? cJSON_AddStringToObject(o, p->name, choice_name(p->choices, (int)c->value[i], name, sizeof name))
                              : cJSON_AddNumberToObject(o, p->name, c->value[i]);
        if (!v) {
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}
