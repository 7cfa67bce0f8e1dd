/* method.c: --method NAME and --param K=V, shared by eval and generate (see cli.h). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

void ml_cli_method_help(void) {
    printf("\nmethods (--method NAME, then --param K=V):\n");
    for (size_t i = 0; i < ml_method_count(); i++) {
        const MlMethod *m = ml_method_at(i);
        printf("  %-8s %s\n", m->name, m->summary);
        if (m->prompt_suffix[0])
            printf("           published prompt suffix (eval --prompt-suffix method): \"%s\"\n", m->prompt_suffix);
        for (int k = 0; k < m->n_params; k++) {
            const MlParamSpec *p = &m->params[k];
            if (p->choices) {
                char def[64];
                const char *c = p->choices;
                for (int i = 0; i < (int)p->def && c; i++) c = strchr(c, '|'), c = c ? c + 1 : NULL;
                snprintf(def, sizeof def, "%.*s", c ? (int)strcspn(c, "|") : 0, c ? c : "");
                printf("           %-12s %s  [%s; %s]\n", p->name, p->help, def, p->choices);
            }
            else
                printf("           %-12s %s  [%g; %g..%g]\n", p->name, p->help, p->def, p->lo, p->hi);
        }
    }
}

int ml_cli_method(const char *cmd, const char *name, const char *const *params, int n_params, MlMethodConfig *out) {
    const MlMethod *method = ml_method_find(name);
    if (!method) {
        char names[256];
        ml_method_names(names, sizeof names);
        return ml_cli_usage_error(cmd, "--method: unknown method '%s' (%s)", name, names);
    }
    MlError err = {0};
    ml_method_defaults(out, method);
    for (int i = 0; i < n_params; i++)
        if (ml_method_set(out, params[i], &err)) return ml_cli_usage_error(cmd, "%s", err.msg);
    return 0;
}
