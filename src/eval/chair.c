/* chair.c: CHAIR vocabulary, mention extraction, ground truth and scores. */
#include "eval/chair.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "eval/records.h"
#include "eval/words.h"

/* The reference's two-word phrases that stand for themselves... */
static const char *const phrases[] = {
    "motor bike",    "motor cycle",    "air plane",      "traffic light",  "street light",   "traffic signal",
    "stop light",    "fire hydrant",   "stop sign",      "parking meter",  "suit case",      "sports ball",
    "baseball bat",  "baseball glove", "tennis racket",  "wine glass",     "hot dog",        "cell phone",
    "mobile phone",  "teddy bear",     "hair drier",     "potted plant",   "bow tie",        "laptop computer",
    "stove top oven", "home plate",    "train track",
};
/* ...qualifiers that would otherwise fire "person" ("baby bird" -> bird)... */
static const char *const animals[] = {"bird", "cat",   "dog",     "horse",   "sheep",  "cow",
                                      "elephant", "bear", "zebra", "giraffe", "animal", "cub"};
/* ...and the special cases, applied last so they win. */
static const char *const special[][2] = {
    {"passenger jet", "jet"}, {"passenger train", "train"}, {"bow tie", "tie"},
    {"toilet seat", "toilet"}, {"wine glas", "wine glass"},
};

static int add_phrase(MlChairVocab *v, size_t *cap, const char *from, const char *to) {
    if (v->n_phrases == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        char **p = realloc(v->phrase_to, ncap * sizeof *p);
        if (!p) return ML_ERR_NOMEM;
        v->phrase_to = p;
        *cap = ncap;
    }
    char *copy = strdup(to);
    if (!copy) return ML_ERR_NOMEM;
    int existed;
    size_t old;
    if (ml_strmap_put(&v->phrase, from, v->n_phrases, &existed, &old)) {
        free(copy);
        return ML_ERR_NOMEM;
    }
    v->phrase_to[v->n_phrases++] = copy;
    return ML_OK;
}

static int build_phrases(MlChairVocab *v) {
    size_t cap = 0;
    char buf[64];
    for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
        if (add_phrase(v, &cap, phrases[i], phrases[i])) return ML_ERR_NOMEM;
    for (size_t i = 0; i < sizeof animals / sizeof animals[0]; i++) {
        snprintf(buf, sizeof buf, "baby %s", animals[i]);
        if (add_phrase(v, &cap, buf, animals[i])) return ML_ERR_NOMEM;
        snprintf(buf, sizeof buf, "adult %s", animals[i]);
        if (add_phrase(v, &cap, buf, animals[i])) return ML_ERR_NOMEM;
    }
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (add_phrase(v, &cap, special[i][0], special[i][1])) return ML_ERR_NOMEM;
    return ML_OK;
}

void ml_chair_vocab_free(MlChairVocab *v) {
    for (size_t i = 0; i < v->n_names; i++) free(v->names[i]);
    for (size_t i = 0; i < v->n_phrases; i++) free(v->phrase_to[i]);
    free(v->names);
    free(v->phrase_to);
    ml_strmap_free(&v->synonym);
    ml_strmap_free(&v->phrase);
    memset(v, 0, sizeof *v);
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

/* One line of synonyms.txt: Python's line.strip().split(', '). */
static int parse_line(MlChairVocab *v, const char *s, size_t n, MlError *err, const char *where, size_t line) {
    while (n && is_ws(*s)) s++, n--;
    while (n && is_ws(s[n - 1])) n--;
    if (!n) return ML_OK;
    if (memchr(s, 0, n)) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: NUL byte in the synonym list", where, line);
    size_t idx = v->n_names;
    char **names = realloc(v->names, (idx + 1) * sizeof *names);
    if (!names) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    v->names = names;
    size_t first_len = n;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == ',' && s[i + 1] == ' ') {
            first_len = i;
            break;
        }
    if (!(v->names[idx] = strndup(s, first_len))) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    v->n_names++;
    for (size_t a = 0;;) {
        size_t j = a;
        while (j + 1 < n && !(s[j] == ',' && s[j + 1] == ' ')) j++;
        if (j + 1 >= n) j = n; /* no separator left: the rest is one word */
        char *word = strndup(s + a, j - a);
        if (!word) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
        int rc = word[0] ? ml_strmap_put(&v->synonym, word, idx, NULL, NULL) : ML_OK;
        free(word);
        if (rc) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
        if (j >= n) break;
        a = j + 2;
    }
    return ML_OK;
}

int ml_chair_vocab_parse(const char *text, size_t len, const char *where, MlChairVocab *v, MlError *err) {
    memset(v, 0, sizeof *v);
    int rc = build_phrases(v) ? ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where) : ML_OK;
    size_t line = 1;
    for (size_t pos = 0; !rc && pos < len; line++) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        rc = parse_line(v, text + pos, end - pos, err, where, line);
        pos = end + 1;
    }
    if (!rc && v->n_names == 0) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no synonyms", where);
    if (rc) ml_chair_vocab_free(v);
    return rc;
}

static int parse_vocab(const char *text, size_t len, const char *where, void *v, MlError *err) {
    return ml_chair_vocab_parse(text, len, where, v, err);
}

int ml_chair_vocab_load(const char *path, MlChairVocab *v, MlError *err) {
    memset(v, 0, sizeof *v);
    return ml_file_parse(path, parse_vocab, v, err);
}

void ml_chair_mentions_free(MlChairMentions *m) {
    free(m->word);
    free(m->node);
    free(m->store);
    memset(m, 0, sizeof *m);
}

int ml_chair_mentions(const MlChairVocab *v, const char *caption, MlChairMentions *m, MlError *err) {
    memset(m, 0, sizeof *m);
    MlWords w = {0};
    if (ml_words_tokenize(caption, 1, &w)) return ml_error_set(err, ML_ERR_NOMEM, "out of memory tokenizing a caption");
    size_t bytes = 0, longest = 0;
    for (size_t i = 0; i < w.count; i++) {
        size_t n = strlen(w.word[i]);
        bytes += n + 3; /* a singular may be one byte longer (mice -> mouse) */
        if (n > longest) longest = n;
    }
    char **sing = malloc((w.count + 1) * sizeof *sing);
    const char **merged = malloc((w.count + 1) * sizeof *merged);
    char *pair = malloc(2 * longest + 8);
    m->store = malloc(bytes + 1);
    m->word = malloc((w.count + 1) * sizeof *m->word);
    m->node = malloc((w.count + 1) * sizeof *m->node);
    int rc = ML_OK;
    if (!sing || !merged || !pair || !m->store || !m->word || !m->node) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "out of memory scoring a caption");
        goto done;
    }
    char *p = m->store;
    for (size_t i = 0; i < w.count; i++) {
        size_t room = strlen(w.word[i]) + 3;
        ml_words_singular(w.word[i], p, room);
        sing[i] = p;
        p += strlen(p) + 1;
    }
    /* merge two-word phrases left to right */
    size_t n = 0;
    for (size_t i = 0; i < w.count;) {
        if (i + 1 < w.count) {
            size_t a = strlen(sing[i]), b = strlen(sing[i + 1]);
            memcpy(pair, sing[i], a);
            pair[a] = ' ';
            memcpy(pair + a + 1, sing[i + 1], b + 1);
            const size_t *k = ml_strmap_get(&v->phrase, pair);
            if (k) {
                merged[n++] = v->phrase_to[*k];
                i += 2;
                continue;
            }
        }
        merged[n++] = sing[i++];
    }
    m->n_tokens = n;
    /* "the seat of the toilet" is not a chair */
    int toilet = 0, seat = 0;
    for (size_t i = 0; i < n; i++) {
        toilet |= !strcmp(merged[i], "toilet");
        seat |= !strcmp(merged[i], "seat");
    }
    for (size_t i = 0; i < n; i++) {
        if (toilet && seat && !strcmp(merged[i], "seat")) continue;
        const size_t *k = ml_strmap_get(&v->synonym, merged[i]);
        if (!k) continue;
        m->word[m->count] = merged[i];
        m->node[m->count] = v->names[*k];
        m->count++;
    }
done:
    free(sing);
    free(merged);
    free(pair);
    ml_words_free(&w);
    if (rc) ml_chair_mentions_free(m);
    return rc;
}

void ml_chair_truth_free(MlChairTruth *gt) {
    for (size_t i = 0; i < gt->count; i++) {
        for (char **o = gt->objects[i]; o && *o; o++) free(*o);
        free(gt->objects[i]);
    }
    free(gt->objects);
    free(gt->path);
    ml_strmap_free(&gt->ids);
    memset(gt, 0, sizeof *gt);
}

/* Takes ownership of root. */
static int truth_from(cJSON *root, const char *path, MlChairTruth *gt, MlError *err) {
    int rc = ML_OK;
    size_t n = (size_t)cJSON_GetArraySize(root);
    gt->path = strdup(path);
    gt->objects = calloc(n ? n : 1, sizeof *gt->objects);
    if (!cJSON_IsObject(root))
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected an object {\"<image id>\": [objects]}", path);
    else if (!gt->path || !gt->objects)
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    for (const cJSON *e = root->child; !rc && e; e = e->next) {
        if (!cJSON_IsArray(e)) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: \"%.60s\": expected a list of object names", path, e->string);
            break;
        }
        size_t k = (size_t)cJSON_GetArraySize(e), m = 0;
        char **list = calloc(k + 1, sizeof *list);
        if (!list) {
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        gt->objects[gt->count++] = list;
        for (const cJSON *o = e->child; o; o = o->next) {
            if (!cJSON_IsString(o)) {
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s: \"%.60s\": object names must be strings", path, e->string);
                break;
            }
            int dup = 0; /* the reference holds sets */
            for (size_t j = 0; j < m && !dup; j++) dup = !strcmp(list[j], o->valuestring);
            if (!dup && !(list[m++] = strdup(o->valuestring))) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
        }
        int existed;
        if (!rc && ml_strmap_put(&gt->ids, e->string, gt->count - 1, &existed, NULL))
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
        else if (!rc && existed)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: image id \"%.60s\" appears twice", path, e->string);
    }
    cJSON_Delete(root);
    if (rc) ml_chair_truth_free(gt);
    return rc;
}

int ml_chair_truth_load(const char *path, MlChairTruth *gt, MlError *err) {
    memset(gt, 0, sizeof *gt);
    cJSON *root = NULL;
    int rc = ml_json_load(path, &root, err);
    return rc ? rc : truth_from(root, path, gt, err);
}

int ml_chair_truth_parse(const char *text, size_t len, const char *where, MlChairTruth *gt, MlError *err) {
    memset(gt, 0, sizeof *gt);
    cJSON *root = NULL;
    int rc = ml_json_parse(text, len, where, &root, err);
    return rc ? rc : truth_from(root, where, gt, err);
}

void ml_chair_add(MlChairScore *s, const MlChairMentions *m, char *const *truth) {
    size_t hallucinated = 0;
    for (size_t i = 0; i < m->count; i++) {
        int found = 0;
        for (char *const *t = truth; *t && !found; t++) found = !strcmp(*t, m->node[i]);
        hallucinated += !found;
    }
    for (char *const *t = truth; *t; t++) {
        int mentioned = 0;
        for (size_t i = 0; i < m->count && !mentioned; i++) mentioned = !strcmp(*t, m->node[i]);
        s->recalled_objects += mentioned;
        s->gt_objects++;
    }
    s->captions++;
    s->hallucinated_captions += hallucinated > 0;
    s->mentions += m->count;
    s->hallucinated_mentions += hallucinated;
    s->tokens += m->n_tokens;
}

static double frac(size_t a, size_t b) { return b ? (double)a / (double)b : NAN; }

void ml_chair_finish(MlChairScore *s) {
    s->chair_s = frac(s->hallucinated_captions, s->captions);
    s->chair_i = frac(s->hallucinated_mentions, s->mentions);
    s->recall = frac(s->recalled_objects, s->gt_objects);
    s->avg_len = frac(s->tokens, s->captions);
}

static int score_records(const MlChairVocab *v, const MlChairTruth *gt, MlRecords *recs_in, const char *captions_path,
                         const char *id_key, const char *caption_key, MlChairScore *out, MlError *err) {
    MlRecords recs = *recs_in;
    int rc = ML_OK;
    MlStrMap seen = {0};
    if (recs.count == 0) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no captions", captions_path);
    for (size_t i = 0; !rc && i < recs.count; i++) {
        const MlRecord *r = &recs.items[i];
        char id[ML_RECORD_ID_MAX + 1];
        const char *caption;
        if ((rc = ml_record_id(r->json, id_key, id, captions_path, r->line, err))) break;
        if ((rc = ml_record_str(r->json, caption_key, &caption, captions_path, r->line, err))) break;
        int existed;
        size_t first;
        if (ml_strmap_put(&seen, id, r->line, &existed, &first)) {
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", captions_path);
            break;
        }
        if (existed) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: %s %s captioned twice (first on line %zu)", captions_path,
                              r->line, id_key, id, first);
            break;
        }
        const size_t *k = ml_strmap_get(&gt->ids, id);
        if (!k) {
            rc = ml_error_set(err, ML_ERR_MISSING, "%s:%zu: %s %s has no ground truth in %s", captions_path, r->line,
                              id_key, id, gt->path);
            break;
        }
        MlChairMentions m;
        if ((rc = ml_chair_mentions(v, caption, &m, err))) break;
        ml_chair_add(out, &m, gt->objects[*k]);
        ml_chair_mentions_free(&m);
    }
    ml_strmap_free(&seen);
    ml_records_free(recs_in);
    ml_chair_finish(out);
    return rc;
}

int ml_chair_score_file(const MlChairVocab *v, const MlChairTruth *gt, const char *captions_path, const char *id_key,
                        const char *caption_key, MlChairScore *out, MlError *err) {
    memset(out, 0, sizeof *out);
    MlRecords recs;
    int rc = ml_records_load(captions_path, &recs, err);
    return rc ? rc : score_records(v, gt, &recs, captions_path, id_key, caption_key, out, err);
}

int ml_chair_score_text(const MlChairVocab *v, const MlChairTruth *gt, const char *text, size_t len, const char *where,
                        const char *id_key, const char *caption_key, MlChairScore *out, MlError *err) {
    memset(out, 0, sizeof *out);
    MlRecords recs;
    int rc = ml_records_parse(text, len, where, &recs, err);
    return rc ? rc : score_records(v, gt, &recs, where, id_key, caption_key, out, err);
}
