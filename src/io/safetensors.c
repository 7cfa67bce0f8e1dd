/* safetensors.c: the .safetensors reader (mapped, validated) and writer. */
#include "io/safetensors.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "core/json.h"
#include "core/strbuf.h"

typedef struct Entry {
    const char *name; /* points into header */
    MlTensor t;
    uint64_t begin, end; /* offsets in the data area */
} Entry;

struct MlSafetensors {
    char *path;
    MlMapping map; /* empty when parsed from caller memory */
    cJSON *header;
    const cJSON *metadata; /* the __metadata__ object, or NULL */
    Entry *entries;        /* sorted by name */
    int n;
    uint64_t data_bytes;
};

/* Doubles hold integers exactly up to 2^53: enough for any real offset. */
#define MAX_EXACT_INT 9007199254740992.0

/* Tensor names come from the file: keep messages on one printable line. */
static const char *printable(const char *s, char *buf, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 4 < cap; i++) buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i]) memcpy(buf + i, "...", 4);
    else buf[i] = 0;
    return buf;
}

static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < 0 || d > MAX_EXACT_INT) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int parse_dtype(const char *s, MlDType *t) {
    if (!strcmp(s, "F32")) *t = ML_F32;
    else if (!strcmp(s, "F16")) *t = ML_F16;
    else if (!strcmp(s, "BF16")) *t = ML_BF16;
    else return -1;
    return 0;
}

static int parse_tensor(const cJSON *item, Entry *e, const char *where, MlError *err) {
    char nb[256];
    const char *name = printable(item->string, nb, sizeof nb);
    if (!cJSON_IsObject(item))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': expected an object", where, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': dtype: expected a string", where, name);
    if (parse_dtype(dt->valuestring, &e->t.dtype)) {
        char db[64];
        return ml_error_set(err, ML_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported (F32, F16 or BF16 only)",
                            where, name, printable(dt->valuestring, db, sizeof db));
    }
    if (!cJSON_IsArray(sh))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': shape: expected an array", where, name);
    int rank = cJSON_GetArraySize(sh);
    if (rank > ML_TENSOR_MAX_DIMS)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': rank %d exceeds %d", where, name, rank,
                            ML_TENSOR_MAX_DIMS);
    uint64_t numel = 1;
    int overflow = 0;
    e->t.ndim = rank;
    for (int i = 0; i < rank; i++) {
        uint64_t dim;
        if (json_u64(cJSON_GetArrayItem(sh, i), &dim))
            return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': shape[%d]: expected a non-negative integer",
                                where, name, i);
        e->t.shape[i] = (int64_t)dim;
        overflow |= __builtin_mul_overflow(numel, dim, &numel);
    }
    uint64_t need;
    overflow |= __builtin_mul_overflow(numel, (uint64_t)ml_dtype_size(e->t.dtype), &need);
    if (overflow || need > (uint64_t)SIZE_MAX)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': shape is too large (size overflows)", where, name);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || json_u64(cJSON_GetArrayItem(off, 0), &e->begin) ||
        json_u64(cJSON_GetArrayItem(off, 1), &e->end))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': data_offsets: expected [begin, end] integers", where,
                            name);
    if (e->end < e->begin)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                            where, name, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end - e->begin != need)
        return ml_error_set(err, ML_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s shape needs %llu", where,
                            name, (unsigned long long)e->begin, (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin), ml_dtype_name(e->t.dtype),
                            (unsigned long long)need);
    e->name = item->string;
    e->t.nbytes = (size_t)need;
    return ML_OK;
}

static int check_metadata(const cJSON *md, const char *where, MlError *err) {
    if (cJSON_IsNull(md)) return ML_OK;
    if (!cJSON_IsObject(md)) return ml_error_set(err, ML_ERR_FORMAT, "%s: __metadata__: expected an object", where);
    for (const cJSON *c = md->child; c; c = c->next) {
        char kb[128];
        if (!cJSON_IsString(c))
            return ml_error_set(err, ML_ERR_FORMAT, "%s: __metadata__.%s: expected a string", where,
                                printable(c->string, kb, sizeof kb));
    }
    return ML_OK;
}

static int by_name(const void *a, const void *b) { return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name); }

static int by_offset(const void *a, const void *b) {
    const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* The tensors must tile the data area: sorted by offset, each starts where
   the previous one ended and the last ends at the end of the file. */
static int check_layout(Entry *entries, int n, uint64_t data_size, const char *where, MlError *err) {
    Entry **order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    for (int i = 0; i < n; i++) order[i] = &entries[i];
    qsort(order, (size_t)n, sizeof *order, by_offset);
    uint64_t expect = 0;
    int rc = ML_OK;
    char nb[256], pb[256];
    for (int i = 0; i < n && rc == ML_OK; i++) {
        const Entry *e = order[i];
        if (e->end > data_size)
            rc = ml_error_set(err, ML_ERR_FORMAT,
                              "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the data area (%llu bytes)",
                              where, printable(e->name, nb, sizeof nb), (unsigned long long)e->begin,
                              (unsigned long long)e->end, (unsigned long long)data_size);
        else if (e->begin < expect)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap (bytes [%llu, %llu) and [%llu, %llu))",
                              where, printable(order[i - 1]->name, pb, sizeof pb), printable(e->name, nb, sizeof nb),
                              (unsigned long long)order[i - 1]->begin, (unsigned long long)order[i - 1]->end,
                              (unsigned long long)e->begin, (unsigned long long)e->end);
        else if (e->begin > expect)
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s': %llu unused bytes before its data_offsets [%llu, %llu]",
                              where, printable(e->name, nb, sizeof nb), (unsigned long long)(e->begin - expect),
                              (unsigned long long)e->begin, (unsigned long long)e->end);
        expect = e->end;
    }
    if (rc == ML_OK && expect != data_size)
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: %llu bytes after the last tensor's data (data area %llu bytes)", where,
                          (unsigned long long)(data_size - expect), (unsigned long long)data_size);
    free(order);
    return rc;
}

static int parse_header(MlSafetensors *st, const uint8_t *data, size_t size, const char *where, MlError *err) {
    if (size < 8)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: %zu bytes is too short for a safetensors header", where, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    if (hlen > size - 8)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)", where,
                            (unsigned long long)hlen, size);
    if (hlen > ML_SAFETENSORS_MAX_HEADER)
        return ml_error_set(err, ML_ERR_FORMAT, "%s: header length %llu exceeds the limit of %u bytes", where,
                            (unsigned long long)hlen, ML_SAFETENSORS_MAX_HEADER);
    /* A NUL-terminated private copy: cJSON never reads the mapping, and
       trailing-byte checks are plain string checks. */
    char *text = malloc((size_t)hlen + 1);
    if (!text) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory for a %llu-byte header", where,
                                   (unsigned long long)hlen);
    memcpy(text, data + 8, (size_t)hlen);
    text[hlen] = 0;
    const char *end = NULL;
    st->header = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    size_t parsed = (end && end >= text && end <= text + hlen) ? (size_t)(end - text) : 0;
    int rc = ML_OK;
    if (!st->header) {
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: header is not valid JSON (near byte %zu)", where, parsed);
    } else {
        for (size_t i = parsed; i < hlen && rc == ML_OK; i++)
            if (!strchr(" \t\r\n", text[i]) || text[i] == 0)
                rc = ml_error_set(err, ML_ERR_FORMAT, "%s: header has bytes after its JSON (at byte %zu)", where, i);
    }
    free(text);
    if (rc) return rc;
    if (!cJSON_IsObject(st->header))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: header is not a JSON object", where);

    int count = 0;
    for (const cJSON *c = st->header->child; c; c = c->next) count += strcmp(c->string, "__metadata__") != 0;
    st->entries = calloc((size_t)(count ? count : 1), sizeof *st->entries);
    if (!st->entries) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory for %d tensors", where, count);
    int seen_metadata = 0;
    for (const cJSON *c = st->header->child; c; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) {
            if (seen_metadata++) return ml_error_set(err, ML_ERR_FORMAT, "%s: duplicate __metadata__", where);
            if ((rc = check_metadata(c, where, err))) return rc;
            st->metadata = cJSON_IsObject(c) ? c : NULL; /* null is allowed */
            continue;
        }
        if ((rc = parse_tensor(c, &st->entries[st->n], where, err))) return rc;
        st->n++;
    }
    qsort(st->entries, (size_t)st->n, sizeof *st->entries, by_name);
    for (int i = 1; i < st->n; i++) {
        if (!strcmp(st->entries[i - 1].name, st->entries[i].name)) {
            char nb[256];
            return ml_error_set(err, ML_ERR_FORMAT, "%s: duplicate tensor name '%s'", where,
                                printable(st->entries[i].name, nb, sizeof nb));
        }
    }
    uint64_t data_size = size - 8 - hlen;
    if ((rc = check_layout(st->entries, st->n, data_size, where, err))) return rc;
    const uint8_t *base = data + 8 + hlen;
    for (int i = 0; i < st->n; i++) st->entries[i].t.data = base + st->entries[i].begin;
    st->data_bytes = data_size;
    return ML_OK;
}

static int make(MlSafetensors **out, const char *where, MlError *err) {
    *out = calloc(1, sizeof **out);
    if (*out) (*out)->path = strdup(where);
    if (!*out || !(*out)->path) {
        if (*out) free(*out);
        *out = NULL;
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    }
    return ML_OK;
}

int ml_safetensors_parse(MlSafetensors **out, const void *data, size_t size, const char *where, MlError *err) {
    int rc = make(out, where, err);
    if (rc) return rc;
    rc = parse_header(*out, data, size, where, err);
    if (rc) {
        ml_safetensors_close(*out);
        *out = NULL;
    }
    return rc;
}

int ml_safetensors_open(MlSafetensors **out, const char *path, MlError *err) {
    int rc = make(out, path, err);
    if (rc) return rc;
    MlSafetensors *st = *out;
    rc = ml_file_map(path, &st->map, err);
    if (!rc) rc = parse_header(st, st->map.data, st->map.size, path, err);
    if (rc) {
        ml_safetensors_close(st);
        *out = NULL;
    }
    return rc;
}

void ml_safetensors_close(MlSafetensors *st) {
    if (!st) return;
    ml_file_unmap(&st->map);
    cJSON_Delete(st->header);
    free(st->entries);
    free(st->path);
    free(st);
}

const char *ml_safetensors_path(const MlSafetensors *st) { return st->path; }
int ml_safetensors_count(const MlSafetensors *st) { return st->n; }
uint64_t ml_safetensors_data_bytes(const MlSafetensors *st) { return st->data_bytes; }

void ml_safetensors_at(const MlSafetensors *st, int i, const char **name, MlTensor *out) {
    ML_ASSERT(i >= 0 && i < st->n);
    if (name) *name = st->entries[i].name;
    if (out) *out = st->entries[i].t;
}

int ml_safetensors_find(const MlSafetensors *st, const char *name, MlTensor *out) {
    Entry key = {.name = name};
    const Entry *e = bsearch(&key, st->entries, (size_t)st->n, sizeof *st->entries, by_name);
    if (!e) return 0;
    if (out) *out = e->t;
    return 1;
}

const char *ml_safetensors_metadata(const MlSafetensors *st, const char *key) {
    if (!st->metadata) return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->metadata, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- writer ---- */


typedef struct Order {
    const MlNamedTensor *nt;
    int index;
    uint64_t nbytes;
} Order;

/* The reference writer's order: larger dtypes first (keeps every tensor
   aligned to its element size), then by name. */
static int by_dtype_then_name(const void *a, const void *b) {
    const Order *x = a, *y = b;
    size_t sx = ml_dtype_size(x->nt->tensor.dtype), sy = ml_dtype_size(y->nt->tensor.dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->nt->name, y->nt->name);
}

static int check_for_writing(const char *path, const MlNamedTensor *t, int has_fill, uint64_t *nbytes, MlError *err) {
    if (!t->name || !*t->name || !strcmp(t->name, "__metadata__"))
        return ml_error_set(err, ML_ERR_ARG, "%s: invalid tensor name '%s'", path, t->name ? t->name : "(null)");
    if (t->tensor.dtype != ML_F32 && t->tensor.dtype != ML_F16 && t->tensor.dtype != ML_BF16)
        return ml_error_set(err, ML_ERR_ARG, "%s: tensor '%s': unknown dtype", path, t->name);
    if (t->tensor.ndim < 0 || t->tensor.ndim > ML_TENSOR_MAX_DIMS)
        return ml_error_set(err, ML_ERR_ARG, "%s: tensor '%s': rank %d outside [0, %d]", path, t->name, t->tensor.ndim,
                            ML_TENSOR_MAX_DIMS);
    uint64_t n = ml_dtype_size(t->tensor.dtype);
    for (int i = 0; i < t->tensor.ndim; i++) {
        if (t->tensor.shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)t->tensor.shape[i], &n) ||
            (double)n > MAX_EXACT_INT)
            return ml_error_set(err, ML_ERR_ARG, "%s: tensor '%s': bad or too large shape", path, t->name);
    }
    if (!has_fill && (t->tensor.nbytes != n || (n && !t->tensor.data)))
        return ml_error_set(err, ML_ERR_ARG, "%s: tensor '%s': has %zu bytes of data, shape needs %llu", path, t->name,
                            t->tensor.data ? t->tensor.nbytes : 0, (unsigned long long)n);
    *nbytes = n;
    return ML_OK;
}

static int by_order_name(const void *a, const void *b) {
    return strcmp(((const Order *)a)->nt->name, ((const Order *)b)->nt->name);
}

static int check_unique_names(const char *path, Order *order, int n, MlError *err) {
    qsort(order, (size_t)n, sizeof *order, by_order_name);
    for (int i = 1; i < n; i++)
        if (!strcmp(order[i - 1].nt->name, order[i].nt->name))
            return ml_error_set(err, ML_ERR_ARG, "%s: duplicate tensor name '%s'", path, order[i].nt->name);
    return ML_OK;
}

static int build_header(MlStrBuf *h, const char *path, const Order *order, int n, const char *const *metadata,
                        MlError *err) {
    ml_strbuf_puts(h, "{\"__metadata__\":{\"format\":\"pt\"");
    for (const char *const *kv = metadata; kv && kv[0]; kv += 2) {
        if (!kv[1] || !strcmp(kv[0], "format"))
            return ml_error_set(err, ML_ERR_ARG, "%s: bad metadata pair '%s'", path, kv[0]);
        ml_strbuf_puts(h, ",");
        ml_strbuf_json_string(h, kv[0]);
        ml_strbuf_puts(h, ":");
        ml_strbuf_json_string(h, kv[1]);
    }
    ml_strbuf_puts(h, "}");
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const MlTensor *t = &order[i].nt->tensor;
        ml_strbuf_puts(h, ",");
        ml_strbuf_json_string(h, order[i].nt->name);
        ml_strbuf_puts(h, ":{\"dtype\":\"");
        ml_strbuf_puts(h, ml_dtype_name(t->dtype));
        ml_strbuf_puts(h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) ml_strbuf_puts(h, ",");
            ml_strbuf_printf(h, "%llu", (unsigned long long)t->shape[d]);
        }
        ml_strbuf_puts(h, "],\"data_offsets\":[");
        ml_strbuf_printf(h, "%llu", (unsigned long long)offset);
        ml_strbuf_puts(h, ",");
        offset += order[i].nbytes;
        ml_strbuf_printf(h, "%llu", (unsigned long long)offset);
        ml_strbuf_puts(h, "]}");
    }
    ml_strbuf_puts(h, "}");
    while (h->len % 8) ml_strbuf_puts(h, " "); /* data area starts 8-byte aligned */
    if (h->failed) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory building the header", path);
    return ML_OK;
}

static int write_data(FILE *f, const char *path, const Order *order, int n, const MlSafetensorsWriteOpts *opts,
                      MlError *err) {
    void *scratch = NULL;
    size_t scratch_cap = 0;
    int rc = ML_OK;
    for (int i = 0; i < n && rc == ML_OK; i++) {
        size_t nb = (size_t)order[i].nbytes;
        const void *src = order[i].nt->tensor.data;
        if (opts && opts->fill) {
            if (nb > scratch_cap) {
                free(scratch);
                scratch = malloc(nb);
                scratch_cap = scratch ? nb : 0;
                if (!scratch) {
                    rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory for tensor '%s'", path, order[i].nt->name);
                    break;
                }
            }
            if ((rc = opts->fill(opts->fill_ctx, order[i].index, scratch, nb, err))) break;
            src = scratch;
        }
        if (nb && fwrite(src, 1, nb, f) != nb)
            rc = ml_error_set(err, ML_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    free(scratch);
    return rc;
}

int ml_safetensors_write_ex(const char *path, const MlNamedTensor *tensors, int n, const MlSafetensorsWriteOpts *opts,
                            MlError *err) {
    if (n < 0) return ml_error_set(err, ML_ERR_ARG, "%s: negative tensor count", path);
    Order *order = calloc((size_t)(n ? n : 1), sizeof *order);
    if (!order) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    int rc = ML_OK;
    for (int i = 0; i < n && rc == ML_OK; i++) {
        order[i].nt = &tensors[i];
        order[i].index = i;
        rc = check_for_writing(path, &tensors[i], opts && opts->fill, &order[i].nbytes, err);
    }
    if (rc == ML_OK) rc = check_unique_names(path, order, n, err);
    if (rc == ML_OK) qsort(order, (size_t)n, sizeof *order, by_dtype_then_name);
    MlStrBuf h = {0};
    if (rc == ML_OK) rc = build_header(&h, path, order, n, opts ? opts->metadata : NULL, err);
    char tmp[4096];
    if (rc == ML_OK && snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        rc = ml_error_set(err, ML_ERR_ARG, "%s: path too long", path);
    FILE *f = NULL;
    if (rc == ML_OK && !(f = fopen(tmp, "wb")))
        rc = ml_error_set(err, ML_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    if (rc == ML_OK) {
        uint8_t len8[8];
        for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
        if (fwrite(len8, 1, 8, f) != 8 || fwrite(h.data, 1, h.len, f) != h.len)
            rc = ml_error_set(err, ML_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    if (rc == ML_OK) rc = write_data(f, path, order, n, opts, err);
    if (f) {
        int ok = fflush(f) == 0;
        ok = fsync(fileno(f)) == 0 && ok;
        ok = fclose(f) == 0 && ok;
        if (rc == ML_OK && (!ok || rename(tmp, path) != 0))
            rc = ml_error_set(err, ML_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        if (rc != ML_OK) remove(tmp);
    }
    ml_strbuf_free(&h);
    free(order);
    return rc;
}

int ml_safetensors_write(const char *path, const MlNamedTensor *tensors, int n, MlError *err) {
    return ml_safetensors_write_ex(path, tensors, n, NULL, err);
}
