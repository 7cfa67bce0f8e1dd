/* runlock.c: fcntl record locks on a run directory (see runlock.h). */
#include "eval/runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Byte ranges past the largest shape: len 0 reaches to the end of any file. */
static struct flock range(short type, off_t start, off_t len) {
    struct flock l;
    memset(&l, 0, sizeof l);
    l.l_type = type;
    l.l_whence = SEEK_SET;
    l.l_start = start;
    l.l_len = len;
    return l;
}

/* The pid holding a lock that clashes with `want` on [start, start+len), or 0. */
static long holder(int fd, short want, off_t start, off_t len) {
    struct flock l = range(want, start, len);
    if (fcntl(fd, F_GETLK, &l) != 0 || l.l_type == F_UNLCK) return 0;
    return (long)l.l_pid;
}

int ml_runlock_open(int *fd, const char *dir, MlError *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/writers.lock", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return ml_error_set(err, ML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    return ML_OK;
}

int ml_runlock_gate(int fd, int on, const char *dir, MlError *err) {
    struct flock l = range(on ? F_WRLCK : F_UNLCK, 0, 1);
    while (fcntl(fd, F_SETLKW, &l) != 0)
        if (errno != EINTR) return ml_error_set(err, ML_ERR_IO, "%s/writers.lock: cannot lock: %s", dir, strerror(errno));
    return ML_OK;
}

int ml_runlock_shape(int fd, int shards, const char *dir, MlError *err) {
    long pid = shards > 1 ? holder(fd, F_WRLCK, 1, shards - 1) : 0; /* len 0 would mean "to the end" */
    if (!pid) pid = holder(fd, F_WRLCK, shards + 1, 0);
    if (pid)
        return ml_error_set(err, ML_ERR_ARG,
                            "%s: process %ld is writing this run directory in another shape (or merging it); wait "
                            "for it or stop it",
                            dir, pid);
    struct flock l = range(F_RDLCK, shards, 1);
    if (fcntl(fd, F_SETLK, &l) != 0) {
        pid = holder(fd, F_RDLCK, shards, 1);
        return ml_error_set(err, ML_ERR_ARG, "%s: process %ld is merging this run directory", dir, pid);
    }
    return ML_OK;
}

int ml_runlock_all(int fd, const char *dir, MlError *err) {
    struct flock l = range(F_WRLCK, 1, 0);
    if (fcntl(fd, F_SETLK, &l) != 0) {
        long pid = holder(fd, F_WRLCK, 1, 0);
        return ml_error_set(err, ML_ERR_ARG, "%s: process %ld is writing this run directory; wait for it or stop it",
                            dir, pid);
    }
    return ML_OK;
}

int ml_runlock_file(int fd, const char *path, MlError *err) {
    struct flock l = range(F_WRLCK, 0, 0);
    if (fcntl(fd, F_SETLK, &l) != 0) {
        long pid = holder(fd, F_WRLCK, 0, 0);
        return ml_error_set(err, ML_ERR_ARG,
                            "%s: process %ld is already writing this run (one writer per run directory or shard)", path,
                            pid);
    }
    return ML_OK;
}
