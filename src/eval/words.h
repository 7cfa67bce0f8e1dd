/*
** words.h: the word splitting and plural folding that CHAIR and AMBER need,
** without NLTK.
**
** ml_words_tokenize approximates nltk.word_tokenize (Treebank rules) on
** caption-like text: splits on whitespace; peels off quotes, brackets and
** , ; : ! ? (a comma or colon only when no digit follows, so "1,000" stays),
** "...", "--" and a word's final period (unless the word has another period
** inside, like "u.s."); splits the clitics 's 'm 'd 'll 're 've n't and a
** trailing apostrophe; "cannot" becomes "can" "not".  Hyphenated words stay
** whole.  Optionally lower-cases ASCII first (CHAIR does, AMBER does not).
**
** ml_words_singular maps a word to its singular noun form the way WordNet's
** noun lemmatizer does for the words these benchmarks count: regular plurals
** (-s, -es after s/x/z/ch/sh, -ies -> -y, -oes -> -o), -men -> -man, f/fe
** plurals and irregulars (children, mice, geese, teeth, feet, oxen, ...),
** while leaving singular words ending in s alone (bus, glass, tennis,
** scissors, series, analysis, ...).  It knows no parts of speech: verbs
** are not lemmatized (see docs/evaluation.md for what that changes).
**
**     MlWords w = {0};
**     if (ml_words_tokenize("Two dogs' bowls, cannot.", 1, &w)) ... out of memory
**     for (size_t i = 0; i < w.count; i++) puts(w.word[i]);   two dogs ' bowls , can not .
**     char s[64]; ml_words_singular("knives", s, sizeof s);   knife
**     ml_words_free(&w);
*/
#ifndef ML_EVAL_WORDS_H
#define ML_EVAL_WORDS_H

#include <stddef.h>

typedef struct MlWords {
    char **word; /* count NUL-terminated tokens (point into buf) */
    size_t count;
    char *buf;
} MlWords;

/* Returns ML_OK or ML_ERR_NOMEM; replaces what w held. */
int ml_words_tokenize(const char *text, int lowercase, MlWords *w);
void ml_words_free(MlWords *w);

/* Writes the singular of word into out (cap bytes; words that do not fit
   are copied truncated, which no rule below ever needs). */
void ml_words_singular(const char *word, char *out, size_t cap);

#endif
