/* pope.c: POPE question files, both answer-file forms, alignment checks. */
#include "eval/pope.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "eval/records.h"

void ml_pope_questions_free(MlPopeSet *qs) {
    for (size_t i = 0; i < qs->count; i++) {
        free(qs->q[i].id);
        free(qs->q[i].image);
        free(qs->q[i].text);
    }
    free(qs->q);
    free(qs->path);
    ml_strmap_free(&qs->by_id);
    memset(qs, 0, sizeof *qs);
}

static int parse_question(const MlRecord *rec, const char *where, MlPopeQuestion *q, MlError *err) {
    char id[ML_RECORD_ID_MAX + 1];
    const char *text, *label, *image = "";
    int rc;
    if ((rc = ml_record_id(rec->json, "question_id", id, where, rec->line, err))) return rc;
    if ((rc = ml_record_str(rec->json, "text", &text, where, rec->line, err))) return rc;
    if ((rc = ml_record_str(rec->json, "label", &label, where, rec->line, err))) return rc;
    rc = ml_record_str(rec->json, "image", &image, where, rec->line, err);
    if (rc == ML_ERR_MISSING) image = "";
    else if (rc) return rc;
    if (strcmp(label, "yes") && strcmp(label, "no"))
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: label: expected \"yes\" or \"no\"", where, rec->line);
    q->id = strdup(id);
    q->text = strdup(text);
    q->image = strdup(image);
    q->label_yes = label[0] == 'y';
    q->line = rec->line;
    if (!q->id || !q->text || !q->image) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    return ML_OK;
}

/* Fills out from parsed records (which the caller frees). */
static int questions_from(const MlRecords *recs_in, const char *path, MlPopeSet *out, MlError *err) {
    const MlRecords recs = *recs_in;
    int rc = ML_OK;
    out->path = strdup(path);
    out->q = calloc(recs.count ? recs.count : 1, sizeof *out->q);
    if (!out->path || !out->q) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    if (!rc && recs.count == 0) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no questions", path);
    for (size_t i = 0; !rc && i < recs.count; i++) {
        rc = parse_question(&recs.items[i], path, &out->q[i], err);
        out->count = i + 1; /* so free() sees what was filled */
        if (rc) break;
        int existed;
        size_t first;
        if (ml_strmap_put(&out->by_id, out->q[i].id, i, &existed, &first))
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
        else if (existed)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question_id %s repeats line %zu", path, recs.items[i].line,
                              out->q[i].id, out->q[first].line);
    }
    if (rc) ml_pope_questions_free(out);
    return rc;
}

int ml_pope_questions_parse(const char *text, size_t len, const char *where, MlPopeSet *out, MlError *err) {
    memset(out, 0, sizeof *out);
    MlRecords recs;
    int rc = ml_records_parse(text, len, where, &recs, err);
    if (rc) return rc;
    rc = questions_from(&recs, where, out, err);
    ml_records_free(&recs);
    return rc;
}

int ml_pope_questions_load(const char *path, MlPopeSet *out, MlError *err) {
    memset(out, 0, sizeof *out);
    MlRecords recs;
    int rc = ml_records_load(path, &recs, err);
    if (rc) return rc;
    rc = questions_from(&recs, path, out, err);
    ml_records_free(&recs);
    return rc;
}

void ml_pope_answers_free(const MlPopeSet *qs, char **answers) {
    if (!answers) return;
    for (size_t i = 0; i < qs->count; i++) free(answers[i]);
    free(answers);
}

/* "text" (LLaVA form) or "answer" (POPE form). */
static int answer_text(const MlRecord *rec, const char *where, const char **out, MlError *err) {
    int rc = ml_record_str(rec->json, "text", out, where, rec->line, err);
    if (rc != ML_ERR_MISSING) return rc;
    rc = ml_record_str(rec->json, "answer", out, where, rec->line, err);
    if (rc == ML_ERR_MISSING)
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: no answer (expected a string \"text\" or \"answer\")", where,
                            rec->line);
    return rc;
}

/* Case-insensitive comparison ignoring surrounding spaces. */
static int same_question(const char *a, const char *b) {
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    size_t na = strlen(a), nb = strlen(b);
    while (na && isspace((unsigned char)a[na - 1])) na--;
    while (nb && isspace((unsigned char)b[nb - 1])) nb--;
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

static int align_by_id(const MlPopeSet *qs, const MlRecords *recs, char **answers, size_t *answer_line, MlError *err) {
    const char *where = recs->where;
    for (size_t r = 0; r < recs->count; r++) {
        const MlRecord *rec = &recs->items[r];
        char id[ML_RECORD_ID_MAX + 1];
        const char *text;
        int rc = ml_record_id(rec->json, "question_id", id, where, rec->line, err);
        if (rc == ML_ERR_MISSING)
            return ml_error_set(err, ML_ERR_FORMAT,
                                "%s:%zu: no question_id, but earlier answers have one (answers are matched by id)",
                                where, rec->line);
        if (rc) return rc;
        if ((rc = answer_text(rec, where, &text, err))) return rc;
        const size_t *qi = ml_strmap_get(&qs->by_id, id);
        if (!qi)
            return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question_id %s is not in %s", where, rec->line, id,
                                qs->path);
        if (answers[*qi])
            return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question_id %s answered twice (first on line %zu)", where,
                                rec->line, id, answer_line[*qi]);
        if (!(answers[*qi] = strdup(text))) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
        answer_line[*qi] = rec->line;
    }
    size_t missing = 0, first = 0;
    for (size_t i = 0; i < qs->count; i++)
        if (!answers[i] && missing++ == 0) first = i;
    if (missing)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: no answer for question_id %s (%s:%zu); %zu of %zu questions unanswered",
                            where, qs->q[first].id, qs->path, qs->q[first].line, missing, qs->count);
    return ML_OK;
}

static int align_by_order(const MlPopeSet *qs, const MlRecords *recs, char **answers, MlError *err) {
    const char *where = recs->where;
    if (recs->count != qs->count)
        return ml_error_set(err, ML_ERR_FORMAT,
                            "%s: %zu answers for %zu questions in %s (answers without question_id are matched by line order)",
                            where, recs->count, qs->count, qs->path);
    for (size_t i = 0; i < recs->count; i++) {
        const MlRecord *rec = &recs->items[i];
        const char *text, *question;
        int rc;
        if (cJSON_GetObjectItemCaseSensitive(rec->json, "question_id"))
            return ml_error_set(err, ML_ERR_FORMAT,
                                "%s:%zu: has a question_id, but the first answer has none (use one form throughout)",
                                where, rec->line);
        if ((rc = answer_text(rec, where, &text, err))) return rc;
        rc = ml_record_str(rec->json, "question", &question, where, rec->line, err);
        if (rc && rc != ML_ERR_MISSING) return rc;
        if (!rc && !same_question(question, qs->q[i].text))
            return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question \"%.80s\" does not match %s:%zu \"%.80s\"", where,
                                rec->line, question, qs->path, qs->q[i].line, qs->q[i].text);
        if (!(answers[i] = strdup(text))) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    }
    return ML_OK;
}

static int answers_from(const MlPopeSet *qs, MlRecords *recs, const char *path, char ***answers, MlError *err) {
    int rc = ML_OK;
    char **ans = calloc(qs->count ? qs->count : 1, sizeof *ans);
    size_t *lines = calloc(qs->count ? qs->count : 1, sizeof *lines);
    if (!ans || !lines) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    else if (recs->count == 0) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: no answers", path);
    else if (cJSON_GetObjectItemCaseSensitive(recs->items[0].json, "question_id"))
        rc = align_by_id(qs, recs, ans, lines, err);
    else
        rc = align_by_order(qs, recs, ans, err);
    free(lines);
    ml_records_free(recs);
    if (rc) {
        if (ans) ml_pope_answers_free(qs, ans);
        return rc;
    }
    *answers = ans;
    return ML_OK;
}

int ml_pope_answers_load(const MlPopeSet *qs, const char *path, char ***answers, MlError *err) {
    *answers = NULL;
    MlRecords recs;
    int rc = ml_records_load(path, &recs, err);
    return rc ? rc : answers_from(qs, &recs, path, answers, err);
}

int ml_pope_answers_parse(const MlPopeSet *qs, const char *text, size_t len, const char *where, char ***answers,
                          MlError *err) {
    *answers = NULL;
    MlRecords recs;
    int rc = ml_records_parse(text, len, where, &recs, err);
    return rc ? rc : answers_from(qs, &recs, where, answers, err);
}

void ml_pope_score(const MlPopeSet *qs, char *const *answers, MlYesNoParser parser, MlBinaryScore *out, int *pred) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < qs->count; i++) {
        int yes = ml_yesno_parse(parser, answers[i], qs->q[i].label_yes);
        if (pred) pred[i] = yes;
        ml_binary_add(out, qs->q[i].label_yes, yes);
    }
    ml_binary_finish(out);
}
