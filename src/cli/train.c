/* train.c: `misalign train`, one stage or a whole recipe (docs/training.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "kernels/threads.h"
#include "train/data.h"
#include "train/loop.h"
#include "train/recipe.h"

#define CMD "train"

static void usage(void) {
    MlStageOptions d = ml_stage_defaults(0);
    printf("usage: misalign " CMD " --recipe FILE [--out DIR] [--work DIR] [options]\n"
           "       misalign " CMD " --stage 0|1|2|3 --model DIR --data DIR --out DIR [options]\n\n"
           "Trains the LLaVA-architecture organism on a scene-world training split with the engine's own\n"
           "forward and the kernels' backwards.  Stages: 0 language model on the corpus text, 1 CLIP InfoNCE\n"
           "of the ViT, 2 projector only on captioning, 3 end to end on QA and captions.  The output is a\n"
           "llava-hf folder that `misalign generate` and `misalign eval` run unchanged.\n\n"
           "  --recipe FILE        run a whole recipe (recipes/*.json): split, tokenizer, init, stages\n"
           "  --work DIR           recipe: scratch folder  [the recipe's \"work\"]\n"
           "  --stage K            one stage: 0, 1, 2 or 3\n"
           "  --model DIR          one stage: the llava-hf folder to start from  [required]\n"
           "  --data DIR           one stage: a `misalign scenes --split train` folder  [required]\n"
           "  --out DIR            the folder to write  [required for a stage; recipe: its \"out\"]\n"
           "  --steps N            optimizer steps  [%lld]\n"
           "  --batch N            images per step  [%lld]\n"
           "  --lr X               peak learning rate  [%g; stage 3: 5e-4]\n"
           "  --warmup N           warm-up steps  [%lld]\n"
           "  --qa-turns N         QA turns per image  [%d]\n"
           "  --caption-prob P     chance of a caption turn  [%g]\n"
           "  --max-images N       use only the first N images of the split, 0 = all  [0]\n"
           "  --seed S             seed of the batches  [%llu]\n"
           "  --state FILE         train state to save every --save-every steps and resume from  [none]\n"
           "  --save-every N       steps between saved states  [100]\n"
           "  --log FILE           append the loss every --log-every steps as JSON lines  [none]\n"
           "  --log-every N        steps per logged loss  [%d]\n"
           "  --threads N          worker threads (one example each), 0 = all cores  [0]\n"
           "  --quiet              no progress line\n",
           (long long)d.steps, (long long)d.batch, d.lr, (long long)d.warmup, d.qa_turns, d.caption_prob,
           (unsigned long long)d.seed, d.log_every);
}

int cmd_train(int argc, char **argv) {
    const char *recipe = NULL, *model = NULL, *data = NULL, *out = NULL, *work = NULL, *state = NULL, *log = NULL;
    long long stage = -1, steps = -1, batch = -1, warmup = -1, turns = -1, max_images = 0, seed = 1, threads = 0,
              save_every = 100, log_every = -1;
    double lr = -1, cap_prob = -1;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
#define VAL() \
    if (!(v = ml_cli_value(CMD, argc, argv, &i))) return 2
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--recipe")) {
            VAL();
            recipe = v;
        } else if (!strcmp(a, "--model")) {
            VAL();
            model = v;
        } else if (!strcmp(a, "--data")) {
            VAL();
            data = v;
        } else if (!strcmp(a, "--out")) {
            VAL();
            out = v;
        } else if (!strcmp(a, "--work")) {
            VAL();
            work = v;
        } else if (!strcmp(a, "--state")) {
            VAL();
            state = v;
        } else if (!strcmp(a, "--log")) {
            VAL();
            log = v;
        } else if (!strcmp(a, "--stage")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 0, 3, &stage)) return 2;
        } else if (!strcmp(a, "--steps")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 1, 10000000, &steps)) return 2;
        } else if (!strcmp(a, "--batch")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 1, 4096, &batch)) return 2;
        } else if (!strcmp(a, "--warmup")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 0, 10000000, &warmup)) return 2;
        } else if (!strcmp(a, "--qa-turns")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 0, 60, &turns)) return 2;
        } else if (!strcmp(a, "--max-images")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 0, 100000000, &max_images)) return 2;
        } else if (!strcmp(a, "--seed")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 0, (1LL << 62), &seed)) return 2;
        } else if (!strcmp(a, "--threads")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 0, 1024, &threads)) return 2;
        } else if (!strcmp(a, "--save-every")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 0, 10000000, &save_every)) return 2;
        } else if (!strcmp(a, "--log-every")) {
            VAL();
            if (ml_cli_int(CMD, a, v, 1, 10000000, &log_every)) return 2;
        } else if (!strcmp(a, "--lr")) {
            VAL();
            if (ml_cli_float(CMD, a, v, 0, 1, &lr)) return 2;
        } else if (!strcmp(a, "--caption-prob")) {
            VAL();
            if (ml_cli_float(CMD, a, v, 0, 1, &cap_prob)) return 2;
        } else {
            return ml_cli_usage_error(CMD, "unknown option '%s' (see --help)", a);
        }
#undef VAL
    }
    ml_threads_set((int)threads);
    MlError err = {0};
    if (recipe) {
        MlRecipeOverrides ov = {.out = out, .work = work, .threads = (int)threads, .progress = !quiet};
        if (ml_train_recipe(recipe, &ov, &err)) return ml_cli_fail(&err);
        return 0;
    }
    if (stage < 0) return ml_cli_usage_error(CMD, "give --recipe FILE or --stage K (see --help)");
    if (!model || !data || !out) return ml_cli_usage_error(CMD, "--stage needs --model, --data and --out");
    MlStageOptions o = ml_stage_defaults((int)stage);
    if (steps > 0) o.steps = steps;
    if (batch > 0) o.batch = batch;
    if (warmup >= 0) o.warmup = warmup;
    if (turns >= 0) o.qa_turns = (int)turns;
    if (lr >= 0) o.lr = lr;
    if (cap_prob >= 0) o.caption_prob = cap_prob;
    if (log_every > 0) o.log_every = (int)log_every;
    o.save_every = (int)save_every;
    o.seed = (uint64_t)seed;
    o.threads = (int)threads;
    o.in_dir = model;
    o.out_dir = out;
    o.state_path = state;
    o.log_path = log;
    o.progress = !quiet;
    MlTrainData d;
    if (ml_train_data_load(&d, data, max_images, &err)) return ml_cli_fail(&err);
    o.data = &d;
    MlStageResult r;
    int rc = ml_train_stage(&o, &r, &err);
    ml_train_data_free(&d);
    if (rc) return ml_cli_fail(&err);
    printf("{\"stage\":%d,\"steps\":%lld,\"first_loss\":%.5f,\"last_loss\":%.5f,\"answer_token_accuracy\":%.4f,"
           "\"tokens\":%lld,\"tokens_per_s\":%.0f,\"seconds\":%.2f}\n",
           o.stage, (long long)o.steps, r.first_loss, r.last_loss, r.last_accuracy, (long long)r.tokens,
           r.tokens_per_s, r.seconds);
    return 0;
}
