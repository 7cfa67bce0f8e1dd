/* fuzz_safetensors.c: arbitrary bytes as a whole .safetensors file through
   ml_safetensors_parse; on success every view must lie inside the input and
   agree with its shape, and the tensors must tile the data area. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    MlSafetensors *st;
    MlError err = {0};
    if (ml_safetensors_parse(&st, data, size, "fuzz", &err) != ML_OK) {
        if (st || strncmp(err.msg, "fuzz: ", 6) || strchr(err.msg, '\n')) abort(); /* one line naming the input */
        return 0;
    }
    uint64_t total = 0;
    for (int i = 0; i < ml_safetensors_count(st); i++) {
        const char *name;
        MlTensor t, again;
        ml_safetensors_at(st, i, &name, &t);
        if (t.ndim < 0 || t.ndim > ML_TENSOR_MAX_DIMS) abort();
        if ((uint64_t)ml_tensor_numel(&t) * ml_dtype_size(t.dtype) != t.nbytes) abort();
        const uint8_t *p = t.data;
        if (t.nbytes && (p < data || p + t.nbytes > data + size)) abort();
        if (!ml_safetensors_find(st, name, &again) || again.data != t.data) abort();
        volatile uint8_t sink = 0;
        if (t.nbytes) sink ^= p[0] ^ p[t.nbytes - 1]; /* the view is readable */
        (void)sink;
        total += t.nbytes;
    }
    if (total != ml_safetensors_data_bytes(st)) abort();
    (void)ml_safetensors_metadata(st, "format");
    ml_safetensors_close(st);
    return 0;
}
