/* train_tokenizer.c: `misalign train-tokenizer`, a small LLaMA-style BPE vocabulary learned from a corpus. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/progress.h"
#include "train/bpe.h"
#include "train/slots.h"

#define CMD "train-tokenizer"
#define MAX_KEYS 64

static void usage(void) {
    MlBpeOptions d = ml_bpe_defaults();
    printf("usage: misalign " CMD " --corpus FILE... --vocab-size N --out tokenizer.json [options]\n\n"
           "Learns a BPE vocabulary as SentencePiece-BPE learned LLaMA's (\"\xe2\x96\x81\" word prefix, byte\n"
           "fallback, merges by pair frequency with ties broken by the pieces' bytes) and writes a\n"
           "tokenizer.json of the same kind as llava-1.5's, with <image> and <pad> after the vocab\n"
           "(then, with --position-words, the organism's patch position words).\n"
           "Corpus files ending in .jsonl or starting with '{' are JSON Lines (every string value\n"
           "is a sentence); other files are plain text, one sentence per line.  See docs/training.md.\n\n"
           "  --corpus FILE...          corpus files (one or more, up to the next option)  [required]\n"
           "  --vocab-size N            model vocab: 259 fixed pieces + alphabet + merges  [required]\n"
           "  --out FILE                the tokenizer.json to write  [required]\n"
           "  --min-frequency K         stop when the best pair occurs fewer than K times  [%lld]\n"
           "  --character-coverage F    share of character occurrences the alphabet covers;\n"
           "                            the rarest characters are left to byte pieces  [%g]\n"
           "  --max-piece-length N      longest piece in characters  [%d]\n"
           "  --keys K1,K2,...          JSONL: only the string values under these top-level keys  [all]\n"
           "  --position-words G        add the special tokens <x0>..<x{G-1}> and <y0>..<y{G-1}>, the\n"
           "                            position words of a G x G patch grid that training's text\n"
           "                            scenes use (train/slots.h); 0 = none  [0]\n"
           "  --quiet                   no progress bar\n",
           (long long)d.min_frequency, d.character_coverage, d.max_piece_chars);
}

typedef struct Options {
    const char **corpus;
    int n_corpus;
    const char *out;
    char *keys_buf;
    const char *keys[MAX_KEYS];
    int n_keys;
    MlBpeOptions bpe;
    int have_vocab;
    int grid; /* --position-words */
} Options;

/* Splits "a,b,c" in place into o->keys. */
static int parse_keys(Options *o, const char *v) {
    free(o->keys_buf);
    if (!(o->keys_buf = strdup(v))) return ml_cli_usage_error(CMD, "out of memory");
    o->n_keys = 0;
    for (char *save = NULL, *k = strtok_r(o->keys_buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        if (o->n_keys == MAX_KEYS) return ml_cli_usage_error(CMD, "--keys: more than %d keys", MAX_KEYS);
        o->keys[o->n_keys++] = k;
    }
    if (o->n_keys == 0) return ml_cli_usage_error(CMD, "--keys: no key given");
    return 0;
}

static int parse_args(int argc, char **argv, Options *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long n;
        double f;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return -1;
        } else if (!strcmp(a, "--corpus")) {
            o->corpus = (const char **)argv + i + 1;
            o->n_corpus = 0;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) i++, o->n_corpus++;
            if (o->n_corpus == 0) return ml_cli_usage_error(CMD, "--corpus needs at least one file");
        } else if (!strcmp(a, "--out")) {
            if (!(o->out = ml_cli_value(CMD, argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--vocab-size")) {
            if (!(v = ml_cli_value(CMD, argc, argv, &i)) ||
                ml_cli_int(CMD, a, v, ML_BPE_FIXED_PIECES + 1, ML_BPE_MAX_VOCAB, &n))
                return 2;
            o->bpe.vocab_size = (int)n;
            o->have_vocab = 1;
        } else if (!strcmp(a, "--min-frequency")) {
            if (!(v = ml_cli_value(CMD, argc, argv, &i)) || ml_cli_int(CMD, a, v, 1, INT64_MAX, &n)) return 2;
            o->bpe.min_frequency = n;
        } else if (!strcmp(a, "--character-coverage")) {
            if (!(v = ml_cli_value(CMD, argc, argv, &i)) || ml_cli_float(CMD, a, v, 1e-9, 1, &f)) return 2;
            o->bpe.character_coverage = f;
        } else if (!strcmp(a, "--max-piece-length")) {
            if (!(v = ml_cli_value(CMD, argc, argv, &i)) || ml_cli_int(CMD, a, v, 1, 1024, &n)) return 2;
            o->bpe.max_piece_chars = (int)n;
        } else if (!strcmp(a, "--keys")) {
            int rc;
            if (!(v = ml_cli_value(CMD, argc, argv, &i))) return 2;
            if ((rc = parse_keys(o, v))) return rc;
        } else if (!strcmp(a, "--position-words")) {
            if (!(v = ml_cli_value(CMD, argc, argv, &i)) || ml_cli_int(CMD, a, v, 0, ML_SLOT_MAX_GRID, &n)) return 2;
            o->grid = (int)n;
        } else if (!strcmp(a, "--quiet")) {
            o->bpe.progress = 0;
        } else {
            return ml_cli_usage_error(CMD, "unknown option '%s'", a);
        }
    }
    if (!o->n_corpus) return ml_cli_usage_error(CMD, "--corpus FILE... is required");
    if (!o->have_vocab) return ml_cli_usage_error(CMD, "--vocab-size N is required");
    if (!o->out) return ml_cli_usage_error(CMD, "--out FILE is required");
    return 0;
}

static void print_summary(const Options *o, const MlBpeWords *w, const MlBpeVocab *v, int n_added, double seconds) {
    char out[4200];
    if (ml_json_escape(out, sizeof out, o->out) >= sizeof out) snprintf(out, sizeof out, "\"(long path)\"");
    printf("{\"out\": %s, \"vocab_size\": %d, \"ids\": %d, \"merges\": %d, \"characters\": %d, "
           "\"characters_to_bytes\": %d, \"character_coverage\": %.6f, \"sentences\": %lld, \"distinct_words\": %lld, "
           "\"seconds\": %.3f}\n",
           out, v->n_pieces, v->n_pieces + 2 + n_added, v->n_merges, v->n_chars, v->n_chars_dropped, v->coverage,
           (long long)ml_bpe_words_sentences(w), (long long)ml_bpe_words_distinct(w), seconds);
}

int cmd_train_tokenizer(int argc, char **argv) {
    Options o = {.bpe = ml_bpe_defaults()};
    o.bpe.progress = 1;
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        free(o.keys_buf);
        return rc < 0 ? 0 : rc;
    }
    double t0 = ml_time_now();
    MlError err = {0};
    MlBpeWords *w = NULL;
    MlBpeVocab v = {0};
    rc = ml_bpe_words_new(&w, &err);
    for (int i = 0; i < o.n_corpus && !rc; i++) rc = ml_bpe_words_add_file(w, o.corpus[i], o.keys, o.n_keys, &err);
    if (!rc) rc = ml_bpe_train(w, &o.bpe, &v, &err);
    char names[2 * ML_SLOT_MAX_GRID][16];
    const char *added[2 * ML_SLOT_MAX_GRID];
    const int n_added = o.grid ? ml_train_position_words(o.grid, names, added) : 0;
    if (!rc) rc = ml_bpe_vocab_write(&v, added, n_added, o.out, &err);
    if (!rc) print_summary(&o, w, &v, n_added, ml_time_now() - t0);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
    free(o.keys_buf);
    return rc ? ml_cli_fail(&err) : 0;
}
