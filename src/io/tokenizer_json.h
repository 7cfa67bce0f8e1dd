/*
** tokenizer_json.h: tokenizer.json files for checkpoints init-model writes.
**
** ml_tokenizer_json_builtin produces a small LLaMA-style tokenizer.json of
** the same kind as llava's (BPE with byte fallback, "▁" word prefix, the same
** normalizer, decoder and "<s> $A" post-processor): <unk> <s> </s>, the 256
** byte pieces <0x00>..<0xFF> (ids 3..258), "▁", ASCII letters, digits and
** punctuation, a few dozen merges forming common English pieces ("▁the",
** "▁is", "ing", ...), then the added tokens <image> and <pad>.
** ml_tokenizer_json_facts reads back from any tokenizer.json what a config
** needs: the id range and the ids of the special tokens.  The full tokenizer
** (encode/decode) is io/tokenizer.h.
**
**     char *json; size_t len;
**     ml_tokenizer_json_builtin(&json, &len, &err);   // caller frees json
**     MlTokenizerFacts f;
**     ml_tokenizer_json_facts(json, len, "tokenizer.json", &f, &err);
*/
#ifndef ML_IO_TOKENIZER_JSON_H
#define ML_IO_TOKENIZER_JSON_H

#include <stddef.h>

#include "core/error.h"
#include "core/json.h"

typedef struct MlTokenizerFacts {
    int n_ids;               /* largest id in vocab or added_tokens, plus one */
    int n_merges;
    int unk_id, bos_id, eos_id; /* <unk>, <s>, </s> */
    int image_id;            /* <image> */
    int pad_id;              /* <pad>, -1 when absent */
} MlTokenizerFacts;

int ml_tokenizer_json_builtin(char **text, size_t *len, MlError *err);

/* The same kind of file for any BPE vocabulary (train/bpe.h writes learned
   ones): pieces[i] gets id i, and pieces 0..2 must be <unk> <s> </s>;
   merges holds n_merges pairs (merges[2k], merges[2k+1]) in priority order,
   each naming two pieces whose concatenation is a piece (not checked here:
   the tokenizer loader checks it).  <image> and <pad> get ids n_pieces and
   n_pieces + 1, and the n_added further special tokens in added (or none:
   NULL, 0) the ids after.  Fails with ML_ERR_ARG on an empty or repeated
   piece or token, or a piece spelled <image> or <pad>; the caller frees *text. */
int ml_tokenizer_json_bpe(const char *const *pieces, int n_pieces, const char *const *merges, int n_merges,
                          const char *const *added, int n_added, char **text, size_t *len, MlError *err);

/* Fails when the file is not a BPE tokenizer.json or lacks <unk>, <s>, </s> or <image>. */
int ml_tokenizer_json_facts(const char *text, size_t len, const char *where, MlTokenizerFacts *facts, MlError *err);

/* cJSON_Print output re-indented with two spaces, as Hugging Face writes
   JSON; the caller frees the result.  NULL when out of memory. */
char *ml_json_print_pretty(const cJSON *item);

#endif
