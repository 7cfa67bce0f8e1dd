/*
** file.h: whole-file reads, read-only mappings and durable appends.
**
** ml_file_read returns a malloc'd buffer with a NUL byte after the data
** (so text parsers may treat it as a string); the caller frees it.
** ml_file_parse reads a file and runs a parser over it, the loaders' one shape.
** ml_file_map maps a file read-only; ml_file_unmap releases it.
*/
#ifndef ML_CORE_FILE_H
#define ML_CORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Files larger than this are refused by ml_file_read (not by ml_file_map). */
#define ML_FILE_READ_MAX ((size_t)1 << 31)

int ml_file_read(const char *path, char **data, size_t *size, MlError *err);

/* A parser of a whole file's text into *out; `where` names the file in its errors. */
typedef int (*MlTextParser)(const char *text, size_t len, const char *where, void *out, MlError *err);
/* Reads path and hands its text to parse (where = path); the text is freed after. */
int ml_file_parse(const char *path, MlTextParser parse, void *out, MlError *err);

typedef struct MlMapping {
    void *data;  /* NULL for an empty file */
    size_t size; /* bytes */
} MlMapping;

int ml_file_map(const char *path, MlMapping *map, MlError *err);
void ml_file_unmap(MlMapping *map);

/* Writes data to path atomically (temp file + rename). */
int ml_file_write(const char *path, const void *data, size_t size, MlError *err);

/* mkdir -p; ok if it exists. */
int ml_mkdirs(const char *path, MlError *err);

/* Joins dir and name into out ("dir/name"); fails if it does not fit. */
int ml_path_join(char *out, size_t cap, const char *dir, const char *name, MlError *err);

int ml_file_exists(const char *path);

#endif
