/* steer.c: `misalign steer fit`, steering directions from a model and a
   scene set, written for `--method vti --steer FILE` (mitigate/vti.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/file.h"
#include "core/json.h"
#include "io/tokenizer.h"
#include "mitigate/vti.h"
#include "scene/caption.h"
#include "scene/scene.h"
#include "scene/world.h"

#define VTI_QUESTION "Describe this image in detail."
#define CAPTION_CAP 1536

static void help(void) {
    printf("usage: misalign steer fit --method vti --model DIR --data SCENES --out FILE [options]\n\n"
           "Computes VTI's steering directions (shengliu66/VTI) from a model and a scene set written by\n"
           "`misalign scenes --split train --out SCENES`: per scene, the question below answered with a\n"
           "truthful caption and with the same caption with one object made wrong (text direction), and\n"
           "the image with most patches masked (vision direction).  Writes FILE for --steer.\n\n"
           "  --method NAME      vti  [required]\n"
           "  --model DIR        the model the directions are for  [required]\n"
           "  --data DIR         scene set: manifest.json, world.json, images/  [required]\n"
           "  --out FILE         directions file to write  [required]\n"
           "  --n N              demos: the first N scenes  [70]\n"
           "  --trials N         masked images per demo  [50]\n"
           "  --mask-ratio R     share of patches masked, 0..1  [0.99]\n"
           "  --question TEXT    what the captions answer  [\"" VTI_QUESTION "\"]\n"
           "  --seed S           which patches are masked  [0]\n"
           "  --template NAME    hf, llava-v1 or raw  [hf]\n"
           "  --image-aspect M   resize or pad  [resize]\n"
           "  --threads N        worker threads, 0 = all cores  [0]\n");
}

typedef struct Opts {
    MlCliModelOpts mo;
    const char *method, *data, *out, *question;
    long long n, trials;
    double mask_ratio;
} Opts;

static const MlCliOption options[] = {
    ML_CLI_S("--method", method), ML_CLI_S("--data", data), ML_CLI_S("--out", out), ML_CLI_S("--question", question),
    ML_CLI_I("--n", n, 2, 1 << 20), ML_CLI_I("--trials", trials, 1, 1 << 20), ML_CLI_F("--mask-ratio", mask_ratio, 0, 1),
};
static const MlCliCommand command = {"steer fit", options, ML_CLI_COUNT(options), ML_CLI_SEED, help, NULL};

/* The scene set's seed, split and size from its manifest.json. */
static int read_manifest(const char *dir, uint64_t *seed, MlSplit *split, int64_t *n, MlError *err) {
    char path[4096];
    cJSON *j;
    int rc = ml_path_join(path, sizeof path, dir, "manifest.json", err);
    if (rc || (rc = ml_json_load(path, &j, err))) return rc;
    long long s = 0, count = 0;
    const char *name = NULL;
    if (!(rc = ml_json_int(j, "seed", 0, 0, (long long)(~0ULL >> 1), &s, path, err)) &&
        !(rc = ml_json_int(j, "n_scenes", 0, 0, 1LL << 40, &count, path, err)) &&
        !(rc = ml_json_str(j, "split", "test", &name, path, err))) {
        const int sp = ml_split_find(name);
        if (sp < 0) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: split '%s' is not train, test or conflict", path, name);
        *split = (MlSplit)sp;
    }
    cJSON_Delete(j);
    *seed = (uint64_t)s;
    *n = count;
    return rc;
}

/* prompt ids + the caption's ids as the answer. */
static int with_caption(const MlLvlm *m, const int32_t *prompt, size_t n_prompt, const char *caption, int32_t **out,
                        size_t *n, MlError *err) {
    size_t need = 0;
    int rc = ml_tokenizer_encode(ml_lvlm_tokenizer(m), caption, strlen(caption), NULL, 0, &need, err);
    if (rc && rc != ML_ERR_RANGE) return rc;
    *out = malloc(sizeof(int32_t) * (n_prompt + need));
    if (!*out) return ml_error_set(err, ML_ERR_NOMEM, "steer: out of memory");
    memcpy(*out, prompt, sizeof(int32_t) * n_prompt);
    *n = n_prompt + need;
    return ml_tokenizer_encode(ml_lvlm_tokenizer(m), caption, strlen(caption), *out + n_prompt, need, &need, err);
}

static int fit(const Opts *o, MlLvlm *m, MlSteer *s, MlError *err) {
    uint64_t seed;
    MlSplit split;
    int64_t n_scenes;
    MlWorld world;
    char path[4096];
    int rc = read_manifest(o->data, &seed, &split, &n_scenes, err);
    if (!rc) rc = ml_path_join(path, sizeof path, o->data, "world.json", err);
    if (!rc) rc = ml_world_load(path, &world, err);
    if (rc) return rc;
    const int64_t n = o->n < n_scenes ? o->n : n_scenes;
    if (n < 2) return ml_error_set(err, ML_ERR_ARG, "%s: %lld scenes; VTI needs at least 2", o->data, (long long)n_scenes);
    const int64_t np = ml_lvlm_pixel_floats(m);
    MlVtiDemo *demos = calloc((size_t)n, sizeof *demos);
    float *pixels = malloc(sizeof(float) * (size_t)(n * np));
    int32_t *prompt = NULL;
    size_t n_prompt = 0, end;
    if (!demos || !pixels) rc = ml_error_set(err, ML_ERR_NOMEM, "steer: out of memory");
    MlPromptOptions po = ml_cli_prompt_options(&o->mo);
    char truthful[CAPTION_CAP], hallucinated[CAPTION_CAP], image[64];
    for (int64_t i = 0; i < n && !rc; i++) {
        MlScene sc;
        if ((rc = ml_scene_sample(&world, seed, split, i, &sc, err))) break;
        ml_scene_image_name(&sc, image, sizeof image);
        char rel[128];
        snprintf(rel, sizeof rel, "images/%s", image);
        if ((rc = ml_path_join(path, sizeof path, o->data, rel, err)) ||
            (rc = ml_lvlm_load_image(m, path, o->mo.aspect, pixels + i * np, err)))
            break;
        if (!prompt && (rc = ml_lvlm_prompt(m, &po, o->question, ml_lvlm_max_image_tokens(m), &prompt, &n_prompt, &end,
                                            err)))
            break;
        ml_caption_pair(&world, &sc, truthful, hallucinated, sizeof truthful);
        demos[i].pixels = pixels + i * np;
        int32_t *pos = NULL, *neg = NULL;
        rc = with_caption(m, prompt, n_prompt, truthful, &pos, &demos[i].n_truthful, err);
        if (!rc) rc = with_caption(m, prompt, n_prompt, hallucinated, &neg, &demos[i].n_hallucinated, err);
        demos[i].truthful = pos;
        demos[i].hallucinated = neg;
    }
    const MlVtiFitOptions fo = {.trials = (int)o->trials, .mask_ratio = o->mask_ratio, .seed = (uint64_t)o->mo.seed};
    if (!rc) rc = ml_vti_fit(m, demos, n, &fo, s, err);
    for (int64_t i = 0; demos && i < n; i++) free((void *)demos[i].truthful), free((void *)demos[i].hallucinated);
    free(demos), free(pixels), free(prompt);
    return rc;
}

int cmd_steer(int argc, char **argv) {
    const char *cmd = "steer";
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        help();
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "fit")) return ml_cli_usage_error(cmd, "the one subcommand is fit");
    Opts o = {.n = 70, .trials = 50, .mask_ratio = 0.99, .question = VTI_QUESTION};
    int rc = ml_cli_parse(&command, argc, argv, 2, &o, &o.mo);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.method) return ml_cli_usage_error(cmd, "--method vti is required");
    if (strcmp(o.method, "vti")) return ml_cli_usage_error(cmd, "--method: '%s' has no fit step (vti)", o.method);
    if (!o.data) return ml_cli_usage_error(cmd, "--data DIR is required");
    if (!o.out) return ml_cli_usage_error(cmd, "--out FILE is required");
    MlError err = {0};
    MlLvlm *m = NULL;
    MlSteer s = {0};
    if (ml_cli_model_open(&o.mo, &m, &err) || fit(&o, m, &s, &err) || ml_steer_write(o.out, &s, &err)) {
        ml_steer_free(&s);
        ml_lvlm_close(m);
        return ml_cli_fail(&err);
    }
    printf("{\"out\": \"%s\", \"method\": \"vti\", \"demos\": %lld, \"layers\": %d, \"vision_layers\": %d}\n", o.out,
           (long long)s.demos, s.shape.layers, s.shape.vision_layers);
    ml_steer_free(&s);
    ml_lvlm_close(m);
    return 0;
}
