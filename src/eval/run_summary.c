/* run_summary.c: summary.json of a finished run: the benchmark scorer's figures
   (the same keys `misalign score <benchmark> --json` prints) plus what the run was. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval/run.h"

static int add_num(cJSON *o, const char *k, double v) {
    return (isfinite(v) ? cJSON_AddNumberToObject(o, k, v) : cJSON_AddNullToObject(o, k)) != NULL;
}

static int amber_disc(cJSON *o, const char *name, const MlAmberDisc *d) {
    cJSON *x = cJSON_AddObjectToObject(o, name);
    return x && cJSON_AddNumberToObject(x, "n", (double)d->n) && add_num(x, "Accuracy", d->accuracy) &&
           add_num(x, "Precision", d->precision) && add_num(x, "Recall", d->recall) && add_num(x, "F1", d->f1);
}

static int amber_json(cJSON *o, const MlAmberScore *s) {
    return cJSON_AddNumberToObject(o, "generative", (double)s->n_generative) &&
           cJSON_AddNumberToObject(o, "discriminative", (double)s->n_discriminative) && add_num(o, "CHAIR", s->chair) &&
           add_num(o, "Cover", s->cover) && add_num(o, "Hal", s->hal) && add_num(o, "Cog", s->cog) &&
           amber_disc(o, "overall", &s->overall) && amber_disc(o, "existence", &s->existence) &&
           amber_disc(o, "attribute", &s->attribute) && amber_disc(o, "state", &s->state) &&
           amber_disc(o, "number", &s->number) && amber_disc(o, "action", &s->action) &&
           amber_disc(o, "relation", &s->relation) && add_num(o, "AMBER", s->amber);
}

static int chair_json(cJSON *o, const MlChairScore *s) {
    return cJSON_AddNumberToObject(o, "captions", (double)s->captions) && add_num(o, "CHAIRs", s->chair_s) &&
           add_num(o, "CHAIRi", s->chair_i) && add_num(o, "Recall", s->recall) && add_num(o, "Len", s->avg_len) &&
           cJSON_AddNumberToObject(o, "hallucinated_captions", (double)s->hallucinated_captions) &&
           cJSON_AddNumberToObject(o, "mentions", (double)s->mentions) &&
           cJSON_AddNumberToObject(o, "hallucinated_mentions", (double)s->hallucinated_mentions) &&
           cJSON_AddNumberToObject(o, "gt_objects", (double)s->gt_objects) &&
           cJSON_AddNumberToObject(o, "recalled_objects", (double)s->recalled_objects);
}

/* benchmark, split, model, method, params from run.json, replacing what the scorer wrote. */
static int copy_meta(cJSON *o, const cJSON *run) {
    static const char *const keys[] = {"benchmark", "split", "model", "method", "params"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, keys[k]);
        if (!v) continue;
        cJSON *d = cJSON_Duplicate(v, 1);
        if (!d) return 0;
        cJSON_DeleteItemFromObjectCaseSensitive(o, keys[k]);
        cJSON_AddItemToObject(o, keys[k], d);
    }
    return 1;
}

int ml_eval_summary(const MlEvalSet *s, MlRunlog *log, const char *items_path, const cJSON *run,
                    const MlEvalScoring *sc, cJSON **out, MlError *err) {
    *out = NULL;
    for (size_t i = 0; i < s->count; i++)
        if (!ml_runlog_done(log, s->items[i].id))
            return ml_error_set(err, ML_ERR_MISSING, "%s: question %s (%s:%zu) has no answer yet", items_path,
                                s->items[i].id, s->items[i].where, s->items[i].line);
    MlBinaryScore b;
    double seconds;
    ml_runlog_binary(log, &b, &seconds);
    cJSON *o = NULL;
    int rc = ML_OK, ok = 1;
    switch (s->bench) {
    case ML_EVAL_POPE:
        o = cJSON_CreateObject();
        ok = o && ml_binary_add_json(o, &b) == 0;
        break;
    case ML_EVAL_SCENES: {
        MlSceneScore ss;
        if ((rc = ml_scenes_score(s->probes, items_path, sc->parser, &ss, err))) return rc;
        o = ml_scenes_json(&ss);
        ok = o != NULL;
        break;
    }
    case ML_EVAL_AMBER: {
        MlAmberScore as;
        if (!sc->amber) return ml_error_set(err, ML_ERR_ARG, "%s: scoring AMBER needs its annotations", items_path);
        if ((rc = ml_amber_score_file(sc->amber, items_path, NULL, &as, err))) return rc;
        o = cJSON_CreateObject();
        ok = o && amber_json(o, &as);
        break;
    }
    case ML_EVAL_CHAIR: {
        MlChairScore cs;
        if (!sc->chair_vocab || !sc->chair_truth)
            return ml_error_set(err, ML_ERR_ARG, "%s: scoring CHAIR needs the synonyms and the ground truth", items_path);
        if ((rc = ml_chair_score_file(sc->chair_vocab, sc->chair_truth, items_path, "question_id", "text", &cs, err)))
            return rc;
        o = cJSON_CreateObject();
        ok = o && chair_json(o, &cs);
        break;
    }
    }
    if (ok && s->bench != ML_EVAL_AMBER && s->bench != ML_EVAL_CHAIR) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "parser");
        ok = cJSON_AddStringToObject(o, "parser", ml_yesno_parser_name(sc->parser)) != NULL;
    }
    if (ok) cJSON_DeleteItemFromObjectCaseSensitive(o, "benchmark");
    ok = ok && cJSON_AddStringToObject(o, "benchmark", ml_eval_benchmark_name(s->bench)) && copy_meta(o, run) &&
         cJSON_AddNumberToObject(o, "n", (double)s->count) && add_num(o, "seconds_per_item", seconds);
    if (!ok) {
        cJSON_Delete(o);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory building the summary", items_path);
    }
    *out = o;
    return ML_OK;
}
