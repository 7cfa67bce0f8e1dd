/* init.c: random LLaVA checkpoints (init-model) and the config-file writers. */
#include "model/init.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/json.h"
#include "core/progress.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "io/tokenizer_json.h"

/* ------------------------------------------------------------------ */
/* Presets */

int ml_init_preset(const char *name, MlLlavaConfig *cfg, MlError *err) {
    memset(cfg, 0, sizeof *cfg);
    MlVisionConfig *v = &cfg->vision;
    MlTextConfig *t = &cfg->text;
    if (!strcmp(name, "tiny")) {
        *v = (MlVisionConfig){.hidden = 32, .intermediate = 64, .n_layers = 3, .n_heads = 2, .image_size = 32,
                              .patch_size = 8, .projection_dim = 32};
        *t = (MlTextConfig){.hidden = 64, .intermediate = 96, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                            .max_pos = 512};
    } else if (!strcmp(name, "small")) {
        *v = (MlVisionConfig){.hidden = 512, .intermediate = 2048, .n_layers = 6, .n_heads = 8, .image_size = 224,
                              .patch_size = 14, .projection_dim = 512};
        *t = (MlTextConfig){.hidden = 1024, .intermediate = 2816, .n_layers = 8, .n_heads = 16, .n_kv_heads = 16,
                            .max_pos = 2048};
    } else if (!strcmp(name, "llava7b-2l")) { /* LLaVA-1.5-7B's shapes, 2 of its 32 decoder layers: per-layer costs */
        *v = (MlVisionConfig){.hidden = 1024, .intermediate = 4096, .n_layers = 24, .n_heads = 16, .image_size = 336,
                              .patch_size = 14, .projection_dim = 768};
        *t = (MlTextConfig){.hidden = 4096, .intermediate = 11008, .n_layers = 2, .n_heads = 32, .n_kv_heads = 32,
                            .max_pos = 4096};
    } else {
        return ml_error_set(err, ML_ERR_ARG, "unknown preset '%s' (tiny, small or llava7b-2l)", name);
    }
    v->n_channels = 3;
    v->layer_norm_eps = 1e-5f;
    v->act = ML_ACT_QUICK_GELU;
    t->head_dim = t->hidden / t->n_heads;
    t->rms_eps = 1e-5f;
    t->rope_theta = 10000.0f;
    t->act = ML_ACT_SILU;
    t->bos_id = 1;
    t->eos_id = 2;
    t->pad_id = -1;
    cfg->vision_feature_layer = -2;
    cfg->select_full = 0;
    int side = v->image_size / v->patch_size;
    cfg->image_seq_length = side * side;
    cfg->projector_act = ML_ACT_GELU;
    cfg->projector_bias = 1;
    return ML_OK;
}

/* ------------------------------------------------------------------ */
/* Tensor list */

static void spec(MlTensorSpec *s, int *n, MlTensorRole role, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static void spec(MlTensorSpec *s, int *n, MlTensorRole role, int64_t d0, int64_t d1, const char *fmt, ...) {
    MlTensorSpec *x = &s[(*n)++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->name, sizeof x->name, fmt, ap);
    va_end(ap);
    x->role = role;
    x->ndim = d1 ? 2 : 1;
    x->shape[0] = d0;
    x->shape[1] = d1;
}

int ml_llava_tensor_specs(const MlLlavaConfig *cfg, MlTensorSpec **specs, int *n, MlError *err) {
    const MlVisionConfig *v = &cfg->vision;
    const MlTextConfig *t = &cfg->text;
    int cap = 8 + 16 * v->n_layers + 4 + 3 + 9 * t->n_layers;
    MlTensorSpec *s = calloc((size_t)cap, sizeof *s);
    if (!s) return ml_error_set(err, ML_ERR_NOMEM, "out of memory for %d tensor specs", cap);
    int k = 0;
    int64_t hv = v->hidden, iv = v->intermediate, ht = t->hidden, it = t->intermediate;
    int64_t q = (int64_t)t->n_heads * t->head_dim, kv = (int64_t)t->n_kv_heads * t->head_dim;
    int64_t side = v->image_size / v->patch_size;
    const char *vm = "vision_tower.vision_model";
    spec(s, &k, ML_ROLE_EMBEDDING, hv, 0, "%s.embeddings.class_embedding", vm);
    spec(s, &k, ML_ROLE_MATRIX, hv, 0, "%s.embeddings.patch_embedding.weight", vm);
    s[k - 1].ndim = 4;
    s[k - 1].shape[1] = v->n_channels;
    s[k - 1].shape[2] = s[k - 1].shape[3] = v->patch_size;
    spec(s, &k, ML_ROLE_EMBEDDING, side * side + 1, hv, "%s.embeddings.position_embedding.weight", vm);
    spec(s, &k, ML_ROLE_NORM, hv, 0, "%s.pre_layrnorm.weight", vm); /* sic: llava-hf's spelling */
    spec(s, &k, ML_ROLE_BIAS, hv, 0, "%s.pre_layrnorm.bias", vm);
    for (int l = 0; l < v->n_layers; l++) {
        const char *proj[] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int p = 0; p < 4; p++) {
            spec(s, &k, ML_ROLE_MATRIX, hv, hv, "%s.encoder.layers.%d.self_attn.%s.weight", vm, l, proj[p]);
            spec(s, &k, ML_ROLE_BIAS, hv, 0, "%s.encoder.layers.%d.self_attn.%s.bias", vm, l, proj[p]);
        }
        for (int nrm = 1; nrm <= 2; nrm++) {
            spec(s, &k, ML_ROLE_NORM, hv, 0, "%s.encoder.layers.%d.layer_norm%d.weight", vm, l, nrm);
            spec(s, &k, ML_ROLE_BIAS, hv, 0, "%s.encoder.layers.%d.layer_norm%d.bias", vm, l, nrm);
        }
        spec(s, &k, ML_ROLE_MATRIX, iv, hv, "%s.encoder.layers.%d.mlp.fc1.weight", vm, l);
        spec(s, &k, ML_ROLE_BIAS, iv, 0, "%s.encoder.layers.%d.mlp.fc1.bias", vm, l);
        spec(s, &k, ML_ROLE_MATRIX, hv, iv, "%s.encoder.layers.%d.mlp.fc2.weight", vm, l);
        spec(s, &k, ML_ROLE_BIAS, hv, 0, "%s.encoder.layers.%d.mlp.fc2.bias", vm, l);
    }
    spec(s, &k, ML_ROLE_NORM, hv, 0, "%s.post_layernorm.weight", vm);
    spec(s, &k, ML_ROLE_BIAS, hv, 0, "%s.post_layernorm.bias", vm);

    spec(s, &k, ML_ROLE_MATRIX, ht, hv, "multi_modal_projector.linear_1.weight");
    if (cfg->projector_bias) spec(s, &k, ML_ROLE_BIAS, ht, 0, "multi_modal_projector.linear_1.bias");
    spec(s, &k, ML_ROLE_MATRIX, ht, ht, "multi_modal_projector.linear_2.weight");
    if (cfg->projector_bias) spec(s, &k, ML_ROLE_BIAS, ht, 0, "multi_modal_projector.linear_2.bias");

    const char *lm = "language_model.model";
    spec(s, &k, ML_ROLE_EMBEDDING, t->vocab, ht, "%s.embed_tokens.weight", lm);
    for (int l = 0; l < t->n_layers; l++) {
        spec(s, &k, ML_ROLE_NORM, ht, 0, "%s.layers.%d.input_layernorm.weight", lm, l);
        spec(s, &k, ML_ROLE_MATRIX, q, ht, "%s.layers.%d.self_attn.q_proj.weight", lm, l);
        spec(s, &k, ML_ROLE_MATRIX, kv, ht, "%s.layers.%d.self_attn.k_proj.weight", lm, l);
        spec(s, &k, ML_ROLE_MATRIX, kv, ht, "%s.layers.%d.self_attn.v_proj.weight", lm, l);
        spec(s, &k, ML_ROLE_MATRIX, ht, q, "%s.layers.%d.self_attn.o_proj.weight", lm, l);
        spec(s, &k, ML_ROLE_NORM, ht, 0, "%s.layers.%d.post_attention_layernorm.weight", lm, l);
        spec(s, &k, ML_ROLE_MATRIX, it, ht, "%s.layers.%d.mlp.gate_proj.weight", lm, l);
        spec(s, &k, ML_ROLE_MATRIX, it, ht, "%s.layers.%d.mlp.up_proj.weight", lm, l);
        spec(s, &k, ML_ROLE_MATRIX, ht, it, "%s.layers.%d.mlp.down_proj.weight", lm, l);
    }
    spec(s, &k, ML_ROLE_NORM, ht, 0, "%s.norm.weight", lm);
    if (!t->tie_word_embeddings) spec(s, &k, ML_ROLE_MATRIX, t->vocab, ht, "language_model.lm_head.weight");
    ML_ASSERT(k <= cap);
    *specs = s;
    *n = k;
    return ML_OK;
}

/* ------------------------------------------------------------------ */
/* Config files */

/* The shortest decimal that reads back as f ("1e-05", not 9.99999974737875e-06),
   or a known double constant f was rounded from. */
static double json_float(float f, const double *known, int n_known) {
    for (int i = 0; i < n_known; i++)
        if ((float)known[i] == f) return known[i];
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static const char *act_name(MlActivation a) {
    switch (a) {
    case ML_ACT_SILU: return "silu";
    case ML_ACT_GELU: return "gelu";
    case ML_ACT_QUICK_GELU: return "quick_gelu";
    case ML_ACT_GELU_TANH: return "gelu_pytorch_tanh";
    }
    return "?";
}

static const char *torch_dtype(MlDType t) {
    return t == ML_F32 ? "float32" : t == ML_F16 ? "float16" : "bfloat16";
}

static int write_json(const char *path, const cJSON *root, MlError *err) {
    char *text = ml_json_print_pretty(root);
    if (!text) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path);
    int rc = ml_file_write(path, text, strlen(text), err);
    free(text);
    return rc;
}

static void add_architecture(cJSON *o, const char *name) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateString(name));
    cJSON_AddItemToObject(o, "architectures", a);
}

/* Keys in sorted order, as transformers writes them; a key is written when
   llava-hf's file has it or the value differs from the library default. */
static cJSON *text_config_json(const MlTextConfig *t, MlDType dtype) {
    cJSON *o = cJSON_CreateObject();
    add_architecture(o, "LlamaForCausalLM");
    if (t->bos_id != 1) cJSON_AddNumberToObject(o, "bos_token_id", t->bos_id);
    if (t->eos_id != 2) cJSON_AddNumberToObject(o, "eos_token_id", t->eos_id);
    if (t->head_dim != t->hidden / t->n_heads || t->hidden % t->n_heads)
        cJSON_AddNumberToObject(o, "head_dim", t->head_dim);
    if (t->act != ML_ACT_SILU) cJSON_AddStringToObject(o, "hidden_act", act_name(t->act));
    if (t->hidden != 4096) cJSON_AddNumberToObject(o, "hidden_size", t->hidden);
    if (t->intermediate != 11008) cJSON_AddNumberToObject(o, "intermediate_size", t->intermediate);
    cJSON_AddNumberToObject(o, "max_position_embeddings", t->max_pos);
    cJSON_AddStringToObject(o, "model_type", "llama");
    if (t->n_heads != 32) cJSON_AddNumberToObject(o, "num_attention_heads", t->n_heads);
    if (t->n_layers != 32) cJSON_AddNumberToObject(o, "num_hidden_layers", t->n_layers);
    if (t->n_kv_heads != t->n_heads) cJSON_AddNumberToObject(o, "num_key_value_heads", t->n_kv_heads);
    cJSON_AddNumberToObject(o, "rms_norm_eps", json_float(t->rms_eps, NULL, 0));
    if (t->rope_theta != 10000.0f) cJSON_AddNumberToObject(o, "rope_theta", json_float(t->rope_theta, NULL, 0));
    cJSON_AddStringToObject(o, "torch_dtype", torch_dtype(dtype));
    cJSON_AddNumberToObject(o, "vocab_size", t->vocab);
    return o;
}

static cJSON *vision_config_json(const MlVisionConfig *v) {
    cJSON *o = cJSON_CreateObject();
    if (v->act != ML_ACT_QUICK_GELU) cJSON_AddStringToObject(o, "hidden_act", act_name(v->act));
    cJSON_AddNumberToObject(o, "hidden_size", v->hidden);
    cJSON_AddNumberToObject(o, "image_size", v->image_size);
    cJSON_AddNumberToObject(o, "intermediate_size", v->intermediate);
    if (v->layer_norm_eps != 1e-5f) cJSON_AddNumberToObject(o, "layer_norm_eps", json_float(v->layer_norm_eps, NULL, 0));
    cJSON_AddStringToObject(o, "model_type", "clip_vision_model");
    cJSON_AddNumberToObject(o, "num_attention_heads", v->n_heads);
    if (v->n_channels != 3) cJSON_AddNumberToObject(o, "num_channels", v->n_channels);
    cJSON_AddNumberToObject(o, "num_hidden_layers", v->n_layers);
    cJSON_AddNumberToObject(o, "patch_size", v->patch_size);
    cJSON_AddNumberToObject(o, "projection_dim", v->projection_dim);
    return o;
}

int ml_llava_config_write(const char *path, const MlLlavaConfig *cfg, MlDType dtype, MlError *err) {
    cJSON *o = cJSON_CreateObject();
    add_architecture(o, "LlavaForConditionalGeneration");
    cJSON_AddNumberToObject(o, "ignore_index", -100);
    /* Always written: the library default (576) is only right for 336 px / patch 14. */
    cJSON_AddNumberToObject(o, "image_seq_length", cfg->image_seq_length);
    cJSON_AddNumberToObject(o, "image_token_index", cfg->image_token_id);
    cJSON_AddStringToObject(o, "model_type", "llava");
    if (!cfg->projector_bias) cJSON_AddFalseToObject(o, "multimodal_projector_bias");
    if (cfg->text.pad_id >= 0) cJSON_AddNumberToObject(o, "pad_token_id", cfg->text.pad_id);
    cJSON_AddStringToObject(o, "projector_hidden_act", act_name(cfg->projector_act));
    cJSON_AddItemToObject(o, "text_config", text_config_json(&cfg->text, dtype));
    cJSON_AddBoolToObject(o, "tie_word_embeddings", cfg->text.tie_word_embeddings);
    cJSON_AddStringToObject(o, "torch_dtype", torch_dtype(dtype));
    cJSON_AddItemToObject(o, "vision_config", vision_config_json(&cfg->vision));
    cJSON_AddNumberToObject(o, "vision_feature_layer", cfg->vision_feature_layer);
    cJSON_AddStringToObject(o, "vision_feature_select_strategy", cfg->select_full ? "full" : "default");
    cJSON_AddNumberToObject(o, "vocab_size", cfg->text.vocab);
    int rc = write_json(path, o, err);
    cJSON_Delete(o);
    return rc;
}

static cJSON *float_array(const float *v, const double *known) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < 3; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(json_float(v[i], &known[i], 1)));
    return a;
}

int ml_image_config_write(const char *path, const MlImageConfig *img, MlError *err) {
    static const double clip_mean[3] = {0.48145466, 0.4578275, 0.40821073};
    static const double clip_std[3] = {0.26862954, 0.26130258, 0.27577711};
    static const double one_255 = 0.00392156862745098;
    cJSON *o = cJSON_CreateObject(), *crop = cJSON_CreateObject(), *size = cJSON_CreateObject();
    cJSON_AddNumberToObject(crop, "height", img->crop_height);
    cJSON_AddNumberToObject(crop, "width", img->crop_width);
    cJSON_AddItemToObject(o, "crop_size", crop);
    cJSON_AddBoolToObject(o, "do_center_crop", img->do_center_crop);
    cJSON_AddBoolToObject(o, "do_convert_rgb", img->do_convert_rgb);
    cJSON_AddBoolToObject(o, "do_normalize", img->do_normalize);
    cJSON_AddBoolToObject(o, "do_rescale", img->do_rescale);
    cJSON_AddBoolToObject(o, "do_resize", img->do_resize);
    cJSON_AddItemToObject(o, "image_mean", float_array(img->mean, clip_mean));
    cJSON_AddStringToObject(o, "image_processor_type", "CLIPImageProcessor");
    cJSON_AddItemToObject(o, "image_std", float_array(img->std, clip_std));
    cJSON_AddStringToObject(o, "processor_class", "LlavaProcessor");
    cJSON_AddNumberToObject(o, "resample", img->resample);
    cJSON_AddNumberToObject(o, "rescale_factor", json_float(img->rescale_factor, &one_255, 1));
    cJSON_AddNumberToObject(size, "shortest_edge", img->shortest_edge);
    cJSON_AddItemToObject(o, "size", size);
    int rc = write_json(path, o, err);
    cJSON_Delete(o);
    return rc;
}

int ml_generation_config_write(const char *path, const MlTextConfig *t, MlError *err) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddTrueToObject(o, "_from_model_config");
    cJSON_AddNumberToObject(o, "bos_token_id", t->bos_id);
    cJSON_AddNumberToObject(o, "eos_token_id", t->eos_id);
    if (t->pad_id >= 0) cJSON_AddNumberToObject(o, "pad_token_id", t->pad_id);
    int rc = write_json(path, o, err);
    cJSON_Delete(o);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Tokenizer side files (tokenizer_config.json, special_tokens_map.json, added_tokens.json) */

static cJSON *token_flags(const char *content, int special) {
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "content", content);
    cJSON_AddFalseToObject(t, "lstrip");
    cJSON_AddFalseToObject(t, "normalized");
    cJSON_AddFalseToObject(t, "rstrip");
    cJSON_AddFalseToObject(t, "single_word");
    if (special) cJSON_AddTrueToObject(t, "special");
    return t;
}

typedef struct Special {
    int id;
    const char *content;
} Special;

static int by_id(const void *a, const void *b) { return ((const Special *)a)->id - ((const Special *)b)->id; }

static int write_tokenizer_side_files(const char *dir, const MlTokenizerFacts *f, int max_pos, MlError *err) {
    char path[4096];
    Special sp[5] = {{f->unk_id, "<unk>"}, {f->bos_id, "<s>"}, {f->eos_id, "</s>"}, {f->image_id, "<image>"},
                     {f->pad_id, "<pad>"}};
    int n_sp = f->pad_id >= 0 ? 5 : 4;
    qsort(sp, (size_t)n_sp, sizeof *sp, by_id);

    cJSON *tc = cJSON_CreateObject(), *dec = cJSON_CreateObject(), *extra = cJSON_CreateObject();
    cJSON_AddTrueToObject(tc, "add_bos_token");
    cJSON_AddFalseToObject(tc, "add_eos_token");
    cJSON_AddNullToObject(tc, "add_prefix_space");
    for (int i = 0; i < n_sp; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", sp[i].id);
        cJSON_AddItemToObject(dec, id, token_flags(sp[i].content, 1));
    }
    cJSON_AddItemToObject(tc, "added_tokens_decoder", dec);
    cJSON_AddStringToObject(tc, "bos_token", "<s>");
    cJSON_AddFalseToObject(tc, "clean_up_tokenization_spaces");
    cJSON_AddStringToObject(tc, "eos_token", "</s>");
    cJSON_AddStringToObject(extra, "image_token", "<image>");
    cJSON_AddItemToObject(tc, "extra_special_tokens", extra);
    cJSON_AddStringToObject(tc, "image_token", "<image>");
    cJSON_AddFalseToObject(tc, "legacy");
    cJSON_AddNumberToObject(tc, "model_max_length", max_pos);
    if (f->pad_id >= 0) cJSON_AddStringToObject(tc, "pad_token", "<pad>");
    cJSON_AddStringToObject(tc, "padding_side", "left");
    cJSON_AddStringToObject(tc, "processor_class", "LlavaProcessor");
    cJSON_AddStringToObject(tc, "tokenizer_class", "LlamaTokenizerFast");
    cJSON_AddStringToObject(tc, "unk_token", "<unk>");
    cJSON_AddFalseToObject(tc, "use_default_system_prompt");
    int rc = ml_path_join(path, sizeof path, dir, "tokenizer_config.json", err);
    if (!rc) rc = write_json(path, tc, err);
    cJSON_Delete(tc);
    if (rc) return rc;

    cJSON *sm = cJSON_CreateObject();
    cJSON_AddItemToObject(sm, "bos_token", token_flags("<s>", 0));
    cJSON_AddItemToObject(sm, "eos_token", token_flags("</s>", 0));
    if (f->pad_id >= 0) cJSON_AddItemToObject(sm, "pad_token", token_flags("<pad>", 0));
    cJSON_AddItemToObject(sm, "unk_token", token_flags("<unk>", 0));
    rc = ml_path_join(path, sizeof path, dir, "special_tokens_map.json", err);
    if (!rc) rc = write_json(path, sm, err);
    cJSON_Delete(sm);
    if (rc) return rc;

    cJSON *at = cJSON_CreateObject();
    cJSON_AddNumberToObject(at, "<image>", f->image_id);
    if (f->pad_id >= 0) cJSON_AddNumberToObject(at, "<pad>", f->pad_id);
    rc = ml_path_join(path, sizeof path, dir, "added_tokens.json", err);
    if (!rc) rc = write_json(path, at, err);
    cJSON_Delete(at);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Random weights */

typedef struct FillCtx {
    const MlTensorSpec *specs;
    MlDType dtype;
    uint64_t seed;
    float *scratch;
    size_t scratch_n;
    MlProgress *progress;
    int64_t done;
} FillCtx;

static int fill_tensor(void *ctx, int index, void *dst, size_t nbytes, MlError *err) {
    FillCtx *c = ctx;
    const MlTensorSpec *s = &c->specs[index];
    size_t n = nbytes / ml_dtype_size(c->dtype);
    float *v = c->dtype == ML_F32 ? dst : NULL;
    if (!v) {
        if (n > c->scratch_n) {
            free(c->scratch);
            c->scratch_n = 0;
            if (!(c->scratch = malloc(n * sizeof *c->scratch)))
                return ml_error_set(err, ML_ERR_NOMEM, "out of memory for tensor %s", s->name);
            c->scratch_n = n;
        }
        v = c->scratch;
    }
    uint64_t state = c->seed;
    state = ml_splitmix64(&state) ^ ml_fnv1a64(s->name, strlen(s->name));
    ml_rng_normals(v, n, state);
    for (size_t i = 0; i < n; i++) {
        switch (s->role) {
        case ML_ROLE_MATRIX:
        case ML_ROLE_EMBEDDING: v[i] *= 0.02f; break;
        case ML_ROLE_NORM: v[i] = 1.0f + 0.1f * v[i]; break;
        case ML_ROLE_BIAS: v[i] *= 0.05f; break;
        }
    }
    if (c->dtype != ML_F32) ml_convert_from_f32(dst, c->dtype, v, n);
    if (c->progress) ml_progress_update(c->progress, c->done += (int64_t)nbytes);
    return ML_OK;
}

static int write_weights(const char *path, const MlLlavaConfig *cfg, const MlInitOptions *opt, MlError *err) {
    MlTensorSpec *specs;
    int n;
    int rc = ml_llava_tensor_specs(cfg, &specs, &n, err);
    if (rc) return rc;
    MlNamedTensor *nt = calloc((size_t)n, sizeof *nt);
    if (!nt) {
        free(specs);
        return ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    }
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        nt[i].name = specs[i].name;
        nt[i].tensor.dtype = opt->dtype;
        nt[i].tensor.ndim = specs[i].ndim;
        memcpy(nt[i].tensor.shape, specs[i].shape, sizeof specs[i].shape);
        total += ml_tensor_numel(&nt[i].tensor) * (int64_t)ml_dtype_size(opt->dtype);
    }
    MlProgress progress;
    FillCtx ctx = {.specs = specs, .dtype = opt->dtype, .seed = opt->seed, .progress = opt->progress ? &progress : NULL};
    if (opt->progress) ml_progress_start(&progress, "init-model (bytes)", total);
    MlSafetensorsWriteOpts wo = {.fill = fill_tensor, .fill_ctx = &ctx};
    rc = ml_safetensors_write_ex(path, nt, n, &wo, err);
    if (opt->progress) ml_progress_finish(&progress);
    free(ctx.scratch);
    free(nt);
    free(specs);
    return rc;
}

/* ------------------------------------------------------------------ */

static int write_file_in(const char *dir, const char *name, const char *text, size_t len, MlError *err) {
    char path[4096];
    int rc = ml_path_join(path, sizeof path, dir, name, err);
    return rc ? rc : ml_file_write(path, text, len, err);
}

int ml_init_model(const char *dir, const MlInitOptions *opt, MlError *err) {
    MlLlavaConfig cfg;
    int rc = ml_init_preset(opt->preset, &cfg, err);
    if (rc) return rc;
    if (opt->dtype != ML_F32 && opt->dtype != ML_F16 && opt->dtype != ML_BF16)
        return ml_error_set(err, ML_ERR_ARG, "unknown dtype");
    char *tok;
    size_t tok_len;
    const char *tok_where = opt->tokenizer ? opt->tokenizer : "built-in tokenizer.json";
    rc = opt->tokenizer ? ml_file_read(opt->tokenizer, &tok, &tok_len, err) : ml_tokenizer_json_builtin(&tok, &tok_len, err);
    if (rc) return rc;
    MlTokenizerFacts f;
    char path[4096];
    if ((rc = ml_tokenizer_json_facts(tok, tok_len, tok_where, &f, err))) goto done;
    cfg.text.vocab = (f.n_ids + 63) / 64 * 64; /* llava pads its vocabulary to a multiple of 64 */
    cfg.text.bos_id = f.bos_id;
    cfg.text.eos_id = f.eos_id;
    cfg.text.pad_id = f.pad_id;
    cfg.image_token_id = f.image_id;

    MlImageConfig img = {.do_resize = 1, .do_center_crop = 1, .do_rescale = 1, .do_normalize = 1,
                         .do_convert_rgb = 1, .resample = 3, .rescale_factor = (float)(1.0 / 255.0),
                         .mean = {0.48145466f, 0.4578275f, 0.40821073f},
                         .std = {0.26862954f, 0.26130258f, 0.27577711f}};
    img.shortest_edge = img.crop_height = img.crop_width = cfg.vision.image_size;

    if ((rc = ml_mkdirs(dir, err)) || (rc = write_file_in(dir, "tokenizer.json", tok, tok_len, err)) ||
        (rc = write_tokenizer_side_files(dir, &f, cfg.text.max_pos, err)) ||
        (rc = ml_path_join(path, sizeof path, dir, "config.json", err)) ||
        (rc = ml_llava_config_write(path, &cfg, opt->dtype, err)) ||
        (rc = ml_path_join(path, sizeof path, dir, "preprocessor_config.json", err)) ||
        (rc = ml_image_config_write(path, &img, err)) ||
        (rc = ml_path_join(path, sizeof path, dir, "generation_config.json", err)) ||
        (rc = ml_generation_config_write(path, &cfg.text, err)) ||
        (rc = ml_path_join(path, sizeof path, dir, "model.safetensors", err)))
        goto done;
    rc = write_weights(path, &cfg, opt, err);
done:
    free(tok);
    return rc;
}
