/* test_checkpoint.c: config.json defaults against the real llava-1.5-7b-hf
   files, the shard index, inconsistent configs, and checkpoint folders
   (init-model output, new-style names, shards) opened and read back. */
#include "test.h"

#include <stdint.h>

#include "core/file.h"
#include "core/half.h"
#include "core/json.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/tokenizer_json.h"
#include "model/init.h"

#define LLAVA "data/llava-1.5-7b-hf/"

static char *read_data(const char *rel, size_t *len) {
    MlError err = {0};
    char *text = NULL;
    if (ml_file_read(test_repo_path(rel), &text, len, &err)) fprintf(stderr, "  %s\n", err.msg);
    return text;
}

static void test_real_llava_config(void) {
    size_t len;
    char *text = read_data(LLAVA "config.json", &len);
    CHECK(text != NULL);
    if (!text) return;
    MlLlavaConfig c;
    MlError err = {0};
    CHECK_OK(ml_llava_config_parse(text, len, "config.json", &c, &err), &err);
    free(text);
    /* Values in the file ... */
    CHECK(c.text.vocab == 32064 && c.text.max_pos == 4096);
    CHECK_NEAR(c.text.rms_eps, 1e-5, 1e-12);
    CHECK(c.vision.hidden == 1024 && c.vision.n_layers == 24 && c.vision.n_heads == 16);
    CHECK(c.vision.image_size == 336 && c.vision.patch_size == 14 && c.vision.intermediate == 4096);
    CHECK(c.vision.projection_dim == 768);
    CHECK(c.vision_feature_layer == -2 && c.select_full == 0 && c.image_token_id == 32000);
    CHECK(c.text.pad_id == 32001 && c.text.tie_word_embeddings == 0);
    /* ... and the LlamaConfig / CLIPVisionConfig / LlavaConfig defaults. */
    CHECK(c.text.hidden == 4096 && c.text.n_layers == 32 && c.text.n_heads == 32 && c.text.n_kv_heads == 32);
    CHECK(c.text.head_dim == 128 && c.text.intermediate == 11008);
    CHECK(c.text.rope_theta == 10000.0f && c.text.bos_id == 1 && c.text.eos_id == 2);
    CHECK(c.image_seq_length == 576 && c.projector_bias == 1);
    CHECK(c.vision.act == ML_ACT_QUICK_GELU && c.projector_act == ML_ACT_GELU && c.text.act == ML_ACT_SILU);
    CHECK(c.vision.n_channels == 3);
    CHECK_NEAR(c.vision.layer_norm_eps, 1e-5, 1e-12);
}

static void test_real_preprocessor_config(void) {
    size_t len;
    char *text = read_data(LLAVA "preprocessor_config.json", &len);
    CHECK(text != NULL);
    if (!text) return;
    MlImageConfig c;
    MlError err = {0};
    CHECK_OK(ml_image_config_parse(text, len, "preprocessor_config.json", &c, &err), &err);
    free(text);
    CHECK(c.shortest_edge == 336 && c.crop_height == 336 && c.crop_width == 336 && c.resample == 3);
    CHECK(c.do_resize && c.do_center_crop && c.do_rescale && c.do_normalize && c.do_convert_rgb);
    CHECK(c.rescale_factor == (float)(1.0 / 255.0));
    CHECK(c.mean[0] == 0.48145466f && c.mean[1] == 0.4578275f && c.mean[2] == 0.40821073f);
    CHECK(c.std[0] == 0.26862954f && c.std[1] == 0.26130258f && c.std[2] == 0.27577711f);
}

static void test_real_index(void) {
    size_t len;
    char *text = read_data(LLAVA "model.safetensors.index.json", &len);
    CHECK(text != NULL);
    if (!text) return;
    MlCheckpointIndex idx;
    MlError err = {0};
    CHECK_OK(ml_checkpoint_index_parse(text, len, "index.json", &idx, &err), &err);
    free(text);
    CHECK(idx.n_tensors == 686 && idx.n_shards == 3 && idx.total_size == 14126854144LL);
    int per_shard[3] = {0, 0, 0}, lm_head = -1;
    for (int i = 0; i < idx.n_tensors; i++) {
        per_shard[idx.shard_of[i]]++;
        if (!strcmp(idx.names[i], "language_model.lm_head.weight")) lm_head = idx.shard_of[i];
    }
    CHECK(per_shard[0] + per_shard[1] + per_shard[2] == 686 && per_shard[0] && per_shard[1] && per_shard[2]);
    CHECK(lm_head >= 0 && !strcmp(idx.shards[lm_head], "model-00003-of-00003.safetensors"));
    ml_checkpoint_index_free(&idx);

    const char *bad[][2] = {
        {"{\"weight_map\":{\"a\":\"../evil.safetensors\"}}", "weight_map.a: expected a shard file name"},
        {"{\"weight_map\":{\"a\":\"/abs.safetensors\"}}", "weight_map.a"},
        {"{\"weight_map\":{\"a\":3}}", "weight_map.a"},
        {"{\"metadata\":{}}", "weight_map: missing"},
        {"{\"weight_map\":{\"lm_head.weight\":\"x\",\"language_model.lm_head.weight\":\"x\"}}", "listed twice"},
        {"{\"weight_map\":{},\"metadata\":{\"total_size\":1.5}}", "metadata.total_size: expected an integer"},
        {"{\"weight_map\":[]}", "weight_map: expected an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ml_checkpoint_index_parse(bad[i][0], strlen(bad[i][0]), "ix.json", &idx, &err);
        CHECK(rc == ML_ERR_FORMAT && strstr(err.msg, "ix.json: ") == err.msg && strstr(err.msg, bad[i][1]));
        if (rc == ML_OK) ml_checkpoint_index_free(&idx);
    }
}

static int parse(const char *json, MlLlavaConfig *c, MlError *err) {
    return ml_llava_config_parse(json, strlen(json), "cfg.json", c, err);
}

static void test_config_defaults(void) {
    MlLlavaConfig c;
    MlError err = {0};
    /* Bare defaults are inconsistent (image token 32000 in a 32000-token vocabulary). */
    CHECK(parse("{}", &c, &err) == ML_ERR_FORMAT &&
          strstr(err.msg, "cfg.json: image_token_index: 32000 is outside the vocabulary (text_config.vocab_size 32000)"));
    /* Otherwise LlamaConfig and LlavaConfig's CLIP ViT-L/336 vision config. */
    CHECK_OK(parse("{\"image_token_index\":31999}", &c, &err), &err);
    CHECK(c.text.vocab == 32000 && c.text.hidden == 4096 && c.text.max_pos == 2048 && c.text.pad_id == -1);
    CHECK_NEAR(c.text.rms_eps, 1e-6, 1e-13);
    CHECK(c.vision.hidden == 1024 && c.vision.n_layers == 24 && c.vision.image_size == 336 &&
          c.vision.projection_dim == 768);
    CHECK(c.image_seq_length == 576 && c.image_token_id == 31999);
    /* A vision_config object starts from CLIPVisionConfig's own defaults (ViT-B/32, 224 px). */
    CHECK_OK(parse("{\"vision_config\":{},\"text_config\":{\"vocab_size\":32064}}", &c, &err), &err);
    CHECK(c.vision.hidden == 768 && c.vision.intermediate == 3072 && c.vision.n_layers == 12 &&
          c.vision.n_heads == 12 && c.vision.image_size == 224 && c.vision.patch_size == 32 &&
          c.vision.projection_dim == 512);
    CHECK(c.image_seq_length == 49);
    /* "full" keeps CLS; GQA; explicit head_dim; activations by name; pad and tie from text_config. */
    CHECK_OK(parse("{\"vision_feature_select_strategy\":\"full\",\"vision_feature_layer\":-1,\"image_token_index\":3,"
                   "\"text_config\":{\"hidden_size\":96,\"num_attention_heads\":6,\"num_key_value_heads\":2,"
                   "\"head_dim\":32,\"hidden_act\":\"gelu_pytorch_tanh\",\"pad_token_id\":5,"
                   "\"tie_word_embeddings\":true,\"rope_theta\":500000},"
                   "\"pad_token_id\":7,\"multimodal_projector_bias\":false,\"projector_hidden_act\":\"quick_gelu\"}",
                   &c, &err),
             &err);
    CHECK(c.select_full == 1 && c.image_seq_length == 577 && c.vision_feature_layer == -1);
    CHECK(c.text.n_kv_heads == 2 && c.text.head_dim == 32 && c.text.act == ML_ACT_GELU_TANH);
    CHECK(c.text.pad_id == 5 && c.text.tie_word_embeddings == 1 && c.text.rope_theta == 500000.0f);
    CHECK(c.projector_bias == 0 && c.projector_act == ML_ACT_QUICK_GELU);
    CHECK_OK(parse("{\"vision_config\":{\"image_size\":32,\"patch_size\":8,\"num_hidden_layers\":3},"
                   "\"vision_feature_layer\":0,\"image_token_index\":5}",
                   &c, &err),
             &err);
    CHECK(c.image_seq_length == 16 && c.vision_feature_layer == 0);
}

static void test_config_rejects(void) {
    const char *bad[][3] = {
        {"{\"text_config\":{\"hidden_size\":100,\"num_attention_heads\":3}}", "text_config.hidden_size",
         "not divisible by num_attention_heads"},
        {"{\"text_config\":{\"num_attention_heads\":32,\"num_key_value_heads\":3}}", "text_config.num_key_value_heads",
         "does not divide"},
        {"{\"text_config\":{\"num_key_value_heads\":64}}", "text_config.num_key_value_heads", "outside"},
        {"{\"vision_feature_layer\":-26,\"image_token_index\":1}", "vision_feature_layer", "outside [-25, 24]"},
        {"{\"vision_feature_layer\":25,\"image_token_index\":1}", "vision_feature_layer", "outside"},
        {"{\"vision_feature_layer\":[-2,-5],\"image_token_index\":1}", "vision_feature_layer", "list"},
        {"{\"text_config\":{\"hidden_size\":0}}", "text_config.hidden_size", "outside"},
        {"{\"vision_config\":{\"num_hidden_layers\":-1}}", "vision_config.num_hidden_layers", "outside"},
        {"{\"vision_config\":{\"hidden_size\":100}}", "vision_config.hidden_size", "not divisible"},
        {"{\"vision_config\":{\"image_size\":300,\"patch_size\":14}}", "vision_config.patch_size", "does not divide"},
        {"{\"vision_config\":{\"num_channels\":1}}", "vision_config.num_channels", "only 3"},
        {"{\"text_config\":{\"vocab_size\":1.5}}", "text_config.vocab_size", "expected an integer"},
        {"{\"text_config\":{\"head_dim\":33}}", "text_config.head_dim", "even"},
        {"{\"text_config\":{\"hidden_act\":\"relu\"}}", "text_config.hidden_act", "not supported"},
        {"{\"text_config\":{\"rope_scaling\":{\"type\":\"linear\"}}}", "text_config.rope_scaling", "not supported"},
        {"{\"text_config\":{\"attention_bias\":true}}", "text_config.attention_bias", "not supported"},
        {"{\"text_config\":{\"model_type\":\"mistral\"}}", "text_config.model_type", "not supported"},
        {"{\"text_config\":[1]}", "text_config", "expected an object"},
        {"{\"vision_feature_select_strategy\":\"cls\",\"image_token_index\":1}", "vision_feature_select_strategy", "\"default\" or \"full\""},
        {"{\"image_seq_length\":100,\"image_token_index\":1}", "image_seq_length", "does not match the 576"},
        {"{\"image_token_index\":40000}", "image_token_index", "outside"},
        {"{\"model_type\":\"llava_next\"}", "model_type", "not supported"},
        {"{\"text_config\":{\"eos_token_id\":[2,3]}}", "text_config.eos_token_id", "expected an integer"},
        {"{\"text_config\":{\"vocab_size\":2}}", "text_config.eos_token_id", "outside the vocabulary"},
        {"{\"pad_token_id\":99999}", "pad_token_id", "outside"},
        {"[1,2]", "expected a JSON object", "object"},
        {"{\"text_config\":", "malformed JSON", "near byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MlLlavaConfig c;
        MlError err = {0};
        int rc = parse(bad[i][0], &c, &err);
        char want[200];
        snprintf(want, sizeof want, "cfg.json: %s", bad[i][1]);
        int ok = rc != ML_OK && strstr(err.msg, want) == err.msg && strstr(err.msg, bad[i][2]);
        if (!ok) fprintf(stderr, "  config %s: got %d '%s'\n", bad[i][0], rc, err.msg);
        CHECK(ok);
    }
}

static void test_image_config_forms(void) {
    MlImageConfig c;
    MlError err = {0};
    const char *t1 = "{\"size\":48,\"crop_size\":40,\"image_mean\":0.5,\"image_std\":[1,2,3],\"do_resize\":false,"
                     "\"resample\":2}";
    CHECK_OK(ml_image_config_parse(t1, strlen(t1), "p.json", &c, &err), &err);
    CHECK(c.shortest_edge == 48 && c.crop_height == 40 && c.crop_width == 40 && c.do_resize == 0);
    CHECK(c.mean[0] == 0.5f && c.mean[2] == 0.5f && c.std[2] == 3.0f);
    const char *t2 = "{}"; /* CLIPImageProcessor defaults */
    CHECK_OK(ml_image_config_parse(t2, strlen(t2), "p.json", &c, &err), &err);
    CHECK(c.shortest_edge == 224 && c.crop_height == 224 && c.resample == 3 && c.do_center_crop);
    CHECK(c.mean[1] == 0.4578275f && c.std[1] == 0.26130258f);
    const char *bad[][2] = {
        {"{\"size\":{\"height\":3,\"width\":4}}", "p.json: size: only {\"shortest_edge\": N}"},
        {"{\"crop_size\":{\"height\":3}}", "p.json: crop_size: expected {\"height\": H, \"width\": W}"},
        {"{\"crop_size\":{\"height\":3,\"width\":-4}}", "p.json: crop_size.width"},
        {"{\"size\":{\"shortest_edge\":0}}", "p.json: size.shortest_edge"},
        {"{\"image_std\":[1,0,1]}", "p.json: image_std: expected a nonzero"},
        {"{\"image_mean\":[1,2]}", "p.json: image_mean"},
        {"{\"resample\":2}", "p.json: resample: only 3"},
        {"{\"do_resize\":1}", "p.json: do_resize: expected true or false"},
        {"{\"size\":\"big\"}", "p.json: size: expected an integer or an object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ml_image_config_parse(bad[i][0], strlen(bad[i][0]), "p.json", &c, &err);
        int ok = rc != ML_OK && strstr(err.msg, bad[i][1]) == err.msg;
        if (!ok) fprintf(stderr, "  image config %s: got %d '%s'\n", bad[i][0], rc, err.msg);
        CHECK(ok);
    }
}

/* ---- folders ---- */

static const char *make_tiny(const char *name, MlDType dtype, uint64_t seed) {
    static char dir[8][600];
    static int next;
    char *d = dir[next++ % 8];
    snprintf(d, 600, "%s/%s", test_tmpdir("test_checkpoint"), name);
    MlInitOptions o = {.preset = "tiny", .dtype = dtype, .seed = seed};
    MlError err = {0};
    CHECK_OK(ml_init_model(d, &o, &err), &err);
    return d;
}

static void test_open_tiny(void) {
    const char *dir = make_tiny("tiny32", ML_F32, 7);
    MlCheckpoint *ck;
    MlError err = {0};
    CHECK_OK(ml_checkpoint_open(&ck, dir, &err), &err);
    if (!ck) return;
    const MlLlavaConfig *c = ml_checkpoint_config(ck);
    /* The preset as the assignment states it, read back through config.json. */
    CHECK(c->vision.hidden == 32 && c->vision.intermediate == 64 && c->vision.n_layers == 3 && c->vision.n_heads == 2);
    CHECK(c->vision.image_size == 32 && c->vision.patch_size == 8 && c->image_seq_length == 16);
    CHECK(c->text.hidden == 64 && c->text.n_heads == 4 && c->text.n_kv_heads == 2 && c->text.n_layers == 2);
    CHECK(c->text.intermediate == 96 && c->text.max_pos == 512 && c->text.head_dim == 16);
    CHECK(c->vision_feature_layer == -2 && c->select_full == 0 && c->text.tie_word_embeddings == 0);
    CHECK(c->text.vocab % 64 == 0 && c->image_token_id < c->text.vocab && c->text.pad_id == c->image_token_id + 1);
    const MlImageConfig *ic = ml_checkpoint_image_config(ck);
    CHECK(ic->shortest_edge == 32 && ic->crop_height == 32 && ic->crop_width == 32);
    CHECK_STR(ml_checkpoint_dir(ck), dir);

    /* Every tensor llava-hf has, with its shape; 80 = 3 + 4 + 3*16 vision, 4 projector, 1 + 2*9 + 2 text. */
    CHECK(ml_checkpoint_tensor_count(ck) == 80);
    MlTensor t;
    int64_t V = c->text.vocab;
    struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } want[] = {
        {"vision_tower.vision_model.embeddings.class_embedding", 1, {32}},
        {"vision_tower.vision_model.embeddings.patch_embedding.weight", 4, {32, 3, 8, 8}},
        {"vision_tower.vision_model.embeddings.position_embedding.weight", 2, {17, 32}},
        {"vision_tower.vision_model.pre_layrnorm.bias", 1, {32}},
        {"vision_tower.vision_model.encoder.layers.2.self_attn.out_proj.weight", 2, {32, 32}},
        {"vision_tower.vision_model.encoder.layers.2.mlp.fc1.weight", 2, {64, 32}},
        {"vision_tower.vision_model.encoder.layers.2.mlp.fc2.bias", 1, {32}},
        {"vision_tower.vision_model.post_layernorm.weight", 1, {32}},
        {"multi_modal_projector.linear_1.weight", 2, {64, 32}},
        {"multi_modal_projector.linear_2.bias", 1, {64}},
        {"language_model.model.embed_tokens.weight", 2, {V, 64}},
        {"language_model.model.layers.1.self_attn.q_proj.weight", 2, {64, 64}},
        {"language_model.model.layers.1.self_attn.k_proj.weight", 2, {32, 64}},
        {"language_model.model.layers.1.self_attn.v_proj.weight", 2, {32, 64}},
        {"language_model.model.layers.1.mlp.down_proj.weight", 2, {64, 96}},
        {"language_model.model.layers.1.post_attention_layernorm.weight", 1, {64}},
        {"language_model.model.norm.weight", 1, {64}},
        {"language_model.lm_head.weight", 2, {V, 64}},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int rc = ml_checkpoint_get(ck, want[i].name, want[i].ndim, want[i].shape, &t, &err);
        if (rc) fprintf(stderr, "  %s\n", err.msg);
        CHECK(rc == ML_OK && t.dtype == ML_F32);
    }
    /* New-style names resolve to the same tensors. */
    MlTensor a, b;
    CHECK_OK(ml_checkpoint_get(ck, "lm_head.weight", 2, (int64_t[]){V, 64}, &a, &err), &err);
    CHECK_OK(ml_checkpoint_get(ck, "language_model.lm_head.weight", -1, NULL, &b, &err), &err);
    CHECK(a.data == b.data);
    CHECK_OK(ml_checkpoint_get(ck, "model.language_model.norm.weight", 1, (int64_t[]){64}, &a, &err), &err);

    /* Statistics of the init: matrices ~N(0, 0.02), norms ~1 + N(0, 0.1). */
    ml_checkpoint_get(ck, "language_model.model.embed_tokens.weight", -1, NULL, &t, &err);
    const float *e = t.data;
    double s = 0, s2 = 0;
    int64_t n = V * 64;
    for (int64_t i = 0; i < n; i++) s += e[i], s2 += (double)e[i] * e[i];
    CHECK_NEAR(s / (double)n, 0.0, 0.002);
    CHECK_NEAR(sqrt(s2 / (double)n), 0.02, 0.002);
    ml_checkpoint_get(ck, "language_model.model.norm.weight", -1, NULL, &t, &err);
    s = 0;
    for (int i = 0; i < 64; i++) s += ((const float *)t.data)[i];
    CHECK_NEAR(s / 64, 1.0, 0.05);
    CHECK(((const float *)t.data)[0] != ((const float *)t.data)[1]);

    /* Missing tensors and wrong shapes name the tensor and file. */
    CHECK(ml_checkpoint_get(ck, "language_model.model.layers.2.mlp.up_proj.weight", -1, NULL, &t, &err) ==
              ML_ERR_MISSING &&
          strstr(err.msg, dir) && strstr(err.msg, "'language_model.model.layers.2.mlp.up_proj.weight' not found"));
    CHECK(ml_checkpoint_get(ck, "language_model.model.norm.weight", 1, (int64_t[]){65}, &t, &err) == ML_ERR_SHAPE &&
          strstr(err.msg, "model.safetensors: tensor 'language_model.model.norm.weight' has shape [64], expected [65]"));
    CHECK(ml_checkpoint_get(ck, "language_model.model.norm.weight", 2, (int64_t[]){64, 1}, &t, &err) == ML_ERR_SHAPE);
    int found = 1;
    CHECK(ml_checkpoint_find(ck, "nope", -1, NULL, &t, &found, &err) == ML_OK && found == 0);

    /* weight bytes = the data area of the single file (independent size: file - header). */
    char path[700];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    char *raw;
    size_t len;
    CHECK_OK(ml_file_read(path, &raw, &len, &err), &err);
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = h << 8 | (uint8_t)raw[i];
    CHECK(ml_checkpoint_weight_bytes(ck) == len - 8 - h);
    free(raw);
    ml_checkpoint_close(ck);
}

/* f16 and bf16 checkpoints of one seed hold the f32 values rounded. */
static void test_dtypes_agree(void) {
    const char *d32 = make_tiny("agree32", ML_F32, 3), *d16 = make_tiny("agree16", ML_F16, 3),
               *db16 = make_tiny("agreebf16", ML_BF16, 3);
    MlCheckpoint *c32, *c16, *cb16;
    MlError err = {0};
    CHECK_OK(ml_checkpoint_open(&c32, d32, &err), &err);
    CHECK_OK(ml_checkpoint_open(&c16, d16, &err), &err);
    CHECK_OK(ml_checkpoint_open(&cb16, db16, &err), &err);
    if (!c32 || !c16 || !cb16) return;
    CHECK(ml_checkpoint_weight_bytes(c16) * 2 == ml_checkpoint_weight_bytes(c32));
    int bad = 0;
    for (int i = 0; i < ml_checkpoint_tensor_count(c32); i++) {
        const char *name;
        MlTensor a, b, c;
        ml_checkpoint_tensor_at(c32, i, &name, &a);
        if (ml_checkpoint_get(c16, name, a.ndim, a.shape, &b, &err) ||
            ml_checkpoint_get(cb16, name, a.ndim, a.shape, &c, &err) || b.dtype != ML_F16 || c.dtype != ML_BF16) {
            bad++;
            continue;
        }
        for (int64_t k = 0; k < ml_tensor_numel(&a); k++) {
            float v = ((const float *)a.data)[k];
            bad += ((const uint16_t *)b.data)[k] != ml_f32_to_f16(v);
            bad += ((const uint16_t *)c.data)[k] != ml_f32_to_bf16(v);
        }
    }
    CHECK(bad == 0);
    ml_checkpoint_close(c32);
    ml_checkpoint_close(c16);
    ml_checkpoint_close(cb16);
}

static int files_equal(const char *a, const char *b) {
    MlError err = {0};
    char *x, *y;
    size_t nx, ny;
    if (ml_file_read(a, &x, &nx, &err)) return 0;
    if (ml_file_read(b, &y, &ny, &err)) return free(x), 0;
    int eq = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return eq;
}

static void test_deterministic(void) {
    const char *a = make_tiny("det_a", ML_BF16, 11), *b = make_tiny("det_b", ML_BF16, 11),
               *c = make_tiny("det_c", ML_BF16, 12);
    const char *files[] = {"config.json", "model.safetensors", "preprocessor_config.json", "generation_config.json",
                           "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char pa[700], pb[700], pc[700];
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        snprintf(pc, sizeof pc, "%s/%s", c, files[i]);
        CHECK(files_equal(pa, pb));
        CHECK(files_equal(pa, pc) == (i != 1)); /* only the weights depend on the seed */
    }
}

/* Builds a folder holding dir's configs and its tensors renamed/split by the caller. */
static void copy_configs(const char *from, const char *to) {
    MlError err = {0};
    CHECK_OK(ml_mkdirs(to, &err), &err);
    const char *files[] = {"config.json", "preprocessor_config.json", "tokenizer.json"};
    for (int i = 0; i < 3; i++) {
        char a[700], b[700], *text;
        size_t n;
        snprintf(a, sizeof a, "%s/%s", from, files[i]);
        snprintf(b, sizeof b, "%s/%s", to, files[i]);
        CHECK_OK(ml_file_read(a, &text, &n, &err), &err);
        CHECK_OK(ml_file_write(b, text, n, &err), &err);
        free(text);
    }
}

/* Converts canonical names to the newer transformers layout (the reverse of the loader's mapping, by hand). */
static void new_style(const char *name, char *out, size_t cap) {
    if (!strncmp(name, "language_model.model.", 21)) snprintf(out, cap, "model.language_model.%s", name + 21);
    else if (!strcmp(name, "language_model.lm_head.weight")) snprintf(out, cap, "lm_head.weight");
    else snprintf(out, cap, "model.%s", name);
}

static void test_new_style_names_and_shards(void) {
    const char *src = make_tiny("shard_src", ML_F16, 5);
    MlCheckpoint *ck;
    MlError err = {0};
    CHECK_OK(ml_checkpoint_open(&ck, src, &err), &err);
    if (!ck) return;
    int n = ml_checkpoint_tensor_count(ck);
    MlNamedTensor *all = calloc((size_t)n, sizeof *all);
    char(*names)[160] = calloc((size_t)n, sizeof *names);
    for (int i = 0; i < n; i++) {
        const char *name;
        ml_checkpoint_tensor_at(ck, i, &name, &all[i].tensor);
        new_style(name, names[i], sizeof names[i]);
        all[i].name = names[i];
    }
    char dir[700], path[800];
    /* Sharded, new-style names: the language model in shard 2, the rest in shard 1. */
    snprintf(dir, sizeof dir, "%s/sharded", test_tmpdir("test_checkpoint"));
    snprintf(path, sizeof path, "rm -rf '%s'", dir); /* left by an earlier run */
    CHECK(system(path) == 0);
    copy_configs(src, dir);
    MlNamedTensor *s1 = calloc((size_t)n, sizeof *s1), *s2 = calloc((size_t)n, sizeof *s2);
    int n1 = 0, n2 = 0;
    char index[65536];
    size_t off = (size_t)snprintf(index, sizeof index, "{\"metadata\":{\"total_size\":%llu},\"weight_map\":{",
                                  (unsigned long long)ml_checkpoint_weight_bytes(ck));
    for (int i = 0; i < n; i++) {
        int second = strstr(all[i].name, "language_model") || !strcmp(all[i].name, "lm_head.weight");
        if (second) s2[n2++] = all[i];
        else s1[n1++] = all[i];
        off += (size_t)snprintf(index + off, sizeof index - off, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"",
                                i ? "," : "", all[i].name, second ? 2 : 1);
    }
    snprintf(index + off, sizeof index - off, "}}");
    snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
    CHECK_OK(ml_safetensors_write(path, s1, n1, &err), &err);
    snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
    CHECK_OK(ml_safetensors_write(path, s2, n2, &err), &err);
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    CHECK_OK(ml_file_write(path, index, strlen(index), &err), &err);

    MlCheckpoint *sh;
    CHECK_OK(ml_checkpoint_open(&sh, dir, &err), &err);
    if (sh) {
        CHECK(ml_checkpoint_tensor_count(sh) == n);
        CHECK(ml_checkpoint_weight_bytes(sh) == ml_checkpoint_weight_bytes(ck));
        int same = 0;
        for (int i = 0; i < n; i++) {
            const char *name;
            MlTensor a, b;
            ml_checkpoint_tensor_at(ck, i, &name, &a);
            if (ml_checkpoint_get(sh, name, a.ndim, a.shape, &b, &err) == ML_OK && b.dtype == a.dtype &&
                b.nbytes == a.nbytes && !memcmp(a.data, b.data, a.nbytes) && a.data != b.data)
                same++;
        }
        CHECK(same == n);
        ml_checkpoint_close(sh);
    }

    /* The index lies: a tensor listed in a shard that lacks it. */
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    char lie[65536];
    snprintf(lie, sizeof lie, "{\"weight_map\":{\"lm_head.weight\":\"model-00001-of-00002.safetensors\"}}");
    CHECK_OK(ml_file_write(path, lie, strlen(lie), &err), &err);
    CHECK(ml_checkpoint_open(&sh, dir, &err) == ML_ERR_MISSING && sh == NULL &&
          strstr(err.msg, "model-00001-of-00002.safetensors: tensor 'lm_head.weight' is listed in"));
    /* A shard that is not there. */
    snprintf(lie, sizeof lie, "{\"weight_map\":{\"lm_head.weight\":\"model-00009-of-00009.safetensors\"}}");
    CHECK_OK(ml_file_write(path, lie, strlen(lie), &err), &err);
    CHECK(ml_checkpoint_open(&sh, dir, &err) == ML_ERR_MISSING && strstr(err.msg, "model-00009-of-00009.safetensors: missing"));
    /* One file holds the same tensor under its two names. */
    remove(path);
    MlNamedTensor twice[2] = {s2[0], s2[0]};
    twice[0].name = "language_model.model.embed_tokens.weight";
    twice[1].name = "model.language_model.embed_tokens.weight";
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_OK(ml_safetensors_write(path, twice, 2, &err), &err);
    CHECK(ml_checkpoint_open(&sh, dir, &err) == ML_ERR_FORMAT &&
          strstr(err.msg, "tensor 'language_model.model.embed_tokens.weight' appears twice"));

    free(s1);
    free(s2);
    free(names);
    free(all);
    ml_checkpoint_close(ck);
}

static void test_folder_errors(void) {
    MlCheckpoint *ck;
    MlError err = {0};
    char dir[700], path[800], cmd[800];
    snprintf(dir, sizeof dir, "%s/broken", test_tmpdir("test_checkpoint"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir); /* left by an earlier run */
    CHECK(system(cmd) == 0);
    CHECK(ml_checkpoint_open(&ck, dir, &err) == ML_ERR_MISSING && strstr(err.msg, "config.json: missing"));
    const char *src = make_tiny("broken_src", ML_F32, 1);
    copy_configs(src, dir);
    CHECK(ml_checkpoint_open(&ck, dir, &err) == ML_ERR_MISSING &&
          strstr(err.msg, "no model.safetensors or model.safetensors.index.json"));
    /* A truncated weights file. */
    char from[800], *raw;
    size_t n;
    snprintf(from, sizeof from, "%s/model.safetensors", src);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_OK(ml_file_read(from, &raw, &n, &err), &err);
    CHECK_OK(ml_file_write(path, raw, n - 1, &err), &err);
    free(raw);
    CHECK(ml_checkpoint_open(&ck, dir, &err) == ML_ERR_FORMAT && strstr(err.msg, path) &&
          strstr(err.msg, "run past the end of the data area"));
    /* A crop size the vision tower cannot take. */
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    const char *pp = "{\"crop_size\": 30, \"size\": 32}";
    CHECK_OK(ml_file_write(path, pp, strlen(pp), &err), &err);
    CHECK(ml_checkpoint_open(&ck, dir, &err) == ML_ERR_FORMAT &&
          strstr(err.msg, "crop_size 30x30 does not match vision_config.image_size 32"));
}

/* The built-in tokenizer's merges only join pieces it has, into pieces it has. */
static void test_builtin_tokenizer(void) {
    char *text;
    size_t len;
    MlError err = {0};
    CHECK_OK(ml_tokenizer_json_builtin(&text, &len, &err), &err);
    if (!text) return;
    MlTokenizerFacts f;
    CHECK_OK(ml_tokenizer_json_facts(text, len, "builtin", &f, &err), &err);
    CHECK(f.unk_id == 0 && f.bos_id == 1 && f.eos_id == 2 && f.pad_id == f.image_id + 1 && f.n_ids == f.pad_id + 1);
    CHECK(f.n_merges >= 30);
    cJSON *root;
    CHECK_OK(ml_json_parse(text, len, "builtin", &root, &err), &err);
    const cJSON *model = cJSON_GetObjectItem(root, "model"), *vocab = cJSON_GetObjectItem(model, "vocab");
    int n = cJSON_GetArraySize(vocab), bad = 0;
    CHECK(n == f.image_id);
    CHECK(cJSON_GetObjectItem(vocab, "<0x0A>")->valueint == 13 && cJSON_GetObjectItem(vocab, "<0xFF>")->valueint == 258);
    char *seen = calloc((size_t)n, 1);
    for (const cJSON *v = vocab->child; v; v = v->next) bad += v->valueint < 0 || v->valueint >= n || seen[v->valueint]++;
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(model, "merges")) {
        const char *a = cJSON_GetArrayItem(m, 0)->valuestring, *b = cJSON_GetArrayItem(m, 1)->valuestring;
        char joined[64];
        snprintf(joined, sizeof joined, "%s%s", a, b);
        const cJSON *ja = cJSON_GetObjectItem(vocab, a), *jb = cJSON_GetObjectItem(vocab, b),
                    *jj = cJSON_GetObjectItem(vocab, joined);
        bad += !ja || !jb || !jj || jj->valueint <= ja->valueint || jj->valueint <= jb->valueint;
    }
    CHECK(bad == 0);
    CHECK(cJSON_GetObjectItem(vocab, "\xe2\x96\x81the") != NULL && cJSON_GetObjectItem(vocab, "?") != NULL);
    free(seen);
    cJSON_Delete(root);
    free(text);
}

int main(void) {
    RUN(test_real_llava_config);
    RUN(test_real_preprocessor_config);
    RUN(test_real_index);
    RUN(test_config_defaults);
    RUN(test_config_rejects);
    RUN(test_image_config_forms);
    RUN(test_open_tiny);
    RUN(test_dtypes_agree);
    RUN(test_deterministic);
    RUN(test_new_style_names_and_shards);
    RUN(test_folder_errors);
    RUN(test_builtin_tokenizer);
    return test_summary("test_checkpoint");
}
