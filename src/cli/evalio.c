/* evalio.c: benchmark inputs and the finishing step of a run directory (see evalio.h). */
#include "cli/evalio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/coco.h"

int ml_cli_eval_load(const MlCliEvalInputs *in, MlCliEvalData *d, MlError *err) {
    memset(d, 0, sizeof *d);
    char data_buf[4200];
    int rc = ML_OK;
    switch (in->bench) {
    case ML_EVAL_POPE:
        return ml_eval_load_pope(&d->set, in->questions, (size_t)in->limit, err);
    case ML_EVAL_SCENES:
        return ml_eval_load_scenes(&d->set, in->questions, in->files, (size_t)in->limit, err);
    case ML_EVAL_AMBER: {
        const char *ann = ml_cli_data_file(in->annotations, "amber/annotations.json", "--annotations", data_buf,
                                           sizeof data_buf, err);
        if (!ann) return err->code;
        if ((rc = ml_amber_load(&d->amber, ann, NULL, NULL, err))) return rc;
        d->have_amber = 1;
        return ml_eval_load_amber(&d->set, in->questions, &d->amber, (size_t)in->limit, err);
    }
    case ML_EVAL_CHAIR: {
        const char *syn = ml_cli_data_file(in->synonyms, "chair/synonyms.txt", "--synonyms", data_buf, sizeof data_buf, err);
        if (!syn) return err->code;
        if ((rc = ml_chair_vocab_load(syn, &d->vocab, err))) return rc;
        d->have_vocab = 1;
        if ((rc = in->gt ? ml_chair_truth_load(in->gt, &d->truth, err)
                         : ml_coco_truth_load(&d->vocab, in->coco, !in->quiet, &d->truth, err)))
            return rc;
        d->have_truth = 1;
        return ml_eval_load_chair(&d->set, in->questions, in->prompt, (size_t)in->limit, err);
    }
    }
    return ml_error_set(err, ML_ERR_ARG, "eval: unknown benchmark");
}

void ml_cli_eval_data_free(MlCliEvalData *d) {
    ml_eval_set_free(&d->set);
    if (d->have_amber) ml_amber_free(&d->amber);
    if (d->have_vocab) ml_chair_vocab_free(&d->vocab);
    if (d->have_truth) ml_chair_truth_free(&d->truth);
    memset(d, 0, sizeof *d);
}

int ml_cli_eval_files(const char *cmd, const char *list, unsigned *mask) {
    *mask = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int f = 0; f < ML_SCENES_FILES; f++)
            if (strlen(ml_scenes_file_name(f)) == n && !strncmp(ml_scenes_file_name(f), p, n)) found = f;
        if (found < 0)
            return ml_cli_usage_error(cmd, "--files: '%.*s' is not a probe file (pope_random, pope_popular, "
                                           "pope_adversarial, attribute, count, relation, describe)",
                                      (int)n, p);
        *mask |= 1u << found;
        p += n + (p[n] == ',');
    }
    if (!*mask) return ml_cli_usage_error(cmd, "--files: empty list");
    return 0;
}

int ml_cli_eval_finish(MlRunlog *log, const MlCliEvalData *d, const char *out, const cJSON *run, MlYesNoParser parser,
                       cJSON **summary, MlError *err) {
    *summary = NULL;
    const char **ids = malloc(sizeof(char *) * (d->set.count ? d->set.count : 1));
    if (!ids) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", out);
    for (size_t i = 0; i < d->set.count; i++) ids[i] = d->set.items[i].id;
    char items_path[4200];
    snprintf(items_path, sizeof items_path, "%s/items.jsonl", out);
    MlEvalScoring sc = {.amber = d->have_amber ? &d->amber : NULL,
                        .chair_vocab = d->have_vocab ? &d->vocab : NULL,
                        .chair_truth = d->have_truth ? &d->truth : NULL,
                        .parser = parser};
    int rc = ml_runlog_join(log, ids, d->set.count, 0, err); /* checks every answer is there before writing */
    if (!rc) rc = ml_eval_summary(&d->set, log, items_path, run, &sc, summary, err);
    if (!rc) rc = ml_runlog_finish(log, *summary, err);
    free(ids);
    return rc;
}
