/* fuzz_eval_inputs.c: what `misalign eval` parses besides the records themselves:
   --param assignments, and POPE / CHAIR / AMBER question files into an MlEvalSet.
   The first byte picks the target; the rest is the input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/run.h"
#include "mitigate/method.h"

/* An AMBER with three annotations: 1 generative, 2 and 3 discriminative. */
static void tiny_amber(MlAmber *a, MlAmberEntry *e) {
    memset(a, 0, sizeof *a);
    memset(e, 0, 3 * sizeof *e);
    e[0].kind = ML_AMBER_GENERATIVE;
    e[1].kind = ML_AMBER_EXISTENCE;
    e[2].kind = ML_AMBER_RELATION;
    e[2].truth_yes = 1;
    a->entries = e;
    a->count = 3;
}

static void check_set(const MlEvalSet *s) {
    for (size_t i = 0; i < s->count; i++) {
        const MlEvalItem *it = &s->items[i];
        if (!it->id[0] || !it->image[0] || it->label < -1 || it->label > 1) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int target = data[0] % 4;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    MlError err = {0};
    if (target == 0) {
        char *text = malloc(n + 1);
        if (!text) return 0;
        memcpy(text, s, n);
        text[n] = 0;
        for (size_t i = 0; i < ml_method_count(); i++) {
            MlMethodConfig c;
            ml_method_defaults(&c, ml_method_at(i));
            ml_method_set(&c, text, &err);
            for (int k = 0; k < c.method->n_params; k++) {
                const MlParamSpec *p = &c.method->params[k];
                if (!(c.value[k] >= p->lo && c.value[k] <= p->hi)) abort(); /* never out of range */
            }
        }
        free(text);
        return 0;
    }
    char path[] = "/tmp/fuzz_eval_inputs_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    if (write(fd, s, n) != (ssize_t)n) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    MlEvalSet set;
    int rc;
    if (target == 1) {
        rc = ml_eval_load_pope(&set, path, data[0] / 4 % 3, &err);
    } else if (target == 2) {
        rc = ml_eval_load_chair(&set, path, "Describe.", data[0] / 4 % 3, &err);
    } else {
        MlAmber a;
        MlAmberEntry e[3];
        tiny_amber(&a, e);
        rc = ml_eval_load_amber(&set, path, &a, data[0] / 4 % 3, &err);
    }
    if (rc == ML_OK) {
        check_set(&set);
        ml_eval_set_free(&set);
    } else if (!err.msg[0]) {
        abort(); /* every failure explains itself */
    }
    unlink(path);
    return 0;
}
