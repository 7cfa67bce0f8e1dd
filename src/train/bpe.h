/*
** bpe.h: learning a small BPE vocabulary the way SentencePiece-BPE learned
** LLaMA's, written as a tokenizer.json the engine (io/tokenizer.h) runs.
**
** Text is normalized as LLaMA's tokenizer.json does it ("▁" prepended,
** every space replaced by "▁") and cut into words before each "▁", so a
** piece never holds "▁" except as its first character and merges never
** cross words.  The alphabet is the characters seen, most frequent first,
** cut once they cover `character_coverage` of all character occurrences;
** the rest (and NUL and bytes that are not UTF-8) are left to the byte
** pieces <0x00>..<0xFF>.  Merges are learned greedily: at each step the
** adjacent pair with the highest count over the corpus, ties broken by the
** left piece then the right piece in byte order, so the result depends only
** on the text (not on hashing or threads).  A merge is never learned when
** its result would be longer than max_piece_chars characters or spelled
** like a reserved piece (<unk>, <s>, </s>, <0xXX>, <image>, <pad>).
**
** Ids follow LLaMA's layout: <unk>=0 <s>=1 </s>=2, <0x00>..<0xFF> = 3..258,
** then the merged pieces in the order they were learned, then the alphabet
** (most frequent first); the file adds <image> and <pad> after the last.
**
**     MlBpeWords *w; MlError err = {0};
**     ml_bpe_words_new(&w, &err);
**     ml_bpe_words_add_file(w, "captions.jsonl", NULL, 0, &err);   // JSONL: every string value
**     ml_bpe_words_add_file(w, "extra.txt", NULL, 0, &err);        // text: one sentence per line
**     MlBpeOptions o = ml_bpe_defaults(); o.vocab_size = 1000;
**     MlBpeVocab v;
**     if (ml_bpe_train(w, &o, &v, &err) == ML_OK) ml_bpe_vocab_write(&v, NULL, 0, "tokenizer.json", &err);
**     ml_bpe_vocab_free(&v); ml_bpe_words_free(w);
**
** The word table owns its text; an MlBpeVocab owns its pieces.
*/
#ifndef ML_TRAIN_BPE_H
#define ML_TRAIN_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Pieces before the learned ones: <unk> <s> </s> and the 256 byte pieces. */
#define ML_BPE_FIXED_PIECES 259
/* Largest vocab_size accepted (the tokenizer loader's id limit, less <image> and <pad>). */
#define ML_BPE_MAX_VOCAB ((1 << 24) - 2)

/* ---- the corpus as counted words ---- */

typedef struct MlBpeWords MlBpeWords;

int ml_bpe_words_new(MlBpeWords **out, MlError *err);
void ml_bpe_words_free(MlBpeWords *w);

/* Counts the words of one sentence (normalized as above; empty text adds nothing). */
int ml_bpe_words_add_text(MlBpeWords *w, const char *text, size_t len, MlError *err);

/* A corpus file.  A file whose name ends in ".jsonl" or whose first
   non-blank character is "{" is JSON Lines: each non-blank
   line must be one JSON value, and every string value in it is a sentence
   (object keys are not text); with n_keys > 0 only the values under the
   top-level members named in keys count.  Any other file is plain text: each
   line (without its "\n" or "\r\n") is a sentence; empty lines are skipped. */
int ml_bpe_words_add_file(MlBpeWords *w, const char *path, const char *const *keys, int n_keys, MlError *err);

/* Distinct words so far, and the sentences they came from. */
int64_t ml_bpe_words_distinct(const MlBpeWords *w);
int64_t ml_bpe_words_sentences(const MlBpeWords *w);
/* The i-th distinct word in first-seen order (normalized bytes, with its count). */
void ml_bpe_words_at(const MlBpeWords *w, int64_t i, const char **bytes, size_t *len, int64_t *count);

/* ---- training ---- */

typedef struct MlBpeOptions {
    int vocab_size;            /* model vocab: fixed pieces + merges + alphabet (LLaMA: 32000) */
    int64_t min_frequency;     /* stop when the best pair occurs fewer times (>= 1) */
    double character_coverage; /* in (0, 1]: share of character occurrences the alphabet covers */
    int max_piece_chars;       /* longest piece in characters (SentencePiece: 16) */
    int progress;              /* draw a core/progress.h bar over the merges on stderr */
} MlBpeOptions;

/* vocab_size 32000, min_frequency 2, coverage 0.9995, 16 characters (SentencePiece's
   defaults, but for min_frequency: a pair seen once is not worth a piece); no progress. */
MlBpeOptions ml_bpe_defaults(void);

typedef struct MlBpeVocab {
    char **pieces;       /* [n_pieces]: id -> piece, NUL-terminated UTF-8 */
    int n_pieces;        /* <= vocab_size: fewer when the pairs ran out first */
    int32_t *merges;     /* [2 * n_merges]: left and right piece ids, in priority order */
    int n_merges;
    int n_chars;         /* alphabet kept */
    int n_chars_dropped; /* characters seen but left to byte fallback */
    double coverage;     /* share of character occurrences the alphabet covers */
} MlBpeVocab;

/* Fails with ML_ERR_ARG on bad options or when vocab_size cannot hold the
   fixed pieces and the alphabet, ML_ERR_MISSING when the corpus has no text. */
int ml_bpe_train(const MlBpeWords *w, const MlBpeOptions *opt, MlBpeVocab *out, MlError *err);
void ml_bpe_vocab_free(MlBpeVocab *v);

/* The tokenizer.json text (io/tokenizer_json.h), with n_added special tokens
   after <image> and <pad> (NULL, 0: none); the caller frees *text. */
int ml_bpe_vocab_json(const MlBpeVocab *v, const char *const *added, int n_added, char **text, size_t *len,
                      MlError *err);
/* The same written to path (atomically). */
int ml_bpe_vocab_write(const MlBpeVocab *v, const char *const *added, int n_added, const char *path, MlError *err);

#endif
