/* init_model.c: `misalign init-model`, a random checkpoint in the llava-hf layout. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "model/init.h"

static void help(void) {
    printf("usage: misalign init-model --out DIR --preset tiny|small [options]\n\n"
           "Writes a random LLaVA checkpoint folder in the exact llava-hf layout (config.json,\n"
           "model.safetensors, preprocessor_config.json, generation_config.json, tokenizer files).\n\n"
           "  --out DIR          folder to write (created; existing files are replaced)  [required]\n"
           "  --preset NAME      tiny (tests), small (benchmarks) or llava7b-2l (LLaVA-1.5-7B's shapes, 2 decoder\n"
           "                     layers: per-layer costs, docs/scaling.md)  [required]\n"
           "  --dtype T          f32, f16 or bf16 weights  [f32]\n"
           "  --seed S           random seed; the same seed gives byte-identical files  [0]\n"
           "  --tokenizer FILE   copy this tokenizer.json instead of the built-in small one  [built-in]\n");
}

int cmd_init_model(int argc, char **argv) {
    const char *cmd = "init-model", *out = NULL;
    MlInitOptions opt = {.preset = NULL, .dtype = ML_F32, .seed = 0, .tokenizer = NULL, .progress = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        } else if (!strcmp(a, "--out")) {
            if (!(out = ml_cli_value(cmd, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--preset")) {
            if (!(v = ml_cli_value(cmd, argc, argv, &i))) return 2;
            if (strcmp(v, "tiny") && strcmp(v, "small") && strcmp(v, "llava7b-2l"))
                return ml_cli_usage_error(cmd, "--preset: '%s' is not tiny, small or llava7b-2l", v);
            opt.preset = v;
        } else if (!strcmp(a, "--dtype")) {
            if (!(v = ml_cli_value(cmd, argc, argv, &i))) return 2;
            if (!strcmp(v, "f32")) opt.dtype = ML_F32;
            else if (!strcmp(v, "f16")) opt.dtype = ML_F16;
            else if (!strcmp(v, "bf16")) opt.dtype = ML_BF16;
            else return ml_cli_usage_error(cmd, "--dtype: '%s' is not f32, f16 or bf16", v);
        } else if (!strcmp(a, "--seed")) {
            long long s;
            if (!(v = ml_cli_value(cmd, argc, argv, &i)) || ml_cli_int(cmd, "--seed", v, 0, 9223372036854775807LL, &s))
                return 2;
            opt.seed = (uint64_t)s;
        } else if (!strcmp(a, "--tokenizer")) {
            if (!(opt.tokenizer = ml_cli_value(cmd, argc, argv, &i))) return 2;
        } else {
            return ml_cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!out) return ml_cli_usage_error(cmd, "--out DIR is required");
    if (!opt.preset) return ml_cli_usage_error(cmd, "--preset tiny|small is required");
    opt.progress = !strcmp(opt.preset, "small"); /* tiny takes milliseconds */
    MlError err = {0};
    if (ml_init_model(out, &opt, &err)) return ml_cli_fail(&err);
    return 0;
}
