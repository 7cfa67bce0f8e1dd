/* runlog.c: RUNDIR/run.json + append-only items.jsonl + summary.json. */
#include "eval/runlog.h"

#include <dirent.h>
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
#include "eval/runlock.h"

struct MlRunlog {
    char dir[2048];
    char items_path[2100]; /* this writer's own file: items.jsonl or a shard's segment */
    int fd;                /* of items_path; -1 for a merge, which appends nothing */
    int lock_fd;           /* writers.lock (runlock.h) */
    cJSON *run;            /* a merge: run.json as recorded */
    int repair;            /* a merge: a repeated item keeps its first answer */
    size_t dropped;        /* answers a repair dropped */
    size_t file_start;     /* index in items of the first item of the file being read */
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

#define ML_SKIPPED (-1)

/* Registers one parsed item line (checks its id and method); ML_SKIPPED when it repeats an item. */
static int take_line(MlRunlog *log, cJSON *obj, const char *path, size_t line, MlError *err) {
    char id[ML_RECORD_ID_MAX + 1];
    int rc = ml_record_id(obj, "question_id", id, path, line, err);
    if (rc) return rc;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "method");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(obj, "params");
    if (!m || !p || !cJSON_Compare(m, log->method, 1) || !cJSON_Compare(p, log->params, 1))
        return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: written by another method or parameters than run.json says",
                            path, line);
    int existed;
    size_t first;
    if (ml_strmap_put(&log->done, id, (size_t)cJSON_GetArraySize(log->items), &existed, &first))
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    if (existed) {
        ml_strmap_put(&log->done, id, first, NULL, NULL); /* the first answer stays (the key exists: no allocation) */
        /* another file holds it too: a join that died before removing the segments; keep the first */
        if (first < log->file_start) return ML_SKIPPED;
        if (!log->repair) return ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: question_id %s appears twice", path, line, id);
        log->dropped++;
        return ML_SKIPPED;
    }
    cJSON_AddItemToArray(log->items, obj);
    return ML_OK;
}

/* Reads the lines of one item file.  own: this writer's file, whose torn tail
   is cut; another file's torn tail may be a live writer's line in progress and
   is only skipped. */
static int load_items(MlRunlog *log, int fd, const char *path, int own, MlError *err) {
    char *text;
    size_t len;
    int rc = read_fd(fd, path, &text, &len, err);
    if (rc) return rc;
    log->file_start = (size_t)cJSON_GetArraySize(log->items);
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
            int prc = ml_json_parse(text + pos, end - pos, path, &obj, &perr);
            if (prc || !cJSON_IsObject(obj)) {
                cJSON_Delete(obj);
                if (end + 1 == len) break; /* an unreadable final line is a torn write too */
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s:%zu: damaged line inside the log (not a JSON object)", path,
                                  line);
                break;
            }
            rc = take_line(log, obj, path, line, err);
            if (rc) cJSON_Delete(obj);
            if (rc == ML_SKIPPED) rc = ML_OK;
        }
        pos = end + 1;
        keep = pos;
        line++;
    }
    free(text);
    if (rc) return rc;
    if (own && keep < len) {
        log->torn = len - keep;
        if (ftruncate(fd, (off_t)keep) != 0 || fsync(fd) != 0)
            return ml_error_set(err, ML_ERR_IO, "%s: cannot cut the torn last line: %s", path, strerror(errno));
    }
    return ML_OK;
}

int ml_runlog_segment_name(char *out, size_t cap, int shard, int shards) {
    return snprintf(out, cap, "shard-%d-of-%d.jsonl", shard, shards) >= (int)cap ? -1 : 0;
}

int ml_runlog_segment_parse(const char *name, int *shard, int *shards) {
    int i, n, used = 0;
    char back[64];
    if (sscanf(name, "shard-%d-of-%d.jsonl%n", &i, &n, &used) != 2 || name[used] || n < 2 || i < 0 || i >= n)
        return -1;
    if (ml_runlog_segment_name(back, sizeof back, i, n) || strcmp(back, name)) return -1; /* "shard-01-..." */
    *shard = i;
    *shards = n;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The segment files of dir, sorted by name (caller frees each and the array). */
static int list_segments(const char *dir, char ***names, size_t *count, MlError *err) {
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return ml_error_set(err, ML_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    size_t cap = 0;
    int rc = ML_OK;
    for (struct dirent *e; (e = readdir(d)) && !rc;) {
        int i, n;
        if (ml_runlog_segment_parse(e->d_name, &i, &n)) continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown) {
                rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            *names = grown;
        }
        if (!((*names)[*count] = strdup(e->d_name))) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
        else (*count)++;
    }
    closedir(d);
    if (*count) qsort(*names, *count, sizeof **names, by_name);
    return rc;
}

static void free_names(char **names, size_t count) {
    for (size_t i = 0; i < count; i++) free(names[i]);
    free(names);
}

/* Every item file of the run but the writer's own, read-only. */
static int load_others(MlRunlog *log, MlError *err) {
    char **names;
    size_t count;
    int rc = list_segments(log->dir, &names, &count, err);
    for (size_t k = 0; k <= count && !rc; k++) {
        char path[2400];
        snprintf(path, sizeof path, "%s/%s", log->dir, k == 0 ? "items.jsonl" : names[k - 1]);
        if (!strcmp(path, log->items_path)) continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT) rc = ml_error_set(err, ML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
            continue;
        }
        rc = load_items(log, fd, path, 0, err);
        close(fd);
    }
    free_names(names, count);
    return rc;
}

static MlRunlog *new_log(const char *dir) {
    MlRunlog *log = calloc(1, sizeof *log);
    if (!log) return NULL;
    log->fd = -1;
    log->lock_fd = -1;
    log->checkpoint_every = 32;
    snprintf(log->dir, sizeof log->dir, "%s", dir);
    snprintf(log->items_path, sizeof log->items_path, "%s/items.jsonl", dir);
    log->items = cJSON_CreateArray();
    if (!log->items) {
        free(log);
        return NULL;
    }
    return log;
}

int ml_runlog_open(MlRunlog **out, const char *dir, const cJSON *run, MlError *err) {
    return ml_runlog_open_shard(out, dir, run, 0, 1, err);
}

int ml_runlog_open_shard(MlRunlog **out, const char *dir, const cJSON *run, int shard, int shards, MlError *err) {
    *out = NULL;
    int rc = check_run(run, dir, err);
    if (rc) return rc;
    if (strlen(dir) >= 2000) return ml_error_set(err, ML_ERR_ARG, "%s: path too long", dir);
    if (shards < 1 || shard < 0 || shard >= shards)
        return ml_error_set(err, ML_ERR_ARG, "%s: shard %d of %d does not exist", dir, shard, shards);
    if ((rc = ml_mkdirs(dir, err))) return rc;
    MlRunlog *log = new_log(dir);
    if (!log) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    if (shards > 1) {
        char name[64];
        ml_runlog_segment_name(name, sizeof name, shard, shards);
        snprintf(log->items_path, sizeof log->items_path, "%s/%s", dir, name);
    }
    log->method = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(run, "method"), 1);
    log->params = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(run, "params"), 1);
    if (!log->method || !log->params) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    /* the gate makes "settle run.json, declare the shape" one step among concurrent starters */
    if (!rc) rc = ml_runlock_open(&log->lock_fd, dir, err);
    if (!rc && !(rc = ml_runlock_gate(log->lock_fd, 1, dir, err))) {
        rc = settle_run_json(log, run, err);
        if (!rc) rc = ml_runlock_shape(log->lock_fd, shards, dir, err);
        MlError gerr = {0};
        int grc = ml_runlock_gate(log->lock_fd, 0, dir, &gerr);
        if (!rc && grc) rc = ml_error_set(err, grc, "%s", gerr.msg);
    }
    if (!rc) {
        log->fd = open(log->items_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log->fd < 0) rc = ml_error_set(err, ML_ERR_IO, "%s: cannot open: %s", log->items_path, strerror(errno));
    }
    if (!rc) rc = ml_runlock_file(log->fd, log->items_path, err);
    if (!rc) rc = load_items(log, log->fd, log->items_path, 1, err);
    if (!rc) rc = load_others(log, err);
    if (rc) {
        ml_runlog_close(log);
        return rc;
    }
    *out = log;
    return ML_OK;
}

int ml_runlog_open_merge(MlRunlog **out, const char *dir, int repair, MlError *err) {
    *out = NULL;
    if (strlen(dir) >= 2000) return ml_error_set(err, ML_ERR_ARG, "%s: path too long", dir);
    MlRunlog *log = new_log(dir);
    if (!log) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    log->repair = repair;
    char path[2100];
    snprintf(path, sizeof path, "%s/run.json", dir);
    int rc = ml_file_exists(path) ? ml_json_load(path, &log->run, err)
                                  : ml_error_set(err, ML_ERR_MISSING, "%s: not found (not a run directory)", path);
    if (!rc) rc = check_run(log->run, path, err);
    if (!rc) {
        log->method = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(log->run, "method"), 1);
        log->params = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(log->run, "params"), 1);
        if (!log->method || !log->params) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    }
    if (!rc) rc = ml_runlock_open(&log->lock_fd, dir, err);
    if (!rc) rc = ml_runlock_all(log->lock_fd, dir, err);
    if (!rc) {
        log->items_path[0] = 0; /* no own file: load_others reads items.jsonl too */
        rc = load_others(log, err);
        snprintf(log->items_path, sizeof log->items_path, "%s/items.jsonl", dir);
    }
    if (rc) {
        ml_runlog_close(log);
        return rc;
    }
    *out = log;
    return ML_OK;
}

const cJSON *ml_runlog_run(const MlRunlog *log) { return log->run; }
size_t ml_runlog_dropped(const MlRunlog *log) { return log->dropped; }

int ml_runlog_join(MlRunlog *log, const char *const *ids, size_t n, int allow_missing, MlError *err) {
    char path[2100];
    snprintf(path, sizeof path, "%s/items.jsonl", log->dir);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? ML_OK : ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n && !rc; i++) {
        const size_t *at = ml_strmap_get(&log->done, ids[i]);
        if (!at) {
            if (!allow_missing) rc = ml_error_set(err, ML_ERR_MISSING, "%s: question %s has no answer", log->dir, ids[i]);
            continue;
        }
        /* reprinting a parsed line gives its bytes back: cJSON prints numbers and strings canonically */
        char *line = cJSON_PrintUnformatted(cJSON_GetArrayItem(log->items, (int)*at));
        size_t k = line ? strlen(line) : 0;
        if (line && len + k + 1 > cap) {
            while (len + k + 1 > cap) cap *= 2;
            char *grown = realloc(buf, cap);
            if (grown) buf = grown;
            else k = 0, free(line), line = NULL;
        }
        if (!line) {
            rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        memcpy(buf + len, line, k);
        buf[len + k] = '\n';
        len += k + 1;
        free(line);
    }
    if (!rc) rc = ml_file_write(path, buf, len, err);
    free(buf);
    char **names;
    size_t count;
    if (!rc) rc = list_segments(log->dir, &names, &count, err);
    if (rc) return rc;
    for (size_t k = 0; k < count && !rc; k++) {
        char seg[2400];
        snprintf(seg, sizeof seg, "%s/%s", log->dir, names[k]);
        if (unlink(seg) != 0 && errno != ENOENT)
            rc = ml_error_set(err, ML_ERR_IO, "%s: cannot remove after joining: %s", seg, strerror(errno));
    }
    free_names(names, count);
    return rc;
}

size_t ml_runlog_count(const MlRunlog *log) { return (size_t)cJSON_GetArraySize(log->items); }
int ml_runlog_done(const MlRunlog *log, const char *id) { return ml_strmap_get(&log->done, id) != NULL; }
size_t ml_runlog_torn_bytes(const MlRunlog *log) { return log->torn; }
const cJSON *ml_runlog_items(const MlRunlog *log) { return log->items; }
void ml_runlog_set_checkpoint(MlRunlog *log, int every_n_items) { log->checkpoint_every = every_n_items; }

int ml_runlog_checkpoint(MlRunlog *log, MlError *err) {
    if (log->fd < 0) return ML_OK;
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
    if (log->fd < 0) return ml_error_set(err, ML_ERR_ARG, "%s: opened to merge, not to append", log->dir);
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
    if (log->lock_fd >= 0) close(log->lock_fd);
    cJSON_Delete(log->run);
    cJSON_Delete(log->method);
    cJSON_Delete(log->params);
    cJSON_Delete(log->items);
    ml_strmap_free(&log->done);
    free(log);
}
