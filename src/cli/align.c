/* align.c: `misalign align`, representation alignment of image-caption pairs per layer (docs/alignment.md). */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align/extract.h"
#include "align/metrics.h"
#include "cli/cli.h"
#include "core/file.h"
#include "core/json.h"
#include "core/npy.h"
#include "core/progress.h"
#include "eval/records.h"
#include "model/lvlm.h"

static void help(void) {
    printf("usage: misalign align --model DIR --pairs F --out RUNDIR [options]\n\n"
           "Measures how close a LLaVA model holds images and their captions, layer by layer: for each pair the\n"
           "image's mean patch representation in every ViT layer, its mean image-token representation in every\n"
           "decoder layer (image-only prompt) and the caption's mean token representation in every decoder layer\n"
           "(text-only pass); then per layer matched/mismatched cosine, mutual k-NN, CKA (linear, RBF, unbiased),\n"
           "CKNNA and the modality gap.  Writes RUNDIR/align.json, align_layers.jsonl, summary.json (for\n"
           "`misalign report`) and run.json.  Definitions: docs/alignment.md.\n\n"
           "  --model DIR           Hugging Face LLaVA folder  [required]\n"
           "  --pairs F             JSONL (or JSON array) of {\"image\": path, \"caption\": text}; a scenes train\n"
           "                        split's captions.jsonl works as it is  [required]\n"
           "  --out RUNDIR          output folder, created  [required]\n"
           "  --images DIR          folder relative image paths are read from  [the pairs file's folder, then\n"
           "                        its images/ subfolder]\n"
           "  --layers SPEC         decoder layers: all, none or a list like -1,0,15 (-1 = embeddings)  [all]\n"
           "  --vision-layers SPEC  ViT layers, same form (-1 = pre_layrnorm output)  [all]\n"
           "  --caption-layer L     decoder layer whose caption representation the ViT layers are compared\n"
           "                        with  [the last of --layers]\n"
           "  --k K                 neighbours for mutual k-NN and CKNNA  [10]\n"
           "  --sigma S             RBF kernel width; 0 = median heuristic  [1]\n"
           "  --clamp Q             clamp each feature matrix to its mean per-row Q-quantile of |x| first\n"
           "                        (platonic-rep); 1 = off  [0.95]\n"
           "  --all-captions        keep every caption of an image  [off: the first caption per image]\n"
           "  --limit N             use only the first N pairs, 0 = all  [0]\n"
           "  --template NAME       hf, llava-v1 or raw: the text around the image in the image-only prompt  [hf]\n"
           "  --image-aspect MODE   resize or pad  [resize]\n"
           "  --label TEXT          series name in reports  [the model folder's name]\n"
           "  --threads N           worker threads, 0 = all cores  [0]\n"
           "  --save-features       also write the representations: RUNDIR/features_{vision,image,caption}.npy,\n"
           "                        float32 [pairs, layers, width], layers in --vision-layers / --layers order  [off]\n"
           "  --quiet               no progress bar\n");
}

typedef struct Opts {
    MlCliModelOpts mo;
    const char *pairs, *out, *images, *layers, *vision_layers, *label;
    long long k, limit, caption_layer;
    int has_caption_layer, all_captions, save_features;
    double sigma, clamp;
} Opts;

/* --k from 2: CKNNA needs two neighbours. */
static const MlCliOption options[] = {
    ML_CLI_S("--pairs", pairs), ML_CLI_S("--out", out), ML_CLI_S("--images", images), ML_CLI_S("--layers", layers),
    ML_CLI_S("--vision-layers", vision_layers), ML_CLI_S("--label", label), ML_CLI_I("--k", k, 2, 1 << 20),
    ML_CLI_I("--limit", limit, 0, 1LL << 40), ML_CLI_F("--sigma", sigma, 0, 1e12),
    ML_CLI_F("--clamp", clamp, 0.5, 1), ML_CLI_B("--all-captions", all_captions, 1),
    ML_CLI_B("--save-features", save_features, 1),
};

/* --caption-layer also records that it was given. */
static int other_option(const char *cmd, int argc, char **argv, int *i, void *opts) {
    Opts *o = opts;
    const char *a = argv[*i], *v;
    if (strcmp(a, "--caption-layer")) return ML_CLI_NOT_MINE;
    if (!(v = ml_cli_value(cmd, argc, argv, i))) return 2;
    if (ml_cli_int(cmd, a, v, -1, ML_HOOK_MAX_LAYERS - 2, &o->caption_layer)) return 2;
    o->has_caption_layer = 1;
    return 0;
}

static int parse(int argc, char **argv, Opts *o) {
    static const MlCliCommand command = {"align", options, ML_CLI_COUNT(options), ML_CLI_QUIET, help, other_option};
    const char *cmd = command.name;
    *o = (Opts){.layers = "all", .vision_layers = "all", .k = 10, .sigma = 1.0, .clamp = 0.95};
    int rc = ml_cli_parse(&command, argc, argv, 1, o, &o->mo);
    if (rc) return rc;
    if (!o->pairs) return ml_cli_usage_error(cmd, "--pairs F is required");
    if (!o->out) return ml_cli_usage_error(cmd, "--out RUNDIR is required");
    return 0;
}

/* ---- the pairs file ---- */

typedef struct Pair {
    char *image;         /* resolved path */
    const char *caption; /* points into the records */
    size_t line;
    int64_t same_image;  /* index of the first pair with this image */
} Pair;

typedef struct Pairs {
    MlRecords rec;
    Pair *items;
    int64_t n;
} Pairs;

static void pairs_free(Pairs *p) {
    for (int64_t i = 0; i < p->n; i++) free(p->items[i].image);
    free(p->items);
    ml_records_free(&p->rec);
}

/* Where a relative image path is looked for: --images, else beside the pairs file, then in its images/. */
static int resolve_image(const Opts *o, const char *pairs_dir, const char *image, size_t line, char **out, MlError *err) {
    char path[4096];
    const char *bases[2] = {o->images ? o->images : pairs_dir, NULL};
    char sub[4096];
    if (!o->images) {
        snprintf(sub, sizeof sub, "%s/images", pairs_dir);
        bases[1] = sub;
    }
    if (image[0] == '/') {
        if (ml_file_exists(image)) return (*out = strdup(image)) ? ML_OK : ml_error_set(err, ML_ERR_NOMEM, "out of memory");
        return ml_error_set(err, ML_ERR_MISSING, "%s:%zu: image %s does not exist", o->pairs, line, image);
    }
    for (int b = 0; b < 2 && bases[b]; b++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", bases[b], image) >= sizeof path)
            return ml_error_set(err, ML_ERR_ARG, "%s:%zu: image path too long", o->pairs, line);
        if (ml_file_exists(path)) return (*out = strdup(path)) ? ML_OK : ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    }
    if (bases[1])
        return ml_error_set(err, ML_ERR_MISSING, "%s:%zu: image %s not found in %s or %s", o->pairs, line, image,
                            bases[0], bases[1]);
    return ml_error_set(err, ML_ERR_MISSING, "%s:%zu: image %s not found in %s", o->pairs, line, image, bases[0]);
}

static int pairs_load(const Opts *o, Pairs *p, MlError *err) {
    memset(p, 0, sizeof *p);
    int rc = ml_records_load(o->pairs, &p->rec, err);
    if (rc) return rc;
    char *copy = strdup(o->pairs);
    p->items = calloc(p->rec.count ? p->rec.count : 1, sizeof *p->items);
    if (!copy || !p->items) {
        free(copy);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", o->pairs);
    }
    const char *dir = dirname(copy);
    for (size_t r = 0; r < p->rec.count && (!o->limit || p->n < o->limit); r++) {
        const cJSON *j = p->rec.items[r].json;
        size_t line = p->rec.items[r].line;
        const char *image, *caption;
        if ((rc = ml_record_str(j, "image", &image, o->pairs, line, err)) ||
            (rc = ml_record_str(j, "caption", &caption, o->pairs, line, err)))
            break;
        Pair *it = &p->items[p->n];
        if ((rc = resolve_image(o, dir, image, line, &it->image, err))) break;
        it->caption = caption;
        it->line = line;
        it->same_image = p->n;
        for (int64_t i = 0; i < p->n; i++)
            if (!strcmp(p->items[i].image, it->image)) {
                it->same_image = i;
                break;
            }
        if (it->same_image != p->n && !o->all_captions) {
            free(it->image);
            it->image = NULL;
            continue;
        }
        p->n++;
    }
    free(copy);
    return rc;
}

/* ---- features and scores ---- */

/* Prefixes err with "<file>:<line>" (and ": <what>"); returns its code. */
static int line_error(MlError *err, const char *file, size_t line, const char *what) {
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s:%zu%s%s", file, line, what ? ": " : "", what ? what : "");
    return ml_error_prefix(err, prefix);
}

typedef struct Features {
    int64_t n, Dv, Dt;
    MlLayerList lv, lt;
    float *vis, *img, *cap; /* (n, lv.n, Dv), (n, lt.n, Dt), (n, lt.n, Dt) */
} Features;

static int extract_all(const Opts *o, MlLvlm *m, const Pairs *p, Features *f, MlError *err) {
    int64_t max_tokens = 1;
    for (int64_t i = 0; i < p->n; i++) {
        int64_t t;
        int rc = ml_extract_caption_tokens(m, p->items[i].caption, &t, err);
        if (rc) return line_error(err, o->pairs, p->items[i].line, "caption");
        if (t == 0) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: caption: empty", o->pairs, p->items[i].line);
        if (t + 1 > ml_lvlm_context(m))
            return ml_error_set(err, ML_ERR_RANGE, "%s:%zu: caption: %lld tokens do not fit the context of %lld",
                                o->pairs, p->items[i].line, (long long)t, (long long)ml_lvlm_context(m));
        if (t > max_tokens) max_tokens = t;
    }
    MlPromptOptions popts = {.tmpl = o->mo.tmpl};
    MlExtractor x;
    int rc = ml_extract_init(&x, m, &f->lv, &f->lt, &popts, max_tokens, err);
    if (rc) {
        ml_error_prefix(err, o->mo.model);
        return rc;
    }
    const int64_t rv = f->lv.n * f->Dv, rt = f->lt.n * f->Dt;
    float *px = malloc(sizeof(float) * (size_t)ml_lvlm_pixel_floats(m));
    f->vis = malloc(sizeof(float) * (size_t)(p->n * rv + 1));
    f->img = malloc(sizeof(float) * (size_t)(p->n * rt + 1));
    f->cap = malloc(sizeof(float) * (size_t)(p->n * rt + 1));
    if (!px || !f->vis || !f->img || !f->cap) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory for the features of %lld pairs", o->pairs,
                          (long long)p->n);
        goto done;
    }
    MlProgress bar;
    ml_progress_start(&bar, "align", p->n);
    if (o->mo.quiet) bar.is_tty = 0;
    for (int64_t i = 0; i < p->n && !rc; i++) {
        const Pair *it = &p->items[i];
        if (it->same_image != i) {
            memcpy(f->vis + i * rv, f->vis + it->same_image * rv, sizeof(float) * (size_t)rv);
            memcpy(f->img + i * rt, f->img + it->same_image * rt, sizeof(float) * (size_t)rt);
        } else if ((rc = ml_lvlm_load_image(m, it->image, o->mo.aspect, px, err)) ||
                   (rc = ml_extract_image(&x, px, f->vis + i * rv, f->img + i * rt, err))) {
            line_error(err, o->pairs, it->line, NULL);
            break;
        }
        if ((rc = ml_extract_caption(&x, it->caption, f->cap + i * rt, err))) line_error(err, o->pairs, it->line, "caption");
        ml_progress_update(&bar, i + 1);
    }
    if (!o->mo.quiet) ml_progress_finish(&bar);
done:
    free(px);
    ml_extract_free(&x);
    return rc;
}

/* Rows of one layer of a (n, layers, D) block as an (n, D) matrix, clamped as platonic-rep does. */
static void gather(float *dst, const float *src, int64_t n, int n_layers, int slot, int64_t D, double clamp) {
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + i * D, src + ((size_t)i * n_layers + slot) * D, sizeof(float) * (size_t)D);
    if (clamp < 1) ml_align_clamp_outliers(dst, n, D, clamp);
}

/* k-NN lists of every layer of a block (cosine on clamped, normalised rows): idx (layers, n, k). */
static int knn_lists(const float *src, int64_t n, int n_layers, int64_t D, const Opts *o, int *idx, MlError *err) {
    float *X = malloc(sizeof(float) * (size_t)(n * D));
    double *F = malloc(sizeof(double) * (size_t)(n * D)), *S = malloc(sizeof(double) * (size_t)(n * n));
    if (!X || !F || !S) {
        free(X), free(F), free(S);
        return ml_error_set(err, ML_ERR_NOMEM, "align: out of memory for the k-NN lists");
    }
    for (int l = 0; l < n_layers; l++) {
        gather(X, src, n, n_layers, l, D, o->clamp);
        for (int64_t i = 0; i < n * D; i++) F[i] = X[i];
        ml_align_normalize_rows(F, n, D);
        ml_align_gram_linear(F, n, D, S);
        ml_align_knn(S, n, (int)o->k, idx + (size_t)l * n * o->k);
    }
    free(X), free(F), free(S);
    return ML_OK;
}

static cJSON *number_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static const char *const METRICS[] = {"cos_matched", "cos_mismatched", "mutual_knn", "cka_linear",
                                      "cka_rbf",     "cka_unbiased",   "cknna",      "modality_gap"};
#define N_METRICS 8

static void metric_values(const MlAlignScores *s, double v[N_METRICS]) {
    double x[N_METRICS] = {s->cos_matched, s->cos_mismatched, s->mutual_knn, s->cka_linear,
                           s->cka_rbf,     s->cka_unbiased,   s->cknna,      s->modality_gap};
    memcpy(v, x, sizeof x);
}

/* One series: per layer, X = block a at that layer, Y = block b at layer slot_b (or the same layer when < 0). */
typedef struct Series {
    const char *name, *x_rep, *y_rep;
    const float *a, *b;
    const MlLayerList *la, *lb;
    int64_t Da, Db;
    int fixed_b; /* slot of lb, or -1: the same slot as a */
} Series;

static int score_series(const Series *s, int64_t n, const Opts *o, cJSON *obj, cJSON *rows, MlError *err) {
    float *X = malloc(sizeof(float) * (size_t)(n * s->Da)), *Y = malloc(sizeof(float) * (size_t)(n * s->Db));
    cJSON *layers = cJSON_AddArrayToObject(obj, "layers"), *ylayers = cJSON_AddArrayToObject(obj, "caption_layers");
    cJSON *metrics = cJSON_AddObjectToObject(obj, "metrics");
    cJSON *arrays[N_METRICS];
    for (int k = 0; k < N_METRICS; k++) arrays[k] = cJSON_AddArrayToObject(metrics, METRICS[k]);
    int rc = ML_OK;
    if (!X || !Y) rc = ml_error_set(err, ML_ERR_NOMEM, "align: out of memory");
    MlAlignOptions ao = {.k = (int)o->k, .sigma = o->sigma};
    for (int i = 0; i < s->la->n && !rc; i++) {
        int jb = s->fixed_b >= 0 ? s->fixed_b : i;
        gather(X, s->a, n, s->la->n, i, s->Da, o->clamp);
        gather(Y, s->b, n, s->lb->n, jb, s->Db, o->clamp);
        MlAlignScores sc;
        if ((rc = ml_align_scores(X, Y, n, s->Da, s->Db, &ao, &sc, err))) break;
        double v[N_METRICS];
        metric_values(&sc, v);
        cJSON_AddItemToArray(layers, cJSON_CreateNumber(s->la->layer[i]));
        cJSON_AddItemToArray(ylayers, cJSON_CreateNumber(s->lb->layer[jb]));
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "series", s->name);
        cJSON_AddStringToObject(row, "x", s->x_rep);
        cJSON_AddNumberToObject(row, "x_layer", s->la->layer[i]);
        cJSON_AddStringToObject(row, "y", s->y_rep);
        cJSON_AddNumberToObject(row, "y_layer", s->lb->layer[jb]);
        for (int k = 0; k < N_METRICS; k++) {
            cJSON_AddItemToArray(arrays[k], number_or_null(v[k]));
            cJSON_AddItemToObject(row, METRICS[k], number_or_null(v[k]));
        }
        cJSON_AddItemToArray(rows, row);
    }
    free(X), free(Y);
    return rc;
}

/* Mutual k-NN of every (row layer, caption layer) pair, and the best caption layer per row layer. */
static int grid(const char *name, const float *a, const MlLayerList *la, int64_t Da, const int *knn_cap,
                const MlLayerList *lt, int64_t n, const Opts *o, cJSON *parent, MlError *err) {
    int *knn = malloc(sizeof(int) * (size_t)(la->n * n * o->k) + 1);
    if (!knn) return ml_error_set(err, ML_ERR_NOMEM, "align: out of memory for the k-NN lists");
    int rc = knn_lists(a, n, la->n, Da, o, knn, err);
    cJSON *g = cJSON_AddObjectToObject(parent, name), *rows = cJSON_AddArrayToObject(g, "mutual_knn");
    cJSON *best = cJSON_AddArrayToObject(g, "best"), *best_layer = cJSON_AddArrayToObject(g, "best_caption_layer");
    cJSON_AddItemToObject(g, "layers", cJSON_CreateIntArray(la->layer, la->n));
    cJSON_AddItemToObject(g, "caption_layers", cJSON_CreateIntArray(lt->layer, lt->n));
    for (int i = 0; i < la->n && !rc; i++) {
        cJSON *row = cJSON_CreateArray();
        double top = -1;
        int arg = 0;
        for (int j = 0; j < lt->n; j++) {
            double v = ml_align_mutual_knn(knn + (size_t)i * n * o->k, knn_cap + (size_t)j * n * o->k, n, (int)o->k);
            cJSON_AddItemToArray(row, cJSON_CreateNumber(v));
            if (v > top) top = v, arg = j;
        }
        cJSON_AddItemToArray(rows, row);
        cJSON_AddItemToArray(best, cJSON_CreateNumber(top));
        cJSON_AddItemToArray(best_layer, cJSON_CreateNumber(lt->layer[arg]));
    }
    free(knn);
    return rc;
}

static int write_json(const char *dir, const char *name, const cJSON *j, MlError *err) {
    char path[4200];
    int rc = ml_path_join(path, sizeof path, dir, name, err);
    if (rc) return rc;
    char *text = cJSON_Print(j);
    if (!text) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* cJSON leaves room for the NUL only; write the NUL's place as the newline */
    rc = ml_file_write(path, text, len + 1, err);
    free(text);
    return rc;
}

static int write_rows(const char *dir, const cJSON *rows, MlError *err) {
    char path[4200];
    int rc = ml_path_join(path, sizeof path, dir, "align_layers.jsonl", err);
    if (rc) return rc;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int ok = f != NULL;
    for (const cJSON *r = rows->child; r && ok; r = r->next) {
        char *line = cJSON_PrintUnformatted(r);
        ok = line && fputs(line, f) >= 0 && fputc('\n', f) != EOF;
        free(line);
    }
    if (f && fclose(f)) ok = 0;
    rc = ok ? ml_file_write(path, buf, len, err) : ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    free(buf);
    return rc;
}

static int save_features(const char *dir, const Features *f, MlError *err) {
    const char *names[3] = {"features_vision.npy", "features_image.npy", "features_caption.npy"};
    const float *data[3] = {f->vis, f->img, f->cap};
    const int64_t shapes[3][3] = {{f->n, f->lv.n, f->Dv}, {f->n, f->lt.n, f->Dt}, {f->n, f->lt.n, f->Dt}};
    int rc = ML_OK;
    for (int i = 0; i < 3 && !rc; i++) {
        char path[4200];
        if (!shapes[i][1]) continue;
        if (!(rc = ml_path_join(path, sizeof path, dir, names[i], err))) rc = ml_npy_write_f32(path, data[i], shapes[i], 3, err);
    }
    return rc;
}

static cJSON *layer_list_json(const MlLayerList *l) { return cJSON_CreateIntArray(l->layer, l->n); }

/* run.json, align.json, align_layers.jsonl and summary.json. */
static int score_and_write(const Opts *o, const Pairs *p, const Features *f, const char *label, double seconds,
                           MlError *err) {
    const int64_t n = p->n;
    cJSON *all = cJSON_CreateObject(), *rows = cJSON_CreateArray(), *run = cJSON_CreateObject();
    cJSON_AddStringToObject(run, "benchmark", "align");
    cJSON_AddStringToObject(run, "model", o->mo.model);
    cJSON_AddStringToObject(run, "pairs", o->pairs);
    cJSON_AddStringToObject(run, "label", label);
    cJSON *params = cJSON_AddObjectToObject(run, "params");
    cJSON_AddNumberToObject(params, "k", (double)o->k);
    cJSON_AddNumberToObject(params, "sigma", o->sigma);
    cJSON_AddNumberToObject(params, "clamp", o->clamp);
    cJSON_AddStringToObject(params, "template", ml_template_name(o->mo.tmpl));
    cJSON_AddStringToObject(params, "image_aspect", o->mo.aspect == ML_ASPECT_PAD ? "pad" : "resize");
    cJSON_AddBoolToObject(params, "all_captions", o->all_captions);
    cJSON_AddItemToObject(params, "layers", layer_list_json(&f->lt));
    cJSON_AddItemToObject(params, "vision_layers", layer_list_json(&f->lv));
    cJSON_AddStringToObject(all, "benchmark", "align");
    cJSON_AddStringToObject(all, "label", label);
    cJSON_AddStringToObject(all, "model", o->mo.model);
    cJSON_AddStringToObject(all, "pairs", o->pairs);
    cJSON_AddNumberToObject(all, "n", (double)n);
    cJSON_AddNumberToObject(all, "seconds", seconds);
    cJSON_AddItemToObject(all, "params", cJSON_Duplicate(params, 1));
    int rc = ML_OK;
    /* decoder: image tokens (image-only prompt) against the caption, layer by layer */
    if (f->lt.n) {
        /* at the top level, where `misalign report` reads a series */
        Series s = {"lm", "image", "caption", f->img, f->cap, &f->lt, &f->lt, f->Dt, f->Dt, -1};
        rc = score_series(&s, n, o, all, rows, err);
    }
    /* ViT: mean patch representation against the caption at one decoder layer; mutual k-NN grids */
    int cap_slot = f->lt.n - 1;
    if (o->has_caption_layer) {
        cap_slot = -1;
        for (int i = 0; i < f->lt.n; i++)
            if (f->lt.layer[i] == o->caption_layer) cap_slot = i;
        if (cap_slot < 0)
            rc = rc ? rc : ml_error_set(err, ML_ERR_ARG, "--caption-layer %lld is not among --layers", o->caption_layer);
    }
    if (!rc && f->lv.n && f->lt.n) {
        Series s = {"vision", "vision", "caption", f->vis, f->cap, &f->lv, &f->lt, f->Dv, f->Dt, cap_slot};
        rc = score_series(&s, n, o, cJSON_AddObjectToObject(all, "vision"), rows, err);
    }
    if (!rc && f->lt.n) {
        int *knn_cap = malloc(sizeof(int) * (size_t)(f->lt.n * n * o->k));
        if (!knn_cap) rc = ml_error_set(err, ML_ERR_NOMEM, "align: out of memory for the k-NN lists");
        if (!rc) rc = knn_lists(f->cap, n, f->lt.n, f->Dt, o, knn_cap, err);
        cJSON *grids = cJSON_AddObjectToObject(all, "mutual_knn_grid");
        if (!rc && f->lv.n) rc = grid("vision", f->vis, &f->lv, f->Dv, knn_cap, &f->lt, n, o, grids, err);
        if (!rc) rc = grid("image", f->img, &f->lt, f->Dt, knn_cap, &f->lt, n, o, grids, err);
        free(knn_cap);
    }
    if (!rc) rc = ml_mkdirs(o->out, err);
    if (!rc) rc = write_json(o->out, "run.json", run, err);
    if (!rc) rc = write_rows(o->out, rows, err);
    if (!rc) rc = write_json(o->out, "align.json", all, err);
    if (!rc && o->save_features) rc = save_features(o->out, f, err);
    if (!rc) {
        cJSON *summary = cJSON_CreateObject();
        cJSON_AddStringToObject(summary, "benchmark", "align");
        cJSON_AddStringToObject(summary, "label", label);
        cJSON_AddNumberToObject(summary, "n", (double)n);
        cJSON *layers = cJSON_GetObjectItem(all, "layers"), *metrics = cJSON_GetObjectItem(all, "metrics");
        cJSON_AddItemToObject(summary, "layers", layers ? cJSON_Duplicate(layers, 1) : cJSON_CreateArray());
        cJSON_AddItemToObject(summary, "metrics", metrics ? cJSON_Duplicate(metrics, 1) : cJSON_CreateObject());
        rc = write_json(o->out, "summary.json", summary, err);
        cJSON_Delete(summary);
    }
    cJSON_Delete(all);
    cJSON_Delete(rows);
    cJSON_Delete(run);
    return rc;
}

int cmd_align(int argc, char **argv) {
    Opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    MlError err = {0};
    Pairs p;
    MlLvlm *m = NULL;
    Features f = {0};
    char *label_copy = NULL;
    double t0 = ml_time_now();
    if ((rc = pairs_load(&o, &p, &err))) goto fail;
    if (p.n < 4 || o.k > p.n - 1) {
        ml_error_set(&err, ML_ERR_ARG, "%s: %lld pairs are too few for --k %lld (need at least 4 and k + 1)", o.pairs,
                     (long long)p.n, o.k);
        goto fail;
    }
    if ((rc = ml_cli_model_open(&o.mo, &m, &err))) goto fail;
    if ((rc = ml_layers_parse(o.layers, -1, ml_lvlm_layers(m) - 1, &f.lt, &err))) {
        ml_error_prefix(&err, "--layers");
        goto fail;
    }
    if ((rc = ml_layers_parse(o.vision_layers, -1, ml_extract_vision_layers(m) - 1, &f.lv, &err))) {
        ml_error_prefix(&err, "--vision-layers");
        goto fail;
    }
    if (!f.lt.n) {
        ml_error_set(&err, ML_ERR_ARG, "--layers none: captions live in the decoder, so some decoder layer is needed");
        goto fail;
    }
    f.n = p.n;
    f.Dv = ml_lvlm_vision_hidden(m);
    f.Dt = ml_lvlm_hidden(m);
    if ((uint64_t)p.n * (uint64_t)(f.lv.n * f.Dv + 2 * f.lt.n * f.Dt) > ((uint64_t)1 << 36)) {
        ml_error_set(&err, ML_ERR_RANGE, "%s: %lld pairs x %d layers need more than 256 GiB of features; use --limit or --layers",
                     o.pairs, (long long)p.n, f.lt.n + f.lv.n);
        goto fail;
    }
    if ((rc = extract_all(&o, m, &p, &f, &err))) goto fail;
    const char *label = o.label;
    if (!label) {
        label_copy = strdup(o.mo.model);
        size_t l = label_copy ? strlen(label_copy) : 0;
        while (l > 1 && label_copy[l - 1] == '/') label_copy[--l] = 0;
        label = label_copy ? basename(label_copy) : o.mo.model;
    }
    double seconds = ml_time_now() - t0;
    if ((rc = score_and_write(&o, &p, &f, label, seconds, &err))) goto fail;
    printf("{\"out\": \"%s\", \"pairs\": %lld, \"decoder_layers\": %d, \"vision_layers\": %d, \"seconds\": %.3f, "
           "\"pairs_per_second\": %.2f}\n",
           o.out, (long long)p.n, f.lt.n, f.lv.n, ml_time_now() - t0, seconds > 0 ? p.n / seconds : 0.0);
    rc = 0;
    goto out;
fail:
    rc = ml_cli_fail(&err);
out:
    pairs_free(&p);
    ml_lvlm_close(m);
    free(f.vis), free(f.img), free(f.cap);
    free(label_copy);
    return rc;
}
