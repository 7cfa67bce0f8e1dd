/* bpe_train.c: the alphabet and the greedy merges of train/bpe.h.
   Pair counts are kept up to date incrementally: each pair remembers the
   words it occurs in, so a merge only revisits those words. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"
#include "core/strmap.h"
#include "train/bpe.h"

#define N_CODEPOINTS 0x110000
#define MAX_PAIRS (INT32_MAX - 1)

MlBpeOptions ml_bpe_defaults(void) {
    return (MlBpeOptions){.vocab_size = 32000, .min_frequency = 2, .character_coverage = 0.9995, .max_piece_chars = 16};
}

/* Length of the UTF-8 character at s (1..4), or 0 when the bytes are not the
   shortest encoding of a scalar value (as the engine's tokenizer decides). */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp) {
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (len == 0 || s[0] > 0xF4 || len > n) return 0;
    uint32_t c = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

typedef struct Piece {
    char *s; /* NUL-terminated */
    size_t len;
    int chars;
} Piece;

typedef struct Pair {
    int32_t left, right;
    int64_t count;       /* occurrences over the corpus (word counts summed) */
    int32_t *words;      /* words it has occurred in; may hold stale or repeated entries */
    size_t n_words, cap_words;
    int banned;          /* result too long or spelled like a reserved piece */
} Pair;

typedef struct Trainer {
    const MlBpeOptions *opt;
    Piece *pieces;       /* internal ids: the alphabet first, then merge results */
    int n_pieces, cap_pieces;
    MlStrMap piece_ids;  /* piece bytes -> internal id */
    int64_t n_words;
    int64_t *word_count;
    size_t *word_start, *word_len; /* symbols of word i: syms[word_start[i] ..][0 .. word_len[i]) */
    int32_t *syms;       /* internal piece ids, -1 for a character left to byte fallback */
    int32_t *stamp;      /* per word: the last merge that revisited it, plus one */
    Pair *pairs;
    int32_t n_pairs, cap_pairs;
    int32_t *pair_slots; /* (left, right) -> pair index, -1 = empty */
    uint64_t pair_mask;
    int32_t *merges;     /* internal ids, two per merge */
    int n_merges, cap_merges;
    MlError *err;
} Trainer;

static int nomem(Trainer *t) { return ml_error_set(t->err, ML_ERR_NOMEM, "bpe: out of memory"); }

static uint64_t hash_pair(int32_t a, int32_t b) {
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    return (k * 0x9E3779B97F4A7C15ull) >> 17;
}

/* ---- pieces ---- */

static int32_t piece_find(const Trainer *t, const char *s, size_t n) {
    const size_t *id = ml_strmap_getn(&t->piece_ids, s, n);
    return id ? (int32_t)*id : -1;
}

/* Adds a piece (absent from the map) and returns its id, or -1 when out of memory. */
static int32_t piece_add(Trainer *t, const char *s, size_t n, int chars) {
    if (t->n_pieces == t->cap_pieces) {
        int cap = t->cap_pieces ? 2 * t->cap_pieces : 256;
        Piece *p = realloc(t->pieces, (size_t)cap * sizeof *p);
        if (!p) return -1;
        t->pieces = p;
        t->cap_pieces = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy) return -1;
    memcpy(copy, s, n);
    copy[n] = 0;
    int32_t id = t->n_pieces++;
    t->pieces[id] = (Piece){copy, n, chars};
    return ml_strmap_putn(&t->piece_ids, copy, n, (size_t)id, NULL, NULL) ? -1 : id;
}

/* ---- the alphabet ---- */

typedef struct CharCount {
    uint32_t cp;
    int64_t count;
} CharCount;

static int by_count_then_codepoint(const void *pa, const void *pb) {
    const CharCount *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

static int64_t saturating_add(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

/* Counts characters (NUL and invalid bytes excluded), keeps the most frequent
   up to the coverage, and makes them pieces 0..n_chars-1.  char_id maps a
   code point to its piece, -1 when left to byte fallback. */
static int build_alphabet(Trainer *t, const MlBpeWords *w, int32_t *char_id, MlBpeVocab *out) {
    int64_t *counts = calloc(N_CODEPOINTS, sizeof *counts);
    if (!counts) return nomem(t);
    int64_t total = 0;
    for (int64_t i = 0; i < t->n_words; i++) {
        const char *s;
        size_t n;
        int64_t c;
        ml_bpe_words_at(w, i, &s, &n, &c);
        for (size_t k = 0; k < n;) {
            uint32_t cp;
            size_t len = utf8_char((const unsigned char *)s + k, n - k, &cp);
            if (len && cp) {
                counts[cp] = saturating_add(counts[cp], c);
                total = saturating_add(total, c);
            }
            k += len ? len : 1;
        }
    }
    int n_seen = 0;
    for (uint32_t cp = 0; cp < N_CODEPOINTS; cp++) n_seen += counts[cp] > 0;
    if (n_seen == 0) {
        free(counts);
        return ml_error_set(t->err, ML_ERR_MISSING, "bpe: the corpus has no text");
    }
    CharCount *seen = malloc((size_t)n_seen * sizeof *seen);
    if (!seen) {
        free(counts);
        return nomem(t);
    }
    for (uint32_t cp = 0, k = 0; cp < N_CODEPOINTS; cp++)
        if (counts[cp] > 0) seen[k++] = (CharCount){cp, counts[cp]};
    free(counts);
    qsort(seen, (size_t)n_seen, sizeof *seen, by_count_then_codepoint);
    /* SentencePiece's rule: add characters while the covered share is below the target. */
    int64_t covered = 0;
    int keep = 0;
    while (keep < n_seen && (double)covered / (double)total < t->opt->character_coverage)
        covered = saturating_add(covered, seen[keep++].count);
    int rc = ML_OK;
    for (int i = 0; i < keep && !rc; i++) {
        char buf[4];
        uint32_t cp = seen[i].cp;
        size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (n == 1) buf[0] = (char)cp;
        else {
            static const unsigned lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
            buf[0] = (char)(lead[n] | (cp >> (6 * (n - 1))));
            for (size_t b = 1; b < n; b++) buf[b] = (char)(0x80 | ((cp >> (6 * (n - 1 - b))) & 0x3F));
        }
        int32_t id = piece_add(t, buf, n, 1);
        if (id < 0) rc = nomem(t);
        else char_id[cp] = id;
    }
    free(seen);
    out->n_chars = keep;
    out->n_chars_dropped = n_seen - keep;
    out->coverage = (double)covered / (double)total;
    return rc;
}

/* ---- words as symbols ---- */

static int build_words(Trainer *t, const MlBpeWords *w, const int32_t *char_id) {
    size_t total = 0;
    for (int64_t i = 0; i < t->n_words; i++) {
        const char *s;
        size_t n;
        int64_t c;
        ml_bpe_words_at(w, i, &s, &n, &c);
        if (total > SIZE_MAX / sizeof(int32_t) - n) return nomem(t);
        total += n;
    }
    size_t n_words = t->n_words > 0 ? (size_t)t->n_words : 1;
    t->word_count = malloc(n_words * sizeof *t->word_count);
    t->word_start = malloc(n_words * sizeof *t->word_start);
    t->word_len = malloc(n_words * sizeof *t->word_len);
    t->stamp = calloc(n_words, sizeof *t->stamp);
    t->syms = malloc((total ? total : 1) * sizeof *t->syms);
    if (!t->word_count || !t->word_start || !t->word_len || !t->stamp || !t->syms) return nomem(t);
    size_t at = 0;
    for (int64_t i = 0; i < t->n_words; i++) {
        const char *s;
        size_t n;
        ml_bpe_words_at(w, i, &s, &n, &t->word_count[i]);
        t->word_start[i] = at;
        for (size_t k = 0; k < n;) {
            uint32_t cp = 0;
            size_t len = utf8_char((const unsigned char *)s + k, n - k, &cp);
            t->syms[at++] = len && cp ? char_id[cp] : -1;
            k += len ? len : 1;
        }
        t->word_len[i] = at - t->word_start[i];
    }
    return ML_OK;
}

/* ---- pairs ---- */

static int reserved_spelling(const char *s, size_t n) {
    static const char *const names[] = {"<unk>", "<s>", "</s>", "<image>", "<pad>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (n == strlen(names[i]) && !memcmp(s, names[i], n)) return 1;
    const char *hex = "0123456789ABCDEF";
    return n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && s[3] && strchr(hex, s[3]) && s[4] && strchr(hex, s[4]);
}

static int pair_banned(const Trainer *t, int32_t a, int32_t b) {
    const Piece *l = &t->pieces[a], *r = &t->pieces[b];
    if (l->chars + r->chars > t->opt->max_piece_chars) return 1;
    if (l->len + r->len > 7) return 0; /* longer than any reserved spelling */
    char buf[8];
    memcpy(buf, l->s, l->len);
    memcpy(buf + l->len, r->s, r->len);
    return reserved_spelling(buf, l->len + r->len);
}

/* Index of the pair (a, b), created with count 0 when absent; -1 on failure. */
static int32_t pair_get(Trainer *t, int32_t a, int32_t b) {
    uint64_t h = hash_pair(a, b) & t->pair_mask;
    for (; t->pair_slots[h] >= 0; h = (h + 1) & t->pair_mask) {
        const Pair *p = &t->pairs[t->pair_slots[h]];
        if (p->left == a && p->right == b) return t->pair_slots[h];
    }
    if (t->n_pairs >= MAX_PAIRS) return -1;
    if (t->n_pairs == t->cap_pairs) {
        int32_t cap = t->cap_pairs > MAX_PAIRS / 2 ? MAX_PAIRS : (t->cap_pairs ? 2 * t->cap_pairs : 1024);
        Pair *p = realloc(t->pairs, (size_t)cap * sizeof *p);
        if (!p) return -1;
        t->pairs = p;
        t->cap_pairs = cap;
    }
    int32_t idx = t->n_pairs++;
    t->pairs[idx] = (Pair){a, b, 0, NULL, 0, 0, pair_banned(t, a, b)};
    t->pair_slots[h] = idx;
    if ((uint64_t)t->n_pairs * 2 > t->pair_mask + 1) {
        uint64_t cap = (t->pair_mask + 1) * 2;
        int32_t *slots = malloc(cap * sizeof *slots);
        if (!slots) return -1;
        memset(slots, 0xff, cap * sizeof *slots);
        for (int32_t i = 0; i < t->n_pairs; i++) {
            uint64_t k = hash_pair(t->pairs[i].left, t->pairs[i].right) & (cap - 1);
            while (slots[k] >= 0) k = (k + 1) & (cap - 1);
            slots[k] = i;
        }
        free(t->pair_slots);
        t->pair_slots = slots;
        t->pair_mask = cap - 1;
    }
    return idx;
}

/* Adds delta occurrences of (a, b) from word; remember the word when asked. */
static int pair_add(Trainer *t, int32_t a, int32_t b, int64_t delta, int32_t word, int remember) {
    int32_t idx = pair_get(t, a, b);
    if (idx < 0) return nomem(t);
    Pair *p = &t->pairs[idx];
    p->count += delta;
    if (!remember || (p->n_words > 0 && p->words[p->n_words - 1] == word)) return ML_OK;
    if (p->n_words == p->cap_words) {
        size_t cap = p->cap_words ? 2 * p->cap_words : 4;
        int32_t *wl = realloc(p->words, cap * sizeof *wl);
        if (!wl) return nomem(t);
        p->words = wl;
        p->cap_words = cap;
    }
    p->words[p->n_words++] = word;
    return ML_OK;
}

enum { REMEMBER_ALL = -1, REMEMBER_NONE = -2 };

/* Adds sign * count for every pair of word i.  remember: REMEMBER_ALL or
   REMEMBER_NONE, or a piece id: remember the word only for pairs holding
   that piece (after a merge the only pairs the word may not be listed in). */
static int word_pairs(Trainer *t, int32_t i, int sign, int32_t remember_piece) {
    const int32_t *s = t->syms + t->word_start[i];
    for (size_t k = 0; k + 1 < t->word_len[i]; k++) {
        if (s[k] < 0 || s[k + 1] < 0) continue;
        int remember = remember_piece == REMEMBER_ALL ||
                       (remember_piece >= 0 && (s[k] == remember_piece || s[k + 1] == remember_piece));
        int rc = pair_add(t, s[k], s[k + 1], sign * t->word_count[i], i, remember);
        if (rc) return rc;
    }
    return ML_OK;
}

/* The eligible pair with the highest count (ties: left piece, then right
   piece, in byte order), or -1. */
static int32_t best_pair(const Trainer *t) {
    int32_t best = -1;
    int64_t min = t->opt->min_frequency;
    for (int32_t i = 0; i < t->n_pairs; i++) {
        const Pair *p = &t->pairs[i];
        if (p->banned || p->count < min) continue;
        if (best >= 0) {
            const Pair *b = &t->pairs[best];
            if (p->count < b->count) continue;
            if (p->count == b->count) {
                int c = strcmp(t->pieces[p->left].s, t->pieces[b->left].s);
                if (c == 0) c = strcmp(t->pieces[p->right].s, t->pieces[b->right].s);
                if (c >= 0) continue;
            }
        }
        best = i;
    }
    return best;
}

/* Replaces every (a, b) in word i by c, left to right. */
static void merge_word(Trainer *t, int32_t i, int32_t a, int32_t b, int32_t c) {
    int32_t *s = t->syms + t->word_start[i];
    size_t n = t->word_len[i], out = 0;
    for (size_t k = 0; k < n; k++) {
        if (k + 1 < n && s[k] == a && s[k + 1] == b) {
            s[out++] = c;
            k++;
        } else {
            s[out++] = s[k];
        }
    }
    t->word_len[i] = out;
}

static int has_pair(const Trainer *t, int32_t i, int32_t a, int32_t b) {
    const int32_t *s = t->syms + t->word_start[i];
    for (size_t k = 0; k + 1 < t->word_len[i]; k++)
        if (s[k] == a && s[k + 1] == b) return 1;
    return 0;
}

static int learn_merge(Trainer *t, int32_t best, int *new_piece) {
    int32_t a = t->pairs[best].left, b = t->pairs[best].right;
    const Piece *l = &t->pieces[a], *r = &t->pieces[b];
    char *joined = malloc(l->len + r->len + 1);
    if (!joined) return nomem(t);
    memcpy(joined, l->s, l->len);
    memcpy(joined + l->len, r->s, r->len);
    size_t len = l->len + r->len;
    int chars = l->chars + r->chars;
    /* Two merge paths may spell the same piece ("a"+"bc", "ab"+"c"): one id. */
    int32_t c = piece_find(t, joined, len);
    *new_piece = c < 0;
    if (c < 0) c = piece_add(t, joined, len, chars);
    free(joined);
    if (c < 0) return nomem(t);
    if (t->n_merges == t->cap_merges) {
        int cap = t->cap_merges ? 2 * t->cap_merges : 256;
        int32_t *m = realloc(t->merges, (size_t)cap * 2 * sizeof *m);
        if (!m) return nomem(t);
        t->merges = m;
        t->cap_merges = cap;
    }
    t->merges[2 * t->n_merges] = a;
    t->merges[2 * t->n_merges + 1] = b;
    t->n_merges++;
    /* Take the word list: the merged pair cannot reappear in these words. */
    int32_t *words = t->pairs[best].words;
    size_t n_words = t->pairs[best].n_words;
    t->pairs[best].words = NULL;
    t->pairs[best].n_words = t->pairs[best].cap_words = 0;
    int rc = ML_OK;
    for (size_t k = 0; k < n_words && !rc; k++) {
        int32_t i = words[k];
        if (t->stamp[i] == t->n_merges || !has_pair(t, i, a, b)) continue;
        t->stamp[i] = t->n_merges;
        rc = word_pairs(t, i, -1, REMEMBER_NONE);
        if (!rc) {
            merge_word(t, i, a, b, c);
            rc = word_pairs(t, i, +1, c);
        }
    }
    free(words);
    return rc;
}

/* ---- results ---- */

void ml_bpe_vocab_free(MlBpeVocab *v) {
    if (!v) return;
    for (int i = 0; v->pieces && i < v->n_pieces; i++) free(v->pieces[i]);
    free(v->pieces);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

/* Final ids: fixed pieces, merge results in learned order, then the alphabet. */
static int export_vocab(Trainer *t, int n_chars, MlBpeVocab *out) {
    int n = ML_BPE_FIXED_PIECES + t->n_pieces;
    out->pieces = calloc((size_t)n, sizeof *out->pieces);
    out->merges = malloc((size_t)(t->n_merges ? t->n_merges : 1) * 2 * sizeof *out->merges);
    int32_t *final_id = malloc((size_t)(t->n_pieces ? t->n_pieces : 1) * sizeof *final_id);
    if (!out->pieces || !out->merges || !final_id) {
        free(final_id);
        return nomem(t);
    }
    out->n_pieces = n;
    int n_learned = t->n_pieces - n_chars;
    for (int32_t i = 0; i < t->n_pieces; i++)
        final_id[i] = ML_BPE_FIXED_PIECES + (i < n_chars ? n_learned + i : i - n_chars);
    const char *fixed[3] = {"<unk>", "<s>", "</s>"};
    int rc = ML_OK;
    for (int i = 0; i < n && !rc; i++) {
        char buf[8];
        const char *s = buf;
        if (i < 3) s = fixed[i];
        else if (i < ML_BPE_FIXED_PIECES) snprintf(buf, sizeof buf, "<0x%02X>", i - 3);
        if (i < ML_BPE_FIXED_PIECES && !(out->pieces[i] = strdup(s))) rc = nomem(t);
    }
    for (int32_t i = 0; i < t->n_pieces && !rc; i++) {
        out->pieces[final_id[i]] = t->pieces[i].s; /* ownership moves to the vocab */
        t->pieces[i].s = NULL;
    }
    for (int k = 0; k < 2 * t->n_merges; k++) out->merges[k] = final_id[t->merges[k]];
    out->n_merges = t->n_merges;
    free(final_id);
    return rc;
}

static void trainer_free(Trainer *t) {
    for (int i = 0; i < t->n_pieces; i++) free(t->pieces[i].s);
    free(t->pieces);
    ml_strmap_free(&t->piece_ids);
    free(t->word_count);
    free(t->word_start);
    free(t->word_len);
    free(t->syms);
    free(t->stamp);
    for (int32_t i = 0; i < t->n_pairs; i++) free(t->pairs[i].words);
    free(t->pairs);
    free(t->pair_slots);
    free(t->merges);
}

static int check_options(const MlBpeOptions *o, MlError *err) {
    if (o->vocab_size <= ML_BPE_FIXED_PIECES || o->vocab_size > ML_BPE_MAX_VOCAB)
        return ml_error_set(err, ML_ERR_ARG, "bpe: vocab size %d is outside [%d, %d]", o->vocab_size,
                            ML_BPE_FIXED_PIECES + 1, ML_BPE_MAX_VOCAB);
    if (o->min_frequency < 1) return ml_error_set(err, ML_ERR_ARG, "bpe: min frequency must be at least 1");
    if (!(o->character_coverage > 0 && o->character_coverage <= 1))
        return ml_error_set(err, ML_ERR_ARG, "bpe: character coverage must be in (0, 1]");
    if (o->max_piece_chars < 1) return ml_error_set(err, ML_ERR_ARG, "bpe: max piece length must be at least 1");
    return ML_OK;
}

static int train(Trainer *t, const MlBpeWords *w, MlBpeVocab *out) {
    int32_t *char_id = malloc(N_CODEPOINTS * sizeof *char_id);
    t->pair_slots = malloc(1024 * sizeof *t->pair_slots);
    if (!char_id || !t->pair_slots) {
        free(char_id);
        return nomem(t);
    }
    memset(char_id, 0xff, N_CODEPOINTS * sizeof *char_id);
    memset(t->pair_slots, 0xff, 1024 * sizeof *t->pair_slots);
    t->pair_mask = 1023;
    int rc = build_alphabet(t, w, char_id, out);
    if (!rc) rc = build_words(t, w, char_id);
    free(char_id);
    if (rc) return rc;
    int n_chars = t->n_pieces;
    if (ML_BPE_FIXED_PIECES + n_chars > t->opt->vocab_size)
        return ml_error_set(t->err, ML_ERR_ARG,
                            "bpe: vocab size %d cannot hold the %d fixed pieces and %d characters (need at least %d, "
                            "or a lower character coverage)",
                            t->opt->vocab_size, ML_BPE_FIXED_PIECES, n_chars, ML_BPE_FIXED_PIECES + n_chars);
    for (int32_t i = 0; i < t->n_words && !rc; i++) rc = word_pairs(t, i, +1, REMEMBER_ALL);
    int target = t->opt->vocab_size - ML_BPE_FIXED_PIECES - n_chars;
    MlProgress bar;
    if (t->opt->progress) ml_progress_start(&bar, "bpe merges", target);
    for (int learned = 0; learned < target && !rc;) {
        int32_t best = best_pair(t);
        if (best < 0) break;
        int new_piece = 0;
        rc = learn_merge(t, best, &new_piece);
        learned += new_piece;
        if (t->opt->progress) ml_progress_update(&bar, learned);
    }
    if (t->opt->progress) ml_progress_finish(&bar);
    return rc ? rc : export_vocab(t, n_chars, out);
}

int ml_bpe_train(const MlBpeWords *w, const MlBpeOptions *opt, MlBpeVocab *out, MlError *err) {
    memset(out, 0, sizeof *out);
    int rc = check_options(opt, err);
    if (rc) return rc;
    Trainer t = {.opt = opt, .n_words = ml_bpe_words_distinct(w), .err = err};
    rc = train(&t, w, out);
    trainer_free(&t);
    if (rc) ml_bpe_vocab_free(out);
    return rc;
}
