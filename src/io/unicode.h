/*
** unicode.h: the few Unicode properties tokenizers need, from tables
** generated out of Python's unicodedata (scripts/gen_unicode_tables.py,
** Unicode 14.0): letters (\p{L}), numbers (\p{N}), White_Space (\s of the
** `tokenizers` regexes) and NFC normalization.
**
**     char *nfc; size_t len;
**     if (ml_unicode_nfc("Cafe\xcc\x81", 6, &nfc, &len) == ML_OK) ...   // "Caf\xc3\xa9", 5 bytes
**     free(nfc);
**
** Bytes that are not valid UTF-8 pass through NFC unchanged, each one
** standing for itself (a starter that composes with nothing).
*/
#ifndef ML_IO_UNICODE_H
#define ML_IO_UNICODE_H

#include <stddef.h>
#include <stdint.h>

int ml_unicode_is_letter(uint32_t cp);
int ml_unicode_is_number(uint32_t cp);
int ml_unicode_is_space(uint32_t cp);

/* NFC of s[0..n) into a malloc'd, NUL-terminated buffer; ML_ERR_NOMEM or
   ML_ERR_RANGE (more than 1 GiB) on failure, with *out NULL. */
int ml_unicode_nfc(const char *s, size_t n, char **out, size_t *out_len);

#endif
