/* fuzz_answers.c: the question / answer / caption / response parsers of src/eval.
   The first byte picks a target; for two-part targets a NUL byte separates the parts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/chair.h"
#include "eval/pope.h"
#include "eval/records.h"
#include "eval/runlog.h"
#include "eval/scenes.h"
#include "eval/words.h"

static const char questions[] = "{\"question_id\": 1, \"text\": \"Is there a cat?\", \"label\": \"yes\"}\n"
                                "{\"question_id\": 2, \"text\": \"Is there a dog?\", \"label\": \"no\"}\n";
static const char synonyms[] = "person, girl, boy, man\nchair, seat, stool\ntoilet, urinal\ndining table, table\n"
                               "tie, bow, bow tie\nwine glass\n";
static const char truth_json[] = "{\"1\": [\"person\", \"chair\"], \"2\": []}";
static const char scene_truth[] =
    "{\"objects\":[{\"category\":\"star\",\"color\":\"red\",\"size\":\"small\",\"texture\":\"solid\"},"
    "{\"category\":\"circle\",\"color\":\"blue\",\"size\":\"large\",\"texture\":\"striped\"}],"
    "\"relations\":[[0,\"left of\",1],[1,\"right of\",0],[7,\"above\",0],[0,\"nope\",1]]}";

/* Splits at the first NUL: a = before, b = after (b may be empty). */
static void split(const char *s, size_t n, size_t *na, const char **b, size_t *nb) {
    const char *z = memchr(s, 0, n);
    *na = z ? (size_t)(z - s) : n;
    *b = z ? z + 1 : s + n;
    *nb = z ? n - *na - 1 : 0;
}

static void fuzz_records(const char *s, size_t n) {
    MlRecords r;
    MlError err = {0};
    if (ml_records_parse(s, n, "fuzz", &r, &err)) return;
    for (size_t i = 0; i < r.count; i++) {
        char id[ML_RECORD_ID_MAX + 1];
        const char *str;
        ml_record_id(r.items[i].json, "question_id", id, "fuzz", r.items[i].line, &err);
        ml_record_str(r.items[i].json, "text", &str, "fuzz", r.items[i].line, &err);
    }
    ml_records_free(&r);
}

static void fuzz_pope(const char *s, size_t n) {
    size_t na, nb;
    const char *b;
    split(s, n, &na, &b, &nb);
    MlError err = {0};
    MlPopeSet qs;
    int own = nb > 0;
    if (ml_pope_questions_parse(own ? s : questions, own ? na : sizeof questions - 1, "q", &qs, &err)) return;
    char **ans;
    if (!ml_pope_answers_parse(&qs, own ? b : s, own ? nb : n, "a", &ans, &err)) {
        for (int p = 0; p < 3; p++) {
            MlBinaryScore sc;
            ml_pope_score(&qs, ans, (MlYesNoParser)p, &sc, NULL);
        }
        ml_pope_answers_free(&qs, ans);
    }
    ml_pope_questions_free(&qs);
}

static void fuzz_yesno(const char *s, size_t n) {
    char *t = strndup(s, n);
    if (!t) return;
    for (int p = 0; p < 3; p++) ml_yesno_parse((MlYesNoParser)p, t, 1), ml_yesno_parse((MlYesNoParser)p, t, 0);
    free(t);
}

static void fuzz_chair(const char *s, size_t n) {
    MlError err = {0};
    MlChairVocab v;
    MlChairTruth gt;
    size_t na, nb;
    const char *b;
    split(s, n, &na, &b, &nb);
    /* part a: a synonym list (or the built-in one), part b: captions */
    int own = nb > 0;
    if (ml_chair_vocab_parse(own ? s : synonyms, own ? na : sizeof synonyms - 1, "syn", &v, &err)) return;
    if (!ml_chair_truth_parse(truth_json, sizeof truth_json - 1, "gt", &gt, &err)) {
        MlChairScore sc;
        ml_chair_score_text(&v, &gt, own ? b : s, own ? nb : n, "caps", "image_id", "caption", &sc, &err);
        char *t = strndup(own ? b : s, own ? nb : n);
        MlChairMentions m;
        if (t && !ml_chair_mentions(&v, t, &m, &err)) {
            ml_chair_add(&sc, &m, gt.objects[0]);
            ml_chair_mentions_free(&m);
        }
        free(t);
        ml_chair_truth_free(&gt);
    }
    ml_chair_vocab_free(&v);
    if (!ml_chair_truth_parse(s, n, "gt", &gt, &err)) ml_chair_truth_free(&gt);
}

static void fuzz_words(const char *s, size_t n) {
    char *t = strndup(s, n);
    MlWords w = {0};
    if (t && !ml_words_tokenize(t, n & 1, &w))
        for (size_t i = 0; i < w.count; i++) {
            char out[64];
            ml_words_singular(w.word[i], out, sizeof out);
        }
    ml_words_free(&w);
    free(t);
}

static void fuzz_describe(const char *s, size_t n) {
    size_t na, nb;
    const char *b;
    split(s, n, &na, &b, &nb);
    cJSON *truth = nb ? cJSON_ParseWithLength(s, na) : cJSON_Parse(scene_truth);
    char *t = strndup(nb ? b : s, nb ? nb : n);
    MlClaimTally c[ML_N_CLAIMS];
    memset(c, 0, sizeof c);
    if (t && truth) ml_scenes_describe(t, truth, n % 3 ? 9.6 : 0, c);
    free(t);
    cJSON_Delete(truth);
}

static char runlog_dir[64];

static void remove_runlog_dir(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/items.jsonl", runlog_dir);
    remove(path);
    snprintf(path, sizeof path, "%s/run.json", runlog_dir);
    remove(path);
    snprintf(path, sizeof path, "%s/writers.lock", runlog_dir);
    remove(path);
    rmdir(runlog_dir);
}

/* A run log's items.jsonl as written by a crashed run (or twice over, for a repair);
   the input's head as a segment file name. */
static void fuzz_runlog(const char *s, size_t n) {
    const char *dir = runlog_dir;
    if (!runlog_dir[0]) {
        snprintf(runlog_dir, sizeof runlog_dir, "/tmp/fuzz_answers_%d", (int)getpid());
        atexit(remove_runlog_dir);
    }
    char path[128];
    snprintf(path, sizeof path, "%s/items.jsonl", dir);
    cJSON *run = cJSON_Parse("{\"method\": \"vcd\", \"params\": {\"alpha\": 1}}");
    MlError err = {0};
    MlRunlog *log = NULL;
    if (run && !ml_runlog_open(&log, dir, run, &err)) {
        ml_runlog_close(log);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(s, 1, n, f);
            fclose(f);
        }
        if (!ml_runlog_open(&log, dir, run, &err)) {
            MlRunItem it = {.id = "7", .id_is_number = 1, .answer = "Yes", .parsed = "yes", .label = "no"};
            ml_runlog_append(log, &it, &err);
            MlBinaryScore sc;
            ml_runlog_binary(log, &sc, NULL);
            ml_runlog_close(log);
        }
        if (!ml_runlog_open_merge(&log, dir, 1, &err)) ml_runlog_close(log);
        remove(path);
    }
    cJSON_Delete(run);
    char name[64];
    size_t k = n < sizeof name - 1 ? n : sizeof name - 1;
    memcpy(name, s, k);
    name[k] = 0;
    int shard, shards;
    if (!ml_runlog_segment_parse(name, &shard, &shards) && (shard < 0 || shard >= shards)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 7) {
    case 0: fuzz_records(s, n); break;
    case 1: fuzz_pope(s, n); break;
    case 2: fuzz_yesno(s, n); break;
    case 3: fuzz_chair(s, n); break;
    case 4: fuzz_words(s, n); break;
    case 5: fuzz_describe(s, n); break;
    default: fuzz_runlog(s, n); break;
    }
    return 0;
}
