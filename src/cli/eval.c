/* eval.c: `misalign eval pope|amber|chair|scenes`: a model answers a benchmark into a run directory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/evalio.h"
#include "core/progress.h"
#include "eval/run.h"
#include "mitigate/method.h"
#include "mitigate/runner.h"
#ifdef ML_MPI
#include <unistd.h>

#include "cli/mpi.h"
#endif

#define MAX_PARAMS 64
#define CHAIR_PROMPT "Please describe this image in detail."

static void help(void) {
    printf("usage: misalign eval pope|amber|chair|scenes --model DIR --questions F --images DIR --out RUNDIR [options]\n\n"
           "Runs a LLaVA model on a benchmark and writes RUNDIR/run.json, one line per answer to RUNDIR/items.jsonl\n"
           "(as it goes; a killed run resumes where it stopped) and RUNDIR/summary.json (docs/evaluation.md).\n"
           "Questions about one image share its prefilled image prefix.  One writer per run directory (or shard).\n"
           "Under MPI (`mpirun -np N misalign eval ...`, MPI builds) rank r answers shard r of N and rank 0\n"
           "writes items.jsonl and summary.json when every rank is done (docs/evaluation.md, docs/scaling.md).\n\n"
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
           "  --threads N            worker threads (per MPI rank), 0 = all cores (under MPI: this node's cores\n"
           "                         shared among its ranks)  [0]\n"
           "  --shard I/N            answer only shard I (0-based) of N: images split by question count; each\n"
           "                         shard writes RUNDIR/shard-I-of-N.jsonl, `misalign merge RUNDIR` joins them\n"
           "                         [whole run]\n"
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
    int n_params, prefix_cache, shard, shards;
    long long limit, max_tokens, max_tokens_open;
} Opts;

/* "I/N" with 0 <= I < N. */
static int parse_shard(const char *v, Opts *o) {
    int used = 0;
    if (sscanf(v, "%d/%d%n", &o->shard, &o->shards, &used) != 2 || v[used] || o->shards < 1 || o->shards > 100000 ||
        o->shard < 0 || o->shard >= o->shards)
        return ml_cli_usage_error("eval", "--shard: '%s' is not I/N with 0 <= I < N (e.g. 0/4)", v);
    return 0;
}

static int parse(int argc, char **argv, Opts *o) {
    const char *cmd = "eval", *v;
    *o = (Opts){.method = "greedy", .prefix_cache = 1, .shards = 1, .max_tokens = 8, .max_tokens_open = 512,
                .prompt = CHAIR_PROMPT};
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
        else if (!strcmp(a, "--shard")) {
            if (parse_shard(v, o)) return 2;
        } else if (!strcmp(a, "--param")) {
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

/* Where this process stands: alone, or rank `rank` of `size` under MPI. */
typedef struct Ctx {
    int mpi, rank, size;
} Ctx;

/* Alone: reports a failure.  Under MPI (collective): every rank learns
   whether any failed, and only the lowest failing rank reports. */
static int stop_here(const Ctx *c, int failed, const MlError *err, int *exit_code) {
#ifdef ML_MPI
    if (c->mpi) {
        int first = ml_cli_mpi_first_failure(failed);
        if (first < 0) return 0;
        *exit_code = first == c->rank ? ml_cli_fail(err) : 1;
        return 1;
    }
#endif
    (void)c;
    if (failed) *exit_code = ml_cli_fail(err);
    return failed;
}

#ifdef ML_MPI
/* Every rank must run the very command of rank 0: the first key of run.json that differs. */
static int same_as_rank0(const Ctx *c, const cJSON *run, MlError *err) {
    char *mine = cJSON_PrintUnformatted(run);
    char *root = ml_cli_mpi_root_text(mine ? mine : "");
    int rc = ML_OK;
    if (!mine) rc = ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    else if (strcmp(mine, root)) {
        cJSON *r0 = cJSON_Parse(root);
        const char *key = "?";
        for (const cJSON *x = run->child; x && r0; x = x->next)
            if (!cJSON_Compare(x, cJSON_GetObjectItemCaseSensitive(r0, x->string), 1)) {
                key = x->string;
                break;
            }
        char *a = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r0, key));
        char *b = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(run, key));
        rc = ml_error_set(err, ML_ERR_ARG,
                          "MPI rank %d runs another command than rank 0 (%s: rank 0 has %.80s, rank %d %.80s); every rank "
                          "must run the same command",
                          c->rank, key, a ? a : "(absent)", c->rank, b ? b : "(absent)");
        free(a);
        free(b);
        cJSON_Delete(r0);
    }
    free(mine);
    free(root);
    return rc;
}
#endif

static int run_eval(Opts *o, const Ctx *c) {
    MlMethodConfig mc;
    if (ml_cli_method("eval", o->method, o->params, o->n_params, &mc)) return 2;
    mc.steer = o->steer;
    if (o->steer && !mc.method->reads_steer)
        return ml_cli_usage_error("eval", "--steer: method %s reads no directions (vti does)", mc.method->name);
    const MlMethod *method = mc.method;
    MlError err = {0};
    MlYesNoParser parser = ML_YESNO_OFFICIAL;
    if (o->parser && ml_yesno_parser_from_name(o->parser, &parser))
        return ml_cli_usage_error("eval", "--parser: '%s' is not official, opera or vcd", o->parser);
    unsigned files = 0;
    if (o->files && ml_cli_eval_files("eval", o->files, &files)) return 2;
    char split[256], images_buf[4200];
    if (o->split) snprintf(split, sizeof split, "%s", o->split);
    else default_split(o, split, sizeof split);
    const char *images = o->images;
    if (!images) images = (snprintf(images_buf, sizeof images_buf, "%s/images", o->questions), images_buf);
    /* one prompt for every method unless its published suffix is asked for by name */
    const char *suffix = !o->suffix ? "" : !strcmp(o->suffix, "method") ? method->prompt_suffix : o->suffix;

    MlCliEvalInputs in = {.bench = o->bench, .questions = o->questions, .files = files, .limit = o->limit,
                          .prompt = o->prompt, .gt = o->gt, .coco = o->coco, .synonyms = o->synonyms,
                          .annotations = o->annotations, .quiet = o->mo.quiet};
    MlCliEvalData d;
    MlLvlm *m = NULL;
    MlRunlog *log = NULL;
    cJSON *run = NULL, *summary = NULL;
    MlProgress progress = {.label = "eval"};
    int exit_code = 1, rc;
    /* inputs first: a bad file fails before anything is written */
    rc = ml_cli_eval_load(&in, &d, &err);
    if (!rc) rc = ml_eval_check_images(&d.set, images, &err);
    if (!rc) rc = ml_cli_model_open(&o->mo, &m, &err);
    /* a method that refuses this model (a layer it lacks) fails before the run directory exists */
    if (!rc) {
        MlRunner *probe = NULL;
        const MlRunnerOptions probe_o = {.prompt = {o->mo.tmpl, NULL, 0}};
        rc = ml_runner_new(&probe, m, &mc, &probe_o, &err);
        ml_runner_free(probe);
    }
    if (!rc && !(run = run_json(o, split, &mc, suffix, parser))) rc = ml_error_set(&err, ML_ERR_NOMEM, "out of memory");
#ifdef ML_MPI
    if (c->mpi && !stop_here(c, rc != 0, &err, &exit_code)) rc = same_as_rank0(c, run, &err);
#endif
    if (stop_here(c, rc != 0, &err, &exit_code)) goto out;
    rc = ml_runlog_open_shard(&log, o->out, run, o->shard, o->shards, &err);
    if (stop_here(c, rc != 0, &err, &exit_code)) goto out;
    if (ml_runlog_torn_bytes(log))
        fprintf(stderr, "misalign eval: %s: cut %zu bytes of a line torn by a crash; that item runs again\n", o->out,
                ml_runlog_torn_bytes(log));
    MlEvalOptions eo = ml_eval_defaults();
    eo.images = images;
    eo.method = &mc;
    eo.prompt_suffix = suffix;
    eo.prompt = ml_cli_prompt_options(&o->mo);
    eo.aspect = o->mo.aspect;
    eo.max_tokens = o->max_tokens;
    eo.max_tokens_open = o->max_tokens_open;
    eo.seed = (uint64_t)o->mo.seed;
    eo.prefix_cache = o->prefix_cache;
    eo.parser = parser;
    eo.shard = o->shard;
    eo.shards = o->shards;
    if (!o->mo.quiet && c->rank == 0) {
        eo.progress = on_progress;
        eo.progress_user = &progress;
    }
    rc = ml_eval_run(m, &d.set, &eo, log, &err);
    if (progress.total) ml_progress_finish(&progress);
    if (o->shards > 1) { /* a shard's writer lets go before anyone joins */
        ml_runlog_close(log);
        log = NULL;
    }
    if (stop_here(c, rc != 0, &err, &exit_code)) goto out;
    if (o->shards > 1 && !c->mpi) {
        printf("%s: shard %d of %d done; `misalign merge %s` joins the shards when all are done\n", o->out, o->shard,
               o->shards, o->out);
        exit_code = 0;
        goto out;
    }
    if (c->rank != 0) {
        exit_code = 0;
        goto out;
    }
    if ((!log && ml_runlog_open_merge(&log, o->out, 0, &err)) ||
        ml_cli_eval_finish(log, &d, o->out, run, parser, &summary, &err)) {
        exit_code = ml_cli_fail(&err);
        goto out;
    }
    print_result(o, split, summary);
    exit_code = 0;
out:
    ml_runlog_close(log);
    ml_lvlm_close(m);
    cJSON_Delete(run);
    cJSON_Delete(summary);
    ml_cli_eval_data_free(&d);
    return exit_code;
}

int cmd_eval(int argc, char **argv) {
    Opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    Ctx c = {.mpi = 0, .rank = 0, .size = 1};
#ifdef ML_MPI
    if (ml_cli_mpi_launched()) {
        if (ml_cli_mpi_init(&argc, &argv, &c.rank, &c.size)) {
            fprintf(stderr, "misalign eval: MPI_Init failed\n");
            return 1;
        }
        c.mpi = 1;
        if (c.size > 1 && o.shards > 1) {
            if (c.rank == 0) ml_cli_usage_error("eval", "--shard and MPI ranks both split the run: use one of them");
            ml_cli_mpi_finalize();
            return 2;
        }
        if (c.size > 1) {
            o.shard = c.rank;
            o.shards = c.size;
        }
        if (o.mo.threads == 0) { /* this node's cores, shared among its ranks */
            long cores = sysconf(_SC_NPROCESSORS_ONLN);
            long share = cores / ml_cli_mpi_local_size();
            o.mo.threads = share > 0 ? share : 1;
        }
    }
#endif
    rc = run_eval(&o, &c);
#ifdef ML_MPI
    if (c.mpi) ml_cli_mpi_finalize();
#endif
    return rc;
}
