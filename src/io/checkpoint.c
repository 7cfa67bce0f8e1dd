/* checkpoint.c: config.json / preprocessor_config.json with the Hugging Face
   defaults, the shard index, and tensor lookup over the mapped shards. */
#include "io/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "io/config_json.h"
#include "io/safetensors.h"

/* Upper limits keep every later size product far from overflow. */
#define MAX_WIDTH (1 << 20)
#define MAX_LAYERS 1024
#define MAX_HEADS 4096
#define MAX_VOCAB (1 << 24)
#define MAX_SIDE 16384

/* ------------------------------------------------------------------ */
/* config.json */

/* CLIPVisionConfig; `llava_default` is the vision config LlavaConfig builds
   when config.json has none (CLIP ViT-L/14 at 336 px). */
static int parse_vision(const MlCfgSection *s, int llava_default, MlVisionConfig *v) {
    int rc;
    if ((rc = ml_cfg_model_type(s, "clip_vision_model", "only CLIP vision towers"))) return rc;
    if ((rc = ml_cfg_int(s, "hidden_size", llava_default ? 1024 : 768, 1, MAX_WIDTH, &v->hidden)) ||
        (rc = ml_cfg_int(s, "intermediate_size", llava_default ? 4096 : 3072, 1, MAX_WIDTH, &v->intermediate)) ||
        (rc = ml_cfg_int(s, "num_hidden_layers", llava_default ? 24 : 12, 1, MAX_LAYERS, &v->n_layers)) ||
        (rc = ml_cfg_int(s, "num_attention_heads", llava_default ? 16 : 12, 1, MAX_HEADS, &v->n_heads)) ||
        (rc = ml_cfg_int(s, "image_size", llava_default ? 336 : 224, 1, MAX_SIDE, &v->image_size)) ||
        (rc = ml_cfg_int(s, "patch_size", llava_default ? 14 : 32, 1, MAX_SIDE, &v->patch_size)) ||
        (rc = ml_cfg_int(s, "num_channels", 3, 1, 64, &v->n_channels)) ||
        (rc = ml_cfg_int(s, "projection_dim", llava_default ? 768 : 512, 1, MAX_WIDTH, &v->projection_dim)) ||
        (rc = ml_cfg_float(s, "layer_norm_eps", 1e-5, 0, 1, &v->layer_norm_eps)) ||
        (rc = ml_cfg_act(s, "hidden_act", "quick_gelu", &v->act)))
        return rc;
    if (v->hidden % v->n_heads) return ml_cfg_fail(s, ML_ERR_FORMAT, "hidden_size", "not divisible by num_attention_heads");
    if (v->image_size % v->patch_size) return ml_cfg_fail(s, ML_ERR_FORMAT, "patch_size", "does not divide image_size");
    if (v->n_channels != 3) return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, "num_channels", "only 3 (RGB) is supported");
    return ML_OK;
}

/* LlamaConfig. */
static int parse_text(const MlCfgSection *s, MlTextConfig *t) {
    int rc, attention_bias, mlp_bias;
    if ((rc = ml_cfg_model_type(s, "llama", "only LLaMA decoders"))) return rc;
    if ((rc = ml_cfg_int(s, "vocab_size", 32000, 1, MAX_VOCAB, &t->vocab)) ||
        (rc = ml_cfg_int(s, "hidden_size", 4096, 1, MAX_WIDTH, &t->hidden)) ||
        (rc = ml_cfg_int(s, "intermediate_size", 11008, 1, MAX_WIDTH, &t->intermediate)) ||
        (rc = ml_cfg_int(s, "num_hidden_layers", 32, 1, MAX_LAYERS, &t->n_layers)) ||
        (rc = ml_cfg_int(s, "num_attention_heads", 32, 1, MAX_HEADS, &t->n_heads)) ||
        (rc = ml_cfg_int(s, "num_key_value_heads", t->n_heads, 1, t->n_heads, &t->n_kv_heads)) ||
        (rc = ml_cfg_int(s, "max_position_embeddings", 2048, 1, 1 << 24, &t->max_pos)) ||
        (rc = ml_cfg_float(s, "rms_norm_eps", 1e-6, 0, 1, &t->rms_eps)) ||
        (rc = ml_cfg_float(s, "rope_theta", 10000.0, 1e-6, 1e12, &t->rope_theta)) ||
        (rc = ml_cfg_int(s, "bos_token_id", 1, 0, t->vocab - 1, &t->bos_id)) ||
        (rc = ml_cfg_int(s, "eos_token_id", 2, 0, t->vocab - 1, &t->eos_id)) ||
        (rc = ml_cfg_act(s, "hidden_act", "silu", &t->act)) ||
        (rc = ml_cfg_bool(s, "attention_bias", 0, &attention_bias)) || (rc = ml_cfg_bool(s, "mlp_bias", 0, &mlp_bias)))
        return rc;
    /* Defaults skip the range check: a vocab_size below 3 must still fail here. */
    if (t->bos_id >= t->vocab) return ml_cfg_fail(s, ML_ERR_FORMAT, "bos_token_id", "outside the vocabulary");
    if (t->eos_id >= t->vocab) return ml_cfg_fail(s, ML_ERR_FORMAT, "eos_token_id", "outside the vocabulary");
    if (!ml_cfg_present(s, "head_dim") && t->hidden % t->n_heads)
        return ml_cfg_fail(s, ML_ERR_FORMAT, "hidden_size", "not divisible by num_attention_heads");
    if ((rc = ml_cfg_int(s, "head_dim", t->hidden / t->n_heads, 1, MAX_WIDTH, &t->head_dim))) return rc;
    if (t->head_dim % 2) return ml_cfg_fail(s, ML_ERR_FORMAT, "head_dim", "must be even for rotary embeddings");
    if (t->n_heads % t->n_kv_heads)
        return ml_cfg_fail(s, ML_ERR_FORMAT, "num_key_value_heads", "does not divide num_attention_heads");
    if (attention_bias) return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, "attention_bias", "biases are not supported");
    if (mlp_bias) return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, "mlp_bias", "biases are not supported");
    if (ml_cfg_present(s, "rope_scaling")) return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, "rope_scaling", "not supported");
    return ML_OK;
}

int ml_llava_config_parse(const char *text, size_t len, const char *where, MlLlavaConfig *cfg, MlError *err) {
    cJSON *root;
    int rc = ml_json_parse(text, len, where, &root, err);
    if (rc) return rc;
    memset(cfg, 0, sizeof *cfg);
    MlCfgSection top = {root, "", where, err};
    const cJSON *text_obj = NULL, *vision_obj = NULL;
    const char *strategy;
    if (!cJSON_IsObject(root)) {
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", where);
        goto done;
    }
    if ((rc = ml_cfg_model_type(&top, "llava", "only LLaVA")) || (rc = ml_cfg_object(&top, "text_config", &text_obj)) ||
        (rc = ml_cfg_object(&top, "vision_config", &vision_obj)))
        goto done;
    MlCfgSection ts = {text_obj, "text_config.", where, err}, vs = {vision_obj, "vision_config.", where, err};
    if ((rc = parse_text(&ts, &cfg->text)) || (rc = parse_vision(&vs, vision_obj == NULL, &cfg->vision))) goto done;

    /* pad and tying are set at the top level of llava configs; the text
       config's own value wins when it has one. */
    const MlCfgSection *pad_from = ml_cfg_present(&ts, "pad_token_id") ? &ts : &top;
    const MlCfgSection *tie_from = ml_cfg_present(&ts, "tie_word_embeddings") ? &ts : &top;
    if ((rc = ml_cfg_int(pad_from, "pad_token_id", -1, -1, cfg->text.vocab - 1, &cfg->text.pad_id)) ||
        (rc = ml_cfg_bool(tie_from, "tie_word_embeddings", 0, &cfg->text.tie_word_embeddings)) ||
        (rc = ml_cfg_int(&top, "image_token_index", 32000, 0, cfg->text.vocab - 1, &cfg->image_token_id)) ||
        (rc = ml_cfg_act(&top, "projector_hidden_act", "gelu", &cfg->projector_act)) ||
        (rc = ml_cfg_bool(&top, "multimodal_projector_bias", 1, &cfg->projector_bias)) ||
        (rc = ml_cfg_str(&top, "vision_feature_select_strategy", "default", &strategy)))
        goto done;
    if (cfg->image_token_id >= cfg->text.vocab) { /* the defaults (32000 of 32000) included */
        char msg[160];
        snprintf(msg, sizeof msg, "%d is outside the vocabulary (text_config.vocab_size %d)", cfg->image_token_id,
                 cfg->text.vocab);
        rc = ml_cfg_fail(&top, ML_ERR_FORMAT, "image_token_index", msg);
        goto done;
    }
    if (!strcmp(strategy, "full")) cfg->select_full = 1;
    else if (strcmp(strategy, "default")) {
        rc = ml_cfg_fail(&top, ML_ERR_FORMAT, "vision_feature_select_strategy", "expected \"default\" or \"full\"");
        goto done;
    }
    /* hidden_states has n_layers + 1 entries, indexed Python-style. */
    const cJSON *layer = cJSON_GetObjectItemCaseSensitive(root, "vision_feature_layer");
    if (cJSON_IsArray(layer)) {
        rc = ml_cfg_fail(&top, ML_ERR_UNSUPPORTED, "vision_feature_layer", "a list of layers is not supported");
        goto done;
    }
    int nl = cfg->vision.n_layers;
    if ((rc = ml_cfg_int(&top, "vision_feature_layer", -2, -(nl + 1), nl, &cfg->vision_feature_layer))) goto done;
    int side = cfg->vision.image_size / cfg->vision.patch_size;
    int tokens = side * side + cfg->select_full;
    if ((rc = ml_cfg_int(&top, "image_seq_length", tokens, 1, 1 << 30, &cfg->image_seq_length))) goto done;
    if (cfg->image_seq_length != tokens) {
        char msg[160];
        snprintf(msg, sizeof msg, "%d does not match the %d image features the vision tower gives",
                 cfg->image_seq_length, tokens);
        rc = ml_cfg_fail(&top, ML_ERR_FORMAT, "image_seq_length", msg);
    }
done:
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------------ */
/* preprocessor_config.json (CLIPImageProcessor) */

/* size / crop_size: an int N, or an object. */
static int get_size(const MlCfgSection *s, const char *key, int def, int *h, int *w, int shortest) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->obj, key);
    if (!v || cJSON_IsNull(v)) {
        *h = *w = def;
        return ML_OK;
    }
    if (cJSON_IsNumber(v)) {
        int rc = ml_cfg_int(s, key, def, 1, MAX_SIDE, h);
        *w = *h;
        return rc;
    }
    if (!cJSON_IsObject(v)) return ml_cfg_fail(s, ML_ERR_FORMAT, key, "expected an integer or an object");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", key);
    MlCfgSection sub = {v, prefix, s->where, s->err};
    if (shortest) {
        if (!ml_cfg_present(&sub, "shortest_edge"))
            return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, key, "only {\"shortest_edge\": N} resizing is supported");
        int rc = ml_cfg_int(&sub, "shortest_edge", def, 1, MAX_SIDE, h);
        *w = *h;
        return rc;
    }
    int rc;
    if (!ml_cfg_present(&sub, "height") || !ml_cfg_present(&sub, "width"))
        return ml_cfg_fail(s, ML_ERR_FORMAT, key, "expected {\"height\": H, \"width\": W}");
    if ((rc = ml_cfg_int(&sub, "height", def, 1, MAX_SIDE, h)) || (rc = ml_cfg_int(&sub, "width", def, 1, MAX_SIDE, w)))
        return rc;
    return ML_OK;
}

int ml_image_config_parse(const char *text, size_t len, const char *where, MlImageConfig *cfg, MlError *err) {
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    cJSON *root;
    int rc = ml_json_parse(text, len, where, &root, err);
    if (rc) return rc;
    memset(cfg, 0, sizeof *cfg);
    MlCfgSection s = {root, "", where, err};
    int unused;
    if (!cJSON_IsObject(root)) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", where);
    else if ((rc = ml_cfg_bool(&s, "do_resize", 1, &cfg->do_resize)) ||
             (rc = ml_cfg_bool(&s, "do_center_crop", 1, &cfg->do_center_crop)) ||
             (rc = ml_cfg_bool(&s, "do_rescale", 1, &cfg->do_rescale)) ||
             (rc = ml_cfg_bool(&s, "do_normalize", 1, &cfg->do_normalize)) ||
             (rc = ml_cfg_bool(&s, "do_convert_rgb", 1, &cfg->do_convert_rgb)) ||
             (rc = get_size(&s, "size", 224, &cfg->shortest_edge, &unused, 1)) ||
             (rc = get_size(&s, "crop_size", 224, &cfg->crop_height, &cfg->crop_width, 0)) ||
             (rc = ml_cfg_int(&s, "resample", 3, 0, 5, &cfg->resample)) ||
             (rc = ml_cfg_float(&s, "rescale_factor", 1.0 / 255.0, 0, 1e6, &cfg->rescale_factor)) ||
             (rc = ml_cfg_triple(&s, "image_mean", clip_mean, 0, cfg->mean)) ||
             (rc = ml_cfg_triple(&s, "image_std", clip_std, 1, cfg->std)))
        ;
    else if (cfg->do_resize && cfg->resample != 3)
        rc = ml_cfg_fail(&s, ML_ERR_UNSUPPORTED, "resample", "only 3 (bicubic) is supported");
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------------ */
/* model.safetensors.index.json */

void ml_checkpoint_index_free(MlCheckpointIndex *idx) {
    for (int i = 0; i < idx->n_tensors; i++) free(idx->names[i]);
    for (int i = 0; i < idx->n_shards; i++) free(idx->shards[i]);
    free(idx->names);
    free(idx->shard_of);
    free(idx->shards);
    memset(idx, 0, sizeof *idx);
}

/* Shard names come from the file: plain names inside the folder only. */
static int safe_file_name(const char *s) {
    return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") && strlen(s) < 1024;
}

static int index_add(MlCheckpointIndex *idx, const cJSON *item, const char *where, MlError *err) {
    const char *shard = item->valuestring;
    int k = 0;
    while (k < idx->n_shards && strcmp(idx->shards[k], shard)) k++;
    if (k == idx->n_shards) {
        if (!(idx->shards[k] = strdup(shard))) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
        idx->n_shards++;
    }
    if (!(idx->names[idx->n_tensors] = strdup(item->string)))
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", where);
    idx->shard_of[idx->n_tensors++] = k;
    return ML_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int ml_checkpoint_index_parse(const char *text, size_t len, const char *where, MlCheckpointIndex *idx, MlError *err) {
    memset(idx, 0, sizeof *idx);
    idx->total_size = -1;
    cJSON *root;
    int rc = ml_json_parse(text, len, where, &root, err);
    if (rc) return rc;
    MlCfgSection s = {root, "", where, err};
    const cJSON *map = NULL, *meta = NULL;
    char **sorted = NULL;
    if (!cJSON_IsObject(root)) {
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", where);
        goto done;
    }
    if ((rc = ml_cfg_object(&s, "weight_map", &map)) || (rc = ml_cfg_object(&s, "metadata", &meta))) goto done;
    if (!map) {
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: weight_map: missing", where);
        goto done;
    }
    if (meta) {
        MlCfgSection ms = {meta, "metadata.", where, err};
        double total;
        if ((rc = ml_cfg_qualify(&ms, "total_size", ml_json_num(meta, "total_size", -1, 0, 9007199254740992.0, &total, where,
                                                         err))))
            goto done;
        if (total != floor(total)) {
            rc = ml_cfg_fail(&ms, ML_ERR_FORMAT, "total_size", "expected an integer");
            goto done;
        }
        idx->total_size = (int64_t)total;
    }
    int n = cJSON_GetArraySize(map);
    idx->names = calloc((size_t)n + 1, sizeof *idx->names);
    idx->shards = calloc((size_t)n + 1, sizeof *idx->shards);
    idx->shard_of = calloc((size_t)n + 1, sizeof *idx->shard_of);
    sorted = calloc((size_t)n + 1, sizeof *sorted);
    if (!idx->names || !idx->shards || !idx->shard_of || !sorted) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory for %d entries", where, n);
        goto done;
    }
    for (const cJSON *c = map->child; c; c = c->next) {
        if (!cJSON_IsString(c) || !safe_file_name(c->valuestring)) {
            char nb[200];
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: weight_map.%s: expected a shard file name in this folder", where,
                              ml_cfg_one_line(c->string, nb, sizeof nb));
            goto done;
        }
        if ((rc = index_add(idx, c, where, err))) goto done;
    }
    /* Duplicates, after mapping both naming styles to one. */
    for (int i = 0; i < idx->n_tensors; i++) {
        char canon[1024];
        if (ml_checkpoint_canonical_name(idx->names[i], canon, sizeof canon) || !(sorted[i] = strdup(canon))) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: weight_map: tensor name too long", where);
            goto done;
        }
    }
    qsort(sorted, (size_t)idx->n_tensors, sizeof *sorted, cmp_str);
    for (int i = 1; i < idx->n_tensors; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            char nb[200];
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: weight_map: tensor '%s' listed twice", where,
                              ml_cfg_one_line(sorted[i], nb, sizeof nb));
            goto done;
        }
done:
    if (sorted)
        for (int i = 0; i < n; i++) free(sorted[i]);
    free(sorted);
    cJSON_Delete(root);
    if (rc) ml_checkpoint_index_free(idx);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Names */

int ml_checkpoint_canonical_name(const char *name, char *out, size_t cap) {
    static const char *const map[][2] = {
        {"model.language_model.", "language_model.model."},
        {"model.vision_tower.", "vision_tower."},
        {"model.multi_modal_projector.", "multi_modal_projector."},
        {"lm_head.", "language_model.lm_head."},
    };
    const char *to = "", *rest = name;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        size_t n = strlen(map[i][0]);
        if (!strncmp(name, map[i][0], n)) {
            to = map[i][1];
            rest = name + n;
            break;
        }
    }
    int n = snprintf(out, cap, "%s%s", to, rest);
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* The checkpoint */

typedef struct CkTensor {
    char *name; /* canonical */
    int shard;
    MlTensor t;
} CkTensor;

struct MlCheckpoint {
    char *dir;
    MlLlavaConfig cfg;
    MlImageConfig img;
    MlSafetensors **shards;
    int n_shards;
    CkTensor *tensors; /* sorted by name */
    int n;
    uint64_t weight_bytes;
};

void ml_checkpoint_close(MlCheckpoint *ck) {
    if (!ck) return;
    for (int i = 0; i < ck->n_shards; i++) ml_safetensors_close(ck->shards[i]);
    for (int i = 0; i < ck->n; i++) free(ck->tensors[i].name);
    free(ck->shards);
    free(ck->tensors);
    free(ck->dir);
    free(ck);
}

static int read_json_file(const char *dir, const char *name, char **text, size_t *len, char *path, size_t cap,
                          MlError *err) {
    int rc = ml_path_join(path, cap, dir, name, err);
    if (rc) return rc;
    if (!ml_file_exists(path)) return ml_error_set(err, ML_ERR_MISSING, "%s: missing", path);
    return ml_file_read(path, text, len, err);
}

static int load_configs(MlCheckpoint *ck, MlError *err) {
    char path[4096];
    char *text;
    size_t len;
    int rc = read_json_file(ck->dir, "config.json", &text, &len, path, sizeof path, err);
    if (rc) return rc;
    rc = ml_llava_config_parse(text, len, path, &ck->cfg, err);
    free(text);
    if (rc) return rc;
    if ((rc = read_json_file(ck->dir, "preprocessor_config.json", &text, &len, path, sizeof path, err))) return rc;
    rc = ml_image_config_parse(text, len, path, &ck->img, err);
    free(text);
    if (rc) return rc;
    /* The crop is what the vision tower sees: it must be its input size. */
    int side = ck->cfg.vision.image_size;
    if (ck->img.do_center_crop && (ck->img.crop_height != side || ck->img.crop_width != side))
        return ml_error_set(err, ML_ERR_FORMAT, "%s: crop_size %dx%d does not match vision_config.image_size %d", path,
                            ck->img.crop_height, ck->img.crop_width, side);
    return ML_OK;
}

static int open_shard(MlCheckpoint *ck, const char *file, MlError *err) {
    char path[4096];
    int rc = ml_path_join(path, sizeof path, ck->dir, file, err);
    if (rc) return rc;
    if (!ml_file_exists(path)) return ml_error_set(err, ML_ERR_MISSING, "%s: missing", path);
    if ((rc = ml_safetensors_open(&ck->shards[ck->n_shards], path, err))) return rc;
    ck->n_shards++;
    return ML_OK;
}

static int open_weights(MlCheckpoint *ck, MlError *err) {
    char path[4096];
    int rc = ml_path_join(path, sizeof path, ck->dir, "model.safetensors.index.json", err);
    if (rc) return rc;
    if (!ml_file_exists(path)) {
        if (!(ck->shards = calloc(1, sizeof *ck->shards))) return ml_error_set(err, ML_ERR_NOMEM, "out of memory");
        if ((rc = ml_path_join(path, sizeof path, ck->dir, "model.safetensors", err))) return rc;
        if (!ml_file_exists(path))
            return ml_error_set(err, ML_ERR_MISSING, "%s: no model.safetensors or model.safetensors.index.json",
                                ck->dir);
        return open_shard(ck, "model.safetensors", err);
    }
    char *text;
    size_t len;
    if ((rc = ml_file_read(path, &text, &len, err))) return rc;
    MlCheckpointIndex idx;
    rc = ml_checkpoint_index_parse(text, len, path, &idx, err);
    free(text);
    if (rc) return rc;
    if (!(ck->shards = calloc((size_t)idx.n_shards + 1, sizeof *ck->shards)))
        rc = ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    for (int i = 0; i < idx.n_shards && rc == ML_OK; i++) rc = open_shard(ck, idx.shards[i], err);
    for (int i = 0; i < idx.n_tensors && rc == ML_OK; i++) {
        char nb[200];
        if (!ml_safetensors_find(ck->shards[idx.shard_of[i]], idx.names[i], NULL))
            rc = ml_error_set(err, ML_ERR_MISSING, "%s: tensor '%s' is listed in %s but absent from the shard",
                              ml_safetensors_path(ck->shards[idx.shard_of[i]]), ml_cfg_one_line(idx.names[i], nb, sizeof nb),
                              "model.safetensors.index.json");
    }
    ml_checkpoint_index_free(&idx);
    return rc;
}

static int by_ck_name(const void *a, const void *b) {
    return strcmp(((const CkTensor *)a)->name, ((const CkTensor *)b)->name);
}

static int build_table(MlCheckpoint *ck, MlError *err) {
    size_t total = 0;
    for (int s = 0; s < ck->n_shards; s++) total += (size_t)ml_safetensors_count(ck->shards[s]);
    if (!(ck->tensors = calloc(total + 1, sizeof *ck->tensors)))
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", ck->dir);
    for (int s = 0; s < ck->n_shards; s++) {
        for (int i = 0; i < ml_safetensors_count(ck->shards[s]); i++) {
            const char *raw;
            CkTensor *t = &ck->tensors[ck->n];
            ml_safetensors_at(ck->shards[s], i, &raw, &t->t);
            size_t cap = strlen(raw) + 32;
            if (!(t->name = malloc(cap))) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", ck->dir);
            ml_checkpoint_canonical_name(raw, t->name, cap);
            t->shard = s;
            ck->n++;
            ck->weight_bytes += t->t.nbytes;
        }
    }
    qsort(ck->tensors, (size_t)ck->n, sizeof *ck->tensors, by_ck_name);
    char nb[200];
    for (int i = 1; i < ck->n; i++)
        if (!strcmp(ck->tensors[i - 1].name, ck->tensors[i].name))
            return ml_error_set(err, ML_ERR_FORMAT, "%s: tensor '%s' appears twice (in %s and %s)", ck->dir,
                                ml_cfg_one_line(ck->tensors[i].name, nb, sizeof nb), ml_safetensors_path(ck->shards[ck->tensors[i - 1].shard]),
                                ml_safetensors_path(ck->shards[ck->tensors[i].shard]));
    return ML_OK;
}

int ml_checkpoint_open(MlCheckpoint **out, const char *dir, MlError *err) {
    *out = NULL;
    MlCheckpoint *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->dir = strdup(dir))) {
        free(ck);
        return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
    }
    int rc = load_configs(ck, err);
    if (!rc) rc = open_weights(ck, err);
    if (!rc) rc = build_table(ck, err);
    if (rc) {
        ml_checkpoint_close(ck);
        return rc;
    }
    *out = ck;
    return ML_OK;
}

const MlLlavaConfig *ml_checkpoint_config(const MlCheckpoint *ck) { return &ck->cfg; }
const MlImageConfig *ml_checkpoint_image_config(const MlCheckpoint *ck) { return &ck->img; }
const char *ml_checkpoint_dir(const MlCheckpoint *ck) { return ck->dir; }
uint64_t ml_checkpoint_weight_bytes(const MlCheckpoint *ck) { return ck->weight_bytes; }
int ml_checkpoint_tensor_count(const MlCheckpoint *ck) { return ck->n; }

void ml_checkpoint_tensor_at(const MlCheckpoint *ck, int i, const char **name, MlTensor *out) {
    ML_ASSERT(i >= 0 && i < ck->n);
    if (name) *name = ck->tensors[i].name;
    if (out) *out = ck->tensors[i].t;
}

static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

int ml_checkpoint_find(const MlCheckpoint *ck, const char *name, int ndim, const int64_t *shape, MlTensor *out,
                       int *found, MlError *err) {
    char canon[1024];
    *found = 0;
    if (ml_checkpoint_canonical_name(name, canon, sizeof canon)) return ML_OK;
    CkTensor key = {.name = canon};
    const CkTensor *t = bsearch(&key, ck->tensors, (size_t)ck->n, sizeof *ck->tensors, by_ck_name);
    if (!t) return ML_OK;
    *found = 1;
    if (ndim >= 0 && shape) {
        int same = t->t.ndim == ndim;
        for (int i = 0; same && i < ndim; i++) same = t->t.shape[i] == shape[i];
        if (!same) {
            char have[256], want[256], nb[200];
            format_shape(have, sizeof have, t->t.ndim, t->t.shape);
            format_shape(want, sizeof want, ndim, shape);
            return ml_error_set(err, ML_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s",
                                ml_safetensors_path(ck->shards[t->shard]), ml_cfg_one_line(canon, nb, sizeof nb), have, want);
        }
    }
    if (out) *out = t->t;
    return ML_OK;
}

int ml_checkpoint_get(const MlCheckpoint *ck, const char *name, int ndim, const int64_t *shape, MlTensor *out,
                      MlError *err) {
    int found, rc = ml_checkpoint_find(ck, name, ndim, shape, out, &found, err);
    char nb[300];
    if (rc == ML_OK && !found)
        return ml_error_set(err, ML_ERR_MISSING, "%s: tensor '%s' not found in the checkpoint", ck->dir,
                            ml_cfg_one_line(name, nb, sizeof nb));
    return rc;
}
