#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ml_error_set(MlError *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int ml_error_prefix(MlError *err, const char *prefix) {
    if (!err) return ML_OK;
    char tmp[sizeof err->msg];
    memcpy(tmp, err->msg, sizeof tmp);
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3) n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3, len = strnlen(tmp, room);
    memcpy(err->msg + n + 2, tmp, len);
    err->msg[n + 2 + len] = 0;
    return err->code;
}

const char *ml_error_name(int code) {
    switch (code) {
    case ML_OK: return "ok";
    case ML_ERR_IO: return "i/o error";
    case ML_ERR_FORMAT: return "format error";
    case ML_ERR_NOMEM: return "out of memory";
    case ML_ERR_ARG: return "bad argument";
    case ML_ERR_MISSING: return "missing";
    case ML_ERR_SHAPE: return "shape mismatch";
    case ML_ERR_RANGE: return "out of range";
    case ML_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown error";
}

void ml_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "misalign: internal error: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
