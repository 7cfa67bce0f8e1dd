#include "core/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

int ml_npy_write_f32(const char *path, const float *data, const int64_t *shape, int ndim, MlError *err) {
    if (ndim < 0 || ndim > ML_NPY_MAX_DIMS) return ml_error_set(err, ML_ERR_ARG, "%s: bad ndim %d", path, ndim);
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld,%s", (long long)shape[i], (i + 1 < ndim) ? " " : "");
        count *= (size_t)shape[i];
    }
    if (ndim > 1) n--; /* "(a, b,)" -> numpy writes "(a, b)" for ndim > 1 */
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* header: magic(6) + version(2) + len(2) + dict, padded with spaces and '\n' to a multiple of 64 */
    size_t hlen = 10 + (size_t)n + 1;
    size_t pad = (64 - hlen % 64) % 64;
    size_t dict_len = (size_t)n + pad + 1;
    size_t total = 10 + dict_len + count * 4;
    unsigned char *buf = malloc(total);
    if (!buf) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(dict_len & 0xff);
    buf[9] = (unsigned char)(dict_len >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', pad);
    buf[10 + dict_len - 1] = '\n';
    memcpy(buf + 10 + dict_len, data, count * 4);
    int rc = ml_file_write(path, buf, total, err);
    free(buf);
    return rc;
}

int ml_npy_read_f32(const char *path, float **data, int64_t shape[ML_NPY_MAX_DIMS], int *ndim, MlError *err) {
    char *buf;
    size_t size;
    *data = NULL;
    int rc = ml_file_read(path, &buf, &size, err);
    if (rc) return rc;
    rc = ml_error_set(err, ML_ERR_FORMAT, "%s: not a float32 C-order .npy file", path);
    if (size < 10 || memcmp(buf, "\x93NUMPY", 6) != 0 || buf[6] != 1) goto done;
    size_t hl = (unsigned char)buf[8] | ((size_t)(unsigned char)buf[9] << 8);
    if (10 + hl > size) goto done;
    char *hdr = buf + 10;
    char save = hdr[hl - 1];
    hdr[hl - 1] = 0;
    int ok = strstr(hdr, "'descr': '<f4'") && strstr(hdr, "'fortran_order': False");
    char *sh = strstr(hdr, "'shape': (");
    hdr[hl - 1] = save;
    if (!ok || !sh) goto done;
    sh += 10;
    *ndim = 0;
    size_t count = 1;
    while (*sh != ')') {
        if (*ndim == ML_NPY_MAX_DIMS) goto done;
        char *end;
        long long d = strtoll(sh, &end, 10);
        if (end == sh || d < 0) goto done;
        shape[(*ndim)++] = d;
        count *= (size_t)d;
        sh = end;
        while (*sh == ',' || *sh == ' ') sh++;
        if (sh >= buf + 10 + hl) goto done;
    }
    if (10 + hl + count * 4 != size) goto done;
    *data = malloc(count * 4 + 1);
    if (!*data) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(*data, buf + 10 + hl, count * 4);
    rc = ML_OK;
done:
    free(buf);
    return rc;
}
