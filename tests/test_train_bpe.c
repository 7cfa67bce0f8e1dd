/* test_train_bpe.c: BPE tokenizer training (train/bpe.h) checked by hand-worked
   corpora, an independent naive replay of every merge on real text, the
   engine's own tokenizer loading and round-tripping the result, and the
   official llava-1.5 tokenizer.json as the model of the file's shape. */
#include <stdint.h>

#include "core/file.h"
#include "core/json.h"
#include "io/tokenizer.h"
#include "io/tokenizer_json.h"
#include "test.h"
#include "train/bpe.h"

#define MARK "\xe2\x96\x81" /* ▁ */

static const char *SYNONYMS = "data/chair/synonyms.txt";
static const char *POPE = "tests/data/cd_rethink/data/coco/coco_pope_random.json";
static const char *LLAVA_TOK = "data/llava-1.5-7b-hf/tokenizer.json";

/* ---- helpers ---- */

static MlBpeWords *words_from(const char *const *lines, int n) {
    MlBpeWords *w;
    MlError err = {0};
    if (ml_bpe_words_new(&w, &err)) return NULL;
    for (int i = 0; i < n; i++) CHECK_OK(ml_bpe_words_add_text(w, lines[i], strlen(lines[i]), &err), &err);
    return w;
}

static MlBpeOptions opts(int vocab, int64_t min_freq) {
    MlBpeOptions o = ml_bpe_defaults();
    o.vocab_size = vocab;
    o.min_frequency = min_freq;
    o.character_coverage = 1.0;
    return o;
}

/* Trains, writes JSON and loads it with the engine; returns the tokenizer (NULL on failure). */
static MlTokenizer *train_and_load(const MlBpeWords *w, const MlBpeOptions *o, MlBpeVocab *v, char **json) {
    MlError err = {0};
    size_t len;
    MlTokenizer *tok = NULL;
    *json = NULL;
    CHECK_OK(ml_bpe_train(w, o, v, &err), &err);
    if (err.code) return NULL;
    CHECK_OK(ml_bpe_vocab_json(v, NULL, 0, json, &len, &err), &err);
    if (!*json) return NULL;
    CHECK_OK(ml_tokenizer_load_mem(&tok, *json, len, "learned tokenizer.json", &err), &err);
    return tok;
}

static int id_of(const MlBpeVocab *v, const char *piece) {
    for (int i = 0; i < v->n_pieces; i++)
        if (!strcmp(v->pieces[i], piece)) return i;
    return -1;
}

static size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

static int count_chars(const char *s) {
    int n = 0;
    for (; *s; s += utf8_len((unsigned char)*s)) n++;
    return n;
}

/* decode(encode(text)) == text through the engine. */
static int round_trips(const MlTokenizer *tok, const char *text, size_t len) {
    MlError err = {0};
    size_t n = 0, cap = len + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    char *back = malloc(4 * len + 16);
    int ok = ids && back && ml_tokenizer_encode(tok, text, len, ids, cap, &n, &err) == ML_OK;
    if (ok) {
        size_t got = ml_tokenizer_decode(tok, ids, n, 0, back, 4 * len + 16);
        ok = got == len && !memcmp(back, text, len);
        if (!ok) fprintf(stderr, "  round trip: '%.*s' -> '%s'\n", (int)len, text, back);
    }
    free(ids);
    free(back);
    return ok;
}

/* Ids of text, as a string "a b c" for easy comparison. */
static const char *encode_str(const MlTokenizer *tok, const char *text) {
    static char out[512];
    int32_t ids[64];
    size_t n = 0;
    MlError err = {0};
    out[0] = 0;
    if (ml_tokenizer_encode(tok, text, strlen(text), ids, 64, &n, &err)) return "(error)";
    size_t at = 0;
    for (size_t i = 0; i < n && at < sizeof out - 16; i++) at += (size_t)snprintf(out + at, sizeof out - at, i ? " %d" : "%d", ids[i]);
    return out;
}

/* ---- hand-worked corpora ---- */

/* "aaab" x5: a=15, b=5, ▁=5.  Pairs (a,a)=10 first -> "▁ aa a b"; then
   (▁,aa) (aa,a) (a,b) tie at 5 and "a" sorts first -> "ab"; then (aa,ab)
   beats (▁,aa) ("aa" < "▁" in bytes) -> "aaab"; then "▁aaab". */
static void test_hand_aaab(void) {
    const char *lines[] = {"aaab", "aaab", "aaab", "aaab", "aaab"};
    MlBpeWords *w = words_from(lines, 5);
    MlBpeOptions o = opts(300, 2);
    MlBpeVocab v;
    char *json;
    MlTokenizer *tok = train_and_load(w, &o, &v, &json);
    CHECK(tok != NULL);
    CHECK(v.n_pieces == 266 && v.n_merges == 4 && v.n_chars == 3 && v.n_chars_dropped == 0);
    const char *want[] = {"aa", "ab", "aaab", MARK "aaab", "a", "b", MARK};
    for (int i = 0; i < 7 && v.n_pieces == 266; i++) CHECK_STR(v.pieces[259 + i], want[i]);
    const int merges[4][2] = {{263, 263}, {263, 264}, {259, 260}, {265, 261}};
    for (int k = 0; k < 4 && v.n_merges == 4; k++) CHECK(v.merges[2 * k] == merges[k][0] && v.merges[2 * k + 1] == merges[k][1]);
    CHECK_STR(v.pieces[0], "<unk>");
    CHECK_STR(v.pieces[3], "<0x00>");
    CHECK_STR(v.pieces[258], "<0xFF>");
    if (tok) {
        CHECK_STR(encode_str(tok, "aaab"), "262");
        CHECK_STR(encode_str(tok, "aab"), "265 259 264"); /* (a,a) ranks first: ▁ aa b, and no merge joins aa b */
        CHECK_STR(encode_str(tok, "c"), "265 102");       /* ▁ then byte 0x63 (id 3 + 0x63) */
        CHECK(ml_tokenizer_vocab_size(tok) == 268);
        CHECK(ml_tokenizer_token_id(tok, "<image>") == 266 && ml_tokenizer_token_id(tok, "<pad>") == 267);
    }
    ml_tokenizer_free(tok);
    free(json);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* All four pairs of "▁ab ▁cd" tie; byte order of the left piece then the right
   decides: (a,b), (c,d), then (▁,ab) before (▁,cd). */
static void test_hand_ties(void) {
    const char *lines[] = {"cd ab", "ab cd"};
    MlBpeWords *w = words_from(lines, 2);
    MlBpeOptions o = opts(300, 2);
    MlBpeVocab v;
    MlError err = {0};
    CHECK_OK(ml_bpe_train(w, &o, &v, &err), &err);
    const char *want[] = {"ab", "cd", MARK "ab", MARK "cd"};
    CHECK(v.n_merges == 4);
    for (int k = 0; k < 4 && v.n_merges == 4; k++) {
        char joined[32];
        snprintf(joined, sizeof joined, "%s%s", v.pieces[v.merges[2 * k]], v.pieces[v.merges[2 * k + 1]]);
        CHECK_STR(joined, want[k]);
        CHECK_STR(v.pieces[259 + k], want[k]);
    }
    /* The alphabet follows, most frequent first: ▁ (4 times), then a b c d (twice each) by code point. */
    CHECK_STR(v.pieces[263], MARK);
    CHECK_STR(v.pieces[264], "a");
    CHECK_STR(v.pieces[267], "d");
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* With min_frequency 3 nothing in "ab cd" x2 is frequent enough: no merges. */
static void test_min_frequency(void) {
    const char *lines[] = {"ab cd", "ab cd"};
    MlBpeWords *w = words_from(lines, 2);
    MlBpeOptions o = opts(300, 3);
    MlBpeVocab v;
    MlError err = {0};
    CHECK_OK(ml_bpe_train(w, &o, &v, &err), &err);
    CHECK(v.n_merges == 0 && v.n_pieces == 259 + 5);
    ml_bpe_vocab_free(&v);
    o.min_frequency = 2;
    o.vocab_size = 259 + 5 + 1; /* room for exactly one merge */
    CHECK_OK(ml_bpe_train(w, &o, &v, &err), &err);
    CHECK(v.n_merges == 1 && v.n_pieces == 265);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* ---- an independent replay on real text ---- */

typedef struct NaiveWord {
    const char **sym;
    int n;
    int64_t count;
} NaiveWord;

typedef struct NaivePair {
    const char *a, *b;
    int64_t count;
} NaivePair;

static int naive_pair_cmp(const void *pa, const void *pb) {
    const NaivePair *x = pa, *y = pb;
    int c = strcmp(x->a, y->a);
    return c ? c : strcmp(x->b, y->b);
}

/* Interned strings, so symbols compare by content but live as long as the test. */
static const char *intern(char ***pool, int *n, const char *s, size_t len) {
    for (int i = 0; i < *n; i++)
        if (strlen((*pool)[i]) == len && !memcmp((*pool)[i], s, len)) return (*pool)[i];
    *pool = realloc(*pool, (size_t)(*n + 1) * sizeof **pool);
    char *copy = malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = 0;
    (*pool)[(*n)++] = copy;
    return copy;
}

/* Words of a file, built here from the raw lines: "▁" + line with spaces as "▁", cut before each "▁". */
static NaiveWord *naive_words(const char *path, int *n_words, char ***pool, int *n_pool) {
    char *data;
    size_t size;
    MlError err = {0};
    NaiveWord *words = NULL;
    *n_words = 0;
    if (ml_file_read(path, &data, &size, &err)) return NULL;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        for (const char *p = line;;) { /* a trailing space leaves a last word "▁" */
            const char *end = p;
            while (*end && *end != ' ') end++;
            /* The word "▁" + [p, end) as symbols. */
            const char *sym[512];
            int ns = 0;
            sym[ns++] = intern(pool, n_pool, MARK, 3);
            for (const char *c = p; c < end && ns < 512; c += utf8_len((unsigned char)*c))
                sym[ns++] = intern(pool, n_pool, c, utf8_len((unsigned char)*c));
            int found = -1;
            for (int i = 0; i < *n_words && found < 0; i++)
                if (words[i].n == ns && !memcmp(words[i].sym, sym, (size_t)ns * sizeof *sym)) found = i;
            if (found >= 0) words[found].count++;
            else {
                words = realloc(words, (size_t)(*n_words + 1) * sizeof *words);
                words[*n_words].sym = malloc((size_t)ns * sizeof *sym);
                memcpy(words[*n_words].sym, sym, (size_t)ns * sizeof *sym);
                words[*n_words].n = ns;
                words[(*n_words)++].count = 1;
            }
            if (!*end) break;
            p = end + 1;
        }
    }
    free(data);
    return words;
}

/* Every adjacent pair with its summed count, sorted by (a, b). */
static NaivePair *naive_pairs(const NaiveWord *w, int n_words, int *n_pairs) {
    int total = 0;
    for (int i = 0; i < n_words; i++) total += w[i].n - 1;
    NaivePair *occ = malloc((size_t)(total ? total : 1) * sizeof *occ);
    int k = 0;
    for (int i = 0; i < n_words; i++)
        for (int j = 0; j + 1 < w[i].n; j++) occ[k++] = (NaivePair){w[i].sym[j], w[i].sym[j + 1], w[i].count};
    qsort(occ, (size_t)k, sizeof *occ, naive_pair_cmp);
    int m = 0;
    for (int i = 0; i < k; i++) {
        if (m > 0 && occ[m - 1].a == occ[i].a && occ[m - 1].b == occ[i].b) occ[m - 1].count += occ[i].count;
        else occ[m++] = occ[i];
    }
    *n_pairs = m;
    return occ;
}

/* Replays the learned merges on words counted here from scratch: each merge
   must be the most frequent pair of its step (ties by bytes), and training
   must stop only when the vocab is full or no pair is frequent enough. */
static void test_naive_replay_synonyms(void) {
    const char *path = test_repo_path(SYNONYMS);
    char **pool = NULL;
    int n_pool = 0, n_words;
    NaiveWord *words = naive_words(path, &n_words, &pool, &n_pool);
    CHECK(words != NULL && n_words > 100);
    MlBpeWords *w;
    MlError err = {0};
    CHECK_OK(ml_bpe_words_new(&w, &err), &err);
    CHECK_OK(ml_bpe_words_add_file(w, path, NULL, 0, &err), &err);
    CHECK(ml_bpe_words_distinct(w) == n_words);
    MlBpeOptions o = opts(700, 2);
    o.max_piece_chars = 64; /* nothing banned, so the plain rule applies at every step */
    MlBpeVocab v;
    CHECK_OK(ml_bpe_train(w, &o, &v, &err), &err);
    CHECK(v.n_merges > 200);
    for (int k = 0; k <= v.n_merges && words; k++) {
        int n_pairs;
        NaivePair *pairs = naive_pairs(words, n_words, &n_pairs);
        const NaivePair *best = NULL;
        for (int i = 0; i < n_pairs; i++) /* sorted by (a, b): the first of the top count wins ties */
            if (pairs[i].count >= 2 && (!best || pairs[i].count > best->count)) best = &pairs[i];
        if (k == v.n_merges) {
            /* Stopped early only because nothing was left to merge. */
            CHECK(v.n_pieces == 700 || best == NULL);
            free(pairs);
            break;
        }
        const char *a = v.pieces[v.merges[2 * k]], *b = v.pieces[v.merges[2 * k + 1]];
        if (!best || strcmp(best->a, a) || strcmp(best->b, b)) {
            fprintf(stderr, "  merge %d: learned (%s, %s), naive best (%s, %s)\n", k, a, b, best ? best->a : "-",
                    best ? best->b : "-");
            CHECK(0);
            free(pairs);
            break;
        }
        char joined[256];
        snprintf(joined, sizeof joined, "%s%s", a, b);
        const char *c = intern(&pool, &n_pool, joined, strlen(joined));
        for (int i = 0; i < n_words; i++) {
            int out = 0;
            for (int j = 0; j < words[i].n; j++) {
                if (j + 1 < words[i].n && words[i].sym[j] == best->a && words[i].sym[j + 1] == best->b) {
                    words[i].sym[out++] = c;
                    j++;
                } else {
                    words[i].sym[out++] = words[i].sym[j];
                }
            }
            words[i].n = out;
        }
        free(pairs);
    }
    for (int i = 0; i < n_words; i++) free(words[i].sym);
    free(words);
    for (int i = 0; i < n_pool; i++) free(pool[i]);
    free(pool);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* ---- the written file ---- */

/* Every part but the vocab, merges and the ids of <image>/<pad> equals llava-1.5's tokenizer.json. */
static void test_same_kind_as_llava(void) {
    const char *lines[] = {"Is there a cat in the image?", "Is there a dog in the image?", "the cat"};
    MlBpeWords *w = words_from(lines, 3);
    MlBpeOptions o = opts(320, 2);
    MlBpeVocab v;
    char *json;
    MlTokenizer *tok = train_and_load(w, &o, &v, &json);
    cJSON *ours = NULL, *llava = NULL;
    MlError err = {0};
    if (json) CHECK_OK(ml_json_parse(json, strlen(json), "ours", &ours, &err), &err);
    CHECK_OK(ml_json_load(test_repo_path(LLAVA_TOK), &llava, &err), &err);
    if (ours && llava) {
        const char *same[] = {"version", "truncation", "padding", "normalizer", "pre_tokenizer", "post_processor",
                              "decoder"};
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
            int eq = cJSON_Compare(cJSON_GetObjectItemCaseSensitive(ours, same[i]),
                                   cJSON_GetObjectItemCaseSensitive(llava, same[i]), 1);
            if (!eq) fprintf(stderr, "  %s differs from llava's\n", same[i]);
            CHECK(eq);
        }
        cJSON *m1 = cJSON_GetObjectItemCaseSensitive(ours, "model"), *m2 = cJSON_GetObjectItemCaseSensitive(llava, "model");
        cJSON_DeleteItemFromObjectCaseSensitive(m1, "vocab");
        cJSON_DeleteItemFromObjectCaseSensitive(m1, "merges");
        cJSON_DeleteItemFromObjectCaseSensitive(m2, "vocab");
        cJSON_DeleteItemFromObjectCaseSensitive(m2, "merges");
        CHECK(cJSON_Compare(m1, m2, 1));
        /* Added tokens: the same five, <image> and <pad> moved to just after our vocab. */
        cJSON *a1 = cJSON_GetObjectItemCaseSensitive(ours, "added_tokens");
        cJSON *a2 = cJSON_GetObjectItemCaseSensitive(llava, "added_tokens");
        CHECK(cJSON_GetArraySize(a1) == 5 && cJSON_GetArraySize(a2) == 5);
        for (int i = 0; i < 5 && cJSON_GetArraySize(a1) == 5; i++) {
            cJSON *t1 = cJSON_GetArrayItem(a1, i), *t2 = cJSON_GetArrayItem(a2, i);
            int id = (int)cJSON_GetObjectItemCaseSensitive(t1, "id")->valuedouble;
            CHECK(id == (i < 3 ? i : v.n_pieces + i - 3));
            cJSON_ReplaceItemInObjectCaseSensitive(t1, "id", cJSON_CreateNumber(i < 3 ? i : 32000 + i - 3));
            CHECK(cJSON_Compare(t1, t2, 1));
        }
    }
    MlTokenizerFacts f;
    if (json) {
        CHECK_OK(ml_tokenizer_json_facts(json, strlen(json), "ours", &f, &err), &err);
        CHECK(f.n_ids == v.n_pieces + 2 && f.unk_id == 0 && f.bos_id == 1 && f.eos_id == 2);
        CHECK(f.image_id == v.n_pieces && f.pad_id == v.n_pieces + 1 && f.n_merges == v.n_merges);
    }
    if (tok) CHECK(ml_tokenizer_bos_id(tok) == 1 && ml_tokenizer_eos_id(tok) == 2);
    cJSON_Delete(ours);
    cJSON_Delete(llava);
    ml_tokenizer_free(tok);
    free(json);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* Merges in priority order: both halves exist before the merge (alphabet or
   an earlier result), new results take the next id, every result is a piece. */
static void check_merges_consistent(const MlBpeVocab *v) {
    int n_learned = v->n_pieces - ML_BPE_FIXED_PIECES - v->n_chars, next = ML_BPE_FIXED_PIECES;
    char *made = calloc((size_t)v->n_pieces, 1);
    for (int i = ML_BPE_FIXED_PIECES + n_learned; i < v->n_pieces; i++) made[i] = 1; /* the alphabet */
    for (int k = 0; k < v->n_merges; k++) {
        int a = v->merges[2 * k], b = v->merges[2 * k + 1];
        CHECK(made[a] && made[b]);
        char joined[512];
        snprintf(joined, sizeof joined, "%s%s", v->pieces[a], v->pieces[b]);
        int c = id_of(v, joined);
        CHECK(c >= ML_BPE_FIXED_PIECES && c < ML_BPE_FIXED_PIECES + n_learned);
        if (c >= 0 && !made[c]) {
            CHECK(c == next);
            next++;
            made[c] = 1;
        }
    }
    CHECK(next == ML_BPE_FIXED_PIECES + n_learned);
    /* A piece holds "▁" only at its start. */
    for (int i = ML_BPE_FIXED_PIECES; i < v->n_pieces; i++) CHECK(!strstr(v->pieces[i] + 1, MARK));
    free(made);
}

/* Real JSONL (POPE questions, "text" only): consistent merges, frequent words
   are single pieces, and every question round-trips through the engine. */
static void test_pope_questions(void) {
    const char *path = test_repo_path(POPE);
    MlBpeWords *w;
    MlError err = {0};
    CHECK_OK(ml_bpe_words_new(&w, &err), &err);
    const char *keys[] = {"text"};
    CHECK_OK(ml_bpe_words_add_file(w, path, keys, 1, &err), &err);
    CHECK(ml_bpe_words_sentences(w) == 3000);
    MlBpeOptions o = opts(400, 2);
    MlBpeVocab v;
    char *json;
    MlTokenizer *tok = train_and_load(w, &o, &v, &json);
    CHECK(v.n_pieces == 400);
    check_merges_consistent(&v);
    if (tok) {
        /* "Is there a X in the image?" is every line: its words are single pieces. */
        const char *frequent[] = {"Is", "there", "a", "in", "the", "image?"};
        for (int i = 0; i < 6; i++) {
            char piece[32];
            snprintf(piece, sizeof piece, MARK "%s", frequent[i]);
            char want[16];
            snprintf(want, sizeof want, "%d", id_of(&v, piece));
            CHECK(id_of(&v, piece) > 0);
            CHECK_STR(encode_str(tok, frequent[i]), want);
        }
        char *data;
        size_t size;
        CHECK_OK(ml_file_read(path, &data, &size, &err), &err);
        int lines = 0, ok = 0;
        for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
            cJSON *root = cJSON_Parse(line);
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text");
            if (cJSON_IsString(text)) {
                lines++;
                ok += round_trips(tok, text->valuestring, strlen(text->valuestring));
            }
            cJSON_Delete(root);
        }
        CHECK(lines == 3000 && ok == lines);
        free(data);
    }
    ml_tokenizer_free(tok);
    free(json);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* Plain text round trip on every line of the synonyms file. */
static void test_synonyms_round_trip(void) {
    const char *path = test_repo_path(SYNONYMS);
    MlBpeWords *w;
    MlError err = {0};
    CHECK_OK(ml_bpe_words_new(&w, &err), &err);
    CHECK_OK(ml_bpe_words_add_file(w, path, NULL, 0, &err), &err);
    MlBpeOptions o = opts(500, 2);
    MlBpeVocab v;
    char *json;
    MlTokenizer *tok = train_and_load(w, &o, &v, &json);
    check_merges_consistent(&v);
    for (int i = ML_BPE_FIXED_PIECES; i < v.n_pieces; i++) CHECK(count_chars(v.pieces[i]) <= 16);
    char *data;
    size_t size;
    if (tok && !ml_file_read(path, &data, &size, &err)) {
        int lines = 0, ok = 0;
        for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
            lines++;
            ok += round_trips(tok, line, strlen(line));
        }
        CHECK(lines > 50 && ok == lines);
        free(data);
    }
    ml_tokenizer_free(tok);
    free(json);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* The same corpus in another line order gives the same bytes; so does a second run. */
static void test_deterministic(void) {
    const char *fwd[] = {"the red cube is left of the blue ball", "a small green cube", "is the cube red?",
                         "the ball is blue", "no", "yes", "the red ball and the green cube"};
    const char *rev[7];
    for (int i = 0; i < 7; i++) rev[i] = fwd[6 - i];
    char *json[3] = {0};
    for (int r = 0; r < 3; r++) {
        MlBpeWords *w = words_from(r == 2 ? rev : fwd, 7);
        MlBpeOptions o = opts(330, 2);
        MlBpeVocab v;
        MlError err = {0};
        size_t len;
        CHECK_OK(ml_bpe_train(w, &o, &v, &err), &err);
        CHECK_OK(ml_bpe_vocab_json(&v, NULL, 0, &json[r], &len, &err), &err);
        ml_bpe_vocab_free(&v);
        ml_bpe_words_free(w);
    }
    CHECK(json[0] && json[1] && json[2] && !strcmp(json[0], json[1]) && !strcmp(json[0], json[2]));
    for (int r = 0; r < 3; r++) free(json[r]);
}

/* Rare characters are left to byte pieces; encoding still round-trips. */
static void test_coverage_and_bytes(void) {
    const char *lines[200];
    for (int i = 0; i < 199; i++) lines[i] = "abc abc abc";
    lines[199] = "caf\xc3\xa9"; /* one é among ~2400 characters */
    MlBpeWords *w = words_from(lines, 200);
    MlBpeOptions o = opts(300, 2);
    o.character_coverage = 0.9995; /* a c ▁ b f cover 2392 of 2393 */
    MlBpeVocab v;
    char *json;
    MlTokenizer *tok = train_and_load(w, &o, &v, &json);
    CHECK(v.n_chars == 5 && v.n_chars_dropped == 1 && v.coverage < 1 && v.coverage >= 0.9995);
    CHECK(id_of(&v, "\xc3\xa9") < 0);
    if (tok) {
        /* "é" alone: ▁ then its two bytes <0xC3> <0xA9> (ids 3 + byte). */
        char want[32];
        snprintf(want, sizeof want, "%d %d %d", id_of(&v, MARK), 3 + 0xC3, 3 + 0xA9);
        CHECK_STR(encode_str(tok, "\xc3\xa9"), want);
        CHECK(round_trips(tok, "caf\xc3\xa9 abc", 9));
        const char *unseen = "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x99\x82"; /* CJK and an emoji */
        CHECK(round_trips(tok, unseen, strlen(unseen)));
    }
    ml_tokenizer_free(tok);
    free(json);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* Text that spells reserved pieces never becomes them; pieces respect the length cap. */
static void test_reserved_and_length(void) {
    const char *lines[] = {"<s>x <0x41> <unk> <pad> abcdefgh", "<s>x <0x41> <unk> <pad> abcdefgh",
                           "<s>x <0x41> <unk> <pad> abcdefgh"};
    MlBpeWords *w = words_from(lines, 3);
    MlBpeOptions o = opts(400, 2);
    o.max_piece_chars = 4;
    MlBpeVocab v;
    char *json;
    MlTokenizer *tok = train_and_load(w, &o, &v, &json); /* the writer refuses repeated pieces */
    CHECK(id_of(&v, "<s>") == 1 && id_of(&v, "<0x41>") == 3 + 0x41 && id_of(&v, "<unk>") == 0 && id_of(&v, "<pad>") < 0);
    for (int i = ML_BPE_FIXED_PIECES; i < v.n_pieces; i++) CHECK(count_chars(v.pieces[i]) <= 4);
    if (tok) CHECK(round_trips(tok, "abcdefgh <0x41>", 15));
    ml_tokenizer_free(tok);
    free(json);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(w);
}

/* ---- files and errors ---- */

static void write_file(const char *path, const char *text) {
    MlError err = {0};
    CHECK_OK(ml_file_write(path, text, strlen(text), &err), &err);
}

static void test_files(void) {
    const char *dir = test_tmpdir("train_bpe");
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, "%s/a.jsonl", dir);
    snprintf(b, sizeof b, "%s/b.txt", dir);
    snprintf(c, sizeof c, "%s/c.json", dir);
    write_file(a, "{\"image\": \"x.png\", \"caption\": \"red cat\", \"n\": 3}\n\n{\"caption\": \"red dog\", \"tags\": [\"blue\"]}\n");
    write_file(b, "red cat\r\n\nblue  cat\n");
    write_file(c, "  {\"q\": \"red\"}\n");
    MlBpeWords *w;
    MlError err = {0};
    const char *bytes;
    size_t len;
    int64_t count;
    /* JSONL, every string value: x.png, red, cat, red, dog, blue. */
    CHECK_OK(ml_bpe_words_new(&w, &err), &err);
    CHECK_OK(ml_bpe_words_add_file(w, a, NULL, 0, &err), &err);
    CHECK(ml_bpe_words_sentences(w) == 4 && ml_bpe_words_distinct(w) == 5);
    ml_bpe_words_at(w, 1, &bytes, &len, &count);
    CHECK(len == 6 && !memcmp(bytes, MARK "red", 6) && count == 2);
    ml_bpe_words_free(w);
    /* Only "caption": red cat, red dog. */
    const char *keys[] = {"caption"};
    CHECK_OK(ml_bpe_words_new(&w, &err), &err);
    CHECK_OK(ml_bpe_words_add_file(w, a, keys, 1, &err), &err);
    CHECK(ml_bpe_words_sentences(w) == 2 && ml_bpe_words_distinct(w) == 3);
    /* Plain text: \r stripped, empty line skipped, a double space gives a lone "▁". */
    CHECK_OK(ml_bpe_words_add_file(w, b, NULL, 0, &err), &err);
    CHECK(ml_bpe_words_sentences(w) == 4 && ml_bpe_words_distinct(w) == 5);
    ml_bpe_words_at(w, 4, &bytes, &len, &count);
    CHECK(len == 3 && !memcmp(bytes, MARK, 3) && count == 1);
    ml_bpe_words_at(w, 1, &bytes, &len, &count);
    CHECK(len == 6 && !memcmp(bytes, MARK "cat", 6) && count == 3);
    /* A .json file that starts with "{" is read as JSONL. */
    CHECK_OK(ml_bpe_words_add_file(w, c, NULL, 0, &err), &err);
    CHECK(ml_bpe_words_sentences(w) == 5);
    ml_bpe_words_free(w);
}

static void test_errors(void) {
    const char *dir = test_tmpdir("train_bpe");
    char bad[600], trailing[600], missing[600];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", dir);
    snprintf(trailing, sizeof trailing, "%s/trailing.jsonl", dir);
    snprintf(missing, sizeof missing, "%s/none.txt", dir);
    write_file(bad, "{\"a\": \"ok\"}\n{\"a\": \n");
    write_file(trailing, "{\"a\": \"ok\"} x\n");
    MlBpeWords *w;
    MlError err = {0};
    CHECK_OK(ml_bpe_words_new(&w, &err), &err);
    MlBpeVocab v;
    MlBpeOptions o = opts(300, 2);
    CHECK(ml_bpe_train(w, &o, &v, &err) == ML_ERR_MISSING && strstr(err.msg, "no text"));
    CHECK(ml_bpe_words_add_file(w, bad, NULL, 0, &err) == ML_ERR_FORMAT && strstr(err.msg, "bad.jsonl: line 2"));
    CHECK(ml_bpe_words_add_file(w, trailing, NULL, 0, &err) == ML_ERR_FORMAT && strstr(err.msg, "line 1"));
    CHECK(ml_bpe_words_add_file(w, missing, NULL, 0, &err) == ML_ERR_IO && strstr(err.msg, "none.txt"));
    ml_bpe_words_free(w);
    const char *lines[] = {"abcdefghij klmnopqrst uvwxyz"};
    w = words_from(lines, 1);
    o = opts(259 + 26, 2); /* 26 letters + ▁ do not fit */
    CHECK(ml_bpe_train(w, &o, &v, &err) == ML_ERR_ARG && strstr(err.msg, "need at least 286"));
    o = opts(259, 2);
    CHECK(ml_bpe_train(w, &o, &v, &err) == ML_ERR_ARG);
    o = opts(300, 0);
    CHECK(ml_bpe_train(w, &o, &v, &err) == ML_ERR_ARG);
    o = opts(300, 2);
    o.character_coverage = 0;
    CHECK(ml_bpe_train(w, &o, &v, &err) == ML_ERR_ARG);
    ml_bpe_words_free(w);
}

/* The generic writer refuses files the loader would misread. */
static void test_writer_checks(void) {
    char *text;
    size_t len;
    MlError err = {0};
    const char *ok[] = {"<unk>", "<s>", "</s>", "a", "b", "ab"};
    const char *merges[] = {"a", "b"};
    CHECK_OK(ml_tokenizer_json_bpe(ok, 6, merges, 1, NULL, 0, &text, &len, &err), &err);
    MlTokenizer *tok = NULL;
    CHECK_OK(ml_tokenizer_load_mem(&tok, text, len, "w", &err), &err);
    if (tok) CHECK(ml_tokenizer_token_id(tok, "ab") == 5 && ml_tokenizer_token_id(tok, "<image>") == 6);
    ml_tokenizer_free(tok);
    free(text);
    const char *dup[] = {"<unk>", "<s>", "</s>", "a", "b", "a"};
    CHECK(ml_tokenizer_json_bpe(dup, 6, merges, 0, NULL, 0, &text, &len, &err) == ML_ERR_ARG && strstr(err.msg, "'a' appears twice"));
    const char *image[] = {"<unk>", "<s>", "</s>", "<image>"};
    CHECK(ml_tokenizer_json_bpe(image, 4, merges, 0, NULL, 0, &text, &len, &err) == ML_ERR_ARG);
    const char *order[] = {"<s>", "<unk>", "</s>"};
    CHECK(ml_tokenizer_json_bpe(order, 3, merges, 0, NULL, 0, &text, &len, &err) == ML_ERR_ARG);
    /* added special tokens follow <image> and <pad>, are whole tokens in text, and are never repeated */
    const char *added[] = {"<x0>", "<y0>"};
    CHECK_OK(ml_tokenizer_json_bpe(ok, 6, merges, 1, added, 2, &text, &len, &err), &err);
    tok = NULL;
    CHECK_OK(ml_tokenizer_load_mem(&tok, text, len, "w", &err), &err);
    if (tok) {
        CHECK(ml_tokenizer_token_id(tok, "<pad>") == 7 && ml_tokenizer_token_id(tok, "<x0>") == 8 &&
              ml_tokenizer_token_id(tok, "<y0>") == 9 && ml_tokenizer_is_special(tok, 9));
        int32_t ids[8];
        size_t n = 0;
        CHECK_OK(ml_tokenizer_encode(tok, "ab<y0>", 6, ids, 8, &n, &err), &err);
        CHECK(n >= 2 && ids[n - 1] == 9);
    }
    ml_tokenizer_free(tok);
    free(text);
    const char *clash[] = {"<x0>", "<pad>"}, *twice[] = {"<x0>", "<x0>"}, *empty[] = {""}, *piece[] = {"ab"};
    CHECK(ml_tokenizer_json_bpe(ok, 6, merges, 1, clash, 2, &text, &len, &err) == ML_ERR_ARG &&
          strstr(err.msg, "'<pad>' appears twice"));
    CHECK(ml_tokenizer_json_bpe(ok, 6, merges, 1, twice, 2, &text, &len, &err) == ML_ERR_ARG);
    CHECK(ml_tokenizer_json_bpe(ok, 6, merges, 1, empty, 1, &text, &len, &err) == ML_ERR_ARG);
    CHECK(ml_tokenizer_json_bpe(ok, 6, merges, 1, piece, 1, &text, &len, &err) == ML_ERR_ARG);
}

int main(void) {
    RUN(test_hand_aaab);
    RUN(test_hand_ties);
    RUN(test_min_frequency);
    RUN(test_naive_replay_synonyms);
    RUN(test_same_kind_as_llava);
    RUN(test_pope_questions);
    RUN(test_synonyms_round_trip);
    RUN(test_deterministic);
    RUN(test_coverage_and_bytes);
    RUN(test_reserved_and_length);
    RUN(test_files);
    RUN(test_errors);
    RUN(test_writer_checks);
    return test_summary("test_train_bpe");
}
