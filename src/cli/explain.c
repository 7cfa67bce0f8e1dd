/* explain.c: `misalign explain`, attention to the image, logit lens and image-vs-prior contribution
   of one answer (or of every question in a file); definitions in docs/alignment.md. */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align/explain.h"
#include "cli/cli.h"
#include "core/file.h"
#include "core/json.h"
#include "core/progress.h"
#include "eval/records.h"
#include "model/lvlm.h"

static void help(void) {
    printf("usage: misalign explain --model DIR --image F --prompt TEXT [options]\n"
           "       misalign explain --model DIR --questions F --out F.jsonl [options]\n\n"
           "Explains the model's greedy answer at the last prompt position: per decoder layer the attention mass\n"
           "on image tokens, BOS and text (head mean and per head), the logit lens (top tokens, and the answer's\n"
           "first token's rank and probability), and log p(answer) with the image, without it, with a mean-colour\n"
           "image and with a noise image (image minus no_image = the visual contribution).  Definitions:\n"
           "docs/alignment.md.\n\n"
           "  --model DIR           Hugging Face LLaVA folder  [required]\n"
           "  --image FILE          PNG or JPEG  [required without --questions]\n"
           "  --prompt TEXT         the user's text  [required without --questions]\n"
           "  --json                print one JSON object instead of tables  [off]\n"
           "  --questions F         batch: JSONL (or JSON array) of {\"question_id\", \"image\", \"text\"} (POPE and\n"
           "                        scene probe files; \"question\" is read when \"text\" is absent)  [none]\n"
           "  --out F.jsonl         batch: one JSON object per question, as --json prints  [required with --questions]\n"
           "  --images DIR          batch: folder of relative image paths  [the questions file's folder, then\n"
           "                        ../images from it (scene probes)]\n"
           "  --limit N             batch: the first N questions, 0 = all  [0]\n"
           "  --max-tokens N        greedy answer length  [16]\n"
           "  --top-k K             logit-lens tokens per layer  [5]\n"
           "  --no-lens-norm        logit lens without the final RMSNorm (lm_head(h), as DoLa's copies)  [norm on]\n"
           "  --seed S              seed of the noise image  [0]\n"
           "  --template NAME       hf, llava-v1 or raw  [hf]\n"
           "  --system TEXT         system text placed before the user turn  [none]\n"
           "  --image-aspect MODE   resize or pad  [resize]\n"
           "  --threads N           worker threads, 0 = all cores  [0]\n"
           "  --quiet               batch: no progress bar\n");
}

typedef struct Opts {
    MlCliModelOpts mo;
    const char *image, *prompt, *questions, *out, *images;
    long long max_tokens, top_k, limit;
    int json, lens_norm;
} Opts;

static const MlCliOption options[] = {
    ML_CLI_S("--image", image), ML_CLI_S("--prompt", prompt), ML_CLI_S("--questions", questions),
    ML_CLI_S("--out", out), ML_CLI_S("--images", images), ML_CLI_I("--max-tokens", max_tokens, 1, 1 << 20),
    ML_CLI_I("--top-k", top_k, 1, 1000), ML_CLI_I("--limit", limit, 0, 1LL << 40), ML_CLI_B("--json", json, 1),
    ML_CLI_B("--no-lens-norm", lens_norm, 0),
};

static int parse(int argc, char **argv, Opts *o) {
    static const MlCliCommand command = {"explain", options, ML_CLI_COUNT(options),
                                         ML_CLI_SEED | ML_CLI_SYSTEM | ML_CLI_QUIET, help, NULL};
    const char *cmd = command.name;
    *o = (Opts){.max_tokens = 16, .top_k = 5, .lens_norm = 1};
    int rc = ml_cli_parse(&command, argc, argv, 1, o, &o->mo);
    if (rc) return rc;
    if (o->questions) {
        if (!o->out) return ml_cli_usage_error(cmd, "--questions needs --out F.jsonl");
        if (o->image || o->prompt) return ml_cli_usage_error(cmd, "--questions reads images and prompts from the file; drop --image/--prompt");
    } else {
        if (!o->image) return ml_cli_usage_error(cmd, "--image FILE is required (or --questions F)");
        if (!o->prompt) return ml_cli_usage_error(cmd, "--prompt TEXT is required (or --questions F)");
        if (o->out) return ml_cli_usage_error(cmd, "--out is for --questions; one explanation goes to stdout");
    }
    return 0;
}

/* ---- JSON of one explanation ---- */

static cJSON *token_json(const MlLvlm *m, int32_t id, double p) {
    cJSON *t = cJSON_CreateObject();
    const char *piece = ml_tokenizer_piece(ml_lvlm_tokenizer(m), id);
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddStringToObject(t, "piece", piece ? piece : "");
    if (p >= 0) cJSON_AddNumberToObject(t, "p", p);
    return t;
}

static cJSON *doubles(const double *v, int64_t n) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; i < n; i++) cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
    return a;
}

static char *answer_text(const MlLvlm *m, const MlExplanation *e) {
    size_t need = ml_tokenizer_decode(ml_lvlm_tokenizer(m), e->answer, (size_t)e->n_answer, 1, NULL, 0);
    char *s = malloc(need + 1);
    if (s) ml_tokenizer_decode(ml_lvlm_tokenizer(m), e->answer, (size_t)e->n_answer, 1, s, need + 1);
    return s;
}

/* Adds the explanation's members to j. */
static void explanation_json(const MlLvlm *m, const MlExplanation *e, cJSON *j) {
    cJSON_AddNumberToObject(j, "prompt_tokens", (double)e->n_prompt);
    cJSON *pos = cJSON_AddArrayToObject(j, "image_positions");
    cJSON_AddItemToArray(pos, cJSON_CreateNumber((double)e->image_lo));
    cJSON_AddItemToArray(pos, cJSON_CreateNumber((double)e->image_hi));
    char *text = answer_text(m, e);
    cJSON *ans = cJSON_AddObjectToObject(j, "answer");
    cJSON_AddStringToObject(ans, "text", text ? text : "");
    free(text);
    cJSON *toks = cJSON_AddArrayToObject(ans, "tokens");
    for (int64_t t = 0; t < e->n_answer; t++) cJSON_AddItemToArray(toks, token_json(m, e->answer[t], -1));
    /* contribution: log p per token and summed, per condition; image minus each other condition */
    cJSON *lp = cJSON_AddObjectToObject(j, "logp"), *sums = cJSON_AddObjectToObject(j, "logp_sum");
    cJSON *vc = cJSON_AddObjectToObject(j, "visual_contribution");
    const double with = ml_explain_logp_sum(e, ML_EXPLAIN_IMAGE);
    for (int c = 0; c < ML_EXPLAIN_N_CONDITIONS; c++) {
        const char *name = ml_explain_condition_name(c);
        cJSON_AddItemToObject(lp, name, doubles(e->logp[c], e->n_answer));
        cJSON_AddNumberToObject(sums, name, ml_explain_logp_sum(e, c));
        if (c == ML_EXPLAIN_IMAGE) continue;
        char key[64];
        snprintf(key, sizeof key, "vs_%s", name);
        cJSON *v = cJSON_AddObjectToObject(vc, key);
        cJSON_AddNumberToObject(v, "sum", with - ml_explain_logp_sum(e, c));
        cJSON_AddNumberToObject(v, "first_token", e->logp[ML_EXPLAIN_IMAGE][0] - e->logp[c][0]);
        double *per = malloc(sizeof(double) * (size_t)e->n_answer);
        for (int64_t t = 0; per && t < e->n_answer; t++) per[t] = e->logp[ML_EXPLAIN_IMAGE][t] - e->logp[c][t];
        if (per) cJSON_AddItemToObject(v, "per_token", doubles(per, e->n_answer));
        free(per);
    }
    /* attention of the last prompt position */
    const int64_t n_img = e->image_hi - e->image_lo, n_text = e->n_prompt - n_img - (e->has_bos ? 1 : 0);
    cJSON *att = cJSON_AddArrayToObject(j, "attention");
    for (int l = 0; l < e->n_layers; l++) {
        cJSON *row = cJSON_CreateObject();
        const size_t at = (size_t)l * e->n_heads;
        double img = ml_explain_head_mean(e, e->attn_image, l), txt = ml_explain_head_mean(e, e->attn_text, l);
        cJSON_AddNumberToObject(row, "layer", l);
        cJSON_AddNumberToObject(row, "image", img);
        cJSON_AddNumberToObject(row, "bos", ml_explain_head_mean(e, e->attn_bos, l));
        cJSON_AddNumberToObject(row, "text", txt);
        /* FastV's per-token efficiency: mass per image token against mass per text token */
        cJSON_AddNumberToObject(row, "image_per_token", n_img ? img / (double)n_img : 0);
        cJSON_AddNumberToObject(row, "text_per_token", n_text ? txt / (double)n_text : 0);
        cJSON_AddItemToObject(row, "image_per_head", doubles(e->attn_image + at, e->n_heads));
        cJSON_AddItemToObject(row, "bos_per_head", doubles(e->attn_bos + at, e->n_heads));
        cJSON_AddItemToObject(row, "text_per_head", doubles(e->attn_text + at, e->n_heads));
        cJSON_AddItemToArray(att, row);
    }
    cJSON *lens = cJSON_AddObjectToObject(j, "logit_lens");
    cJSON_AddBoolToObject(lens, "final_norm", e->lens_norm);
    cJSON *layers = cJSON_AddArrayToObject(lens, "layers");
    for (int l = 0; l <= e->n_layers; l++) {
        cJSON *row = cJSON_CreateObject(), *top = cJSON_CreateArray();
        cJSON_AddNumberToObject(row, "layer", l - 1);
        for (int i = 0; i < e->top_k; i++)
            cJSON_AddItemToArray(top, token_json(m, e->lens_top[(size_t)l * e->top_k + i],
                                                 e->lens_prob[(size_t)l * e->top_k + i]));
        cJSON_AddItemToObject(row, "top", top);
        cJSON_AddNumberToObject(row, "answer_rank", (double)e->answer_rank[l]);
        cJSON_AddNumberToObject(row, "answer_prob", e->answer_prob[l]);
        cJSON_AddItemToArray(layers, row);
    }
}

/* ---- tables for people ---- */

/* Prints s in a column `width` characters wide (UTF-8 aware, cut when longer). */
static void print_padded(const char *s, int width) {
    int chars = 0;
    const char *p = s;
    for (; *p; p++) {
        if (((unsigned char)*p & 0xC0) == 0x80) continue; /* continuation byte */
        if (chars == width) break;
        chars++;
    }
    fwrite(s, 1, (size_t)(p - s), stdout);
    printf("%*s", width - chars, "");
}

static void print_tables(const MlLvlm *m, const MlExplanation *e) {
    char *text = answer_text(m, e);
    printf("answer: \"%s\" (%lld tokens; prompt %lld tokens, image at %lld..%lld)\n\n", text ? text : "",
           (long long)e->n_answer, (long long)e->n_prompt, (long long)e->image_lo, (long long)e->image_hi - 1);
    free(text);
    printf("log p(answer)      ");
    for (int c = 0; c < ML_EXPLAIN_N_CONDITIONS; c++) printf(" %12s", ml_explain_condition_name(c));
    printf("\n  whole answer     ");
    for (int c = 0; c < ML_EXPLAIN_N_CONDITIONS; c++) printf(" %12.4f", ml_explain_logp_sum(e, c));
    printf("\n  first token      ");
    for (int c = 0; c < ML_EXPLAIN_N_CONDITIONS; c++) printf(" %12.4f", e->logp[c][0]);
    printf("\nvisual contribution (image minus each): ");
    for (int c = 1; c < ML_EXPLAIN_N_CONDITIONS; c++)
        printf("%s%s %.4f", c > 1 ? ", " : "", ml_explain_condition_name(c),
               ml_explain_logp_sum(e, ML_EXPLAIN_IMAGE) - ml_explain_logp_sum(e, c));
    printf("\n\nlast prompt position, per decoder layer (attention: head means; logit lens %s the final norm)\n",
           e->lens_norm ? "with" : "without");
    printf("%6s %8s %8s %8s   %-24s %8s %12s %10s\n", "layer", "image", "bos", "text", "lens top-1", "p",
           "answer rank", "p(answer)");
    for (int l = 0; l <= e->n_layers; l++) {
        if (l == 0) printf("%6d %8s %8s %8s", -1, "-", "-", "-");
        else
            printf("%6d %8.4f %8.4f %8.4f", l - 1, ml_explain_head_mean(e, e->attn_image, l - 1),
                   ml_explain_head_mean(e, e->attn_bos, l - 1), ml_explain_head_mean(e, e->attn_text, l - 1));
        const char *piece = ml_tokenizer_piece(ml_lvlm_tokenizer(m), e->lens_top[(size_t)l * e->top_k]);
        printf("   ");
        print_padded(piece ? piece : "?", 24);
        printf(" %8.4f %12lld %10.4g\n", e->lens_prob[(size_t)l * e->top_k], (long long)e->answer_rank[l],
               e->answer_prob[l]);
    }
}

/* ---- one image, one prompt ---- */

static MlExplainOptions explain_options(const Opts *o) {
    MlExplainOptions x = ML_EXPLAIN_DEFAULTS;
    x.prompt = ml_cli_prompt_options(&o->mo);
    x.top_k = (int)o->top_k;
    x.max_tokens = o->max_tokens;
    x.lens_norm = o->lens_norm;
    x.seed = (uint64_t)o->mo.seed;
    return x;
}

static int explain_one(const Opts *o, MlLvlm *m, float *px, MlError *err) {
    int rc = ml_lvlm_load_image(m, o->image, o->mo.aspect, px, err);
    MlExplainOptions xo = explain_options(o);
    MlExplanation e;
    if (rc || (rc = ml_explain(m, px, o->prompt, &xo, &e, err))) return rc;
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        explanation_json(m, &e, j);
        char *s = cJSON_PrintUnformatted(j);
        if (s) puts(s);
        else rc = ml_error_set(err, ML_ERR_NOMEM, "explain: out of memory");
        free(s);
        cJSON_Delete(j);
    } else {
        print_tables(m, &e);
    }
    ml_explanation_free(&e);
    return rc;
}

/* ---- a questions file ---- */

static int resolve_image(const Opts *o, const char *qdir, const char *image, size_t line, char *path, size_t cap,
                         MlError *err) {
    if (image[0] == '/' || o->images) {
        snprintf(path, cap, "%s%s%s", image[0] == '/' ? "" : o->images, image[0] == '/' ? "" : "/", image);
        if (ml_file_exists(path)) return ML_OK;
        return ml_error_set(err, ML_ERR_MISSING, "%s:%zu: image %s not found", o->questions, line, path);
    }
    const char *subs[3] = {"", "/images", "/../images"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, cap, "%s%s/%s", qdir, subs[i], image);
        if (ml_file_exists(path)) return ML_OK;
    }
    return ml_error_set(err, ML_ERR_MISSING, "%s:%zu: image %s not found in %s, %s/images or %s/../images",
                        o->questions, line, image, qdir, qdir, qdir);
}

static int explain_batch(const Opts *o, MlLvlm *m, float *px, MlError *err) {
    MlRecords rec;
    int rc = ml_records_load(o->questions, &rec, err);
    if (rc) return rc;
    char *copy = strdup(o->questions);
    FILE *out = NULL;
    if (!copy) {
        ml_records_free(&rec);
        return ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    }
    const char *qdir = dirname(copy);
    size_t n = rec.count;
    if (o->limit && (size_t)o->limit < n) n = (size_t)o->limit;
    /* read every question first, so a bad line fails before any model time is spent */
    for (size_t i = 0; i < n && !rc; i++) {
        const cJSON *j = rec.items[i].json;
        const char *s;
        char path[4200];
        if ((rc = ml_record_str(j, "image", &s, o->questions, rec.items[i].line, err))) break;
        if ((rc = resolve_image(o, qdir, s, rec.items[i].line, path, sizeof path, err))) break;
        if (!cJSON_GetObjectItemCaseSensitive(j, "text") && cJSON_GetObjectItemCaseSensitive(j, "question"))
            rc = ml_record_str(j, "question", &s, o->questions, rec.items[i].line, err);
        else rc = ml_record_str(j, "text", &s, o->questions, rec.items[i].line, err);
    }
    if (!rc && !(out = fopen(o->out, "w"))) rc = ml_error_set(err, ML_ERR_IO, "%s: cannot create", o->out);
    MlExplainOptions xo = explain_options(o);
    double *att = calloc((size_t)ml_lvlm_layers(m), sizeof(double)), vc_sum = 0, vc_first = 0;
    if (!rc && !att) rc = ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    MlProgress bar;
    ml_progress_start(&bar, "explain", (int64_t)n);
    if (o->mo.quiet) bar.is_tty = 0;
    double t0 = ml_time_now();
    for (size_t i = 0; i < n && !rc; i++) {
        const cJSON *j = rec.items[i].json;
        const size_t line = rec.items[i].line;
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
        const char *prompt = cJSON_IsString(text) ? text->valuestring
                                                  : cJSON_GetObjectItemCaseSensitive(j, "question")->valuestring;
        const char *image = cJSON_GetObjectItemCaseSensitive(j, "image")->valuestring;
        char path[4200], prefix[4300];
        MlExplanation e;
        snprintf(prefix, sizeof prefix, "%s:%zu", o->questions, line);
        if ((rc = resolve_image(o, qdir, image, line, path, sizeof path, err))) break;
        if ((rc = ml_lvlm_load_image(m, path, o->mo.aspect, px, err)) || (rc = ml_explain(m, px, prompt, &xo, &e, err))) {
            ml_error_prefix(err, prefix);
            break;
        }
        cJSON *head = cJSON_CreateObject(), *id = cJSON_GetObjectItemCaseSensitive(j, "question_id");
        if (id) cJSON_AddItemToObject(head, "question_id", cJSON_Duplicate(id, 1));
        cJSON_AddStringToObject(head, "image", image);
        cJSON_AddStringToObject(head, "prompt", prompt);
        explanation_json(m, &e, head);
        char *s = cJSON_PrintUnformatted(head);
        if (!s || fprintf(out, "%s\n", s) < 0 || fflush(out))
            rc = ml_error_set(err, ML_ERR_IO, "%s: cannot write", o->out);
        free(s);
        cJSON_Delete(head);
        for (int l = 0; l < e.n_layers; l++) att[l] += ml_explain_head_mean(&e, e.attn_image, l) / (double)n;
        vc_sum += (ml_explain_logp_sum(&e, ML_EXPLAIN_IMAGE) - ml_explain_logp_sum(&e, ML_EXPLAIN_NO_IMAGE)) / (double)n;
        vc_first += (e.logp[ML_EXPLAIN_IMAGE][0] - e.logp[ML_EXPLAIN_NO_IMAGE][0]) / (double)n;
        ml_explanation_free(&e);
        ml_progress_update(&bar, (int64_t)i + 1);
    }
    if (!o->mo.quiet && !rc) ml_progress_finish(&bar);
    if (out && fclose(out) && !rc) rc = ml_error_set(err, ML_ERR_IO, "%s: cannot write", o->out);
    if (!rc) {
        printf("{\"out\": \"%s\", \"questions\": %zu, \"seconds\": %.3f, \"mean_visual_contribution\": %.6f, "
               "\"mean_visual_contribution_first_token\": %.6f, \"mean_attention_image_by_layer\": [",
               o->out, n, ml_time_now() - t0, vc_sum, vc_first);
        for (int l = 0; l < ml_lvlm_layers(m); l++) printf(l ? ", %.6f" : "%.6f", att[l]);
        printf("]}\n");
    }
    free(att);
    free(copy);
    ml_records_free(&rec);
    return rc;
}

int cmd_explain(int argc, char **argv) {
    Opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    MlError err = {0};
    MlLvlm *m = NULL;
    float *px = NULL;
    if ((rc = ml_cli_model_open(&o.mo, &m, &err))) goto done;
    if (!(px = malloc(sizeof(float) * (size_t)ml_lvlm_pixel_floats(m)))) {
        rc = ml_error_set(&err, ML_ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = o.questions ? explain_batch(&o, m, px, &err) : explain_one(&o, m, px, &err);
done:
    free(px);
    ml_lvlm_close(m);
    return rc ? ml_cli_fail(&err) : 0;
}
