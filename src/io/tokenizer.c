/* tokenizer.c: encoding (added-token split, normalizer, BPE with byte
   fallback) and the small accessors.  Loading is in tokenizer_load.c,
   decoding in tokenizer_decode.c. */
#include <stdlib.h>
#include <string.h>

#include "io/tokenizer_impl.h"
#include "io/unicode.h"

int ml_tokenizer_vocab_size(const MlTokenizer *tok) { return tok->n_ids; }

const char *ml_tokenizer_piece(const MlTokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_ids ? tok->piece[id] : NULL;
}

int ml_tokenizer_is_special(const MlTokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_ids && tok->special[id];
}

int ml_tokenizer_token_id(const MlTokenizer *tok, const char *piece) {
    if (!piece) return -1;
    size_t n = strlen(piece);
    int32_t id = ml_tok_strmap_find(&tok->added_map, piece, n);
    return id >= 0 ? id : ml_tok_strmap_find(&tok->vocab, piece, n);
}

int ml_tokenizer_bos_id(const MlTokenizer *tok) { return tok->bos_id; }
int ml_tokenizer_eos_id(const MlTokenizer *tok) { return tok->eos_id; }

/* ---- normalizer --------------------------------------------------------- */

static int text_too_long(const MlTokenizer *tok, MlError *err) {
    return ml_error_set(err, ML_ERR_RANGE, "%s: text longer than %zu bytes after normalizing", tok->source,
                        ML_TOK_MAX_TEXT);
}

static size_t count_occurrences(const char *s, size_t n, const char *pat, size_t pat_len) {
    size_t count = 0;
    for (const char *p = s, *end = s + n; (p = memmem(p, (size_t)(end - p), pat, pat_len)); p += pat_len) count++;
    return count;
}

int ml_tok_normalize(const MlTokenizer *tok, const char *s, size_t n, char **out, size_t *out_len, MlError *err) {
    *out = NULL;
    if (n > ML_TOK_MAX_TEXT) return text_too_long(tok, err);
    char *cur = malloc(n + 1);
    if (!cur) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory normalizing text", tok->source);
    memcpy(cur, s, n);
    size_t len = n;
    for (int k = 0; k < tok->n_norm_steps; k++) {
        const MlTokStep *st = &tok->norm_steps[k];
        size_t new_len;
        if (st->kind == ML_TOK_NFC) {
            char *next;
            int rc = ml_unicode_nfc(cur, len, &next, &new_len);
            free(cur);
            if (rc == ML_ERR_RANGE) return text_too_long(tok, err);
            if (rc) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory normalizing text", tok->source);
            cur = next;
            len = new_len;
            continue;
        }
        if (st->kind == ML_TOK_PREPEND) {
            if (!len) continue; /* `tokenizers` prepends only to non-empty text */
            new_len = len + st->a_len;
        } else {
            size_t count = count_occurrences(cur, len, st->a, st->a_len);
            if (!count) continue;
            if (st->b_len > st->a_len && count > (ML_TOK_MAX_TEXT - len) / (st->b_len - st->a_len)) {
                free(cur);
                return text_too_long(tok, err);
            }
            new_len = len - count * st->a_len + count * st->b_len;
        }
        if (new_len > ML_TOK_MAX_TEXT) {
            free(cur);
            return text_too_long(tok, err);
        }
        char *next = malloc(new_len + 1);
        if (!next) {
            free(cur);
            return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory normalizing text", tok->source);
        }
        if (st->kind == ML_TOK_PREPEND) {
            memcpy(next, st->a, st->a_len);
            memcpy(next + st->a_len, cur, len);
        } else {
            /* Non-overlapping occurrences, left to right, like str::replace. */
            char *w = next;
            const char *p = cur, *end = cur + len, *hit;
            while ((hit = memmem(p, (size_t)(end - p), st->a, st->a_len))) {
                memcpy(w, p, (size_t)(hit - p));
                w += hit - p;
                memcpy(w, st->b, st->b_len);
                w += st->b_len;
                p = hit + st->a_len;
            }
            memcpy(w, p, (size_t)(end - p));
        }
        free(cur);
        cur = next;
        len = new_len;
    }
    cur[len] = 0;
    *out = cur;
    *out_len = len;
    return ML_OK;
}

/* ---- BPE ---------------------------------------------------------------- */

typedef struct Sym {
    int32_t id;
    int32_t prev, next; /* neighbours still alive, -1 at the ends */
    uint32_t len;       /* bytes covered; 0 once merged into its left neighbour */
} Sym;

typedef struct Cand { /* a possible merge of sym[pos] with its right neighbour */
    int32_t rank, pos, new_id;
} Cand;

typedef struct Enc {
    const MlTokenizer *tok;
    int32_t *ids;
    size_t cap, n;
    Sym *sym;
    size_t sym_cap;
    Cand *heap; /* min-heap on (rank, pos): lowest rank first, leftmost on ties */
    size_t heap_n, heap_cap;
    char *word; /* byte-level: one piece in ByteLevel characters */
    size_t word_cap;
    MlError *err;
} Enc;

static void emit(Enc *e, int32_t id) {
    if (e->n < e->cap) e->ids[e->n] = id;
    e->n++;
}

static int cand_less(const Cand *a, const Cand *b) { return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos; }

static int heap_push(Enc *e, Cand c) {
    if (e->heap_n == e->heap_cap) {
        size_t cap = e->heap_cap ? 2 * e->heap_cap : 64;
        Cand *grown = realloc(e->heap, cap * sizeof *grown);
        if (!grown) return ml_error_set(e->err, ML_ERR_NOMEM, "%s: out of memory encoding text", e->tok->source);
        e->heap = grown;
        e->heap_cap = cap;
    }
    size_t i = e->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!cand_less(&c, &e->heap[parent])) break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = c;
    return ML_OK;
}

static Cand heap_pop(Enc *e) {
    Cand top = e->heap[0], last = e->heap[--e->heap_n];
    size_t i = 0, n = e->heap_n;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && cand_less(&e->heap[child + 1], &e->heap[child])) child++;
        if (!cand_less(&e->heap[child], &last)) break;
        e->heap[i] = e->heap[child];
        i = child;
    }
    if (n) e->heap[i] = last;
    return top;
}

static int push_pair(Enc *e, int32_t left) {
    int32_t right = e->sym[left].next;
    if (right < 0) return ML_OK;
    const MlTokMergeSlot *m = ml_tok_merge_find(e->tok, e->sym[left].id, e->sym[right].id);
    return m ? heap_push(e, (Cand){m->rank, left, m->new_id}) : ML_OK;
}

static void add_sym(Enc *e, size_t *ns, int32_t id, uint32_t len) {
    Sym *s = &e->sym[*ns];
    *s = (Sym){id, (int32_t)*ns - 1, (int32_t)*ns + 1, len};
    (*ns)++;
}

/* Splits a word into symbols the way `tokenizers` BPE::merge_word does:
   one per character, or its <0xXX> bytes, or an unk (fused when fuse_unk). */
static int word_symbols(Enc *e, const char *s, size_t n, size_t *ns) {
    const MlTokenizer *tok = e->tok;
    int have_unk = 0;
    uint32_t unk_len = 0;
    *ns = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t cl = ml_tok_utf8_char((const unsigned char *)s + i, n - i, &cp);
        if (!cl) cl = 1; /* an invalid byte stands for itself */
        int32_t id = ml_tok_strmap_find(&tok->vocab, s + i, cl);
        if (id >= 0) {
            if (have_unk) add_sym(e, ns, tok->unk_id, unk_len);
            have_unk = 0;
            add_sym(e, ns, id, (uint32_t)cl);
        } else {
            int all_bytes = tok->byte_fallback;
            for (size_t k = 0; k < cl && all_bytes; k++) all_bytes = tok->byte_id[(unsigned char)s[i + k]] >= 0;
            if (all_bytes) {
                /* As in `tokenizers`, a pending unk is not flushed here. */
                for (size_t k = 0; k < cl; k++) add_sym(e, ns, tok->byte_id[(unsigned char)s[i + k]], 1);
            } else if (tok->unk) {
                if (tok->unk_id < 0)
                    return ml_error_set(e->err, ML_ERR_FORMAT, "%s: model.unk_token '%s' is not in the vocab",
                                        tok->source, tok->unk);
                if (have_unk && !tok->fuse_unk) add_sym(e, ns, tok->unk_id, unk_len);
                unk_len = have_unk && tok->fuse_unk ? unk_len + (uint32_t)cl : (uint32_t)cl;
                have_unk = 1;
            }
        }
        i += cl;
    }
    if (have_unk) add_sym(e, ns, tok->unk_id, unk_len);
    if (*ns) e->sym[*ns - 1].next = -1;
    return ML_OK;
}

/* One normalized word: the merge loop of `tokenizers` Word::merge_all. */
static int bpe(Enc *e, const char *s, size_t n) {
    const MlTokenizer *tok = e->tok;
    if (!n) return ML_OK;
    if (tok->ignore_merges) {
        int32_t id = ml_tok_strmap_find(&tok->vocab, s, n);
        if (id >= 0) {
            emit(e, id);
            return ML_OK;
        }
    }
    if (n > e->sym_cap) {
        Sym *grown = realloc(e->sym, n * sizeof *grown);
        if (!grown) return ml_error_set(e->err, ML_ERR_NOMEM, "%s: out of memory encoding text", tok->source);
        e->sym = grown;
        e->sym_cap = n;
    }
    size_t ns;
    int rc = word_symbols(e, s, n, &ns);
    if (rc || !ns) return rc;
    Sym *sym = e->sym;
    e->heap_n = 0;
    for (size_t i = 0; i + 1 < ns; i++)
        if ((rc = push_pair(e, (int32_t)i))) return rc;
    while (e->heap_n) {
        Cand top = heap_pop(e);
        Sym *left = &sym[top.pos];
        if (!left->len || left->next < 0) continue;
        int32_t r = left->next;
        const MlTokMergeSlot *m = ml_tok_merge_find(tok, left->id, sym[r].id);
        if (!m || m->new_id != top.new_id) continue; /* stale: a neighbour changed since it was queued */
        left->id = top.new_id;
        left->len += sym[r].len;
        left->next = sym[r].next;
        sym[r].len = 0;
        if (left->next >= 0) sym[left->next].prev = top.pos;
        if (left->prev >= 0 && (rc = push_pair(e, left->prev))) return rc;
        if ((rc = push_pair(e, top.pos))) return rc;
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) emit(e, sym[i].id);
    return ML_OK;
}

/* Byte-level BPE: each piece of the Qwen2 split, its bytes spelled as ByteLevel characters, BPE'd on its own. */
static int bpe_byte_level(Enc *e, const char *s, size_t n) {
    const MlTokenizer *tok = e->tok;
    for (size_t i = 0, end; i < n; i = end) {
        end = ml_tok_qwen2_split(s, n, i);
        size_t need = 2 * (end - i);
        if (need > e->word_cap) {
            char *grown = realloc(e->word, need);
            if (!grown) return ml_error_set(e->err, ML_ERR_NOMEM, "%s: out of memory encoding text", tok->source);
            e->word = grown;
            e->word_cap = need;
        }
        size_t w = 0;
        for (size_t k = i; k < end; k++)
            for (const char *c = tok->byte_utf8[(unsigned char)s[k]]; *c; c++) e->word[w++] = *c;
        int rc = bpe(e, e->word, w);
        if (rc) return rc;
    }
    return ML_OK;
}

/* ---- added tokens ------------------------------------------------------- */

/* Index into tok->added of the longest token of m that starts at s[i], or -1. */
static int32_t match_at(const MlTokenizer *tok, const MlTokMatcher *m, const char *s, size_t n, size_t i,
                        size_t *len) {
    unsigned b = (unsigned char)s[i];
    for (int32_t k = m->first[b]; k < m->first[b + 1]; k++) {
        const MlTokAdded *a = &tok->added[m->order[k]];
        const char *pat = m->normalized ? a->norm : a->content;
        size_t pat_len = m->normalized ? a->norm_len : a->len;
        if (pat_len <= n - i && !memcmp(pat, s + i, pat_len)) {
            *len = pat_len;
            return m->order[k];
        }
    }
    return -1;
}

/* Unicode White_Space, what Rust's regex \s matches. */
static int is_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Start of the run of whitespace characters that ends at s[end]. */
static size_t space_run_before(const char *s, size_t end) {
    while (end > 0) {
        size_t found = 0;
        for (size_t back = 1; back <= 4 && back <= end && !found; back++) {
            uint32_t cp;
            if (ml_tok_utf8_char((const unsigned char *)s + end - back, back, &cp) == back && is_space(cp))
                found = back;
        }
        if (!found) break;
        end -= found;
    }
    return end;
}

/* Length of the run of whitespace characters that starts at s[0]. */
static size_t space_run_after(const char *s, size_t n) {
    size_t i = 0;
    uint32_t cp;
    for (size_t l; i < n && (l = ml_tok_utf8_char((const unsigned char *)s + i, n - i, &cp)) && is_space(cp); i += l) {
    }
    return i;
}

typedef int (*SegmentFn)(Enc *e, const char *s, size_t n);

/* AddedVocabulary::find_matches: leftmost-longest matches of m in s become
   their ids (lstrip / rstrip widen them over whitespace); the text between
   them goes to seg. */
static int split_added(Enc *e, const MlTokMatcher *m, const char *s, size_t n, SegmentFn seg) {
    const MlTokenizer *tok = e->tok;
    if (!m->first[256]) return seg(e, s, n);
    size_t start_offset = 0, pos = 0;
    int rc;
    while (pos < n) {
        size_t i, len = 0;
        int32_t k = -1;
        for (i = pos; i < n && (k = match_at(tok, m, s, n, i, &len)) < 0; i++) {
        }
        if (k < 0) break;
        const MlTokAdded *a = &tok->added[k];
        size_t start = i, stop = i + len;
        pos = stop; /* the search resumes after the match itself, not after its rstrip */
        if (a->lstrip) {
            size_t widened = space_run_before(s, start);
            start = widened > start_offset ? widened : start_offset;
        }
        if (a->rstrip) stop += space_run_after(s + stop, n - stop);
        if (start_offset < start && (rc = seg(e, s + start_offset, start - start_offset))) return rc;
        emit(e, a->id);
        start_offset = stop;
    }
    return start_offset < n ? seg(e, s + start_offset, n - start_offset) : ML_OK;
}

/* Text between raw added tokens: normalized on its own, then split by the
   normalized added tokens, then BPE. */
static int encode_segment(Enc *e, const char *s, size_t n) {
    if (!n) return ML_OK;
    char *norm;
    size_t norm_len;
    int rc = ml_tok_normalize(e->tok, s, n, &norm, &norm_len, e->err);
    if (rc) return rc;
    rc = split_added(e, &e->tok->norm_match, norm, norm_len, e->tok->byte_level ? bpe_byte_level : bpe);
    free(norm);
    return rc;
}

int ml_tokenizer_encode(const MlTokenizer *tok, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
                        MlError *err) {
    *n = 0;
    if (!text && len) return ml_error_set(err, ML_ERR_ARG, "%s: encode: NULL text", tok->source);
    if (len > ML_TOK_MAX_TEXT)
        return ml_error_set(err, ML_ERR_RANGE, "%s: text of %zu bytes is longer than %zu", tok->source, len,
                            ML_TOK_MAX_TEXT);
    Enc e = {.tok = tok, .ids = ids, .cap = ids ? cap : 0, .err = err};
    int rc = split_added(&e, &tok->raw_match, text ? text : "", len, encode_segment);
    free(e.sym);
    free(e.heap);
    free(e.word);
    *n = e.n;
    if (rc) return rc;
    if (e.n > e.cap)
        return ml_error_set(err, ML_ERR_RANGE, "%s: the text needs %zu tokens, room for %zu", tok->source, e.n, e.cap);
    return ML_OK;
}
