/* train.c: `misalign train`, one stage or a whole recipe (docs/training.md). */
#include <stdio.h>
#include <stdlib.h>

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

typedef struct Opts {
    const char *recipe, *model, *data, *out, *work, *state, *log;
    long long stage, steps, batch, warmup, turns, max_images, seed, threads, save_every, log_every;
    double lr, cap_prob;
    int quiet;
} Opts;

static const MlCliOption options[] = {
    ML_CLI_B("--quiet", quiet, 1), ML_CLI_S("--recipe", recipe), ML_CLI_S("--model", model),
    ML_CLI_S("--data", data), ML_CLI_S("--out", out), ML_CLI_S("--work", work), ML_CLI_S("--state", state),
    ML_CLI_S("--log", log), ML_CLI_I("--stage", stage, 0, 3), ML_CLI_I("--steps", steps, 1, 10000000),
    ML_CLI_I("--batch", batch, 1, 4096), ML_CLI_I("--warmup", warmup, 0, 10000000),
    ML_CLI_I("--qa-turns", turns, 0, 60), ML_CLI_I("--max-images", max_images, 0, 100000000),
    ML_CLI_I("--seed", seed, 0, (double)(1LL << 62)), ML_CLI_I("--threads", threads, 0, 1024),
    ML_CLI_I("--save-every", save_every, 0, 10000000), ML_CLI_I("--log-every", log_every, 1, 10000000),
    ML_CLI_F("--lr", lr, 0, 1), ML_CLI_F("--caption-prob", cap_prob, 0, 1),
};

static int unknown(const char *cmd, int argc, char **argv, int *i, void *opts) {
    (void)argc, (void)opts;
    return ml_cli_usage_error(cmd, "unknown option '%s' (see --help)", argv[*i]);
}

int cmd_train(int argc, char **argv) {
    static const MlCliCommand command = {CMD, options, ML_CLI_COUNT(options), 0, usage, unknown};
    Opts a = {.stage = -1, .steps = -1, .batch = -1, .warmup = -1, .turns = -1, .seed = 1, .save_every = 100,
              .log_every = -1, .lr = -1, .cap_prob = -1};
    int rc = ml_cli_parse(&command, argc, argv, 1, &a, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    ml_threads_set((int)a.threads);
    MlError err = {0};
    if (a.recipe) {
        MlRecipeOverrides ov = {.out = a.out, .work = a.work, .threads = (int)a.threads, .progress = !a.quiet};
        if (ml_train_recipe(a.recipe, &ov, &err)) return ml_cli_fail(&err);
        return 0;
    }
    if (a.stage < 0) return ml_cli_usage_error(CMD, "give --recipe FILE or --stage K (see --help)");
    if (!a.model || !a.data || !a.out) return ml_cli_usage_error(CMD, "--stage needs --model, --data and --out");
    MlStageOptions o = ml_stage_defaults((int)a.stage);
    if (a.steps > 0) o.steps = a.steps;
    if (a.batch > 0) o.batch = a.batch;
    if (a.warmup >= 0) o.warmup = a.warmup;
    if (a.turns >= 0) o.qa_turns = (int)a.turns;
    if (a.lr >= 0) o.lr = a.lr;
    if (a.cap_prob >= 0) o.caption_prob = a.cap_prob;
    if (a.log_every > 0) o.log_every = (int)a.log_every;
    o.save_every = (int)a.save_every;
    o.seed = (uint64_t)a.seed;
    o.threads = (int)a.threads;
    o.in_dir = a.model;
    o.out_dir = a.out;
    o.state_path = a.state;
    o.log_path = a.log;
    o.progress = !a.quiet;
    MlTrainData d;
    if (ml_train_data_load(&d, a.data, a.max_images, &err)) return ml_cli_fail(&err);
    o.data = &d;
    MlStageResult r;
    rc = ml_train_stage(&o, &r, &err);
    ml_train_data_free(&d);
    if (rc) return ml_cli_fail(&err);
    printf("{\"stage\":%d,\"steps\":%lld,\"first_loss\":%.5f,\"last_loss\":%.5f,\"answer_token_accuracy\":%.4f,"
           "\"tokens\":%lld,\"tokens_per_s\":%.0f,\"seconds\":%.2f}\n",
           o.stage, (long long)o.steps, r.first_loss, r.last_loss, r.last_accuracy, (long long)r.tokens,
           r.tokens_per_s, r.seconds);
    return 0;
}
