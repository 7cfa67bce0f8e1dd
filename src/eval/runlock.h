/*
** runlock.h: one writer per run directory (or per shard of it).
**
** Advisory POSIX record locks (fcntl) on RUNDIR/writers.lock and on each
** writer's own item file.  The kernel drops them when their process dies, so a
** kill -9 never leaves a stale lock, and F_GETLK names the holder's pid.
**
**   byte 0 of writers.lock   the gate: held briefly while a writer settles
**                            run.json and declares its shape
**   byte N (N >= 1)          shared by the writers of an N-shard run; a writer
**                            of another shape (or a merge) finds it held
**   its own item file        exclusive: two writers of the same shard clash
**
** Processes only: two locks of one process never clash, and closing any
** descriptor of a locked file drops that process's locks on it.
**
**     int fd; MlError err = {0};
**     if (ml_runlock_open(&fd, "runs/x", &err)) fail(&err);
**     ml_runlock_gate(fd, 1, "runs/x", &err);  ... settle run.json ...
**     ml_runlock_shape(fd, 3, "runs/x", &err);  // a 3-shard run
**     ml_runlock_gate(fd, 0, "runs/x", &err);
**     ... ml_runlock_file(items_fd, "runs/x/shard-1-of-3.jsonl", &err) ...
**     close(fd);                                // releases everything
*/
#ifndef ML_EVAL_RUNLOCK_H
#define ML_EVAL_RUNLOCK_H

#include "core/error.h"

/* Opens (creating) DIR/writers.lock. */
int ml_runlock_open(int *fd, const char *dir, MlError *err);
/* on = 1 waits for the gate and takes it; on = 0 releases it. */
int ml_runlock_gate(int fd, int on, const char *dir, MlError *err);
/* Declares this process a writer of an N-shard run; fails naming the pid of a
   writer of another shape or of a merge. */
int ml_runlock_shape(int fd, int shards, const char *dir, MlError *err);
/* The whole directory (merge, repair): fails naming the pid of any writer. */
int ml_runlock_all(int fd, const char *dir, MlError *err);
/* An exclusive lock on an open item file; fails naming the holder's pid. */
int ml_runlock_file(int fd, const char *path, MlError *err);

#endif
