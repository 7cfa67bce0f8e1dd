/* fuzz_world.c: the world-file parser on arbitrary bytes.  Accepted worlds
   must write back to a file that parses to the same world, and small ones
   must generate a scene. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scene/scene.h"
#include "scene/world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    MlWorld w, back;
    MlError err = {0};
    if (ml_world_parse((const char *)data, size, "fuzz.json", &w, &err) != ML_OK) return 0;
    MlStrBuf a = {0}, b = {0};
    ml_world_to_json(&w, &a);
    if (!a.data || ml_world_parse(a.data, a.len, "roundtrip.json", &back, &err) != ML_OK) abort();
    ml_world_to_json(&back, &b);
    if (!b.data || strcmp(a.data, b.data)) abort();
    ml_strbuf_free(&a);
    ml_strbuf_free(&b);
    if (w.image_size <= 64) {
        MlScene s;
        if (ml_scene_sample(&w, 1, ML_SPLIT_TEST, 0, &s, &err) == ML_OK && s.n_objects < w.objects_min) abort();
    }
    return 0;
}
