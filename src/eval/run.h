/*
** run.h: running a model over a benchmark, the loop behind `misalign eval`.
**
** A benchmark file becomes an MlEvalSet (one item per question: id, image,
** text, label), and ml_eval_run answers every item a run log
** (eval/runlog.h) does not hold yet, appending one line per answer:
**
**     MlEvalSet set; MlError err = {0};
**     ml_eval_load_pope(&set, "coco_pope_random.json", 0, &err);
**     ml_eval_check_images(&set, "val2014", &err);              // before any work
**     MlMethodConfig mc; ml_method_defaults(&mc, ml_method_find("vcd"));
**     MlEvalOptions o = ml_eval_defaults();  o.images = "val2014"; o.method = &mc; ...
**     ml_runlog_open(&log, "runs/x", run_json, &err);
**     ml_eval_run(model, &set, &o, log, &err);
**     cJSON *summary; ml_eval_summary(&set, log, run_json, &scoring, &summary, &err);
**     ml_runlog_finish(log, summary, &err);
**     ml_eval_set_free(&set);
**
** Order and prefix sharing: items are grouped by image (groups in order of
** first appearance, items in file order inside a group) and answered in that
** order; a finished run's items.jsonl is rewritten in question order
** (ml_runlog_join), however it was split or resumed.  The method runs through
** mitigate/runner.h.  With prefix_cache, each image is encoded once and each
** distinct prompt prefix (BOS ... image tokens) of the method's passes is
** prefilled once; every question forks those sessions.  Without it, each
** question loads and encodes the image and prefills fresh sessions with the
** same two calls (prefix, then question), so the answers are bit-identical
** either way and only the cost differs.
**
** Determinism: sampling draws from a seed mixed from the run seed and the
** item id, and a contrast pass's pixels (VCD's noise) from the run seed and
** the image name, so a resumed, reordered or uncached run gives the same
** answers.  An item's "seconds" is its own time plus an equal share of its
** image's shared work (load, encode, prefix prefill), so the items' seconds
** add up to the run's time.
**
** Item lines (docs/evaluation.md): question_id, prompt (the question as asked,
** suffix included), text (the answer, decoded without special tokens,
** stripped of surrounding white space as LLaVA does), parsed, label, seconds,
** method, params, plus image, tokens (answer length) and forwards (decoder
** calls: one per pass for its prompt, however the prefill is split, then
** every call of the generation, the method's own loop included); AMBER items add id
** and response, so the log is also an AMBER response file.
*/
#ifndef ML_EVAL_RUN_H
#define ML_EVAL_RUN_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "eval/amber.h"
#include "eval/chair.h"
#include "eval/runlog.h"
#include "eval/scenes.h"
#include "eval/yesno.h"
#include "mitigate/method.h"
#include "model/lvlm.h"
#include "model/prompt.h"

typedef enum MlEvalBenchmark { ML_EVAL_POPE = 0, ML_EVAL_SCENES, ML_EVAL_AMBER, ML_EVAL_CHAIR } MlEvalBenchmark;

/* "pope" | "scenes" | "amber" | "chair"; -1 for anything else. */
int ml_eval_benchmark_parse(const char *name, MlEvalBenchmark *out);
const char *ml_eval_benchmark_name(MlEvalBenchmark b);

typedef enum MlEvalKind {
    ML_ITEM_YESNO = 0,   /* yes/no question: short answer, prompt suffix, POPE parser */
    ML_ITEM_YESNO_EXACT, /* AMBER discriminative: parsed only when exactly "Yes" / "No" */
    ML_ITEM_OPEN,        /* open answer (description, caption): long answer, no suffix */
} MlEvalKind;

typedef struct MlEvalItem {
    char *id;         /* question id as the log writes it ("17", "relation/17") */
    int id_is_number; /* written as a JSON number */
    char *image;      /* file name under the images folder */
    char *text;       /* the question as in the file */
    int label;        /* 1 yes, 0 no, -1 none */
    MlEvalKind kind;
    int64_t amber_id; /* AMBER query id (0 otherwise) */
    const char *where; /* question file, for messages (points into the set) */
    size_t line;
} MlEvalItem;

typedef struct MlEvalSet {
    MlEvalBenchmark bench;
    MlEvalItem *items;
    size_t count;
    char *where;           /* the question file or folder */
    MlSceneProbes *probes; /* scenes: the probes, trimmed to the items (owned) */
} MlEvalSet;

/* POPE-format yes/no questions {question_id, image, text, label}; limit 0 = all,
   else the first `limit` questions. */
int ml_eval_load_pope(MlEvalSet *s, const char *path, size_t limit, MlError *err);

/* The probe files of a folder written by `misalign scenes` (DIR/probes/); ids
   become "<file>/<id>".  files: bit f set = ml_scenes_file_name(f) wanted
   (0 = every file present); limit applies per file. */
int ml_eval_load_scenes(MlEvalSet *s, const char *dir, unsigned files, size_t limit, MlError *err);

/* An AMBER query file [{id, image, query}]; labels and kinds from the
   annotations in `amber`. */
int ml_eval_load_amber(MlEvalSet *s, const char *queries, const MlAmber *amber, size_t limit, MlError *err);

/* CHAIR images: records with image_id (and optionally image; else
   COCO_val2014_<12-digit id>.jpg); every item asks `prompt`. */
int ml_eval_load_chair(MlEvalSet *s, const char *path, const char *prompt, size_t limit, MlError *err);

void ml_eval_set_free(MlEvalSet *s);

/* Fails naming the first image that is not a readable file under `images`,
   and the question that needs it. */
int ml_eval_check_images(const MlEvalSet *s, const char *images, MlError *err);

typedef void (*MlEvalProgressFn)(void *user, size_t done, size_t total);

typedef struct MlEvalOptions {
    const char *images;           /* folder holding the items' images */
    const MlMethodConfig *method; /* method and parameters */
    const char *prompt_suffix;    /* appended to yes/no questions ("" = none) */
    MlPromptOptions prompt;       /* chat template */
    MlAspect aspect;              /* image preprocessing */
    int64_t max_tokens;           /* yes/no answers */
    int64_t max_tokens_open;      /* open answers */
    uint64_t seed;
    int prefix_cache;
    MlYesNoParser parser;
    int shard, shards;         /* answer only shard `shard` (0-based) of `shards` (ml_eval_shards); 0 or 1 = all */
    MlEvalProgressFn progress; /* called after each answer (and once at the start); may be NULL */
    void *progress_user;
} MlEvalOptions;

/* HF template, resize, 8 / 512 tokens, seed 0, prefix cache on, official parser. */
MlEvalOptions ml_eval_defaults(void);

/* Splits s into shards by image (an image's questions stay together, so its
   prefix is shared), balanced by question count: images with more questions
   first, each to the shard with the fewest questions so far (ties: the lower
   shard).  shard_of[i]: item i's shard.  Depends only on s and shards. */
int ml_eval_shards(const MlEvalSet *s, int shards, int *shard_of, MlError *err);

/* Answers every item of s (of its shard, when o->shards > 1) the log does not hold yet. */
int ml_eval_run(MlLvlm *m, const MlEvalSet *s, const MlEvalOptions *o, MlRunlog *log, MlError *err);

/* What scoring needs beyond the log: AMBER's annotations, CHAIR's vocabulary and ground truth. */
typedef struct MlEvalScoring {
    const MlAmber *amber;
    const MlChairVocab *chair_vocab;
    const MlChairTruth *chair_truth;
    MlYesNoParser parser;
} MlEvalScoring;

/* The summary of a finished run: the scorer's figures (as `misalign score
   <benchmark> --json` prints them) plus benchmark, split, model, method,
   params (copied from run), n and seconds_per_item.  Fails when an item of
   s has no answer in the log. */
int ml_eval_summary(const MlEvalSet *s, MlRunlog *log, const char *items_path, const cJSON *run,
                    const MlEvalScoring *sc, cJSON **out, MlError *err);

#endif
