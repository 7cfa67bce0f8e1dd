/* test_qwen2vl_config.c: Qwen2-VL-2B's config.json, preprocessor_config.json
   and model.safetensors.index.json as shipped (every value checked against
   the file's literal text), the nested text_config layout of newer
   transformers, the defaults, and malformed configs (one error naming the
   file and key). */
#include "test.h"

#include "core/error.h"
#include "core/file.h"
#include "io/checkpoint.h"
#include "io/qwen2vl_config.h"

#define QWEN "data/qwen2-vl-2b/"

static char *read_data(const char *rel, size_t *len) {
    char *text = NULL;
    MlError err = {0};
    CHECK_OK(ml_file_read(test_repo_path(rel), &text, len, &err), &err);
    return text;
}

/* The literal values of data/qwen2-vl-2b/config.json. */
static void check_2b(const MlQwen2VLConfig *c) {
    const MlQwen2VLTextConfig *t = &c->text;
    const MlQwen2VLVisionConfig *v = &c->vision;
    CHECK(t->hidden == 1536 && t->intermediate == 8960 && t->n_layers == 28 && t->n_heads == 12);
    CHECK(t->n_kv_heads == 2 && t->head_dim == 128 && t->vocab == 151936 && t->max_pos == 32768);
    CHECK(t->rms_eps == 1e-6f && t->rope_theta == 1000000.0 && t->tie_word_embeddings == 1 && t->act == ML_ACT_SILU);
    CHECK(t->mrope_section[0] == 16 && t->mrope_section[1] == 24 && t->mrope_section[2] == 24);
    CHECK(v->depth == 32 && v->embed_dim == 1280 && v->hidden == 1536 && v->mlp_ratio == 4 && v->n_heads == 16);
    CHECK(v->in_channels == 3 && v->patch_size == 14 && v->spatial_merge_size == 2 && v->temporal_patch_size == 2);
    CHECK(v->act == ML_ACT_QUICK_GELU); /* absent from the file: Qwen2VLVisionConfig's default */
    CHECK(c->bos_id == 151643 && c->eos_id == 151645 && c->image_token_id == 151655 && c->video_token_id == 151656);
    CHECK(c->vision_start_id == 151652 && c->vision_end_id == 151653);
}

static void test_real_config(void) {
    size_t len;
    char *text = read_data(QWEN "config.json", &len);
    if (!text) return;
    MlQwen2VLConfig c;
    MlError err = {0};
    CHECK_OK(ml_qwen2vl_config_parse(text, len, "config.json", &c, &err), &err);
    free(text);
    check_2b(&c);
}

/* The same model saved by transformers >= 4.49: text keys under text_config,
   rope_scaling rewritten to type "default" with rope_type. */
static void test_nested_layout(void) {
    const char *json =
        "{\"model_type\":\"qwen2_vl\",\"image_token_id\":151655,\"video_token_id\":151656,"
        "\"vision_start_token_id\":151652,\"vision_end_token_id\":151653,\"bos_token_id\":151643,"
        "\"eos_token_id\":151645,\"tie_word_embeddings\":true,"
        "\"text_config\":{\"model_type\":\"qwen2_vl_text\",\"hidden_size\":1536,\"intermediate_size\":8960,"
        "\"num_hidden_layers\":28,\"num_attention_heads\":12,\"num_key_value_heads\":2,\"vocab_size\":151936,"
        "\"max_position_embeddings\":32768,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,\"hidden_act\":\"silu\","
        "\"rope_scaling\":{\"type\":\"default\",\"rope_type\":\"default\",\"mrope_section\":[16,24,24]}},"
        "\"vision_config\":{\"model_type\":\"qwen2_vl\",\"depth\":32,\"embed_dim\":1280,\"hidden_size\":1536,"
        "\"mlp_ratio\":4,\"num_heads\":16,\"in_channels\":3,\"patch_size\":14,\"spatial_merge_size\":2,"
        "\"temporal_patch_size\":2,\"hidden_act\":\"quick_gelu\"}}";
    MlQwen2VLConfig c;
    MlError err = {0};
    CHECK_OK(ml_qwen2vl_config_parse(json, strlen(json), "nested.json", &c, &err), &err);
    check_2b(&c);
}

/* Qwen2VLConfig() with only the M-RoPE section given: the 72B-sized defaults. */
static void test_defaults(void) {
    const char *json = "{\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[16,24,24]}}";
    MlQwen2VLConfig c;
    MlError err = {0};
    CHECK_OK(ml_qwen2vl_config_parse(json, strlen(json), "d.json", &c, &err), &err);
    CHECK(c.text.hidden == 8192 && c.text.intermediate == 29568 && c.text.n_layers == 80 && c.text.n_heads == 64);
    CHECK(c.text.n_kv_heads == 8 && c.text.vocab == 152064 && c.text.rms_eps == 1e-5f && !c.text.tie_word_embeddings);
    CHECK(c.vision.hidden == 3584 && c.vision.depth == 32 && c.vision.embed_dim == 1280);
    CHECK(c.image_token_id == 151655 && c.bos_id == -1 && c.eos_id == -1);
}

static void test_bad_configs(void) {
    const char *bad[][2] = {
        {"{\"model_type\":\"llava\"}", "bad.json: model_type: 'llava' is not supported (only Qwen2-VL)"},
        {"{\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[16,24,16]}}",
         "bad.json: rope_scaling.mrope_section: sums to 56, but must be half the head dimension (128 / 2)"},
        {"{\"rope_scaling\":{\"type\":\"mrope\",\"mrope_section\":[32,32]}}", "bad.json: rope_scaling.mrope_section: "
                                                                              "expected 3 integers"},
        {"{\"rope_scaling\":{\"type\":\"yarn\",\"mrope_section\":[16,24,24]}}", "bad.json: rope_scaling.type: only"},
        {"{}", "bad.json: rope_scaling: missing"},
        {"{\"text_config\":{\"hidden_size\":1536,\"num_attention_heads\":12,\"num_key_value_heads\":2,\"rope_scaling\":"
         "{\"type\":\"mrope\","
         "\"mrope_section\":[16,24,20]}}}",
         "bad.json: text_config.rope_scaling.mrope_section: sums to 60, but must be half the head dimension (128 / 2)"},
        {"{\"video_token_id\":151655,\"rope_scaling\":{\"mrope_section\":[16,24,24]}}",
         "bad.json: video_token_id: equals image_token_id"},
        {"{\"use_sliding_window\":true,\"rope_scaling\":{\"mrope_section\":[16,24,24]}}",
         "bad.json: use_sliding_window: sliding-window attention is not supported"},
        {"{\"vision_config\":{\"in_chans\":4},\"rope_scaling\":{\"mrope_section\":[16,24,24]}}",
         "bad.json: vision_config.in_channels: only 3"},
        {"{\"vision_config\":{\"embed_dim\":1000},\"rope_scaling\":{\"mrope_section\":[16,24,24]}}",
         "bad.json: vision_config.embed_dim: not divisible by num_heads"},
        {"{\"image_token_id\":152064,\"rope_scaling\":{\"mrope_section\":[16,24,24]}}",
         "bad.json: image_token_id: 152064 is outside the vocabulary"},
        {"{\"text_config\":{\"model_type\":\"qwen2\"}}", "bad.json: text_config.model_type: 'qwen2' is not supported"},
        {"[1]", "bad.json: expected a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MlQwen2VLConfig c;
        MlError err = {0};
        int rc = ml_qwen2vl_config_parse(bad[i][0], strlen(bad[i][0]), "bad.json", &c, &err);
        CHECK(rc != ML_OK && strstr(err.msg, bad[i][1]) == err.msg && !strchr(err.msg, '\n'));
        if (rc == ML_OK || strstr(err.msg, bad[i][1]) != err.msg) fprintf(stderr, "  case %zu: %s\n", i, err.msg);
    }
}

static void test_bad_image_configs(void) {
    const char *bad[][2] = {
        {"{\"resample\":2}", "bad.json: resample: only 3 (bicubic) is supported"},
        {"{\"min_pixels\":5000,\"max_pixels\":4000}", "bad.json: min_pixels: is larger than max_pixels"},
        {"{\"image_std\":[1,0,1]}", "bad.json: image_std: expected a nonzero number"},
        {"{\"size\":{\"shortest_edge\":-1}}", "bad.json: size.shortest_edge: "},
        {"{\"patch_size\":0}", "bad.json: patch_size: "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MlQwen2VLImageConfig c;
        MlError err = {0};
        int rc = ml_qwen2vl_image_config_parse(bad[i][0], strlen(bad[i][0]), "bad.json", &c, &err);
        CHECK(rc != ML_OK && strstr(err.msg, bad[i][1]) == err.msg);
        if (rc == ML_OK || strstr(err.msg, bad[i][1]) != err.msg) fprintf(stderr, "  case %zu: %s\n", i, err.msg);
    }
    /* transformers >= 4.50 writes size {shortest_edge, longest_edge}; min/max_pixels win when both are given. */
    const char *sized = "{\"size\":{\"shortest_edge\":3136,\"longest_edge\":12845056}}";
    MlQwen2VLImageConfig c;
    MlError err = {0};
    CHECK_OK(ml_qwen2vl_image_config_parse(sized, strlen(sized), "s.json", &c, &err), &err);
    CHECK(c.min_pixels == 3136 && c.max_pixels == 12845056);
    const char *both = "{\"size\":{\"shortest_edge\":1000,\"longest_edge\":2000},\"max_pixels\":9000}";
    CHECK_OK(ml_qwen2vl_image_config_parse(both, strlen(both), "s.json", &c, &err), &err);
    CHECK(c.min_pixels == 1000 && c.max_pixels == 9000);
}

/* data/qwen2-vl-2b/model.safetensors.index.json: 729 tensors in 2 shards,
   678 in the first; the vision tower's 391 under "visual."; no lm_head (tied). */
static void test_real_index(void) {
    size_t len;
    char *text = read_data(QWEN "model.safetensors.index.json", &len);
    if (!text) return;
    MlCheckpointIndex idx;
    MlError err = {0};
    CHECK_OK(ml_checkpoint_index_parse(text, len, "index.json", &idx, &err), &err);
    free(text);
    CHECK(idx.n_tensors == 729 && idx.n_shards == 2 && idx.total_size == 4417971200LL);
    CHECK(!strcmp(idx.shards[0], "model-00001-of-00002.safetensors"));
    CHECK(!strcmp(idx.shards[1], "model-00002-of-00002.safetensors"));
    int first = 0, visual = 0, lm_head = 0, merger = -1, embed = -1;
    for (int i = 0; i < idx.n_tensors; i++) {
        first += idx.shard_of[i] == 0;
        visual += !strncmp(idx.names[i], "visual.", 7);
        lm_head += !strcmp(idx.names[i], "lm_head.weight");
        if (!strcmp(idx.names[i], "visual.merger.mlp.2.weight")) merger = idx.shard_of[i];
        if (!strcmp(idx.names[i], "model.embed_tokens.weight")) embed = idx.shard_of[i];
    }
    CHECK(first == 678 && visual == 391 && lm_head == 0 && merger == 0 && embed == 0);
    ml_checkpoint_index_free(&idx);
}

int main(void) {
    RUN(test_real_config);
    RUN(test_nested_layout);
    RUN(test_defaults);
    RUN(test_bad_configs);
    RUN(test_bad_image_configs);
    RUN(test_real_index);
    return test_summary("test_qwen2vl_config");
}
