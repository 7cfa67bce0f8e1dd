/* bpe_json.c: a learned vocabulary as tokenizer.json (io/tokenizer_json.h writes the file's shape). */
#include <stdlib.h>

#include "core/file.h"
#include "io/tokenizer_json.h"
#include "train/bpe.h"

int ml_bpe_vocab_json(const MlBpeVocab *v, const char *const *added, int n_added, char **text, size_t *len,
                      MlError *err) {
    *text = NULL;
    *len = 0;
    const char **merges = malloc((size_t)(v->n_merges ? v->n_merges : 1) * 2 * sizeof *merges);
    if (!merges) return ml_error_set(err, ML_ERR_NOMEM, "bpe: out of memory");
    for (int k = 0; k < 2 * v->n_merges; k++) {
        int32_t id = v->merges[k];
        ML_ASSERT(id >= 0 && id < v->n_pieces);
        merges[k] = v->pieces[id];
    }
    int rc = ml_tokenizer_json_bpe((const char *const *)v->pieces, v->n_pieces, merges, v->n_merges, added, n_added, text,
                                   len, err);
    free(merges);
    return rc;
}

int ml_bpe_vocab_write(const MlBpeVocab *v, const char *const *added, int n_added, const char *path, MlError *err) {
    char *text;
    size_t len;
    int rc = ml_bpe_vocab_json(v, added, n_added, &text, &len, err);
    if (!rc) rc = ml_file_write(path, text, len, err);
    free(text);
    return rc;
}
