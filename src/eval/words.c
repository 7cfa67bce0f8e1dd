/* words.c: Treebank-like tokenizer and a WordNet-like plural folder. */
#include "eval/words.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

typedef struct Out {
    MlWords *w;
    char *end; /* next free byte of w->buf */
} Out;

static void emit(Out *o, const char *s, size_t n) {
    if (!n) return;
    o->w->word[o->w->count++] = o->end;
    memcpy(o->end, s, n);
    o->end[n] = 0;
    o->end += n + 1;
}

static int ends_ci(const char *s, size_t n, const char *tail) {
    size_t m = strlen(tail);
    if (n < m) return 0;
    for (size_t i = 0; i < m; i++)
        if (lower(s[n - m + i]) != tail[i]) return 0;
    return 1;
}

/* A piece without punctuation: split clitics as the Treebank rules do. */
static void emit_piece(Out *o, const char *s, size_t n) {
    if (n == 6 && ends_ci(s, n, "cannot")) {
        emit(o, s, 3);
        emit(o, s + 3, 3);
        return;
    }
    size_t clitic = 0;
    if (n > 3 && ends_ci(s, n, "n't")) clitic = 3;
    else if (n > 3 && (ends_ci(s, n, "'ll") || ends_ci(s, n, "'re") || ends_ci(s, n, "'ve"))) clitic = 3;
    else if (n > 2 && (ends_ci(s, n, "'s") || ends_ci(s, n, "'m") || ends_ci(s, n, "'d"))) clitic = 2;
    else if (n > 1 && s[n - 1] == '\'') clitic = 1;
    if (clitic && s[n - clitic - 1] == '\'') clitic = 0; /* '' is a quote, not a clitic */
    emit(o, s, n - clitic);
    emit(o, s + n - clitic, clitic);
}

static int always_split(char c) { return c && strchr(";@#$%&?!()[]{}<>\"", c) != NULL; }

/* The middle of a chunk: internal punctuation splits. */
static void emit_middle(Out *o, const char *s, size_t n) {
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        size_t len = 0;
        if (always_split(s[i])) len = 1;
        else if ((s[i] == ',' || s[i] == ':') && (i + 1 == n || !is_digit(s[i + 1]))) len = 1;
        else if (s[i] == '-' && i + 1 < n && s[i + 1] == '-') len = 2;
        else if (s[i] == '.' && i + 2 < n && s[i + 1] == '.' && s[i + 2] == '.') len = 3;
        if (!len) {
            i++;
            continue;
        }
        emit_piece(o, s + start, i - start);
        emit(o, s + i, len);
        i += len;
        start = i;
    }
    emit_piece(o, s + start, n - start);
}

static void emit_chunk(Out *o, const char *s, size_t n) {
    size_t a = 0, b = n;
    while (a < b && strchr("\"([{<`", s[a]) && s[a]) emit(o, s + a++, 1);
    size_t tail_at[64], tail_len[64], nt = 0; /* trailing tokens, peeled right to left */
    while (b > a && nt < 64) {
        const char *e = s + b;
        if (b - a >= 3 && e[-1] == '.' && e[-2] == '.' && e[-3] == '.') {
            tail_at[nt] = b - 3, tail_len[nt++] = 3, b -= 3;
        } else if (strchr(")]}>\"!?;,:", e[-1])) {
            tail_at[nt] = b - 1, tail_len[nt++] = 1, b -= 1;
        } else if (e[-1] == '.' && b - a > 1 && !memchr(s + a, '.', b - 1 - a)) {
            tail_at[nt] = b - 1, tail_len[nt++] = 1, b -= 1; /* sentence-final period */
        } else {
            break;
        }
    }
    emit_middle(o, s + a, b - a);
    while (nt) {
        nt--;
        emit(o, s + tail_at[nt], tail_len[nt]);
    }
}

int ml_words_tokenize(const char *text, int lowercase, MlWords *w) {
    ml_words_free(w);
    size_t n = strlen(text);
    char *src = malloc(n + 1);
    w->buf = malloc(2 * n + 16);
    w->word = malloc((n + 2) * sizeof *w->word);
    if (!src || !w->buf || !w->word) {
        free(src);
        ml_words_free(w);
        return ML_ERR_NOMEM;
    }
    for (size_t i = 0; i <= n; i++) src[i] = lowercase ? lower(text[i]) : text[i];
    Out o = {w, w->buf};
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(src[i])) i++;
        size_t j = i;
        while (j < n && !is_space(src[j])) j++;
        if (j > i) emit_chunk(&o, src + i, j - i);
        i = j;
    }
    free(src);
    return ML_OK;
}

void ml_words_free(MlWords *w) {
    free(w->word);
    free(w->buf);
    memset(w, 0, sizeof *w);
}

/* ---- singular nouns ---- */

typedef struct Pair {
    const char *plural, *singular;
} Pair;

/* Irregular plurals (WordNet's noun.exc for the words captions use). */
static const Pair irregular[] = {
    {"children", "child"}, {"mice", "mouse"},     {"geese", "goose"},   {"teeth", "tooth"},  {"feet", "foot"},
    {"oxen", "ox"},        {"knives", "knife"},   {"calves", "calf"},   {"wolves", "wolf"},  {"leaves", "leaf"},
    {"shelves", "shelf"},  {"halves", "half"},    {"loaves", "loaf"},   {"scarves", "scarf"}, {"wives", "wife"},
    {"lives", "life"},     {"thieves", "thief"},  {"hooves", "hoof"},   {"elves", "elf"},    {"cacti", "cactus"},
    {"fungi", "fungus"},   {"criteria", "criterion"}, {"lenses", "lens"}, {"gases", "gas"},  {"dice", "die"},
    {"viruses", "virus"},  {"bonuses", "bonus"},  {"campuses", "campus"}, {"circuses", "circus"},
    {"cactuses", "cactus"}, {"octopuses", "octopus"}, {"walruses", "walrus"}, {"canvases", "canvas"},
    {"atlases", "atlas"},  {"aliases", "alias"},  {"irises", "iris"},   {"lice", "louse"},
};

/* Words ending in s that are not plurals (or whose plural is the same). */
static const char *const unchanged[] = {
    "is", "his", "this", "tennis", "axis", "iris", "pelvis", "penis", "chassis", "mantis", "trellis", "paris",
    "dennis", "elvis", "yes", "was", "has", "gas", "as", "always", "perhaps", "sometimes", "whereas", "besides",
    "across", "unless", "canvas", "atlas", "alias", "bias", "christmas", "texas", "lens", "series", "species",
    "news", "scissors", "pants", "jeans", "shorts", "trousers", "pliers", "tongs", "goggles", "binoculars",
    "clothes", "physics", "mathematics", "politics", "means", "headquarters", "barracks", "overalls", "its",
    "afterwards", "towards", "downstairs", "upstairs", "outdoors", "indoors", "nevertheless",
};

/* -ies words whose singular ends in -ie, and -oes / -ches words that only drop s. */
static const char *const ie_words[] = {"movies", "cookies", "brownies", "calories", "zombies", "hippies", "selfies",
                                       "goalies", "smoothies", "hoodies", "rookies", "veggies", "birdies", "pixies"};
static const char *const oe_words[] = {"canoes", "toes", "tiptoes", "hoes", "oboes", "floes", "sloes",
                                       "throes", "woes", "does", "roes", "foes"};
static const char *const che_words[] = {"headaches", "aches", "caches", "niches", "cliches", "moustaches",
                                        "mustaches", "avalanches", "quiches", "creches"};
static const char *const men_words[] = {"specimen", "abdomen", "omen", "semen", "stamen", "ramen", "amen",
                                        "hymen", "yemen", "regimen", "acumen", "bitumen", "lumen"};

#define IN_LIST(w, list) in_list(w, list, sizeof list / sizeof list[0])
static int in_list(const char *w, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(w, list[i])) return 1;
    return 0;
}

static int ends(const char *w, size_t n, const char *tail) {
    size_t m = strlen(tail);
    return n >= m && !memcmp(w + n - m, tail, m);
}

static void put(char *out, size_t cap, const char *s, size_t n) {
    if (!cap) return;
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

static void put_with(char *out, size_t cap, const char *s, size_t keep, const char *add) {
    char tmp[256];
    size_t m = strlen(add);
    if (keep + m >= sizeof tmp) {
        put(out, cap, s, strlen(s));
        return;
    }
    memcpy(tmp, s, keep);
    memcpy(tmp + keep, add, m + 1);
    put(out, cap, tmp, keep + m);
}

void ml_words_singular(const char *w, char *out, size_t cap) {
    size_t n = strlen(w);
    for (size_t i = 0; i < sizeof irregular / sizeof irregular[0]; i++)
        if (!strcmp(w, irregular[i].plural)) {
            put(out, cap, irregular[i].singular, strlen(irregular[i].singular));
            return;
        }
    if (n < 3 || IN_LIST(w, unchanged)) {
        put(out, cap, w, n);
        return;
    }
    if (ends(w, n, "buses") || ends(w, n, "busses")) { /* bus, minibus, ... */
        put_with(out, cap, w, n - (ends(w, n, "busses") ? 3 : 2), "");
        return;
    }
    if (ends(w, n, "men") && !IN_LIST(w, men_words)) {
        put_with(out, cap, w, n - 3, "man");
        return;
    }
    if (w[n - 1] != 's' || ends(w, n, "ss") || ends(w, n, "us") || ends(w, n, "sis") || ends(w, n, "'s")) {
        put(out, cap, w, n);
        return;
    }
    if (ends(w, n, "ies")) {
        if (n == 4 || IN_LIST(w, ie_words)) put(out, cap, w, n - 1); /* ties, pies, movies */
        else put_with(out, cap, w, n - 3, "y");
        return;
    }
    if (ends(w, n, "oes")) {
        /* shoes, horseshoes, canoes: the singular ends in -oe */
        put(out, cap, w, ends(w, n, "shoes") || IN_LIST(w, oe_words) ? n - 1 : n - 2);
        return;
    }
    if (ends(w, n, "sses") || ends(w, n, "xes") || ends(w, n, "zzes") ||
        ((ends(w, n, "ches") || ends(w, n, "shes")) && !IN_LIST(w, che_words))) {
        put(out, cap, w, n - 2);
        return;
    }
    put(out, cap, w, n - 1);
}
