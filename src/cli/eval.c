/* eval.c: `misalign eval pope|amber|chair|scenes`: a model answers a benchmark into a run directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/file.h"
#include "core/progress.h"
#include "eval/coco.h"
#include "eval/run.h"
#include "mitigate/method.h"
#include "mitigate/runner.h"

#define MAX_PARAMS 64
#define CHAIR_PROMPT "Please describe this image in detail."

static void help(void) {
    printf("usage: misalign eval pope|amber|chair|scenes --model DIR --questions F --images DIR --out RUNDIR [options]\n\n"
           "Runs a LLaVA model on a benchmark and writes RUNDIR/run.json, one line per answer to RUNDIR/items.jsonl\n"
           "(as it goes; a killed run resumes where it stopped) and RUNDIR/summary.json (docs/evaluation.md).\n"
           "Questions about one image share its prefilled image prefix.\n\n"
           "  --model DIR            LLaVA checkpoint folder  [required]\n"
           "  --questions F          pope: POPE-format questions {question_id, image, text, label} (JSONL or array);\n"
           "                         scenes: a folder written by `misalign scenes` (its probes/);\n"
           "                         amber: an AMBER query file [{id, image, query}];\n"
           "                         chair: records {image_id[, image]} (e.g. coco_chair.jsonl)  [required]\n"
           "  --images DIR           folder of the images the questions name  [required; scenes: QUESTIONS/images]\n"
           "  --out RUNDIR           run directory (created; resumed when it holds the same run)  [required]\n"
           "  --method NAME          decoding method, see below  [greedy]\n"
           "  --param K=V            a method parameter, repeatable  [the method's published defaults]\n"
           "  --steer FILE           steering directions for --method vti (misalign steer fit)  [none]\n"
           "  --split NAME           split name for reports  [pope: random|popular|adversarial when the file name\n"
           "                         says so, else its base name; others: the base name]\n"
           "  --limit N              only the first N questions (scenes: of each probe file), 0 = all  [0]\n"
           "  --seed S               seed of sampling and of contrast images  [0]\n"
           "  --max-tokens N         tokens per yes/no answer  [8]\n"
           "  --max-tokens-open N    tokens per open answer (descriptions, captions)  [512]\n"
           "  --prompt-suffix TEXT   appended to yes/no questions; 'method': the method's published suffix\n"
           "                         (see below)  [none: every method sees the same prompt]\n"
           "  --parser P             yes/no parser: official, opera, vcd  [official]\n"
           "  --files LIST           scenes: comma-separated probe files (pope_random, pope_popular,\n"
           "                         pope_adversarial, attribute, count, relation, describe)  [all present]\n"
           "  --prompt TEXT          chair: what is asked of each image  [\"" CHAIR_PROMPT "\"]\n"
           "  --gt F                 chair: ground-truth objects {\"<image id>\": [names]}  [this or the next]\n"
           "  --coco-annotations DIR chair: ground truth built from COCO's instances_val2014.json and\n"
           "                         captions_val2014.json in DIR, as chair.py builds it  [none]\n"
           "  --synonyms F           chair: synonym list  [data/chair/synonyms.txt]\n"
           "  --annotations F        amber: annotations.json (relation.json, safe_words.txt beside it)\n"
           "                         [data/amber/annotations.json]\n"
           "  --template NAME        hf, llava-v1 or raw  [hf]\n"
           "  --system TEXT          system text before the user turn  [none]\n"
           "  --image-aspect MODE    resize (llava-hf) or pad (original LLaVA)  [resize]\n"
           "  --no-prefix-cache      prefill every question from scratch (to measure the saving)  [off]\n"
           "  --threads N            worker threads, 0 = all cores  [0]\n"
           "  --quiet                no progress bar  [off]\n"
           "(data/: the repository's data folder, found from the binary's place: build/misalign -> data/)\n");
    ml_cli_method_help();
}

typedef struct Opts {
    MlEvalBenchmark bench;
    MlCliModelOpts mo;
    const char *questions, *images, *out, *method, *split, *suffix, *parser, *files, *prompt, *gt, *synonyms;
    const char *annotations, *coco, *steer;
    const char *params[MAX_PARAMS];
    int n_params, prefix_cache;
    long long limit, max_tokens, max_tokens_open;
} Opts;

static int parse(int argc, char **argv, Opts *o) {
    const char *cmd = "eval", *v;
    *o = (Opts){.method = "greedy", .prefix_cache = 1, .max_tokens = 8, .max_tokens_open = 512, .prompt = CHAIR_PROMPT};
    ml_cli_model_defaults(&o->mo);
    if (argc < 2) return ml_cli_usage_error(cmd, "name a benchmark: pope, amber, chair or scenes");
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help();
            return -1;
        }
    if (ml_eval_benchmark_parse(argv[1], &o->bench))
        return ml_cli_usage_error(cmd, "unknown benchmark '%s' (pope, amber, chair, scenes)", argv[1]);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int r = ml_cli_options(cmd, NULL, 0, ML_CLI_SEED | ML_CLI_SYSTEM | ML_CLI_QUIET, help, argc, argv, &i, o, &o->mo);
        if (r == 1) continue;
        if (r) return r;
        if (!strcmp(a, "--no-prefix-cache")) {
            o->prefix_cache = 0;
            continue;
        }
        if (!(v = ml_cli_value(cmd, argc, argv, &i))) return 2;
        if (!strcmp(a, "--questions")) o->questions = v;
        else if (!strcmp(a, "--images")) o->images = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--method")) o->method = v;
        else if (!strcmp(a, "--steer")) o->steer = v;
        else if (!strcmp(a, "--split")) o->split = v;
        else if (!strcmp(a, "--prompt-suffix")) o->suffix = v;
        else if (!strcmp(a, "--parser")) o->parser = v;
        else if (!strcmp(a, "--files")) o->files = v;
        else if (!strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--gt")) o->gt = v;
        else if (!strcmp(a, "--coco-annotations")) o->coco = v;
        else if (!strcmp(a, "--synonyms")) o->synonyms = v;
        else if (!strcmp(a, "--annotations")) o->annotations = v;
        else if (!strcmp(a, "--param")) {
            if (o->n_params == MAX_PARAMS) return ml_cli_usage_error(cmd, "more than %d --param options", MAX_PARAMS);
            o->params[o->n_params++] = v;
        } else if (!strcmp(a, "--limit")) {
            if (ml_cli_int(cmd, a, v, 0, 1LL << 40, &o->limit)) return 2;
        } else if (!strcmp(a, "--max-tokens")) {
            if (ml_cli_int(cmd, a, v, 1, 1 << 20, &o->max_tokens)) return 2;
        } else if (!strcmp(a, "--max-tokens-open")) {
            if (ml_cli_int(cmd, a, v, 1, 1 << 20, &o->max_tokens_open)) return 2;
        } else {
            return ml_cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (ml_cli_model_required(cmd, &o->mo)) return 2;
    if (!o->questions) return ml_cli_usage_error(cmd, "--questions is required");
    if (!o->images && o->bench != ML_EVAL_SCENES) return ml_cli_usage_error(cmd, "--images DIR is required");
    if (!o->out) return ml_cli_usage_error(cmd, "--out RUNDIR is required");
    if (o->bench == ML_EVAL_CHAIR && !o->gt == !o->coco)
        return ml_cli_usage_error(cmd, "chair needs one of --gt F and --coco-annotations DIR (ground-truth objects)");
    if (o->files && o->bench != ML_EVAL_SCENES) return ml_cli_usage_error(cmd, "--files is for scenes runs");
    return 0;
}

/* Probe file names -> bit mask. */
static int files_mask(const char *list, unsigned *mask) {
    *mask = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int f = 0; f < ML_SCENES_FILES; f++)
            if (strlen(ml_scenes_file_name(f)) == n && !strncmp(ml_scenes_file_name(f), p, n)) found = f;
        if (found < 0)
            return ml_cli_usage_error("eval", "--files: '%.*s' is not a probe file (pope_random, pope_popular, "
                                              "pope_adversarial, attribute, count, relation, describe)",
                                      (int)n, p);
        *mask |= 1u << found;
        p += n + (p[n] == ',');
    }
    if (!*mask) return ml_cli_usage_error("eval", "--files: empty list");
    return 0;
}

/* The base name without directories, a trailing slash or the extension. */
static void base_name(const char *path, char *out, size_t cap) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t n = len - start;
    const char *dot = memchr(path + start, '.', n);
    if (dot && dot > path + start) n = (size_t)(dot - (path + start));
    snprintf(out, cap, "%.*s", (int)n, path + start);
}

static void default_split(const Opts *o, char *out, size_t cap) {
    base_name(o->questions, out, cap);
    static const char *const known[] = {"adversarial", "popular", "random"};
    if (o->bench != ML_EVAL_POPE) return;
    for (int k = 0; k < 3; k++)
        if (strstr(out, known[k])) {
            snprintf(out, cap, "%s", known[k]);
            return;
        }
}

/* run.json's "prompt_template": the text a yes/no question about an image is asked in, {question}
   standing for it (raw: the question places the image itself). */
static cJSON *prompt_template(const Opts *o, const char *suffix, cJSON *r) {
    MlPromptOptions popts = ml_cli_prompt_options(&o->mo);
    size_t n = strlen(suffix) + sizeof "{question}";
    char *user = malloc(n), *text = NULL;
    if (!user) return NULL;
    snprintf(user, n, "{question}%s", suffix);
    MlError err = {0};
    cJSON *item = ml_prompt_text(&popts, user, o->mo.tmpl != ML_TEMPLATE_RAW, &text, &err)
                      ? NULL
                      : cJSON_AddStringToObject(r, "prompt_template", text);
    free(user);
    free(text);
    return item;
}

/* run.json: everything that changes the answers, so a resume with other settings is refused. */
static cJSON *run_json(const Opts *o, const char *split, const MlMethodConfig *mc, const char *suffix,
                       MlYesNoParser parser) {
    cJSON *r = cJSON_CreateObject();
    cJSON *params = ml_method_params_json(mc);
    if (!r || !params) {
        cJSON_Delete(r);
        cJSON_Delete(params);
        return NULL;
    }
    cJSON_AddStringToObject(r, "benchmark", ml_eval_benchmark_name(o->bench));
    cJSON_AddStringToObject(r, "split", split);
    cJSON_AddStringToObject(r, "model", o->mo.model);
    cJSON_AddStringToObject(r, "questions", o->questions);
    cJSON_AddStringToObject(r, "method", mc->method->name);
    cJSON_AddItemToObject(r, "params", params);
    if (mc->steer) cJSON_AddStringToObject(r, "steer", mc->steer);
    cJSON_AddStringToObject(r, "prompt_suffix", suffix);
    cJSON_AddNumberToObject(r, "seed", (double)o->mo.seed);
    cJSON_AddNumberToObject(r, "max_tokens", (double)o->max_tokens);
    cJSON_AddNumberToObject(r, "max_tokens_open", (double)o->max_tokens_open);
    cJSON_AddStringToObject(r, "parser", ml_yesno_parser_name(parser));
    cJSON_AddNumberToObject(r, "limit", (double)o->limit);
    cJSON_AddStringToObject(r, "template", ml_template_name(o->mo.tmpl));
    if (o->mo.system) cJSON_AddStringToObject(r, "system", o->mo.system);
    if (!prompt_template(o, suffix, r)) {
        cJSON_Delete(r);
        return NULL;
    }
    cJSON_AddStringToObject(r, "image_aspect", o->mo.aspect == ML_ASPECT_PAD ? "pad" : "resize");
    if (o->bench == ML_EVAL_SCENES) cJSON_AddStringToObject(r, "files", o->files ? o->files : "all");
    if (o->bench == ML_EVAL_CHAIR) cJSON_AddStringToObject(r, "prompt", o->prompt);
    return r;
}

static void on_progress(void *user, size_t done, size_t total) {
    MlProgress *p = user;
    if (p->total == 0 && total) {
        ml_progress_start(p, p->label, (int64_t)total);
        ml_progress_resume(p, (int64_t)done);
    }
    ml_progress_update(p, (int64_t)done);
}

static void print_result(const Opts *o, const char *split, const cJSON *summary) {
    double acc = NAN, f1 = NAN, yes = NAN, sec = NAN;
    const cJSON *src = summary;
    if (o->bench == ML_EVAL_SCENES) /* all yes/no families together are not reported: show the object family */
        src = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(summary, "families"), "object");
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(src, "accuracy")) && cJSON_IsNumber(v)) acc = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(src, "f1")) && cJSON_IsNumber(v)) f1 = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(src, "yes_ratio")) && cJSON_IsNumber(v)) yes = v->valuedouble;
    if ((v = cJSON_GetObjectItemCaseSensitive(summary, "seconds_per_item")) && cJSON_IsNumber(v)) sec = v->valuedouble;
    printf("%s/summary.json: %s %s %s", o->out, ml_eval_benchmark_name(o->bench), split, o->method);
    if (isfinite(acc)) printf(" acc %.3f f1 %.3f yes %.3f", acc, f1, yes);
    printf(" %.3f s/item\n", sec);
}

int cmd_eval(int argc, char **argv) {
    Opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    MlMethodConfig mc;
    if (ml_cli_method("eval", o.method, o.params, o.n_params, &mc)) return 2;
    mc.steer = o.steer;
    if (o.steer && !mc.method->reads_steer)
        return ml_cli_usage_error("eval", "--steer: method %s reads no directions (vti does)", mc.method->name);
    const MlMethod *method = mc.method;
    MlError err = {0};
    MlYesNoParser parser = ML_YESNO_OFFICIAL;
    if (o.parser && ml_yesno_parser_from_name(o.parser, &parser))
        return ml_cli_usage_error("eval", "--parser: '%s' is not official, opera or vcd", o.parser);
    unsigned files = 0;
    if (o.files && (rc = files_mask(o.files, &files))) return rc;
    char split[256], images_buf[4200], data_buf[4200];
    if (o.split) snprintf(split, sizeof split, "%s", o.split);
    else default_split(&o, split, sizeof split);
    const char *images = o.images;
    if (!images) images = (snprintf(images_buf, sizeof images_buf, "%s/images", o.questions), images_buf);
    /* one prompt for every method unless its published suffix is asked for by name */
    const char *suffix = !o.suffix ? "" : !strcmp(o.suffix, "method") ? method->prompt_suffix : o.suffix;

    MlEvalSet set = {0};
    MlAmber amber;
    MlChairVocab vocab;
    MlChairTruth truth;
    int have_amber = 0, have_vocab = 0, have_truth = 0;
    MlLvlm *m = NULL;
    MlRunlog *log = NULL;
    cJSON *run = NULL, *summary = NULL;
    MlProgress progress = {.label = "eval"};
    int exit_code = 1;
    /* inputs first: a bad file fails before anything is written */
    switch (o.bench) {
    case ML_EVAL_POPE:
        rc = ml_eval_load_pope(&set, o.questions, (size_t)o.limit, &err);
        break;
    case ML_EVAL_SCENES:
        rc = ml_eval_load_scenes(&set, o.questions, files, (size_t)o.limit, &err);
        break;
    case ML_EVAL_AMBER: {
        const char *ann = ml_cli_data_file(o.annotations, "amber/annotations.json", "--annotations", data_buf,
                                           sizeof data_buf, &err);
        if (!ann) {
            rc = err.code;
            break;
        }
        if (!(rc = ml_amber_load(&amber, ann, NULL, NULL, &err))) {
            have_amber = 1;
            rc = ml_eval_load_amber(&set, o.questions, &amber, (size_t)o.limit, &err);
        }
        break;
    }
    case ML_EVAL_CHAIR: {
        const char *syn = ml_cli_data_file(o.synonyms, "chair/synonyms.txt", "--synonyms", data_buf, sizeof data_buf, &err);
        if (!syn) {
            rc = err.code;
            break;
        }
        if (!(rc = ml_chair_vocab_load(syn, &vocab, &err))) have_vocab = 1;
        if (!rc && !(rc = o.gt ? ml_chair_truth_load(o.gt, &truth, &err)
                               : ml_coco_truth_load(&vocab, o.coco, !o.mo.quiet, &truth, &err)))
            have_truth = 1;
        if (!rc) rc = ml_eval_load_chair(&set, o.questions, o.prompt, (size_t)o.limit, &err);
        break;
    }
    }
    if (rc || (rc = ml_eval_check_images(&set, images, &err))) goto fail;
    if (ml_cli_model_open(&o.mo, &m, &err)) goto fail;
    /* a method that refuses this model (a layer it lacks) fails before the run directory exists */
    MlRunner *probe = NULL;
    const MlRunnerOptions probe_o = {.prompt = {o.mo.tmpl, NULL, 0}};
    if (ml_runner_new(&probe, m, &mc, &probe_o, &err)) goto fail;
    ml_runner_free(probe);
    if (!(run = run_json(&o, split, &mc, suffix, parser))) {
        ml_error_set(&err, ML_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (ml_runlog_open(&log, o.out, run, &err)) goto fail;
    if (ml_runlog_torn_bytes(log))
        fprintf(stderr, "misalign eval: %s/items.jsonl: cut %zu bytes of a line torn by a crash; that item runs again\n",
                o.out, ml_runlog_torn_bytes(log));
    MlEvalOptions eo = ml_eval_defaults();
    eo.images = images;
    eo.method = &mc;
    eo.prompt_suffix = suffix;
    eo.prompt = ml_cli_prompt_options(&o.mo);
    eo.aspect = o.mo.aspect;
    eo.max_tokens = o.max_tokens;
    eo.max_tokens_open = o.max_tokens_open;
    eo.seed = (uint64_t)o.mo.seed;
    eo.prefix_cache = o.prefix_cache;
    eo.parser = parser;
    if (!o.mo.quiet) {
        eo.progress = on_progress;
        eo.progress_user = &progress;
    }
    rc = ml_eval_run(m, &set, &eo, log, &err);
    if (progress.total) ml_progress_finish(&progress);
    if (rc) goto fail;
    char items_path[4200];
    snprintf(items_path, sizeof items_path, "%s/items.jsonl", o.out);
    MlEvalScoring sc = {.amber = have_amber ? &amber : NULL,
                        .chair_vocab = have_vocab ? &vocab : NULL,
                        .chair_truth = have_truth ? &truth : NULL,
                        .parser = parser};
    if (ml_eval_summary(&set, log, items_path, run, &sc, &summary, &err) || ml_runlog_finish(log, summary, &err))
        goto fail;
    print_result(&o, split, summary);
    exit_code = 0;
    goto out;
fail:
    exit_code = ml_cli_fail(&err);
out:
    ml_runlog_close(log);
    ml_lvlm_close(m);
    cJSON_Delete(run);
    cJSON_Delete(summary);
    ml_eval_set_free(&set);
    if (have_amber) ml_amber_free(&amber);
    if (have_vocab) ml_chair_vocab_free(&vocab);
    if (have_truth) ml_chair_truth_free(&truth);
    return exit_code;
}
