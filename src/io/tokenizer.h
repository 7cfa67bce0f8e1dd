/*
** tokenizer.h: a Hugging Face tokenizer.json (BPE, as LLaMA / LLaVA use it),
** or a GPT-2-style vocab.json + merges.txt folder (Qwen2), encoded and
** decoded exactly as the `tokenizers` library does.
**
** What is supported (anything else in the file is refused at load with
** ML_ERR_UNSUPPORTED naming the part):
**   model       "BPE": vocab, merges (["a","b"] pairs or "a b" strings, ranked
**               by order), byte_fallback, unk_token, fuse_unk, ignore_merges.
**   normalizer  null, or Prepend / Replace(String) / NFC steps, possibly nested
**               in Sequence (LLaMA: Prepend "▁", then replace " " with "▁").
**   pre_tokenizer null, or Qwen2's: Split on its regex (Isolated), then
**               ByteLevel (bytes spelled as characters, no prefix space).
**   added_tokens special or not, normalized or not, lstrip / rstrip.
**   decoder     null, or Replace(String) / ByteFallback / ByteLevel / Fuse / Strip steps.
** The post_processor is ignored: encode never adds BOS (callers do, see
** model/prompt.h).
**
** Encoding: added tokens are found in the raw text first (leftmost, longest
** first); every stretch of text between them is normalized on its own (so
** each gets the "▁" prefix) and BPE'd: lowest-ranked merge first, leftmost
** on ties; a character missing from the vocab becomes its <0xXX> byte
** pieces (with Qwen2's pre-tokenizer: split by the regex first, each piece's
** bytes BPE'd on their own).  Text that is not valid UTF-8 is accepted: each invalid byte is
** treated as a character of its own (and so falls back to its byte piece).
**
**     MlTokenizer *tok; MlError err = {0};
**     if (ml_tokenizer_load(&tok, "DIR/tokenizer.json", &err)) { puts(err.msg); ... }
**     int32_t ids[64]; size_t n;
**     if (ml_tokenizer_encode(tok, "Hello world", 11, ids, 64, &n, &err) == ML_ERR_RANGE)
**         ... n ids are needed, retry with a larger buffer ...
**     char text[256];
**     ml_tokenizer_decode(tok, ids, n, 1, text, sizeof text);   // "Hello world"
**     ml_tokenizer_free(tok);
**
** The tokenizer is immutable after load: any number of threads may encode
** and decode with it at once.  Pieces returned by ml_tokenizer_piece belong
** to the tokenizer and live until ml_tokenizer_free.
*/
#ifndef ML_IO_TOKENIZER_H
#define ML_IO_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct MlTokenizer MlTokenizer;

/* Reads and validates a tokenizer.json file. */
int ml_tokenizer_load(MlTokenizer **out, const char *path, MlError *err);
/* The same from memory; `where` names the source in error messages. */
int ml_tokenizer_load_mem(MlTokenizer **out, const char *json, size_t len, const char *where, MlError *err);
/* A GPT-2-style BPE folder as Qwen2 ships it: DIR/vocab.json, DIR/merges.txt and
   (optional) DIR/tokenizer_config.json's added_tokens_decoder, read as
   transformers' Qwen2TokenizerFast converts them: NFC normalizer, Qwen2 split
   regex + ByteLevel pre-tokenizer, BPE without byte fallback, ByteLevel decoder. */
int ml_tokenizer_load_bpe_dir(MlTokenizer **out, const char *dir, MlError *err);
/* The same from memory (config may be NULL); `where` names the folder in messages. */
int ml_tokenizer_load_bpe_mem(MlTokenizer **out, const char *vocab, size_t vocab_len, const char *merges,
                              size_t merges_len, const char *config, size_t config_len, const char *where,
                              MlError *err);
void ml_tokenizer_free(MlTokenizer *tok);

/* Number of ids (largest id + 1), added tokens included: 32002 for LLaVA-1.5.
   The model's embedding table may be larger (32064, padded). */
int ml_tokenizer_vocab_size(const MlTokenizer *tok);

/* Normalizer + added-token split + BPE with byte fallback; no BOS.  Writes at
   most cap ids; *n is always the number of ids the text needs, and the call
   returns ML_ERR_RANGE (with a message) when that is more than cap. */
int ml_tokenizer_encode(const MlTokenizer *tok, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
                        MlError *err);

/* Decoder steps of the file (LLaMA: "▁" -> " ", <0xXX> pieces -> bytes, fuse,
   strip one leading space).  A run of byte pieces that is not valid UTF-8
   becomes one U+FFFD per byte, as in `tokenizers`.  Ids out of range are
   skipped; skip_special drops special added tokens (<s>, </s>, <image>, ...).
   Returns the bytes of the full text (like snprintf) and always
   NUL-terminates when cap > 0; returns 0 with an empty text when memory runs
   out or the text would pass 1 GiB. */
size_t ml_tokenizer_decode(const MlTokenizer *tok, const int32_t *ids, size_t n, int skip_special, char *out,
                           size_t cap);

/* Id of a piece (added tokens first, then the vocab), -1 if absent. */
int ml_tokenizer_token_id(const MlTokenizer *tok, const char *piece);
/* Piece of an id as stored in the file ("▁Hello", "<0x0A>", "<image>"); NULL if out of range. */
const char *ml_tokenizer_piece(const MlTokenizer *tok, int32_t id);
/* 1 if id is a special added token (skipped by decode with skip_special). */
int ml_tokenizer_is_special(const MlTokenizer *tok, int32_t id);

/* Ids of "<s>" and "</s>", -1 if the tokenizer has no such token. */
int ml_tokenizer_bos_id(const MlTokenizer *tok);
int ml_tokenizer_eos_id(const MlTokenizer *tok);

#endif
