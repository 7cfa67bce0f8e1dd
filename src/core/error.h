/*
** error.h: how library code reports failure.
**
** Every fallible library call returns an int status (ML_OK == 0) and, when
** given a non-NULL MlError*, stores a one-line message there.  Messages name
** the file and the problem ("models/x/config.json: text_config.hidden_size:
** expected a positive integer").  Only the CLI prints them and calls exit().
**
**     MlError err = {0};
**     if (ml_something(..., &err) != ML_OK) fprintf(stderr, "%s\n", err.msg);
*/
#ifndef ML_CORE_ERROR_H
#define ML_CORE_ERROR_H

#include <stddef.h>

enum {
    ML_OK = 0,
    ML_ERR_IO,          /* open/read/write/mmap failed */
    ML_ERR_FORMAT,      /* malformed or lying input file */
    ML_ERR_NOMEM,       /* allocation failed or a size overflowed */
    ML_ERR_ARG,         /* bad argument or option value from the user */
    ML_ERR_MISSING,     /* a required tensor, key or file is absent */
    ML_ERR_SHAPE,       /* a tensor has the wrong shape or dtype */
    ML_ERR_RANGE,       /* input exceeds a limit (context length, image size) */
    ML_ERR_UNSUPPORTED, /* valid input this build does not handle */
};

typedef struct MlError {
    int code;       /* last status, ML_OK when nothing failed */
    char msg[1024]; /* one line, no trailing newline */
} MlError;

/* Formats the message into err (if non-NULL) and returns code. */
int ml_error_set(MlError *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (e.g. the file name). */
int ml_error_prefix(MlError *err, const char *prefix);

/* Static name of a status code ("format error", ...). */
const char *ml_error_name(int code);

/* Programmer errors: abort with file:line.  Never used for bad input. */
#define ML_ASSERT(cond)                                                        \
    do {                                                                       \
        if (!(cond)) ml_assert_fail(#cond, __FILE__, __LINE__);                \
    } while (0)
_Noreturn void ml_assert_fail(const char *expr, const char *file, int line);

#endif
