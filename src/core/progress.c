#include "core/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double ml_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ml_progress_start(MlProgress *p, const char *label, int64_t total) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->t_start = ml_time_now();
    p->is_tty = isatty(2);
}

void ml_progress_resume(MlProgress *p, int64_t start_done) {
    p->start_done = start_done;
    p->done = start_done;
}

static void format_secs(char *buf, size_t cap, double s) {
    if (s < 0 || s > 1e7) snprintf(buf, cap, "--:--");
    else if (s >= 3600) snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else snprintf(buf, cap, "%02d:%02d", (int)s / 60, (int)s % 60);
}

static void draw(MlProgress *p, double now, const char *end) {
    double elapsed = now - p->t_start;
    double rate = elapsed > 0 ? (double)(p->done - p->start_done) / elapsed : 0;
    double eta = rate > 0 ? (double)(p->total - p->done) / rate : -1;
    char e[16], r[16];
    format_secs(e, sizeof e, elapsed);
    format_secs(r, sizeof r, eta);
    int width = 30, fill = p->total > 0 ? (int)(width * p->done / p->total) : 0;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r%s [%s] %lld/%lld %.1f/s elapsed %s eta %s %s%s", p->label, bar, (long long)p->done,
            (long long)p->total, rate, e, r, p->extra, end);
    fflush(stderr);
}

void ml_progress_update(MlProgress *p, int64_t done) {
    p->done = done;
    double now = ml_time_now();
    if (p->is_tty && now - p->t_last_draw >= 0.1) {
        p->t_last_draw = now;
        draw(p, now, "\033[K");
    }
}

void ml_progress_finish(MlProgress *p) { draw(p, ml_time_now(), p->is_tty ? "\033[K\n" : "\n"); }
