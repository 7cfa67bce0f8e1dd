/*
** corpus.h: writes one split of the scene world to a folder.
**
**   DIR/manifest.json          counts per family, seed, split, vocabulary, thresholds
**   DIR/world.json             the resolved world (every key), loadable again
**   DIR/images/<id>.png        one image per scene, <id> = <split>_<index, 6 digits>
**   DIR/scenes.jsonl           one scene graph per line, in index order
**   test and conflict splits:
**   DIR/probes/pope_random.jsonl, pope_popular.jsonl, pope_adversarial.jsonl
**   DIR/probes/attribute.jsonl, count.jsonl, relation.jsonl, describe.jsonl
**   train split:
**   DIR/captions.jsonl, DIR/qa.jsonl
** docs/scenes.md describes every record.  Scenes are generated in parallel
** (OpenMP) but each from its own random streams, and text is written in
** index order, so the folder is byte-identical for any thread count.
**
**     MlCorpusOptions o = {.out_dir = "data/test", .n = 10000, .seed = 1, .split = ML_SPLIT_TEST};
**     MlCorpusSummary sum;
**     if (ml_corpus_generate(&world, &o, &sum, &err)) { ...err.msg... }
*/
#ifndef ML_SCENE_CORPUS_H
#define ML_SCENE_CORPUS_H

#include <stdint.h>

#include "core/error.h"
#include "scene/probe.h"
#include "scene/scene.h"

#define ML_CORPUS_MAX_SCENES 1000000

/* The probe files of the test and conflict splits, in this order. */
enum {
    ML_PROBE_FILE_POPE_RANDOM = 0,
    ML_PROBE_FILE_POPE_POPULAR,
    ML_PROBE_FILE_POPE_ADVERSARIAL,
    ML_PROBE_FILE_ATTRIBUTE,
    ML_PROBE_FILE_COUNT,
    ML_PROBE_FILE_RELATION,
    ML_N_PROBE_FILES
};
const char *ml_probe_file_name(int file); /* "pope_random", ... (without .jsonl) */

typedef struct MlProbeTally {
    int64_t total, yes;
    int64_t by_subtype[3];
    int64_t by_kind[ML_N_NEG_KINDS];
    int64_t by_severity[3];
} MlProbeTally;

typedef struct MlCorpusOptions {
    const char *out_dir;
    int64_t n;                /* scenes, 1..ML_CORPUS_MAX_SCENES */
    uint64_t seed;
    MlSplit split;
    int threads;              /* 0: OpenMP's default */
    const char *world_source; /* recorded in the manifest; NULL for the built-in default */
    int progress;             /* draw core/progress.h bars on stderr */
} MlCorpusOptions;

typedef struct MlCorpusSummary {
    int64_t scenes, pope_eligible, describe, captions, qa, qa_yesno, qa_yes;
    MlProbeTally file[ML_N_PROBE_FILES];
    double seconds_images, seconds_text; /* wall time of the two phases */
} MlCorpusSummary;

int ml_corpus_generate(const MlWorld *w, const MlCorpusOptions *opt, MlCorpusSummary *sum, MlError *err);

#endif
