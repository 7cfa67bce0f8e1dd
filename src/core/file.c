#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int ml_file_read(const char *path, char **data, size_t *size, MlError *err) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ml_error_set(err, ML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return ml_error_set(err, ML_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > ML_FILE_READ_MAX) {
        fclose(f);
        return ml_error_set(err, ML_ERR_RANGE, "%s: file too large (%lld bytes)", path, (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    if (n && fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return ml_error_set(err, ML_ERR_IO, "%s: short read", path);
    }
    fclose(f);
    buf[n] = 0;
    *data = buf;
    *size = n;
    return ML_OK;
}

int ml_file_parse(const char *path, MlTextParser parse, void *out, MlError *err) {
    char *text;
    size_t len;
    int rc = ml_file_read(path, &text, &len, err);
    if (rc) return rc;
    rc = parse(text, len, path, out, err);
    free(text);
    return rc;
}

int ml_file_map(const char *path, MlMapping *map, MlError *err) {
    map->data = NULL;
    map->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ml_error_set(err, ML_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ml_error_set(err, ML_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return ml_error_set(err, ML_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
        map->data = p;
        map->size = (size_t)st.st_size;
    }
    close(fd);
    return ML_OK;
}

void ml_file_unmap(MlMapping *map) {
    if (map->data) munmap(map->data, map->size);
    map->data = NULL;
    map->size = 0;
}

int ml_file_write(const char *path, const void *data, size_t size, MlError *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return ml_error_set(err, ML_ERR_ARG, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return ml_error_set(err, ML_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int ok = (size == 0 || fwrite(data, 1, size, f) == size);
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return ml_error_set(err, ML_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return ML_OK;
}

int ml_mkdirs(const char *path, MlError *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return ml_error_set(err, ML_ERR_ARG, "%s: bad directory path", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ml_error_set(err, ML_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ml_error_set(err, ML_ERR_IO, "%s: not a directory", path);
    return ML_OK;
}

int ml_path_join(char *out, size_t cap, const char *dir, const char *name, MlError *err) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return ml_error_set(err, ML_ERR_ARG, "%s/%s: path too long", dir, name);
    return ML_OK;
}

int ml_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}
