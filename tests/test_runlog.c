/* test_runlog.c: the run log survives a crash at every byte, refuses other
   runs' directories and damaged logs, and its items read as POPE answers;
   shards resume in any shape and join in question order; one writer per
   directory (a second process is refused by pid; kill -9 frees the lock);
   a log written twice over is repaired. */
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "eval/pope.h"
#include "eval/runlog.h"

#define N_ITEMS 5

static const char *ids[N_ITEMS] = {"1", "2", "3", "4", "5"};
static const char *labels[N_ITEMS] = {"yes", "no", "yes", "no", "no"};
static const char *answers[N_ITEMS] = {"Yes, there is.", "No", "No, \"none\"\nat all", "Yes", "caf\xc3\xa9 no"};
static const char *parsed[N_ITEMS] = {"yes", "no", "no", "yes", "no"};

static cJSON *make_run(const char *method, double alpha) {
    cJSON *run = cJSON_CreateObject();
    cJSON_AddStringToObject(run, "benchmark", "pope");
    cJSON_AddStringToObject(run, "split", "random");
    cJSON_AddStringToObject(run, "method", method);
    cJSON *p = cJSON_AddObjectToObject(run, "params");
    cJSON_AddNumberToObject(p, "alpha", alpha);
    cJSON_AddNumberToObject(p, "beta", 0.2);
    return run;
}

static MlRunItem item(int i) {
    MlRunItem it = {.id = ids[i], .id_is_number = 1, .prompt = "Is there a cat in the image?", .answer = answers[i],
                    .parsed = parsed[i], .label = labels[i], .seconds = 0.25 * (i + 1)};
    return it;
}

static const char *dir_path(const char *name) {
    static char buf[4][700];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", test_tmpdir("test_runlog"), name);
    return p;
}

static void rm_dir(const char *dir) {
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

static void write_bytes(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static char *read_all(const char *path, size_t *n) {
    char *d = NULL;
    MlError err = {0};
    if (ml_file_read(path, &d, n, &err)) return NULL;
    return d;
}

/* Writes the complete reference log; returns its items.jsonl bytes. */
static char *reference_log(size_t *size, char **run_json, size_t *run_size) {
    MlError err = {0};
    const char *dir = dir_path("full");
    rm_dir(dir);
    cJSON *run = make_run("vcd", 1.0);
    MlRunlog *log;
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    cJSON_Delete(run);
    if (!log) return NULL;
    for (int i = 0; i < N_ITEMS; i++) {
        MlRunItem it = item(i);
        CHECK_OK(ml_runlog_append(log, &it, &err), &err);
    }
    CHECK(ml_runlog_count(log) == N_ITEMS);
    ml_runlog_close(log);
    char p[800];
    snprintf(p, sizeof p, "%s/run.json", dir);
    *run_json = read_all(p, run_size);
    snprintf(p, sizeof p, "%s/items.jsonl", dir);
    return read_all(p, size);
}

/* A crash can leave any prefix of the file: resume from each and finish. */
static void test_resume_every_offset(void) {
    size_t size = 0, run_size = 0;
    char *run_json = NULL;
    char *full = reference_log(&size, &run_json, &run_size);
    CHECK(full && run_json);
    if (!full || !run_json) return;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++) lines += full[i] == '\n';
    CHECK(lines == N_ITEMS && full[size - 1] == '\n');
    const char *dir = dir_path("cut");
    char items_path[800], run_path[800];
    snprintf(items_path, sizeof items_path, "%s/items.jsonl", dir);
    snprintf(run_path, sizeof run_path, "%s/run.json", dir);
    int bad = 0;
    for (size_t cut = 0; cut <= size && bad < 5; cut++) {
        rm_dir(dir);
        mkdir(dir, 0777);
        write_bytes(run_path, run_json, run_size);
        write_bytes(items_path, full, cut);
        size_t complete = 0, last_nl = 0;
        for (size_t i = 0; i < cut; i++)
            if (full[i] == '\n') complete++, last_nl = i + 1;
        MlError err = {0};
        cJSON *run = make_run("vcd", 1.0);
        MlRunlog *log = NULL;
        int rc = ml_runlog_open(&log, dir, run, &err);
        cJSON_Delete(run);
        if (rc) {
            fprintf(stderr, "  cut %zu: %s\n", cut, err.msg);
            bad++;
            continue;
        }
        int ok = ml_runlog_count(log) == complete && ml_runlog_torn_bytes(log) == cut - last_nl;
        for (int i = 0; i < N_ITEMS; i++) {
            int done = ml_runlog_done(log, ids[i]);
            ok &= done == (i < (int)complete);
            if (done) continue;
            MlRunItem it = item(i);
            ok &= ml_runlog_append(log, &it, &err) == 0;
        }
        ml_runlog_close(log);
        size_t n = 0;
        char *after = read_all(items_path, &n);
        ok &= after && n == size && !memcmp(after, full, size);
        free(after);
        if (!ok) {
            fprintf(stderr, "  cut %zu: resumed log differs from the uninterrupted one\n", cut);
            bad++;
        }
    }
    CHECK(bad == 0);
    free(full);
    free(run_json);
}

static void test_refuses_other_runs(void) {
    MlError err = {0};
    const char *dir = dir_path("other");
    rm_dir(dir);
    cJSON *run = make_run("vcd", 1.0);
    MlRunlog *log;
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    MlRunItem it = item(0);
    if (log) {
        CHECK_OK(ml_runlog_append(log, &it, &err), &err);
        CHECK(ml_runlog_append(log, &it, &err) == ML_ERR_ARG && strstr(err.msg, "question_id 1 is already in the log"));
        MlRunItem odd = it;
        odd.id = "x1"; /* not a number, though the log writes numeric ids */
        CHECK(ml_runlog_append(log, &odd, &err) == ML_ERR_ARG && strstr(err.msg, "bad item id"));
        ml_runlog_close(log);
    }
    cJSON *other = make_run("vcd", 0.5);
    CHECK(ml_runlog_open(&log, dir, other, &err) == ML_ERR_ARG);
    CHECK(strstr(err.msg, "run.json: this run directory holds a different run (params:") != NULL);
    cJSON_Delete(other);
    other = make_run("greedy", 1.0);
    CHECK(ml_runlog_open(&log, dir, other, &err) == ML_ERR_ARG);
    CHECK(strstr(err.msg, "(method: recorded \"vcd\", now \"greedy\")") != NULL);
    cJSON_Delete(other);
    /* Same run again: resumes, sees item 1 (also when named "001"). */
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    if (log) {
        CHECK(ml_runlog_count(log) == 1 && ml_runlog_done(log, "1") && !ml_runlog_done(log, "2"));
        MlRunItem again = it;
        again.id = "001";
        CHECK(ml_runlog_append(log, &again, &err) == ML_ERR_ARG);
        ml_runlog_close(log);
    }
    /* Items without run.json: refused. */
    char p[800];
    snprintf(p, sizeof p, "%s/run.json", dir);
    remove(p);
    CHECK(ml_runlog_open(&log, dir, run, &err) == ML_ERR_FORMAT && strstr(err.msg, "run.json does not"));
    /* A description without method/params is a caller error. */
    cJSON *bare = cJSON_CreateObject();
    CHECK(ml_runlog_open(&log, dir_path("bare"), bare, &err) == ML_ERR_ARG);
    cJSON_Delete(bare);
    cJSON_Delete(run);
}

static void test_damaged_logs(void) {
    MlError err = {0};
    const char *dir = dir_path("damaged");
    char items[800];
    snprintf(items, sizeof items, "%s/items.jsonl", dir);
    cJSON *run = make_run("vcd", 1.0);
    const char *good = "{\"question_id\":1,\"text\":\"Yes\",\"method\":\"vcd\",\"params\":{\"alpha\":1,\"beta\":0.2}}\n";
    const char *cases[][2] = {
        {"garbage\n", ":1: damaged line inside the log"},
        {"{\"question_id\":1,\"text\":\"Yes\",\"method\":\"dola\",\"params\":{\"alpha\":1,\"beta\":0.2}}\n",
         ":2: written by another method"},
        {"{\"question_id\":1,\"text\":\"Yes\",\"method\":\"vcd\",\"params\":{\"alpha\":1,\"beta\":0.2}}\n",
         ":2: question_id 1 appears twice"},
        {"{\"text\":\"Yes\",\"method\":\"vcd\",\"params\":{\"alpha\":1,\"beta\":0.2}}\n", ":2: no \"question_id\""},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        rm_dir(dir);
        MlRunlog *log;
        CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
        ml_runlog_close(log);
        char buf[1024];
        /* the damaged line sits before a good one, or after it (line 2) */
        if (c == 0) snprintf(buf, sizeof buf, "%s%s", cases[c][0], good);
        else snprintf(buf, sizeof buf, "%s%s", good, cases[c][0]);
        write_bytes(items, buf, strlen(buf));
        CHECK(ml_runlog_open(&log, dir, run, &err) != 0);
        if (!strstr(err.msg, cases[c][1])) {
            fprintf(stderr, "  case %zu: \"%s\"\n", c, err.msg);
            CHECK(0);
        }
    }
    /* An unreadable complete last line is a torn write: dropped, item redone. */
    rm_dir(dir);
    MlRunlog *log;
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    ml_runlog_close(log);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s{\"question_id\":2,\"te\n", good);
    write_bytes(items, buf, strlen(buf));
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    if (log) {
        CHECK(ml_runlog_count(log) == 1 && ml_runlog_torn_bytes(log) == strlen("{\"question_id\":2,\"te\n"));
        ml_runlog_close(log);
    }
    cJSON_Delete(run);
}

static void test_summary_and_answers(void) {
    MlError err = {0};
    const char *dir = dir_path("summary");
    rm_dir(dir);
    cJSON *run = make_run("vcd", 1.0);
    MlRunlog *log;
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    cJSON_Delete(run);
    if (!log) return;
    ml_runlog_set_checkpoint(log, 2);
    for (int i = 0; i < N_ITEMS; i++) {
        MlRunItem it = item(i);
        CHECK_OK(ml_runlog_append(log, &it, &err), &err);
    }
    MlBinaryScore s;
    double mean;
    ml_runlog_binary(log, &s, &mean);
    /* labels y n y n n vs parsed y n n y n: TP 1, FN 1, TN 2, FP 1 */
    CHECK(s.tp == 1 && s.fn == 1 && s.tn == 2 && s.fp == 1);
    CHECK_NEAR(mean, 0.25 * 15 / 5, 1e-12);
    cJSON *summary = cJSON_CreateObject();
    ml_binary_add_json(summary, &s);
    CHECK_OK(ml_runlog_finish(log, summary, &err), &err);
    ml_runlog_close(log);
    char p[800];
    snprintf(p, sizeof p, "%s/summary.json", dir);
    cJSON *back = NULL;
    CHECK_OK(ml_json_load(p, &back, &err), &err);
    CHECK(back && cJSON_Compare(back, summary, 1));
    cJSON_Delete(back);
    cJSON_Delete(summary);
    /* no temp files left behind */
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') {
            entries++;
            CHECK(!strstr(e->d_name, ".tmp"));
        }
    if (d) closedir(d);
    CHECK(entries == 4); /* run.json, items.jsonl, summary.json, writers.lock */
    /* items.jsonl is a LLaVA-form POPE answer file with the raw answers */
    snprintf(p, sizeof p, "%s/q.jsonl", test_tmpdir("test_runlog"));
    FILE *f = fopen(p, "w");
    for (int i = 0; f && i < N_ITEMS; i++)
        fprintf(f, "{\"question_id\": %s, \"text\": \"Is there a cat in the image?\", \"label\": \"%s\"}\n", ids[i], labels[i]);
    if (f) fclose(f);
    MlPopeSet qs;
    CHECK_OK(ml_pope_questions_load(p, &qs, &err), &err);
    snprintf(p, sizeof p, "%s/items.jsonl", dir);
    char **ans = NULL;
    CHECK_OK(ml_pope_answers_load(&qs, p, &ans, &err), &err);
    if (ans) {
        for (int i = 0; i < N_ITEMS; i++) CHECK_STR(ans[i], answers[i]);
        ml_pope_answers_free(&qs, ans);
    }
    ml_pope_questions_free(&qs);
}

static size_t count_lines(const char *path) {
    size_t n = 0, lines = 0;
    char *d = read_all(path, &n);
    for (size_t i = 0; d && i < n; i++) lines += d[i] == '\n';
    free(d);
    return lines;
}

/* Shards of 2, a resume as 3 shards, a merge: nothing lost, nothing twice, question order. */
static void test_shards_join(void) {
    char dir[700]; /* dir_path's buffers are reused */
    snprintf(dir, sizeof dir, "%s", dir_path("shards"));
    rm_dir(dir);
    MlError err = {0};
    cJSON *run = make_run("vcd", 1.0);
    MlRunlog *log = NULL;
    CHECK_OK(ml_runlog_open_shard(&log, dir, run, 0, 2, &err), &err);
    MlRunItem a = item(0), c = item(2), e = item(4);
    CHECK_OK(ml_runlog_append(log, &e, &err), &err); /* shards write in their own order */
    CHECK_OK(ml_runlog_append(log, &a, &err), &err);
    ml_runlog_close(log);
    CHECK_OK(ml_runlog_open_shard(&log, dir, run, 1, 2, &err), &err);
    CHECK(ml_runlog_count(log) == 2 && ml_runlog_done(log, "5") && !ml_runlog_done(log, "3"));
    CHECK_OK(ml_runlog_append(log, &c, &err), &err);
    ml_runlog_close(log);
    CHECK(count_lines(dir_path("shards/shard-0-of-2.jsonl")) == 2);
    /* another shape sees every answer so far and writes its own segment */
    CHECK_OK(ml_runlog_open_shard(&log, dir, run, 2, 3, &err), &err);
    CHECK(ml_runlog_count(log) == 3);
    MlRunItem b = item(1);
    CHECK_OK(ml_runlog_append(log, &b, &err), &err);
    ml_runlog_close(log);
    CHECK(count_lines(dir_path("shards/shard-2-of-3.jsonl")) == 1);
    CHECK_OK(ml_runlog_open_merge(&log, dir, 0, &err), &err);
    CHECK(ml_runlog_count(log) == 4 && cJSON_Compare(cJSON_GetObjectItem(ml_runlog_run(log), "params"),
                                                     cJSON_GetObjectItem(run, "params"), 1));
    const char *order[N_ITEMS] = {"1", "2", "3", "4", "5"};
    CHECK(ml_runlog_join(log, order, N_ITEMS, 0, &err) == ML_ERR_MISSING && strstr(err.msg, "question 4"));
    CHECK(count_lines(dir_path("shards/shard-0-of-2.jsonl")) == 2); /* a failed join leaves everything */
    const char *have[4] = {"1", "2", "3", "5"};
    CHECK_OK(ml_runlog_join(log, have, 4, 0, &err), &err);
    ml_runlog_close(log);
    struct stat st;
    CHECK(stat(dir_path("shards/shard-0-of-2.jsonl"), &st) != 0 && stat(dir_path("shards/shard-2-of-3.jsonl"), &st) != 0);
    size_t n;
    char *text = read_all(dir_path("shards/items.jsonl"), &n);
    int expect[4] = {1, 2, 3, 5}, k = 0;
    for (char *line = text; text && line < text + n && k < 4; k++) {
        cJSON *o = cJSON_Parse(line);
        CHECK(o && cJSON_GetObjectItem(o, "question_id")->valueint == expect[k]);
        cJSON_Delete(o);
        line = strchr(line, '\n') + 1;
    }
    CHECK(k == 4);
    free(text);
    /* a writer of the whole run now resumes from items.jsonl */
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    CHECK(ml_runlog_count(log) == 4 && !ml_runlog_done(log, "4"));
    ml_runlog_close(log);
    cJSON_Delete(run);
}

/* A child process holds a writer; the parent is refused naming its pid, until kill -9. */
static void test_one_writer(void) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s", dir_path("locked"));
    rm_dir(dir);
    MlError err = {0};
    cJSON *run = make_run("vcd", 1.0);
    int ready[2];
    CHECK(pipe(ready) == 0);
    pid_t child = fork();
    if (child == 0) {
        MlRunlog *log = NULL;
        MlError cerr = {0};
        char ok = ml_runlog_open_shard(&log, dir, run, 1, 3, &cerr) == ML_OK ? 'y' : 'n';
        if (write(ready[1], &ok, 1) != 1) _exit(1);
        pause(); /* until killed */
        _exit(0);
    }
    char ok = 0;
    CHECK(read(ready[0], &ok, 1) == 1 && ok == 'y');
    char pid[32];
    snprintf(pid, sizeof pid, "process %ld ", (long)child);
    MlRunlog *log = NULL;
    CHECK(ml_runlog_open_shard(&log, dir, run, 1, 3, &err) != ML_OK && strstr(err.msg, pid) &&
          strstr(err.msg, "shard-1-of-3.jsonl"));
    CHECK(ml_runlog_open(&log, dir, run, &err) != ML_OK && strstr(err.msg, pid) && strstr(err.msg, "another shape"));
    CHECK(ml_runlog_open_merge(&log, dir, 0, &err) != ML_OK && strstr(err.msg, pid));
    /* another shard of the same shape works beside it */
    CHECK_OK(ml_runlog_open_shard(&log, dir, run, 0, 3, &err), &err);
    ml_runlog_close(log);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    ml_runlog_close(log);
    close(ready[0]);
    close(ready[1]);
    cJSON_Delete(run);
}

/* Two writers of an older version answered item 2 twice: repair keeps the first. */
static void test_repair(void) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s", dir_path("twice"));
    rm_dir(dir);
    MlError err = {0};
    cJSON *run = make_run("vcd", 1.0);
    MlRunlog *log = NULL;
    CHECK_OK(ml_runlog_open(&log, dir, run, &err), &err);
    for (int i = 0; i < 3; i++) {
        MlRunItem it = item(i);
        CHECK_OK(ml_runlog_append(log, &it, &err), &err);
    }
    ml_runlog_close(log);
    size_t n;
    char *text = read_all(dir_path("twice/items.jsonl"), &n);
    char *second = text ? strchr(text, '\n') + 1 : NULL; /* line of item 2 */
    char *third = second ? strchr(second, '\n') + 1 : NULL;
    char p[800];
    snprintf(p, sizeof p, "%s/items.jsonl", dir);
    FILE *f = fopen(p, "ab");
    if (f && second && third) { /* item 2 again, with another answer */
        char *line = strndup(second, (size_t)(third - second));
        char *at = strstr(line, "\"No\"");
        if (at) memcpy(at, "\"Mo\"", 4);
        fputs(line, f);
        free(line);
    }
    if (f) fclose(f);
    CHECK(ml_runlog_open_merge(&log, dir, 0, &err) == ML_ERR_FORMAT && strstr(err.msg, ":4: question_id 2 appears twice"));
    CHECK_OK(ml_runlog_open_merge(&log, dir, 1, &err), &err);
    CHECK(ml_runlog_dropped(log) == 1 && ml_runlog_count(log) == 3);
    const char *order[3] = {"1", "2", "3"};
    CHECK_OK(ml_runlog_join(log, order, 3, 0, &err), &err);
    ml_runlog_close(log);
    size_t m;
    char *fixed = read_all(p, &m);
    CHECK(fixed && m == n && !memcmp(fixed, text, n)); /* the three lines as first written */
    CHECK(count_lines(p) == 3);
    free(fixed);
    free(text);
    cJSON_Delete(run);
}

int main(void) {
    RUN(test_resume_every_offset);
    RUN(test_refuses_other_runs);
    RUN(test_damaged_logs);
    RUN(test_summary_and_answers);
    RUN(test_shards_join);
    RUN(test_one_writer);
    RUN(test_repair);
    return test_summary("test_runlog");
}
