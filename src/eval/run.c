/* run.c: the model-running loop (see run.h). */
#include "eval/run.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/progress.h"
#include "core/strmap.h"
#include "mitigate/noise.h"
#include "mitigate/runner.h"

MlEvalOptions ml_eval_defaults(void) {
    return (MlEvalOptions){.prompt_suffix = "",
                           .prompt = {.tmpl = ML_TEMPLATE_HF, .system = NULL, .drop_space_after_image = 0},
                           .aspect = ML_ASPECT_RESIZE,
                           .max_tokens = 8,
                           .max_tokens_open = 512,
                           .seed = 0,
                           .prefix_cache = 1,
                           .parser = ML_YESNO_OFFICIAL};
}

/* Everything one run allocates once. */
typedef struct Work {
    MlLvlm *m;
    const MlEvalOptions *o;
    const MlMethodConfig *cfg;
    MlRunner *runner;
    int64_t max_budget;
    int32_t *out;
    char *text;
    size_t text_cap;
} Work;

static void work_free(Work *w) {
    ml_runner_free(w->runner);
    free(w->out);
    free(w->text);
}

static int work_init(Work *w, MlLvlm *m, const MlEvalOptions *o, MlError *err) {
    memset(w, 0, sizeof *w);
    w->m = m;
    w->o = o;
    w->cfg = o->method;
    if (o->max_tokens < 1 || o->max_tokens_open < 1)
        return ml_error_set(err, ML_ERR_ARG, "eval: max tokens must be at least 1");
    w->max_budget = o->max_tokens > o->max_tokens_open ? o->max_tokens : o->max_tokens_open;
    MlRunnerOptions ro = {.prompt = o->prompt, .seed = o->seed, .prefix = o->prefix_cache ? ML_PREFIX_SHARED : ML_PREFIX_SPLIT};
    int rc = ml_runner_new(&w->runner, m, o->method, &ro, err);
    if (rc) return rc;
    w->out = malloc(sizeof(int32_t) * (size_t)w->max_budget);
    if (!w->out) return ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
    return ML_OK;
}

/* Loads the item's image and hands it to the runner (which encodes what each pass sees). */
static int load_image(Work *w, const MlEvalItem *it, MlError *err) {
    char path[4096];
    int rc = ml_path_join(path, sizeof path, w->o->images, it->image, err);
    MlImage img = {0};
    if (!rc) rc = ml_image_load(path, &img, err);
    if (!rc) rc = ml_runner_set_decoded(w->runner, &img, w->o->aspect, it->image, err);
    ml_image_free(&img);
    return rc;
}

/* The user's text as asked: the question, plus the suffix for yes/no questions. */
static char *asked_text(const Work *w, const MlEvalItem *it) {
    const char *suffix = it->kind == ML_ITEM_OPEN || !w->o->prompt_suffix ? "" : w->o->prompt_suffix;
    size_t a = strlen(it->text), b = strlen(suffix);
    char *s = malloc(a + b + 1);
    if (!s) return NULL;
    memcpy(s, it->text, a);
    memcpy(s + a, suffix, b + 1);
    return s;
}

/* Encodes the group's image and prefills its prefixes once. */
static int prepare_prefix(Work *w, const MlEvalItem *first, MlError *err) {
    int rc = load_image(w, first, err);
    if (rc) return rc;
    char *asked = asked_text(w, first);
    if (!asked) return ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
    rc = ml_runner_prepare(w->runner, asked, err);
    free(asked);
    return rc;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Decodes the answer without special tokens and strips surrounding white space (LLaVA's .strip()). */
static const char *decode_answer(Work *w, int64_t n_out, MlError *err) {
    size_t need = ml_tokenizer_decode(ml_lvlm_tokenizer(w->m), w->out, (size_t)n_out, 1, w->text, w->text_cap);
    if (need + 1 > w->text_cap) {
        char *t = realloc(w->text, need + 1);
        if (!t) {
            ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
            return NULL;
        }
        w->text = t;
        w->text_cap = need + 1;
        need = ml_tokenizer_decode(ml_lvlm_tokenizer(w->m), w->out, (size_t)n_out, 1, w->text, w->text_cap);
    }
    w->text[need < w->text_cap ? need : w->text_cap - 1] = 0;
    char *s = w->text;
    while (is_space(*s)) s++;
    size_t len = strlen(s);
    while (len && is_space(s[len - 1])) s[--len] = 0;
    return s;
}

static const char *parse_answer(const Work *w, const MlEvalItem *it, const char *text) {
    switch (it->kind) {
    case ML_ITEM_YESNO:
        return ml_yesno_parse(w->o->parser, text, it->label == 1) ? "yes" : "no";
    case ML_ITEM_YESNO_EXACT: /* AMBER counts only these two answers */
        return !strcmp(text, "Yes") ? "yes" : !strcmp(text, "No") ? "no" : NULL;
    default:
        return NULL;
    }
}

/* Answers one item and appends its line; shared_s = its share of the image's work. */
static int answer_item(Work *w, const MlEvalItem *it, double shared_s, MlRunlog *log, MlError *err) {
    const double t0 = ml_time_now();
    const int64_t budget = it->kind == ML_ITEM_OPEN ? w->o->max_tokens_open : w->o->max_tokens;
    cJSON *extra = NULL;
    int rc = ML_OK;
    char *asked = asked_text(w, it);
    if (!asked) return ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
    if (!w->o->prefix_cache && (rc = load_image(w, it, err))) goto done;
    if ((rc = ml_runner_ask(w->runner, asked, err)) || (rc = ml_runner_prefill(w->runner, budget, err))) goto done;
    /* each pass's prompt counts as one forward however the prefill was split (cached prefix or not) */
    const uint64_t forwards0 = ml_lvlm_forward_count(w->m) - (uint64_t)w->cfg->method->n_passes;
    MlSamplerConfig sc;
    ml_method_sampler(w->cfg, ml_seed_mix(w->o->seed, it->id), &sc);
    int64_t n_out = 0;
    if ((rc = ml_runner_generate(w->runner, &sc, budget, ml_lvlm_eos_id(w->m), NULL, NULL, w->out, &n_out,
                                 err)))
        goto done;
    const char *text = decode_answer(w, n_out, err);
    if (!text) {
        rc = ML_ERR_NOMEM;
        goto done;
    }
    extra = cJSON_CreateObject();
    int ok = extra && cJSON_AddStringToObject(extra, "image", it->image) &&
             cJSON_AddNumberToObject(extra, "tokens", (double)n_out) &&
             cJSON_AddNumberToObject(extra, "forwards", (double)(ml_lvlm_forward_count(w->m) - forwards0));
    if (ok && it->amber_id)
        ok = cJSON_AddNumberToObject(extra, "id", (double)it->amber_id) && cJSON_AddStringToObject(extra, "response", text);
    if (!ok) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
        goto done;
    }
    MlRunItem item = {.id = it->id,
                      .id_is_number = it->id_is_number,
                      .prompt = asked,
                      .answer = text,
                      .parsed = parse_answer(w, it, text),
                      .label = it->label < 0 ? NULL : it->label ? "yes" : "no",
                      .seconds = ml_time_now() - t0 + shared_s,
                      .extra = extra};
    rc = ml_runlog_append(log, &item, err);
done:
    ml_runner_end(w->runner);
    cJSON_Delete(extra);
    free(asked);
    if (rc && err && !strstr(err->msg, it->where)) {
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", it->where, it->line);
        ml_error_prefix(err, where);
    }
    return rc;
}

/* order[]: item indexes grouped by image (groups by first appearance), file order inside;
   group_end[g]: one past the group's last position in order. */
static int group_by_image(const MlEvalSet *s, size_t *order, size_t *group_end, size_t *n_groups, MlError *err) {
    MlStrMap groups = {0};
    size_t *group_of = malloc(sizeof(size_t) * (s->count ? s->count : 1));
    size_t *count = calloc(s->count ? s->count : 1, sizeof(size_t));
    int rc = group_of && count ? ML_OK : ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
    size_t ng = 0;
    for (size_t i = 0; i < s->count && !rc; i++) {
        const size_t *known = ml_strmap_get(&groups, s->items[i].image);
        if (known) {
            group_of[i] = *known;
        } else {
            if (ml_strmap_put(&groups, s->items[i].image, ng, NULL, NULL)) {
                rc = ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
                break;
            }
            group_of[i] = ng++;
        }
        count[group_of[i]]++;
    }
    if (!rc) {
        size_t pos = 0;
        for (size_t g = 0; g < ng; g++) {
            size_t c = count[g];
            count[g] = pos; /* becomes the write cursor */
            pos += c;
            group_end[g] = pos;
        }
        for (size_t i = 0; i < s->count; i++) order[count[group_of[i]]++] = i;
        *n_groups = ng;
    }
    ml_strmap_free(&groups);
    free(group_of);
    free(count);
    return rc;
}

/* Groups with more questions first; equal groups in order of first appearance. */
typedef struct GroupSize {
    size_t size, index;
} GroupSize;

static int larger_first(const void *a, const void *b) {
    const GroupSize *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->index < y->index ? -1 : x->index > y->index;
}

int ml_eval_shards(const MlEvalSet *s, int shards, int *shard_of, MlError *err) {
    if (shards < 1) return ml_error_set(err, ML_ERR_ARG, "eval: %d shards", shards);
    size_t n = s->count ? s->count : 1, n_groups = 0;
    size_t *order = malloc(sizeof(size_t) * n), *group_end = malloc(sizeof(size_t) * n);
    GroupSize *g = malloc(sizeof(GroupSize) * n);
    size_t *load = calloc((size_t)shards, sizeof(size_t));
    int *owner = malloc(sizeof(int) * n);
    int rc = order && group_end && g && load && owner ? ML_OK : ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
    if (!rc) rc = group_by_image(s, order, group_end, &n_groups, err);
    if (!rc) {
        for (size_t k = 0; k < n_groups; k++) g[k] = (GroupSize){group_end[k] - (k ? group_end[k - 1] : 0), k};
        qsort(g, n_groups, sizeof *g, larger_first);
        for (size_t k = 0; k < n_groups; k++) { /* the least loaded shard takes the next largest image */
            int best = 0;
            for (int r = 1; r < shards; r++)
                if (load[r] < load[best]) best = r;
            load[best] += g[k].size;
            owner[g[k].index] = best;
        }
        for (size_t k = 0, pos = 0; k < n_groups; k++)
            for (; pos < group_end[k]; pos++) shard_of[order[pos]] = owner[k];
    }
    free(order);
    free(group_end);
    free(g);
    free(load);
    free(owner);
    return rc;
}

int ml_eval_run(MlLvlm *m, const MlEvalSet *s, const MlEvalOptions *o, MlRunlog *log, MlError *err) {
    if (!o->method || !o->images) return ml_error_set(err, ML_ERR_ARG, "eval: no method or images folder given");
    if (o->shards > 1 && (o->shard < 0 || o->shard >= o->shards))
        return ml_error_set(err, ML_ERR_ARG, "eval: shard %d of %d does not exist", o->shard, o->shards);
    Work w;
    size_t *order = malloc(sizeof(size_t) * (s->count ? s->count : 1));
    size_t *group_end = malloc(sizeof(size_t) * (s->count ? s->count : 1));
    size_t n_groups = 0;
    int rc = order && group_end ? ML_OK : ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
    int *shard_of = o->shards > 1 ? malloc(sizeof(int) * (s->count ? s->count : 1)) : NULL;
    if (!rc && o->shards > 1 && !shard_of) rc = ml_error_set(err, ML_ERR_NOMEM, "eval: out of memory");
    if (!rc && shard_of) rc = ml_eval_shards(s, o->shards, shard_of, err);
    if (!rc) rc = group_by_image(s, order, group_end, &n_groups, err);
    if (!rc) rc = work_init(&w, m, o, err);
    else memset(&w, 0, sizeof w);
    size_t done = 0, total = 0;
    for (size_t i = 0; i < s->count && !rc; i++)
        if (!shard_of || shard_of[i] == o->shard) {
            total++;
            done += ml_runlog_done(log, s->items[i].id) != 0;
        }
    if (!rc && o->progress) o->progress(o->progress_user, done, total);
    size_t start = 0;
    for (size_t g = 0; g < n_groups && !rc; start = group_end[g++]) {
        size_t pending = 0, first = 0;
        if (shard_of && shard_of[order[start]] != o->shard) continue; /* another shard's image */
        for (size_t k = start; k < group_end[g]; k++)
            if (!ml_runlog_done(log, s->items[order[k]].id) && !pending++) first = order[k];
        if (!pending) continue; /* every question about this image is answered (a resumed run) */
        double shared_s = 0;
        if (o->prefix_cache) {
            const double t0 = ml_time_now();
            if ((rc = prepare_prefix(&w, &s->items[first], err))) {
                char where[4200];
                snprintf(where, sizeof where, "%s:%zu", s->items[first].where, s->items[first].line);
                if (!strstr(err->msg, s->items[first].where)) ml_error_prefix(err, where);
                break;
            }
            shared_s = (ml_time_now() - t0) / (double)pending;
        }
        for (size_t k = start; k < group_end[g] && !rc; k++) {
            const MlEvalItem *it = &s->items[order[k]];
            if (ml_runlog_done(log, it->id)) continue;
            if ((rc = answer_item(&w, it, shared_s, log, err))) break;
            if (o->progress) o->progress(o->progress_user, ++done, total);
        }
    }
    work_free(&w);
    free(shard_of);
    free(order);
    free(group_end);
    return rc;
}
