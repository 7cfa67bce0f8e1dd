/* train/model.c: a checkpoint in one parameter block (see model.h). */
#include "train/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/rng.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/tokenizer_json.h"
#include "model/init.h"

/* Every weight view the three parts hold, so they can be moved together. */
#define MAX_VIEWS(m) (8 + 16 * (m)->vis.n_run + 4 + 3 + 9 * (m)->dec.cfg.n_layers)

static int list_views(MlVision *vis, MlProjector *pj, MlDecoder *dec, MlTensor **out) {
    int n = 0;
    out[n++] = &vis->class_emb;
    out[n++] = &vis->patch_w;
    out[n++] = &vis->pos_emb;
    out[n++] = &vis->pre_ln_w;
    out[n++] = &vis->pre_ln_b;
    for (int l = 0; l < vis->n_run; l++) {
        MlVisionLayer *L = &vis->layers[l];
        MlTensor *t[] = {&L->ln1_w, &L->ln1_b, &L->q_w, &L->q_b, &L->k_w,   &L->k_b,   &L->v_w,   &L->v_b,
                         &L->o_w,   &L->o_b,   &L->ln2_w, &L->ln2_b, &L->fc1_w, &L->fc1_b, &L->fc2_w, &L->fc2_b};
        for (int i = 0; i < 16; i++) out[n++] = t[i];
    }
    out[n++] = &pj->w1;
    out[n++] = &pj->b1;
    out[n++] = &pj->w2;
    out[n++] = &pj->b2;
    out[n++] = &dec->embed;
    out[n++] = &dec->norm;
    out[n++] = &dec->lm_head;
    for (int l = 0; l < dec->cfg.n_layers; l++) {
        MlDecoderLayer *L = &dec->layers[l];
        MlTensor *t[] = {&L->in_norm, &L->q, &L->k, &L->v, &L->o, &L->post_norm, &L->gate, &L->up, &L->down};
        for (int i = 0; i < 9; i++) out[n++] = t[i];
    }
    return n;
}

MlTrainPart ml_train_tensor_part(const MlTrainTensor *t) {
    if (!strncmp(t->name, "vision_tower.", 13)) return ML_PART_VISION;
    if (!strncmp(t->name, "multi_modal_projector.", 22)) return ML_PART_PROJECTOR;
    if (!strncmp(t->name, "language_model.", 15)) return ML_PART_TEXT;
    return ML_PART_AUX;
}

int ml_train_model_open(MlTrainModel *m, const char *dir, size_t n_aux, MlError *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    MlCheckpoint *ck;
    int rc = ml_checkpoint_open(&ck, dir, err);
    if (rc) return rc;
    m->cfg = *ml_checkpoint_config(ck);
    m->img = *ml_checkpoint_image_config(ck);
    int n = ml_checkpoint_tensor_count(ck);
    m->tensors = calloc((size_t)n, sizeof *m->tensors);
    MlTensor *src = calloc((size_t)n, sizeof *src);
    MlTensor **views = NULL;
    if (!m->tensors || !src) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
        goto fail;
    }
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const char *name;
        ml_checkpoint_tensor_at(ck, i, &name, &src[i]);
        MlTrainTensor *t = &m->tensors[i];
        if (src[i].dtype != ML_F32 || src[i].ndim > 4) {
            rc = ml_error_set(err, ML_ERR_FORMAT, "%s: tensor %s: training needs F32 tensors of at most 4 dimensions",
                              dir, name);
            goto fail;
        }
        snprintf(t->name, sizeof t->name, "%s", name);
        t->ndim = src[i].ndim;
        memcpy(t->shape, src[i].shape, sizeof(int64_t) * (size_t)t->ndim);
        t->offset = total;
        t->count = (size_t)ml_tensor_numel(&src[i]);
        total += (t->count + 15) / 16 * 16; /* 64-byte aligned tensors */
    }
    m->n_tensors = n;
    m->n_model = total;
    m->n_aux = n_aux;
    if ((rc = ml_param_block_alloc(&m->block, total + n_aux, err))) goto fail;
    for (int i = 0; i < n; i++)
        memcpy(m->block.params + m->tensors[i].offset, src[i].data, m->tensors[i].count * sizeof(float));
    if ((rc = ml_vision_bind(&m->vis, ck, err)) || (rc = ml_projector_bind(&m->pj, ck, err)) ||
        (rc = ml_decoder_bind(&m->dec, ck, err)))
        goto fail;
    /* move every view from the mapped file into the block */
    views = malloc(sizeof *views * (size_t)MAX_VIEWS(m));
    if (!views) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", dir);
        goto fail;
    }
    int nv = list_views(&m->vis, &m->pj, &m->dec, views);
    for (int k = 0; k < nv; k++) {
        MlTensor *v = views[k];
        if (!v->data) continue; /* absent optional tensor (projector bias) */
        int found = 0;
        for (int i = 0; i < n && !found; i++) {
            const char *b = src[i].data;
            if ((const char *)v->data >= b && (const char *)v->data < b + src[i].nbytes) {
                v->data = m->block.params + m->tensors[i].offset + ((const char *)v->data - b) / sizeof(float);
                found = 1;
            }
        }
        ML_ASSERT(found);
    }
    char path[2048];
    if ((rc = ml_path_join(path, sizeof path, dir, "tokenizer.json", err)) ||
        (rc = ml_tokenizer_load(&m->tok, path, err)))
        goto fail;
    free(views);
    free(src);
    ml_checkpoint_close(ck);
    return ML_OK;
fail:
    free(views);
    free(src);
    ml_checkpoint_close(ck);
    ml_train_model_close(m);
    return rc;
}

void ml_train_model_close(MlTrainModel *m) {
    ml_vision_free(&m->vis);
    ml_decoder_free(&m->dec);
    if (m->tok) ml_tokenizer_free(m->tok);
    ml_param_block_free(&m->block);
    free(m->tensors);
    memset(m, 0, sizeof *m);
}

int ml_train_views_init(MlTrainViews *v, const MlTrainModel *m, float *base, MlError *err) {
    memset(v, 0, sizeof *v);
    v->vis = m->vis;
    v->pj = m->pj;
    v->dec = m->dec;
    v->vis.layers = malloc(sizeof *v->vis.layers * (size_t)(m->vis.n_run ? m->vis.n_run : 1));
    v->dec.layers = malloc(sizeof *v->dec.layers * (size_t)m->dec.cfg.n_layers);
    MlTensor **views = malloc(sizeof *views * (size_t)MAX_VIEWS(m));
    if (!v->vis.layers || !v->dec.layers || !views) {
        free(views);
        ml_train_views_free(v);
        return ml_error_set(err, ML_ERR_NOMEM, "out of memory for gradient views");
    }
    memcpy(v->vis.layers, m->vis.layers, sizeof *v->vis.layers * (size_t)m->vis.n_run);
    memcpy(v->dec.layers, m->dec.layers, sizeof *v->dec.layers * (size_t)m->dec.cfg.n_layers);
    int nv = list_views(&v->vis, &v->pj, &v->dec, views);
    for (int k = 0; k < nv; k++)
        if (views[k]->data) views[k]->data = base + ((const float *)views[k]->data - m->block.params);
    free(views);
    return ML_OK;
}

void ml_train_views_free(MlTrainViews *v) {
    free(v->vis.layers);
    free(v->dec.layers);
    memset(v, 0, sizeof *v);
}

static int copy_file(const char *from, const char *to, MlError *err) {
    char *data;
    size_t len;
    int rc = ml_file_read(from, &data, &len, err);
    if (rc) return rc;
    rc = ml_file_write(to, data, len, err);
    free(data);
    return rc;
}

static int write_folder(const char *dir, const MlLlavaConfig *cfg, const MlImageConfig *img, const char *tokenizer,
                        const MlTrainTensor *t, int n, const float *params, MlError *err) {
    char path[2048];
    int rc;
    if ((rc = ml_mkdirs(dir, err)) || (rc = ml_path_join(path, sizeof path, dir, "config.json", err)) ||
        (rc = ml_llava_config_write(path, cfg, ML_F32, err)) ||
        (rc = ml_path_join(path, sizeof path, dir, "preprocessor_config.json", err)) ||
        (rc = ml_image_config_write(path, img, err)) ||
        (rc = ml_path_join(path, sizeof path, dir, "generation_config.json", err)) ||
        (rc = ml_generation_config_write(path, &cfg->text, err)) ||
        (rc = ml_path_join(path, sizeof path, dir, "tokenizer.json", err)))
        return rc;
    if (strcmp(tokenizer, path) && (rc = copy_file(tokenizer, path, err))) return rc;
    MlNamedTensor *nt = calloc((size_t)n, sizeof *nt);
    if (!nt) return ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        nt[i].name = t[i].name;
        nt[i].tensor.dtype = ML_F32;
        nt[i].tensor.ndim = t[i].ndim;
        memcpy(nt[i].tensor.shape, t[i].shape, sizeof t[i].shape);
        nt[i].tensor.data = params + t[i].offset;
        nt[i].tensor.nbytes = t[i].count * sizeof(float);
    }
    if (!(rc = ml_path_join(path, sizeof path, dir, "model.safetensors", err)))
        rc = ml_safetensors_write(path, nt, n, err);
    free(nt);
    return rc;
}

int ml_train_model_save(const MlTrainModel *m, const char *dir, MlError *err) {
    char tok[2048];
    int rc = ml_path_join(tok, sizeof tok, m->dir, "tokenizer.json", err);
    if (rc) return rc;
    /* read the tokenizer before the folder may be overwritten (saving in place) */
    char *data;
    size_t len;
    if ((rc = ml_file_read(tok, &data, &len, err))) return rc;
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s.tokenizer.tmp", dir);
    rc = ml_file_write(tmp, data, len, err);
    free(data);
    if (!rc) rc = write_folder(dir, &m->cfg, &m->img, tmp, m->tensors, m->n_tensors, m->block.params, err);
    remove(tmp);
    return rc;
}

/* ---- fresh weights ---- */

/* Residual-branch outputs get GPT-2's 1/sqrt(2 L) scaling. */
static int is_output_projection(const char *name) {
    return strstr(name, "out_proj.weight") || strstr(name, "o_proj.weight") || strstr(name, "fc2.weight") ||
           strstr(name, "down_proj.weight");
}

int ml_train_init_folder(const char *dir, MlLlavaConfig cfg, const char *tokenizer_path, uint64_t seed, MlError *err) {
    char *tok;
    size_t tok_len;
    int rc = ml_file_read(tokenizer_path, &tok, &tok_len, err);
    if (rc) return rc;
    MlTokenizerFacts f;
    rc = ml_tokenizer_json_facts(tok, tok_len, tokenizer_path, &f, err);
    free(tok);
    if (rc) return rc;
    cfg.text.vocab = (f.n_ids + 63) / 64 * 64;
    cfg.text.bos_id = f.bos_id;
    cfg.text.eos_id = f.eos_id;
    cfg.text.pad_id = f.pad_id;
    cfg.image_token_id = f.image_id;
    int side = cfg.vision.image_size / cfg.vision.patch_size;
    cfg.image_seq_length = side * side + (cfg.select_full ? 1 : 0);
    MlImageConfig img = {.do_resize = 1, .do_center_crop = 1, .do_rescale = 1, .do_normalize = 1,
                         .do_convert_rgb = 1, .resample = 3, .rescale_factor = (float)(1.0 / 255.0),
                         .mean = {0.48145466f, 0.4578275f, 0.40821073f},
                         .std = {0.26862954f, 0.26130258f, 0.27577711f}};
    img.shortest_edge = img.crop_height = img.crop_width = cfg.vision.image_size;
    MlTensorSpec *specs;
    int n;
    if ((rc = ml_llava_tensor_specs(&cfg, &specs, &n, err))) return rc;
    MlTrainTensor *t = calloc((size_t)n, sizeof *t);
    size_t total = 0;
    for (int i = 0; t && i < n; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", specs[i].name);
        t[i].ndim = specs[i].ndim;
        memcpy(t[i].shape, specs[i].shape, sizeof t[i].shape);
        size_t c = 1;
        for (int d = 0; d < t[i].ndim; d++) c *= (size_t)t[i].shape[d];
        t[i].offset = total;
        t[i].count = c;
        total += c;
    }
    float *p = t ? malloc(total * sizeof *p) : NULL;
    if (!p) {
        free(t);
        free(specs);
        return ml_error_set(err, ML_ERR_NOMEM, "out of memory for %zu weights", total);
    }
    for (int i = 0; i < n; i++) {
        uint64_t s = seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
        int vis = !strncmp(t[i].name, "vision_tower.", 13);
        int layers = vis ? cfg.vision.n_layers : cfg.text.n_layers;
        double std = 0.02;
        if (is_output_projection(t[i].name)) std /= sqrt(2.0 * layers);
        for (size_t j = 0; j < t[i].count; j++) {
            float *v = &p[t[i].offset + j];
            switch (specs[i].role) {
            case ML_ROLE_MATRIX:
            /* std times the unit draw, not passed in: the product order the shipped weights were made with */
            case ML_ROLE_EMBEDDING: *v = (float)(std * ml_rng_normal(&s, 1.0)); break;
            case ML_ROLE_NORM: *v = 1.0f; break;
            case ML_ROLE_BIAS: *v = 0.0f; break;
            }
        }
    }
    rc = write_folder(dir, &cfg, &img, tokenizer_path, t, n, p, err);
    free(p);
    free(t);
    free(specs);
    return rc;
}
