/* runlog.c: RUNDIR/run.json + append-only items.jsonl + summary.json. */
#include "eval/runlog.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "core/strmap.h"
#include "eval/records.h"

struct MlRunlog {
    char dir[2048];
    char items_path[2100];
    int fd;
    cJSON *method; /* copies of run.method / run.params written into each line */
    cJSON *params;
    cJSON *items;  /* array of every item line */
    MlStrMap done; /* id -> index in items */
    size_t torn;
    int checkpoint_every, since_sync;
    int broken; /* a failed write left the file in an unknown state */
};

/* First top-level key whose values differ (or that only one side has). */
static const char *first_difference(const cJSON *a, const cJSON *b) {
    for (const cJSON *x = a->child; x; x = x->next) {
        const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!y || !cJSON_Compare(x, y, 1)) return x->string;
    }
    for (const cJSON *y = b->child; y; y = y->next)
        if (!cJSON_GetObjectItemCaseSensitive(a, y->string)) return y->string;
    return "?";
}

static void short_json(char *buf, size_t cap, const cJSON *v) {
    char *s = v ? cJSON_PrintUnformatted(v) : NULL;
    snprintf(buf, cap, "%s", s ? s : "(absent)");
    if (s && strlen(s) >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
    free(s);
}

static int check_run(const cJSON *run, const char *dir, MlError *err) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(run, "method");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(run, "params");
    if (!cJSON_IsObject(run) || !cJSON_IsString(m) || !cJSON_IsObject(p))
        return ml_error_set(err, ML_ERR_ARG, "%s: the run description needs \"method\" (string) and \"params\" (object)",
                            dir);
    return ML_OK;
}

/* Writes run.json, or checks that the recorded one is this run. */
static int settle_run_json(MlRunlog *log, const cJSON *run, MlError *err) {
    char path[2100];
    snprintf(path, sizeof path, "%s/run.json", log->dir);
    if (ml_file_exists(path)) {
        cJSON *old = NULL;
        int rc = ml_json_load(path, &old, err);
        if (rc) return rc;
        if (!cJSON_Compare(old, run, 1)) {
            const char *key = cJSON_IsObject(old) ? first_difference(old, run) : "?";
            char was[160], now[160];
            short_json(was, sizeof was, cJSON_IsObject(old) ? cJSON_GetObjectItemCaseSensitive(old, key) : old);
            short_json(now, sizeof now, cJSON_GetObjectItemCaseSensitive(run, key));
            ml_error_set(err, ML_ERR_ARG,
                         "%s: this run directory holds a different run (%s: recorded %s, now %s); resume with the same "
                         "settings or choose a new output directory",
                         path, key, was, now);
            cJSON_Delete(old);
            return ML_ERR_ARG;
        }
        cJSON_Delete(old);
        return ML_OK;
    }
    struct stat st;
    if (stat(log->items_path, &st) == 0 && st.st_size > 0)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: items exist but run.json does not; refusing to guess their settings",
                            log->items_path);
    char *text = cJSON_Print(run);
    if (!text) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL; the size below includes it */
    int rc = ml_file_write(path, text, n + 1, err);
    free(text);
    return rc;
}

static int read_fd(int fd, const char *path, char **data, size_t *size, MlError *err) {
    struct stat st;
    *data = NULL;
    *size = 0;
    if (fstat(fd, &st) != 0) return ml_error_set(err, ML_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    if ((unsigned long long)st.st_size > ML_FILE_READ_MAX)
        return ml_error_set(err, ML_ERR_RANGE, "%s: too large (%lld bytes)", path, (long long)st.st_size);
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = malloc(n + 1);
    if (!buf) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            return ml_error_set(err, ML_ERR_IO, "%s: read failed", path);
        }
        got += (size_t)r;
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return ML_OK;
}

/* Registers one parsed item line (checks its id and method). */
static int take_line(MlRunlog *log, cJSON *obj, size_t line, MlError *err) {
    char id[ML_RECORD_ID_MAX + 1];
    int rc = ml_record_id(obj, "question_id", id, log->items_path, line, err);
    if (rc) return rc;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "method");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "params");
    if (!m || !p || !cJSON_Compare(m, log->method, 1) || !cJSON_Compare(p, log->params, 1))
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: written by another method or parameters than run.json says",
                            log->items_path, line);
    int existed;
    size_t first;
    if (ml_strmap_put(&log->done, id, (size_t)cJSON_GetArraySize(log->items), &existed, &first))
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", log->items_path);
    if (existed) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question_id %s appears twice", log->items_path, line, id);
    cJSON_AddItemToArray(log->items, obj);
    return ML_OK;
}

/* Reads existing lines; cuts a torn tail. */
static int load_items(MlRunlog *log, MlError *err) {
    char *text;
    size_t len;
    int rc = read_fd(log->fd, log->items_path, &text, &len, err);
    if (rc) return rc;
    size_t pos = 0, line = 1, keep = 0;
    while (pos < len && !rc) {
        char *nl = memchr(text + pos, '\n', len - pos);
        if (!nl) break; /* bytes after the last newline: torn */
        size_t end = (size_t)(nl - text);
        size_t a = pos;
        while (a < end && (text[a] == ' ' || text[a] == '\t' || text[a] == '\r')) a++;
        if (a < end) {
            cJSON *obj = NULL;
            MlError perr = {0};
            int prc = ml_json_parse(text + pos, end - pos, log->items_path, &obj, &perr);
            if (prc || !cJSON_IsObject(obj)) {
                cJSON_Delete(obj);
                if (end + 1 == len) break; /* an unreadable final line is a torn write too */
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: damaged line inside the log (not a JSON object)",
                                  log->items_path, line);
                break;
            }
            rc = take_line(log, obj, line, err);
            if (rc) cJSON_Delete(obj);
        }
        pos = end + 1;
        keep = pos;
        line++;
    }
    free(text);
    if (rc) return rc;
    if (keep < len) {
        log->torn = len - keep;
        if (ftruncate(log->fd, (off_t)keep) != 0 || fsync(log->fd) != 0)
            return ml_error_set(err, ML_ERR_IO, "%s: cannot cut the torn last line: %s", log->items_path,
                                strerror(errno));
    }
    return ML_OK;
}

int ml_runlog_open(MlRunlog **out, const char *dir, const cJSON *run, MlError *err) {
    *out = NULL;
    int rc = check_run(run, dir, err);
    if (rc) return rc;
    if (strlen(dir) >= 2000) return ml_error_set(err, ML_ERR_ARG, "%s: path too long", dir);
    if ((rc = ml_mkdirs(dir, err))) return rc;
    MlRunlog *log = calloc(1, sizeof *log);
    if (!log) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    log->fd = -1;
    log->checkpoint_every = 32;
    snprintf(log->dir, sizeof log->dir, "%s", dir);
    snprintf(log->items_path, sizeof log->items_path, "%s/items.jsonl", dir);
    log->method = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(run, "method"), 1);
    log->params = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(run, "params"), 1);
    log->items = cJSON_CreateArray();
    if (!log->method || !log->params || !log->items) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    if (!rc) rc = settle_run_json(log, run, err);
    if (!rc) {
        log->fd = open(log->items_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log->fd < 0) rc = ml_error_set(err, ML_ERR_IO, "%s: cannot open: %s", log->items_path, strerror(errno));
    }
    if (!rc) rc = load_items(log, err);
    if (rc) {
        ml_runlog_close(log);
        return rc;
    }
    *out = log;
    return ML_OK;
}

size_t ml_runlog_count(const MlRunlog *log) { return (size_t)cJSON_GetArraySize(log->items); }
int ml_runlog_done(const MlRunlog *log, const char *id) { return ml_strmap_get(&log->done, id) != NULL; }
size_t ml_runlog_torn_bytes(const MlRunlog *log) { return log->torn; }
const cJSON *ml_runlog_items(const MlRunlog *log) { return log->items; }
void ml_runlog_set_checkpoint(MlRunlog *log, int every_n_items) { log->checkpoint_every = every_n_items; }

int ml_runlog_checkpoint(MlRunlog *log, MlError *err) {
    if (fsync(log->fd) != 0) return ml_error_set(err, ML_ERR_IO, "%s: fsync failed: %s", log->items_path, strerror(errno));
    log->since_sync = 0;
    return ML_OK;
}

static cJSON *build_line(const MlRunlog *log, const MlRunItem *it) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    int ok = 1;
    if (it->id_is_number) {
        ok &= cJSON_AddNumberToObject(o, "question_id", (double)strtoll(it->id, NULL, 10)) != NULL;
    } else {
        ok &= cJSON_AddStringToObject(o, "question_id", it->id) != NULL;
    }
    ok &= (it->prompt ? cJSON_AddStringToObject(o, "prompt", it->prompt) : cJSON_AddNullToObject(o, "prompt")) != NULL;
    ok &= cJSON_AddStringToObject(o, "text", it->answer ? it->answer : "") != NULL;
    ok &= (it->parsed ? cJSON_AddStringToObject(o, "parsed", it->parsed) : cJSON_AddNullToObject(o, "parsed")) != NULL;
    ok &= (it->label ? cJSON_AddStringToObject(o, "label", it->label) : cJSON_AddNullToObject(o, "label")) != NULL;
    ok &= cJSON_AddNumberToObject(o, "seconds", isfinite(it->seconds) ? it->seconds : 0) != NULL;
    cJSON *m = cJSON_Duplicate(log->method, 1), *p = cJSON_Duplicate(log->params, 1);
    ok &= m && p;
    if (m) cJSON_AddItemToObject(o, "method", m);
    if (p) cJSON_AddItemToObject(o, "params", p);
    if (it->extra)
        for (const cJSON *x = it->extra->child; x && ok; x = x->next) {
            if (!x->string || cJSON_GetObjectItemCaseSensitive(o, x->string)) continue; /* fixed fields win */
            cJSON *d = cJSON_Duplicate(x, 1);
            ok &= d != NULL;
            if (d) cJSON_AddItemToObject(o, x->string, d);
        }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int write_all(int fd, const char *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        done += (size_t)w;
    }
    return 0;
}

/* The id as the log will read it back: numbers are written by cJSON and read
   as "%lld", so "017" and "17" are the same item. */
static int canonical_id(const MlRunItem *item, char *key) {
    if (!item->id || !item->id[0] || strlen(item->id) > ML_RECORD_ID_MAX) return -1;
    if (!item->id_is_number) {
        memcpy(key, item->id, strlen(item->id) + 1);
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(item->id, &end, 10);
    if (errno || *end || v <= -9007199254740992LL || v >= 9007199254740992LL) return -1;
    snprintf(key, ML_RECORD_ID_MAX + 1, "%lld", v);
    return 0;
}

int ml_runlog_append(MlRunlog *log, const MlRunItem *item, MlError *err) {
    char key[ML_RECORD_ID_MAX + 1];
    if (log->broken) return ml_error_set(err, ML_ERR_IO, "%s: an earlier write failed; reopen to resume", log->items_path);
    if (canonical_id(item, key))
        return ml_error_set(err, ML_ERR_ARG, "%s: bad item id \"%.40s\" (1..%d bytes; an integer below 2^53 when numeric)",
                            log->items_path, item->id ? item->id : "", ML_RECORD_ID_MAX);
    if (ml_runlog_done(log, key))
        return ml_error_set(err, ML_ERR_ARG, "%s: question_id %s is already in the log", log->items_path, key);
    cJSON *o = build_line(log, item);
    if (!o) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory encoding item %s", log->items_path, key);
    char *text = cJSON_PrintUnformatted(o);
    if (!text) {
        cJSON_Delete(o);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", log->items_path);
    }
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (!line) {
        free(text);
        cJSON_Delete(o);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", log->items_path);
    }
    line[n] = '\n';
    line[n + 1] = 0;
    off_t before = lseek(log->fd, 0, SEEK_END);
    /* One write per line: a crash leaves whole lines plus at most one torn tail. */
    if (write_all(log->fd, line, n + 1) != 0) {
        int e = errno;
        free(line);
        cJSON_Delete(o);
        if (before < 0 || ftruncate(log->fd, before) != 0) log->broken = 1;
        return ml_error_set(err, ML_ERR_IO, "%s: write failed: %s", log->items_path, strerror(e));
    }
    free(line);
    int existed;
    if (ml_strmap_put(&log->done, key, (size_t)cJSON_GetArraySize(log->items), &existed, NULL)) {
        cJSON_Delete(o);
        log->broken = 1;
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", log->items_path);
    }
    cJSON_AddItemToArray(log->items, o);
    if (log->checkpoint_every > 0 && ++log->since_sync >= log->checkpoint_every) return ml_runlog_checkpoint(log, err);
    return ML_OK;
}

static int yes_no(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) return -1;
    if (!strcmp(v->valuestring, "yes")) return 1;
    if (!strcmp(v->valuestring, "no")) return 0;
    return -1;
}

void ml_runlog_binary(const MlRunlog *log, MlBinaryScore *score, double *mean_seconds) {
    memset(score, 0, sizeof *score);
    double total = 0;
    size_t n = 0;
    for (const cJSON *it = log->items->child; it; it = it->next) {
        int label = yes_no(it, "label"), pred = yes_no(it, "parsed");
        if (label >= 0 && pred >= 0) ml_binary_add(score, label, pred);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "seconds");
        if (cJSON_IsNumber(s)) total += s->valuedouble;
        n++;
    }
    ml_binary_finish(score);
    if (mean_seconds) *mean_seconds = n ? total / (double)n : NAN;
}

int ml_runlog_finish(MlRunlog *log, const cJSON *summary, MlError *err) {
    int rc = ml_runlog_checkpoint(log, err);
    if (rc) return rc;
    char path[2100];
    snprintf(path, sizeof path, "%s/summary.json", log->dir);
    char *text = cJSON_Print(summary);
    if (!text) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    size_t n = strlen(text);
    text[n] = '\n';
    rc = ml_file_write(path, text, n + 1, err);
    free(text);
    return rc;
}

void ml_runlog_close(MlRunlog *log) {
    if (!log) return;
    if (log->fd >= 0) {
        fsync(log->fd);
        close(log->fd);
    }
    cJSON_Delete(log->method);
    cJSON_Delete(log->params);
    cJSON_Delete(log->items);
    ml_strmap_free(&log->done);
    free(log);
}
