/* fuzz_steer.c: the steering-direction file reader on arbitrary bytes.  An
   accepted file must write back to bytes that parse to the same directions. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "mitigate/steer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    MlSteer s, back;
    MlError err = {0};
    if (ml_steer_parse(data, size, "fuzz.steer", &s, &err) != ML_OK) return 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_steer_%d.steer", (int)getpid());
    char *bytes = NULL;
    size_t n = 0;
    if (ml_steer_write(path, &s, &err) || ml_file_read(path, &bytes, &n, &err) ||
        ml_steer_parse(bytes, n, "roundtrip.steer", &back, &err))
        abort();
    const size_t nt = (size_t)(s.shape.layers + 1) * (size_t)s.shape.hidden;
    const size_t nv = (size_t)(s.shape.vision_layers + 1) * (size_t)s.shape.vision_tokens * (size_t)s.shape.vision_hidden;
    const MlSteerShape *a = &s.shape, *b = &back.shape; /* field by field: the struct has padding */
    if (a->layers != b->layers || a->hidden != b->hidden || a->vision_layers != b->vision_layers ||
        a->vision_tokens != b->vision_tokens || a->vision_hidden != b->vision_hidden ||
        a->config_hash != b->config_hash || strcmp(s.method, back.method) || s.demos != back.demos ||
        memcmp(s.text, back.text, 4 * nt) || memcmp(s.vision, back.vision, 4 * nv))
        abort();
    remove(path);
    free(bytes);
    ml_steer_free(&s);
    ml_steer_free(&back);
    return 0;
}
