/* qwen2vl_config.c: Qwen2-VL config.json and preprocessor_config.json with the
   transformers defaults (Qwen2VLConfig, Qwen2VLVisionConfig, Qwen2VLImageProcessor). */
#include "io/qwen2vl_config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/config_json.h"

#define MAX_WIDTH (1 << 20)
#define MAX_LAYERS 1024
#define MAX_HEADS 4096
#define MAX_VOCAB (1 << 24)
#define MAX_SIDE 16384

/* Qwen2VLVisionConfig; the 2B file spells in_channels "in_chans". */
static int parse_vision(const MlCfgSection *s, MlQwen2VLVisionConfig *v) {
    int rc, chans;
    if ((rc = ml_cfg_int(s, "depth", 32, 1, MAX_LAYERS, &v->depth)) ||
        (rc = ml_cfg_int(s, "embed_dim", 1280, 1, MAX_WIDTH, &v->embed_dim)) ||
        (rc = ml_cfg_int(s, "hidden_size", 3584, 1, MAX_WIDTH, &v->hidden)) ||
        (rc = ml_cfg_int(s, "mlp_ratio", 4, 1, 64, &v->mlp_ratio)) ||
        (rc = ml_cfg_int(s, "num_heads", 16, 1, MAX_HEADS, &v->n_heads)) ||
        (rc = ml_cfg_int(s, "in_chans", 3, 1, 64, &chans)) ||
        (rc = ml_cfg_int(s, "in_channels", chans, 1, 64, &v->in_channels)) ||
        (rc = ml_cfg_int(s, "patch_size", 14, 1, MAX_SIDE, &v->patch_size)) ||
        (rc = ml_cfg_int(s, "spatial_merge_size", 2, 1, 64, &v->spatial_merge_size)) ||
        (rc = ml_cfg_int(s, "temporal_patch_size", 2, 1, 64, &v->temporal_patch_size)) ||
        (rc = ml_cfg_act(s, "hidden_act", "quick_gelu", &v->act)))
        return rc;
    if (v->in_channels != 3) return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, "in_channels", "only 3 (RGB) is supported");
    if (ml_cfg_present(s, "in_chans") && chans != v->in_channels)
        return ml_cfg_fail(s, ML_ERR_FORMAT, "in_chans", "differs from in_channels");
    if (v->embed_dim % v->n_heads) return ml_cfg_fail(s, ML_ERR_FORMAT, "embed_dim", "not divisible by num_heads");
    if ((v->embed_dim / v->n_heads) % 4)
        return ml_cfg_fail(s, ML_ERR_FORMAT, "num_heads",
                           "head width must be a multiple of 4 for 2D rotary embeddings");
    return ML_OK;
}

/* rope_scaling: {"type": "mrope", "mrope_section": [t, h, w]}; transformers
   rewrites the type to "default" on load (and saves "rope_type"), so both
   spellings are read.  Each section counts rotary pairs of one axis. */
static int parse_rope(const MlCfgSection *s, MlQwen2VLTextConfig *t) {
    const cJSON *rs;
    int rc = ml_cfg_object(s, "rope_scaling", &rs);
    if (rc) return rc;
    if (!rs)
        return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, "rope_scaling", "missing: Qwen2-VL needs M-RoPE (mrope_section)");
    MlCfgSection r = {rs, s->prefix[0] ? "text_config.rope_scaling." : "rope_scaling.", s->where, s->err};
    const char *type, *rope_type;
    if ((rc = ml_cfg_str(&r, "type", "mrope", &type)) || (rc = ml_cfg_str(&r, "rope_type", type, &rope_type)))
        return rc;
    if ((strcmp(type, "mrope") && strcmp(type, "default")) ||
        (strcmp(rope_type, "mrope") && strcmp(rope_type, "default")))
        return ml_cfg_fail(&r, ML_ERR_UNSUPPORTED, "type", "only \"mrope\" (multimodal rotary positions) is supported");
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(rs, "mrope_section");
    if (!cJSON_IsArray(sec) || cJSON_GetArraySize(sec) != 3)
        return ml_cfg_fail(&r, ML_ERR_FORMAT, "mrope_section", "expected 3 integers (temporal, height, width)");
    int sum = 0;
    for (int k = 0; k < 3; k++) {
        const cJSON *x = cJSON_GetArrayItem(sec, k);
        if (!cJSON_IsNumber(x) || x->valuedouble != floor(x->valuedouble) || x->valuedouble < 1 ||
            x->valuedouble > MAX_WIDTH)
            return ml_cfg_fail(&r, ML_ERR_FORMAT, "mrope_section", "expected 3 positive integers");
        t->mrope_section[k] = (int)x->valuedouble;
        sum += t->mrope_section[k];
    }
    if (sum * 2 != t->head_dim) {
        char msg[160];
        snprintf(msg, sizeof msg, "sums to %d, but must be half the head dimension (%d / 2)", sum, t->head_dim);
        return ml_cfg_fail(&r, ML_ERR_FORMAT, "mrope_section", msg);
    }
    return ML_OK;
}

/* Qwen2VLTextConfig (or the flat Qwen2VLConfig of transformers < 4.49). */
static int parse_text(const MlCfgSection *s, MlQwen2VLTextConfig *t) {
    int rc, sliding;
    if ((rc = ml_cfg_int(s, "vocab_size", 152064, 1, MAX_VOCAB, &t->vocab)) ||
        (rc = ml_cfg_int(s, "hidden_size", 8192, 1, MAX_WIDTH, &t->hidden)) ||
        (rc = ml_cfg_int(s, "intermediate_size", 29568, 1, MAX_WIDTH, &t->intermediate)) ||
        (rc = ml_cfg_int(s, "num_hidden_layers", 80, 1, MAX_LAYERS, &t->n_layers)) ||
        (rc = ml_cfg_int(s, "num_attention_heads", 64, 1, MAX_HEADS, &t->n_heads)) ||
        (rc = ml_cfg_int(s, "num_key_value_heads", 8, 1, t->n_heads, &t->n_kv_heads)) ||
        (rc = ml_cfg_int(s, "max_position_embeddings", 32768, 1, 1 << 24, &t->max_pos)) ||
        (rc = ml_cfg_float(s, "rms_norm_eps", 1e-5, 0, 1, &t->rms_eps)) ||
        (rc = ml_cfg_qualify(s, "rope_theta",
                             ml_json_num(s->obj, "rope_theta", 1e6, 1e-6, 1e12, &t->rope_theta, s->where, s->err))) ||
        (rc = ml_cfg_act(s, "hidden_act", "silu", &t->act)) || (rc = ml_cfg_bool(s, "use_sliding_window", 0, &sliding)))
        return rc;
    if (t->hidden % t->n_heads)
        return ml_cfg_fail(s, ML_ERR_FORMAT, "hidden_size", "not divisible by num_attention_heads");
    t->head_dim = t->hidden / t->n_heads;
    if (t->n_heads % t->n_kv_heads)
        return ml_cfg_fail(s, ML_ERR_FORMAT, "num_key_value_heads", "does not divide num_attention_heads");
    if (sliding)
        return ml_cfg_fail(s, ML_ERR_UNSUPPORTED, "use_sliding_window", "sliding-window attention is not supported");
    return parse_rope(s, t);
}

static int check_id(const MlCfgSection *s, const char *key, int def, int vocab, int *out) {
    int rc = ml_cfg_int(s, key, def, -1, MAX_VOCAB, out);
    if (rc == ML_OK && *out >= vocab) {
        char msg[160];
        snprintf(msg, sizeof msg, "%d is outside the vocabulary (vocab_size %d)", *out, vocab);
        return ml_cfg_fail(s, ML_ERR_FORMAT, key, msg);
    }
    return rc;
}

int ml_qwen2vl_config_parse(const char *text, size_t len, const char *where, MlQwen2VLConfig *cfg, MlError *err) {
    cJSON *root;
    int rc = ml_json_parse(text, len, where, &root, err);
    if (rc) return rc;
    memset(cfg, 0, sizeof *cfg);
    MlCfgSection top = {root, "", where, err};
    const cJSON *text_obj = NULL, *vision_obj = NULL;
    if (!cJSON_IsObject(root)) {
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", where);
        goto done;
    }
    if ((rc = ml_cfg_model_type(&top, "qwen2_vl", "only Qwen2-VL")) ||
        (rc = ml_cfg_object(&top, "text_config", &text_obj)) ||
        (rc = ml_cfg_object(&top, "vision_config", &vision_obj)))
        goto done;
    MlCfgSection ts = {text_obj ? text_obj : root, text_obj ? "text_config." : "", where, err};
    MlCfgSection vs = {vision_obj, "vision_config.", where, err};
    if (text_obj && (rc = ml_cfg_model_type(&ts, "qwen2_vl_text", "only the Qwen2-VL text model"))) goto done;
    if (vision_obj && (rc = ml_cfg_model_type(&vs, "qwen2_vl", "only the Qwen2-VL vision tower"))) goto done;
    if ((rc = parse_text(&ts, &cfg->text)) || (rc = parse_vision(&vs, &cfg->vision))) goto done;
    /* Like pad/tie in LLaVA configs: the text config's own value wins, else the top level's. */
    const MlCfgSection *tie_from = ml_cfg_present(&ts, "tie_word_embeddings") ? &ts : &top;
    const MlCfgSection *bos_from = ml_cfg_present(&ts, "bos_token_id") ? &ts : &top;
    const MlCfgSection *eos_from = ml_cfg_present(&ts, "eos_token_id") ? &ts : &top;
    int vocab = cfg->text.vocab;
    if ((rc = ml_cfg_bool(tie_from, "tie_word_embeddings", 0, &cfg->text.tie_word_embeddings)) ||
        (rc = check_id(bos_from, "bos_token_id", -1, vocab, &cfg->bos_id)) ||
        (rc = check_id(eos_from, "eos_token_id", -1, vocab, &cfg->eos_id)) ||
        (rc = check_id(&top, "image_token_id", 151655, vocab, &cfg->image_token_id)) ||
        (rc = check_id(&top, "video_token_id", 151656, vocab, &cfg->video_token_id)) ||
        (rc = check_id(&top, "vision_start_token_id", 151652, vocab, &cfg->vision_start_id)) ||
        (rc = check_id(&top, "vision_end_token_id", 151653, vocab, &cfg->vision_end_id)))
        goto done;
    if (cfg->image_token_id < 0) rc = ml_cfg_fail(&top, ML_ERR_FORMAT, "image_token_id", "must be a token id");
    else if (cfg->image_token_id == cfg->video_token_id)
        rc =
            ml_cfg_fail(&top, ML_ERR_FORMAT, "video_token_id", "equals image_token_id: images could not be told apart");
    else if (cfg->vision_start_id < 0 || cfg->vision_end_id < 0)
        rc =
            ml_cfg_fail(&top, ML_ERR_FORMAT, cfg->vision_start_id < 0 ? "vision_start_token_id" : "vision_end_token_id",
                        "must be a token id");
done:
    cJSON_Delete(root);
    return rc;
}

/* min_pixels / max_pixels win over size.shortest_edge / size.longest_edge, as in
   Qwen2VLImageProcessor.__init__; absent both, 56*56 and 28*28*1280. */
static int get_pixels(const MlCfgSection *s, const char *key, const char *size_key, long long def, long long *out) {
    const cJSON *size;
    int rc = ml_cfg_object(s, "size", &size);
    if (rc) return rc;
    if (size && !ml_cfg_present(s, key)) {
        MlCfgSection sub = {size, "size.", s->where, s->err};
        int v;
        if ((rc = ml_cfg_int(&sub, size_key, def, 1, 1 << 30, &v))) return rc;
        *out = v;
        return ML_OK;
    }
    int v;
    if ((rc = ml_cfg_int(s, key, def, 1, 1 << 30, &v))) return rc;
    *out = v;
    return ML_OK;
}

int ml_qwen2vl_image_config_parse(const char *text, size_t len, const char *where, MlQwen2VLImageConfig *cfg,
                                  MlError *err) {
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    cJSON *root;
    int rc = ml_json_parse(text, len, where, &root, err);
    if (rc) return rc;
    memset(cfg, 0, sizeof *cfg);
    MlCfgSection s = {root, "", where, err};
    if (!cJSON_IsObject(root)) rc = ml_error_set(err, ML_ERR_FORMAT, "%s: expected a JSON object", where);
    else if ((rc = ml_cfg_bool(&s, "do_resize", 1, &cfg->do_resize)) ||
             (rc = ml_cfg_bool(&s, "do_rescale", 1, &cfg->do_rescale)) ||
             (rc = ml_cfg_bool(&s, "do_normalize", 1, &cfg->do_normalize)) ||
             (rc = ml_cfg_bool(&s, "do_convert_rgb", 1, &cfg->do_convert_rgb)) ||
             (rc = get_pixels(&s, "min_pixels", "shortest_edge", 56 * 56, &cfg->min_pixels)) ||
             (rc = get_pixels(&s, "max_pixels", "longest_edge", 28 * 28 * 1280, &cfg->max_pixels)) ||
             (rc = ml_cfg_int(&s, "patch_size", 14, 1, 1024, &cfg->patch_size)) ||
             (rc = ml_cfg_int(&s, "temporal_patch_size", 2, 1, 64, &cfg->temporal_patch_size)) ||
             (rc = ml_cfg_int(&s, "merge_size", 2, 1, 64, &cfg->merge_size)) ||
             (rc = ml_cfg_int(&s, "resample", 3, 0, 5, &cfg->resample)) ||
             (rc = ml_cfg_float(&s, "rescale_factor", 1.0 / 255.0, 0, 1e6, &cfg->rescale_factor)) ||
             (rc = ml_cfg_triple(&s, "image_mean", clip_mean, 0, cfg->mean)) ||
             (rc = ml_cfg_triple(&s, "image_std", clip_std, 1, cfg->std)))
        ;
    else if (cfg->do_resize && cfg->resample != 3)
        rc = ml_cfg_fail(&s, ML_ERR_UNSUPPORTED, "resample", "only 3 (bicubic) is supported");
    else if (cfg->min_pixels > cfg->max_pixels)
        rc = ml_cfg_fail(&s, ML_ERR_FORMAT, "min_pixels", "is larger than max_pixels");
    cJSON_Delete(root);
    return rc;
}
