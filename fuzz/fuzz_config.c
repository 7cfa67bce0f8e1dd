/* fuzz_config.c: arbitrary bytes as config.json, preprocessor_config.json
   (LLaVA's and Qwen2-VL's), model.safetensors.index.json and tokenizer.json
   (the facts init-model reads).
   Failures must say why in one line; accepted configs must be consistent. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/qwen2vl_config.h"
#include "io/tokenizer_json.h"

static void check_error(const MlError *err) {
    if (strncmp(err->msg, "fuzz", 4) || strchr(err->msg, '\n')) abort();
}

static void llava(const char *text, size_t size) {
    MlLlavaConfig c;
    MlError err = {0};
    if (ml_llava_config_parse(text, size, "fuzz", &c, &err) != ML_OK) return check_error(&err);
    const MlTextConfig *t = &c.text;
    const MlVisionConfig *v = &c.vision;
    if (t->hidden <= 0 || t->n_heads <= 0 || t->n_kv_heads <= 0 || t->n_heads % t->n_kv_heads || t->head_dim <= 0 ||
        t->head_dim % 2 || t->vocab <= 0 || t->n_layers <= 0 || t->intermediate <= 0 || t->max_pos <= 0)
        abort();
    if (v->hidden <= 0 || v->n_heads <= 0 || v->hidden % v->n_heads || v->image_size % v->patch_size || v->n_layers <= 0)
        abort();
    int side = v->image_size / v->patch_size;
    if (c.image_seq_length != side * side + c.select_full) abort();
    if (c.vision_feature_layer < -(v->n_layers + 1) || c.vision_feature_layer > v->n_layers) abort();
    if (c.image_token_id < 0 || c.image_token_id >= t->vocab || t->pad_id < -1 || t->pad_id >= t->vocab) abort();
}

static void image(const char *text, size_t size) {
    MlImageConfig c;
    MlError err = {0};
    if (ml_image_config_parse(text, size, "fuzz", &c, &err) != ML_OK) return check_error(&err);
    if (c.shortest_edge <= 0 || c.crop_height <= 0 || c.crop_width <= 0) abort();
    for (int i = 0; i < 3; i++)
        if (c.std[i] == 0) abort();
}

static void qwen2vl(const char *text, size_t size) {
    MlQwen2VLConfig c;
    MlError err = {0};
    if (ml_qwen2vl_config_parse(text, size, "fuzz", &c, &err) != ML_OK) return check_error(&err);
    const MlQwen2VLTextConfig *t = &c.text;
    if (t->hidden <= 0 || t->n_heads <= 0 || t->hidden % t->n_heads || t->n_heads % t->n_kv_heads ||
        2 * (t->mrope_section[0] + t->mrope_section[1] + t->mrope_section[2]) != t->head_dim)
        abort();
    if (c.vision.embed_dim % c.vision.n_heads || c.vision.in_channels != 3) abort();
    if (c.image_token_id < 0 || c.image_token_id >= t->vocab || c.image_token_id == c.video_token_id) abort();
    MlQwen2VLImageConfig ic;
    if (ml_qwen2vl_image_config_parse(text, size, "fuzz", &ic, &err) != ML_OK) return check_error(&err);
    if (ic.min_pixels > ic.max_pixels || ic.patch_size < 1 || ic.merge_size < 1) abort();
}

static void index_file(const char *text, size_t size) {
    MlCheckpointIndex idx;
    MlError err = {0};
    if (ml_checkpoint_index_parse(text, size, "fuzz", &idx, &err) != ML_OK) return check_error(&err);
    for (int i = 0; i < idx.n_tensors; i++)
        if (idx.shard_of[i] < 0 || idx.shard_of[i] >= idx.n_shards || strchr(idx.shards[idx.shard_of[i]], '/')) abort();
    ml_checkpoint_index_free(&idx);
}

static void tokenizer(const char *text, size_t size) {
    MlTokenizerFacts f;
    MlError err = {0};
    if (ml_tokenizer_json_facts(text, size, "fuzz", &f, &err) != ML_OK) return check_error(&err);
    if (f.image_id < 0 || f.image_id >= f.n_ids || f.bos_id < 0 || f.eos_id < 0 || f.unk_id < 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1 << 20)) return 0;
    const char *text = (const char *)data;
    llava(text, size);
    image(text, size);
    qwen2vl(text, size);
    index_file(text, size);
    tokenizer(text, size);
    return 0;
}
