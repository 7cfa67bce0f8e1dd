/* fuzz_report.c: `misalign report` on scene runs, whose cause x method section
   reads every line of items.jsonl.  The first byte picks what the input
   becomes: the method run's items.jsonl (even) or its summary.json (odd);
   beside it a greedy run with two well-formed items to pair with. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/report.h"

static char root[64], greedy[128], method[128];

static void put(const char *dir, const char *name, const void *data, size_t n) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

static void setup(void) {
    snprintf(root, sizeof root, "/tmp/fuzz_report.XXXXXX");
    if (!mkdtemp(root)) abort();
    snprintf(greedy, sizeof greedy, "%s/greedy", root);
    snprintf(method, sizeof method, "%s/vcd", root);
    mkdir(greedy, 0700);
    mkdir(method, 0700);
    const char *run = "{\"benchmark\": \"scenes\", \"model\": \"m\", \"questions\": \"q\", \"method\": \"%s\", "
                      "\"params\": {}, \"prompt_suffix\": \"\"}";
    char text[256];
    snprintf(text, sizeof text, run, "greedy");
    put(greedy, "run.json", text, strlen(text));
    snprintf(text, sizeof text, run, "vcd");
    put(method, "run.json", text, strlen(text));
    const char *sum = "{\"benchmark\": \"scenes\", \"describe\": {\"object\": {\"claims\": 4, \"errors\": 1}}}";
    put(greedy, "summary.json", sum, strlen(sum));
    const char *items = "{\"question_id\": \"pope_random/1\", \"parsed\": \"yes\", \"label\": \"yes\", \"tokens\": 2, "
                        "\"forwards\": 2, \"seconds\": 0.1}\n"
                        "{\"question_id\": \"count/1\", \"parsed\": \"no\", \"label\": \"yes\", \"tokens\": 2, "
                        "\"forwards\": 2, \"seconds\": 0.1}\n";
    put(greedy, "items.jsonl", items, strlen(items));
    put(method, "summary.json", sum, strlen(sum));
    put(method, "items.jsonl", items, strlen(items));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    if (!root[0]) setup();
    const int summary = data[0] & 1;
    put(method, summary ? "summary.json" : "items.jsonl", data + 1, size - 1);
    char *dirs[2] = {greedy, method};
    for (int fmt = 0; fmt < 2; fmt++) {
        MlReport r;
        MlError err = {0};
        char *text = NULL;
        if (ml_report_load(&r, dirs, 2, &err) == ML_OK) {
            if (ml_report_render(&r, fmt ? ML_REPORT_HTML : ML_REPORT_MARKDOWN, "fuzz", &text, &err) == ML_OK &&
                (!text || !text[0]))
                abort();
            ml_report_free(&r);
        }
        if (err.code && (!err.msg[0] || strchr(err.msg, '\n'))) abort(); /* one line naming the problem */
        free(text);
    }
    /* back to a well-formed method run for the next input */
    const char *sum = "{\"benchmark\": \"scenes\"}";
    if (summary) put(method, "summary.json", sum, strlen(sum));
    return 0;
}
