/* extract.c: per-layer mean representations through residual hooks (see extract.h). */
#include "align/extract.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int ml_layers_parse(const char *spec, int lo, int hi, MlLayerList *out, MlError *err) {
    out->n = 0;
    if (!strcmp(spec, "none")) return ML_OK;
    if (!strcmp(spec, "all")) {
        for (int l = lo; l <= hi && out->n < ML_HOOK_MAX_LAYERS; l++) out->layer[out->n++] = l;
        return ML_OK;
    }
    const char *p = spec;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && *end != ','))
            return ml_error_set(err, ML_ERR_ARG, "layers '%s': expected all, none or integers separated by commas",
                                spec);
        if (v < lo || v > hi)
            return ml_error_set(err, ML_ERR_ARG, "layers '%s': layer %ld is outside %d..%d", spec, v, lo, hi);
        for (int i = 0; i < out->n; i++)
            if (out->layer[i] == v) return ml_error_set(err, ML_ERR_ARG, "layers '%s': layer %ld is named twice", spec, v);
        if (out->n == ML_HOOK_MAX_LAYERS)
            return ml_error_set(err, ML_ERR_ARG, "layers '%s': more than %d layers", spec, ML_HOOK_MAX_LAYERS);
        out->layer[out->n++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end && !*p) return ml_error_set(err, ML_ERR_ARG, "layers '%s': ends with a comma", spec);
    }
    if (!out->n) return ml_error_set(err, ML_ERR_ARG, "layers: empty list (use none)");
    qsort(out->layer, (size_t)out->n, sizeof out->layer[0], cmp_int);
    return ML_OK;
}

int ml_extract_vision_layers(const MlLvlm *m) { return ml_lvlm_vision_layers(m); }

/* Adds the rows at positions [acc_lo, acc_hi) of a residual point to its layer's sum. */
static void accumulate(const MlHookSite *site, float *data, void *user) {
    MlExtractor *x = user;
    int slot = x->slot[site->tower][site->layer + 1];
    if (slot < 0 || site->point != ML_HOOK_RESIDUAL) return;
    int64_t lo = site->pos0 > x->acc_lo ? site->pos0 : x->acc_lo;
    int64_t hi = site->pos0 + site->rows < x->acc_hi ? site->pos0 + site->rows : x->acc_hi;
    double *sum = x->acc + (size_t)slot * (size_t)site->width;
    for (int64_t p = lo; p < hi; p++) {
        const float *row = data + (size_t)(p - site->pos0) * (size_t)site->width;
        for (int64_t i = 0; i < site->width; i++) sum[i] += row[i];
    }
}

static void acc_reset(MlExtractor *x, MlTower tower, int64_t lo, int64_t hi, int64_t width) {
    const MlLayerList *l = tower == ML_TOWER_VISION ? &x->vision : &x->text;
    memset(x->acc, 0, sizeof(double) * (size_t)l->n * (size_t)width);
    x->acc_lo = lo;
    x->acc_hi = hi;
}

static void acc_store(const MlExtractor *x, int n_rows, int64_t width, float *out) {
    const double inv = 1.0 / (double)(x->acc_hi - x->acc_lo);
    for (size_t i = 0; i < (size_t)n_rows * (size_t)width; i++) out[i] = (float)(x->acc[i] * inv);
}

static void select_layers(MlExtractor *x, MlTower tower, const MlLayerList *l) {
    for (int i = 0; i < ML_HOOK_MAX_LAYERS; i++) x->slot[tower][i] = -1;
    x->hooks[tower] = (MlHooks){.fn = accumulate, .user = x};
    for (int i = 0; i < l->n; i++) {
        x->slot[tower][l->layer[i] + 1] = i;
        ml_hooks_select(&x->hooks[tower], tower, ML_HOOK_RESIDUAL, l->layer[i]);
    }
}

/* The image-only prompt for an image of n_img tokens: the template's ids up to the end of the image. */
static int build_prefix(MlExtractor *x, int64_t n_img, MlError *err) {
    const MlLvlm *m = x->m;
    const char *text = x->popts.tmpl == ML_TEMPLATE_RAW ? "<image>" : "";
    const int image_id = ml_lvlm_image_token_id(m);
    size_t n, image_end;
    free(x->prefix);
    x->prefix = NULL;
    int rc = ml_lvlm_prompt(m, &x->popts, text, n_img, &x->prefix, &n, &image_end, err);
    if (rc) return rc;
    x->n_prefix = (int64_t)image_end;
    x->img_hi = (int64_t)image_end;
    x->img_lo = x->img_hi - n_img;
    for (int64_t i = x->img_lo; i < x->img_hi; i++)
        if (x->img_lo < 0 || x->prefix[i] != image_id)
            return ml_error_set(err, ML_ERR_FORMAT, "image-only prompt: the image tokens are not contiguous");
    return ML_OK;
}

int ml_extract_init(MlExtractor *x, MlLvlm *m, const MlLayerList *vision_layers, const MlLayerList *text_layers,
                    const MlPromptOptions *popts, int64_t max_caption_tokens, MlError *err) {
    memset(x, 0, sizeof *x);
    x->m = m;
    x->popts = popts ? *popts : (MlPromptOptions){.tmpl = ML_TEMPLATE_HF};
    x->vision = *vision_layers;
    x->text = *text_layers;
    for (int i = 0; i < x->vision.n; i++)
        if (x->vision.layer[i] < -1 || x->vision.layer[i] >= ml_lvlm_vision_layers(m))
            return ml_error_set(err, ML_ERR_ARG, "vision layer %d does not run (layers -1..%d)", x->vision.layer[i],
                                ml_lvlm_vision_layers(m) - 1);
    for (int i = 0; i < x->text.n; i++)
        if (x->text.layer[i] < -1 || x->text.layer[i] >= ml_lvlm_layers(m))
            return ml_error_set(err, ML_ERR_ARG, "decoder layer %d does not exist (layers -1..%d)", x->text.layer[i],
                                ml_lvlm_layers(m) - 1);
    select_layers(x, ML_TOWER_VISION, &x->vision);
    select_layers(x, ML_TOWER_TEXT, &x->text);
    const int64_t max_pos = ml_lvlm_context(m);
    if (max_caption_tokens < 1 || max_caption_tokens + 1 > max_pos)
        return ml_error_set(err, ML_ERR_RANGE, "captions of %lld tokens do not fit the context of %lld tokens",
                            (long long)max_caption_tokens, (long long)max_pos);
    int rc = build_prefix(x, ml_lvlm_max_image_tokens(m), err);
    if (rc) goto fail;
    if (x->n_prefix > max_pos) {
        rc = ml_error_set(err, ML_ERR_RANGE, "the image-only prompt has %lld tokens, more than the context of %lld",
                          (long long)x->n_prefix, (long long)max_pos);
        goto fail;
    }
    x->ids_cap = max_caption_tokens + 1;
    const int64_t Dv = ml_lvlm_vision_hidden(m), Dt = ml_lvlm_hidden(m);
    const int64_t rows = x->vision.n > x->text.n ? x->vision.n : x->text.n, width = Dv > Dt ? Dv : Dt;
    x->ids = malloc(sizeof(int32_t) * (size_t)x->ids_cap);
    x->feats = malloc(sizeof(float) * (size_t)(ml_lvlm_max_image_tokens(m) * Dt));
    x->acc = malloc(sizeof(double) * (size_t)((rows ? rows : 1) * width));
    if (!x->ids || !x->feats || !x->acc) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "extract: out of memory");
        goto fail;
    }
    int64_t cap = x->ids_cap > x->n_prefix ? x->ids_cap : x->n_prefix;
    if ((rc = ml_session_new(&x->s, m, cap, err))) goto fail;
    return ML_OK;
fail:
    ml_extract_free(x);
    return rc;
}

void ml_extract_free(MlExtractor *x) {
    if (x->s) ml_session_free(x->s);
    free(x->prefix);
    free(x->ids);
    free(x->feats);
    free(x->acc);
    memset(x, 0, sizeof *x);
}

int ml_extract_image(MlExtractor *x, const float *pixels, float *vis, float *img, MlError *err) {
    MlLvlm *m = x->m;
    const int64_t N = ml_lvlm_vision_tokens(m), Dv = ml_lvlm_vision_hidden(m), Dt = ml_lvlm_hidden(m);
    const int with_vis = vis && x->vision.n > 0;
    acc_reset(x, ML_TOWER_VISION, 1, N, Dv); /* row 0 is CLS */
    int64_t rows;
    int rc = ml_lvlm_encode_image(m, x->feats, pixels, with_vis ? &x->hooks[ML_TOWER_VISION] : NULL, &rows, err);
    if (rc) return rc;
    if (with_vis) acc_store(x, x->vision.n, Dv, vis);
    if (!img || x->text.n == 0) return ML_OK;
    if (rows != x->img_hi - x->img_lo && (rc = build_prefix(x, rows, err))) return rc;
    acc_reset(x, ML_TOWER_TEXT, x->img_lo, x->img_hi, Dt);
    if ((rc = ml_session_rewind(x->s, 0, err))) return rc;
    rc = ml_session_prefill(x->s, x->prefix, x->n_prefix, x->feats, rows, &x->hooks[ML_TOWER_TEXT],
                            NULL, err);
    if (rc) return rc;
    acc_store(x, x->text.n, Dt, img);
    return ML_OK;
}

/* Encodes into ids (cap), returning ML_ERR_RANGE with *n = the ids needed when they do not fit. */
static int encode(const MlTokenizer *tok, const char *text, int32_t *ids, size_t cap, size_t *n, MlError *err) {
    return ml_tokenizer_encode(tok, text, strlen(text), ids, cap, n, err);
}

int ml_extract_caption_tokens(const MlLvlm *m, const char *caption, int64_t *n, MlError *err) {
    size_t need = 0;
    int32_t one;
    MlError range = {0}; /* "does not fit" is the expected answer here, not an error */
    int rc = encode(ml_lvlm_tokenizer(m), caption, &one, 0, &need, &range);
    if (rc && rc != ML_ERR_RANGE) {
        if (err) *err = range;
        return rc;
    }
    *n = (int64_t)need;
    return ML_OK;
}

int ml_extract_caption(MlExtractor *x, const char *caption, float *cap, MlError *err) {
    MlLvlm *m = x->m;
    const int bos = ml_lvlm_bos_id(m);
    const int64_t first = bos >= 0 ? 1 : 0;
    size_t n = 0;
    int rc = encode(ml_lvlm_tokenizer(m), caption, x->ids + first, (size_t)(x->ids_cap - first), &n, err);
    if (rc == ML_ERR_RANGE)
        return ml_error_set(err, ML_ERR_RANGE, "the caption has %zu tokens, more than the %lld allowed", n,
                            (long long)(x->ids_cap - 1));
    if (rc) return rc;
    if (n == 0) return ml_error_set(err, ML_ERR_ARG, "the caption is empty");
    if (bos >= 0) x->ids[0] = bos;
    if (x->text.n == 0) return ML_OK;
    acc_reset(x, ML_TOWER_TEXT, first, first + (int64_t)n, ml_lvlm_hidden(m));
    if ((rc = ml_session_rewind(x->s, 0, err))) return rc;
    rc = ml_session_prefill(x->s, x->ids, first + (int64_t)n, NULL, 0, &x->hooks[ML_TOWER_TEXT], NULL, err);
    if (rc) return rc;
    acc_store(x, x->text.n, ml_lvlm_hidden(m), cap);
    return ML_OK;
}
