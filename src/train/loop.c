/* train/loop.c: one training stage (see loop.h). */
#include "train/loop.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/hash.h"
#include "core/progress.h"
#include "core/rng.h"
#include "kernels/matmul.h"
#include "train/checkpoint_io.h"
#include "train/loss.h"
#include "train/mention_head.h"
#include "train/patch_head.h"
#include "train/slots.h"

MlStageOptions ml_stage_defaults(int stage) {
    MlStageOptions o = {.stage = stage, .steps = 100, .batch = 32, .warmup = 30, .lr = 2e-3, .min_ratio = 0.05,
                        .weight_decay = 0.05, .beta1 = 0.9, .beta2 = 0.98, .clip = 1.0, .seed = 1, .qa_turns = 6,
                        .caption_prob = 0.3, .log_every = 10, .save_every = 0, .progress = 1, .infonce = 1.0};
    if (stage == 3) o.lr = 5e-4;
    return o;
}

/* Stage 1's training-only text encoder and heads, after the model tensors. */
enum { CLIP_DIM = 64 };
typedef struct ClipAux {
    size_t img_proj, txt_emb, txt_proj, logit_scale, head; /* offsets in the block */
    size_t n;
} ClipAux;

static ClipAux clip_aux(size_t base, int64_t Dv, int64_t V, size_t head_n) {
    ClipAux a;
    a.img_proj = base;
    a.txt_emb = a.img_proj + (size_t)(CLIP_DIM * Dv);
    a.txt_proj = a.txt_emb + (size_t)(V * CLIP_DIM);
    a.logit_scale = a.txt_proj + CLIP_DIM * CLIP_DIM;
    a.head = a.logit_scale + 1;
    a.n = a.head + head_n - base;
    return a;
}

typedef struct Run {
    const MlStageOptions *o;
    MlTrainModel m;
    MlTrainWorker *w;
    int nw;
    MlTrainParts parts;
    MlParamGroup *groups;
    int n_groups;
    ClipAux aux;
    MlTrainSlots slots;
    int has_slots;
    MlMentionWords mention_words;
    int mention_layers; /* the mention head reads the residual after this many LM layers */
    int head_sizes[ML_PATCH_GROUPS]; /* stage 1: classes per group of the per-patch head */
} Run;

static uint64_t mix(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t s = seed ^ (a * 0x9e3779b97f4a7c15ull) ^ (b * 0xc2b2ae3d27d4eb4full);
    return ml_splitmix64(&s);
}

/* Groups: every trainable tensor (and the aux block in stage 1); decay for matrices. */
static int make_groups(Run *r, MlError *err) {
    r->groups = calloc((size_t)r->m.n_tensors + 1, sizeof *r->groups);
    if (!r->groups) return ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->m.n_tensors; i++) {
        const MlTrainTensor *t = &r->m.tensors[i];
        MlTrainPart p = ml_train_tensor_part(t);
        int on = (p == ML_PART_VISION && r->parts.vision) || (p == ML_PART_PROJECTOR && r->parts.projector) ||
                 (p == ML_PART_TEXT && r->parts.text);
        if (on) r->groups[r->n_groups++] = (MlParamGroup){t->offset, t->count, t->ndim >= 2};
    }
    if (r->m.n_aux) r->groups[r->n_groups++] = (MlParamGroup){r->m.n_model, r->m.n_aux, 0};
    return ML_OK;
}

/* Worker grads summed in worker order into the block, then zeroed. */
static void reduce_grads(Run *r, double scale) {
    MlParamBlock *b = &r->m.block;
    const size_t n = b->n;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float s = 0.0f;
        for (int k = 0; k < r->nw; k++) {
            s += r->w[k].grad[i];
            r->w[k].grad[i] = 0.0f;
        }
        b->grads[i] = (float)(s * scale);
    }
}

/* ---- stage 1: InfoNCE ---- */

/* img_feat (E) = W_img mean(vision features); also returns the pooled mean. */
static void clip_image(Run *r, MlTrainWorker *w, float *pooled, float *feat) {
    const int64_t n = r->m.vis.n_out, Dv = r->m.vis.cfg.hidden;
    for (int64_t j = 0; j < Dv; j++) pooled[j] = 0.0f;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < Dv; j++) pooled[j] += w->feats[i * Dv + j] / (float)n;
    const float *W = r->m.block.params + r->aux.img_proj;
    for (int e = 0; e < CLIP_DIM; e++) {
        float s = 0.0f;
        for (int64_t j = 0; j < Dv; j++) s += W[e * Dv + j] * pooled[j];
        feat[e] = s;
    }
}

/* txt_feat (E) = W_txt mean(text embeddings of the caption's tokens). */
static void clip_text(Run *r, const int32_t *ids, int64_t n, float *mean, float *feat) {
    const float *emb = r->m.block.params + r->aux.txt_emb, *W = r->m.block.params + r->aux.txt_proj;
    for (int e = 0; e < CLIP_DIM; e++) mean[e] = 0.0f;
    for (int64_t i = 0; i < n; i++)
        for (int e = 0; e < CLIP_DIM; e++) mean[e] += emb[(size_t)ids[i] * CLIP_DIM + e] / (float)n;
    for (int e = 0; e < CLIP_DIM; e++) {
        float s = 0.0f;
        for (int k = 0; k < CLIP_DIM; k++) s += W[e * CLIP_DIM + k] * mean[k];
        feat[e] = s;
    }
}

static int clip_step(Run *r, const int64_t *images, const int64_t *caps, float *loss_out, MlError *err) {
    const int64_t B = r->o->batch, Dv = r->m.vis.cfg.hidden, n_out = r->m.vis.n_out;
    float *pooled = calloc((size_t)(B * Dv), sizeof(float)), *tmean = calloc((size_t)(B * CLIP_DIM), sizeof(float));
    float *img = calloc((size_t)(B * CLIP_DIM), sizeof(float)), *txt = calloc((size_t)(B * CLIP_DIM), sizeof(float));
    float *dimg = calloc((size_t)(B * CLIP_DIM), sizeof(float)), *dtxt = calloc((size_t)(B * CLIP_DIM), sizeof(float));
    int32_t *ids = malloc(sizeof(int32_t) * 256 * (size_t)B);
    int64_t *nids = calloc((size_t)B, sizeof(int64_t));
    MlInfoNceActs acts = {0};
    int rc = (!pooled || !tmean || !img || !txt || !dimg || !dtxt || !ids || !nids)
                 ? ml_error_set(err, ML_ERR_NOMEM, "out of memory")
                 : ml_infonce_acts_alloc(&acts, B, CLIP_DIM, err);
    int *wrc = calloc((size_t)r->nw, sizeof(int));
    MlError *werr = calloc((size_t)r->nw, sizeof(MlError));
    if (!rc && (!wrc || !werr)) rc = ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    if (rc) goto done;
    const float w_nce = (float)r->o->infonce, w_head = (float)r->o->patch_head;
    float *P = r->m.block.params;
    *loss_out = 0.0f;
    if (w_nce <= 0.0f) goto pass2;
    /* pass 1: features of every image and caption */
#pragma omp parallel num_threads(r->nw)
    {
        int k = omp_get_thread_num();
        omp_set_num_threads(1);
        MlTrainWorker *w = &r->w[k];
        for (int64_t e = k; e < B && !wrc[k]; e += r->nw) {
            size_t n = 0;
            const char *c = r->o->data->cap[caps[e]].answer;
            wrc[k] = ml_tokenizer_encode(r->m.tok, c, strlen(c), ids + e * 256, 256, &n, &werr[k]);
            nids[e] = (int64_t)n;
            if (!wrc[k]) wrc[k] = ml_train_pixels(&r->m, r->o->data, images[e], w->pixels, &werr[k]);
            if (!wrc[k]) wrc[k] = ml_vision_forward(&r->m.vis, &w->vst, w->feats, w->pixels, NULL, &werr[k]);
            if (wrc[k]) break;
            clip_image(r, w, pooled + e * Dv, img + e * CLIP_DIM);
            clip_text(r, ids + e * 256, nids[e] > 0 ? nids[e] : 1, tmean + e * CLIP_DIM, txt + e * CLIP_DIM);
        }
    }
    for (int k = 0; k < r->nw; k++)
        if (wrc[k]) {
            *err = werr[k];
            rc = wrc[k];
            goto done;
        }
    /* CLIP clamps the temperature at 100 */
    if (P[r->aux.logit_scale] > logf(100.0f)) P[r->aux.logit_scale] = logf(100.0f);
    *loss_out = w_nce * ml_infonce_forward(&acts, img, txt, P[r->aux.logit_scale]);
    MlTrainWorker *w0 = &r->w[0];
    ml_infonce_backward(dimg, dtxt, &w0->grad[r->aux.logit_scale], &acts, w_nce);
    /* the small heads, serially into worker 0's gradients */
    float *gWi = w0->grad + r->aux.img_proj, *gWt = w0->grad + r->aux.txt_proj, *gE = w0->grad + r->aux.txt_emb;
    const float *Wt = P + r->aux.txt_proj;
    for (int64_t e = 0; e < B; e++) {
        for (int i = 0; i < CLIP_DIM; i++) {
            for (int64_t j = 0; j < Dv; j++) gWi[i * Dv + j] += dimg[e * CLIP_DIM + i] * pooled[e * Dv + j];
            for (int j = 0; j < CLIP_DIM; j++) gWt[i * CLIP_DIM + j] += dtxt[e * CLIP_DIM + i] * tmean[e * CLIP_DIM + j];
        }
        int64_t n = nids[e] > 0 ? nids[e] : 1;
        for (int j = 0; j < CLIP_DIM; j++) {
            float d = 0.0f;
            for (int i = 0; i < CLIP_DIM; i++) d += Wt[i * CLIP_DIM + j] * dtxt[e * CLIP_DIM + i];
            for (int64_t t = 0; t < nids[e]; t++) gE[(size_t)ids[e * 256 + t] * CLIP_DIM + j] += d / (float)n;
        }
    }
pass2:
    /* pass 2: the vision backward of each image, its forward recorded again
       (with the per-patch head's loss and gradient when it is on) */
#pragma omp parallel num_threads(r->nw)
    {
        int k = omp_get_thread_num();
        omp_set_num_threads(1);
        MlTrainWorker *w = &r->w[k];
        const float *Wi = P + r->aux.img_proj;
        for (int64_t e = k; e < B && !wrc[k]; e += r->nw) {
            wrc[k] = ml_train_pixels(&r->m, r->o->data, images[e], w->pixels, &werr[k]);
            if (!wrc[k])
                wrc[k] = ml_vision_forward_rec(&r->m.vis, &w->vst, w->feats, w->pixels, NULL, &w->vrec, &werr[k]);
            if (wrc[k]) break;
            for (int64_t j = 0; j < Dv; j++) {
                float d = 0.0f;
                if (w_nce > 0.0f)
                    for (int i = 0; i < CLIP_DIM; i++) d += Wi[i * Dv + j] * dimg[e * CLIP_DIM + i];
                for (int64_t t = 0; t < n_out; t++) w->dfeat[t * Dv + j] = d / (float)n_out;
            }
            if (w_head > 0.0f) {
                int lab[ML_SLOT_MAX_PATCHES * ML_PATCH_GROUPS];
                ml_train_patch_labels(r->o->data, images[e], r->slots.grid, lab);
                w->aux_sum += ml_patch_head_run(P + r->aux.head, w->grad + r->aux.head, w->feats, n_out, Dv,
                                                r->head_sizes, ML_PATCH_GROUPS, lab, w_head / (float)B, w->dfeat,
                                                &w->n_correct);
                w->aux_n++;
            }
            ml_vision_backward(&r->m.vis, &w->g.vis, &w->vrec, w->dfeat);
        }
    }
    for (int k = 0; k < r->nw; k++)
        if (wrc[k]) {
            *err = werr[k];
            rc = wrc[k];
            goto done;
        }
done:
    ml_infonce_acts_free(&acts);
    free(pooled);
    free(tmean);
    free(img);
    free(txt);
    free(dimg);
    free(dtxt);
    free(ids);
    free(nids);
    free(wrc);
    free(werr);
    return rc;
}

/* ---- stages 0, 2, 3: answer-token cross-entropy ---- */

static int ce_step(Run *r, int64_t step, const int64_t *images, int64_t *counted, int64_t *tokens, MlError *err) {
    const MlStageOptions *o = r->o;
    MlExampleOptions ex = {.with_image = o->stage != 0, .qa_turns = o->qa_turns, .caption_prob = o->caption_prob,
                           .slot_prob = o->stage == 0 || o->stage == 3 ? o->slot_prob : 0.0};
    if (o->stage == 2 && !o->image_qa) ex = (MlExampleOptions){.with_image = 1, .qa_turns = 0, .caption_prob = 1.0};
    ex.grid = r->m.vis.grid;
    ex.family_mask = o->family_mask;
    const double at = (double)step / (double)o->steps;
    ex.empty_keep = at >= o->empty_to ? 1.0 : at < o->empty_from ? 0.0 : (at - o->empty_from) / (o->empty_to - o->empty_from);
    int *wrc = calloc((size_t)r->nw, sizeof(int));
    MlError *werr = calloc((size_t)r->nw, sizeof(MlError));
    int64_t *wcount = calloc((size_t)r->nw, sizeof(int64_t)), *wtok = calloc((size_t)r->nw, sizeof(int64_t));
    if (!wrc || !werr || !wcount || !wtok) {
        free(wrc);
        free(werr);
        free(wcount);
        free(wtok);
        return ml_error_set(err, ML_ERR_NOMEM, "out of memory");
    }
#pragma omp parallel num_threads(r->nw)
    {
        int k = omp_get_thread_num();
        omp_set_num_threads(1);
        MlTrainWorker *w = &r->w[k];
        for (int64_t e = k; e < o->batch && !wrc[k]; e += r->nw) {
            uint64_t rng = mix(o->seed, (uint64_t)step + 1, (uint64_t)e + 1);
            int64_t c = ml_train_example_build(w, &r->m, o->data, images[e], &ex, &rng, &werr[k]);
            if (c < 0) {
                wrc[k] = werr[k].code ? werr[k].code : ML_ERR_RANGE;
                break;
            }
            wcount[k] += c;
            wtok[k] += w->T;
            if (c > 0) wrc[k] = ml_train_example_run(w, &r->m, o->data, &r->parts, 1.0f, &werr[k]);
        }
    }
    int rc = ML_OK;
    *counted = *tokens = 0;
    for (int k = 0; k < r->nw; k++) {
        if (wrc[k] && !rc) {
            *err = werr[k];
            rc = wrc[k];
        }
        *counted += wcount[k];
        *tokens += wtok[k];
    }
    free(wrc);
    free(werr);
    free(wcount);
    free(wtok);
    return rc;
}

/* W_q = W_k = scale * I (as far as the shapes allow) in the LM's first layer. */
static void qk_identity_init(Run *r, float scale) {
    for (int i = 0; i < r->m.n_tensors; i++) {
        const MlTrainTensor *t = &r->m.tensors[i];
        if (ml_train_tensor_part(t) != ML_PART_TEXT || t->ndim != 2 ||
            (!strstr(t->name, "layers.0.self_attn.q_proj.weight") && !strstr(t->name, "layers.0.self_attn.k_proj.weight")))
            continue;
        float *W = r->m.block.params + t->offset;
        const int64_t rows = t->shape[0], cols = t->shape[1];
        for (int64_t a = 0; a < rows; a++)
            for (int64_t b = 0; b < cols; b++) W[a * cols + b] = a == b ? scale : 0.0f;
    }
}

static void append_log(const char *path, const char *line) {
    if (!path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    fputs(line, f);
    fclose(f);
}

/* A stage resumed at step0 logs again from there, so the lines it logged
   past step0 before it stopped (the log's last lines, of the same stage) go,
   and so does a last line cut off mid-write. */
static int log_rewind(const char *path, int stage, int64_t step0, MlError *err) {
    char *data;
    size_t len;
    if (!path || !ml_file_exists(path)) return ML_OK;
    int rc = ml_file_read(path, &data, &len, err);
    if (rc) return rc;
    size_t keep = len;
    while (keep > 0 && data[keep - 1] != '\n') keep--;
    while (keep > 0) {
        size_t start = keep - 1; /* the last line is data[start, keep) */
        while (start > 0 && data[start - 1] != '\n') start--;
        int line_stage;
        long long line_step;
        if (sscanf(data + start, "{\"stage\":%d,\"step\":%lld", &line_stage, &line_step) != 2 ||
            line_stage != stage || line_step <= step0)
            break;
        keep = start;
    }
    if (keep < len) rc = ml_file_write(path, data, keep, err);
    free(data);
    return rc;
}

/* The weights the stage starts from, as read from its input folder: FNV-1a
   fingerprints keep a train state from being resumed by a run it does not belong to. */
static uint64_t start_fingerprint(const MlTrainModel *m) {
    return ml_fnv1a64(m->block.params, sizeof(float) * m->n_model);
}

/* x[0, n) ~ N(0, 0.02^2): the training-only heads' start. */
static void fill_normal(float *x, size_t n, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)ml_rng_normal(s, 0.02);
    }
}

/* What decides the stage's steps besides its start (the thread count only orders sums). */
static uint64_t settings_fingerprint(const MlStageOptions *o) {
    char s[1024];
    int n = snprintf(s, sizeof s,
                     "%d %lld %lld %lld %.17g %.17g %.17g %.17g %.17g %.17g %llu %d %.17g %.17g %.17g %.17g "
                     "%.17g %.17g %.17g %.17g %u %d %lld %lld %.17g %d %.17g",
                     o->stage, (long long)o->steps, (long long)o->batch, (long long)o->warmup, o->lr, o->min_ratio,
                     o->weight_decay, o->beta1, o->beta2, o->clip, (unsigned long long)o->seed, o->qa_turns,
                     o->caption_prob, o->slot_prob, o->empty_from, o->empty_to, o->regress, o->infonce, o->patch_head,
                     o->qk_identity, o->family_mask, o->image_qa, (long long)o->data->n_images,
                     (long long)o->data->n_qa, o->mention_head, o->mention_layer, o->answer_head);
    return ml_fnv1a64(s, n > 0 && (size_t)n < sizeof s ? (size_t)n : sizeof s - 1);
}

/* {"family": accuracy, ...} over the families that had turns. */
static void family_json(char *out, size_t cap, const int64_t *n, const int64_t *right) {
    size_t at = (size_t)snprintf(out, cap, "{");
    for (int f = 0; f < ML_TRAIN_FAMILY_N && at < cap; f++)
        if (n[f]) at += (size_t)snprintf(out + at, cap - at, "%s\"%s\":%.3f", at > 1 ? "," : "", ML_TRAIN_FAMILY_NAMES[f],
                                         (double)right[f] / (double)n[f]);
    if (at < cap) snprintf(out + at, cap - at, "}");
}

int ml_train_stage(const MlStageOptions *o, MlStageResult *res, MlError *err) {
    memset(res, 0, sizeof *res);
    if (o->stage < 0 || o->stage > 3) return ml_error_set(err, ML_ERR_ARG, "stage %d: must be 0..3", o->stage);
    if (o->steps < 1 || o->batch < 1 || !o->data || !o->in_dir || !o->out_dir)
        return ml_error_set(err, ML_ERR_ARG, "stage %d: needs steps, batch, data, in and out folders", o->stage);
    Run r = {.o = o};
    r.parts = (MlTrainParts){.vision = o->stage == 1 || o->stage == 3, .projector = o->stage >= 2,
                             .text = o->stage == 0 || o->stage == 3};
    const int need_slots = ((o->stage == 0 || o->stage == 3) && o->slot_prob > 0) ||
                           (o->stage >= 2 && o->regress > 0) || (o->stage == 1 && o->patch_head > 0);
    int rc;
    size_t n_aux = 0, head_n = 0, mention_n = 0;
    if (o->stage == 1) {
        if ((rc = ml_train_model_open(&r.m, o->in_dir, 0, err))) return rc;
        for (int a = 0; a < ML_TRAIN_ATTR_N; a++) r.head_sizes[a] = o->data->n_names[a];
        r.head_sizes[ML_TRAIN_ATTR_N] = r.head_sizes[ML_TRAIN_ATTR_N + 1] = r.m.vis.grid;
        if (o->patch_head > 0 && !(head_n = ml_patch_head_size(r.m.vis.cfg.hidden, r.head_sizes, ML_PATCH_GROUPS))) {
            ml_train_model_close(&r.m);
            return ml_error_set(err, ML_ERR_RANGE, "stage 1: too many attribute values for the patch head");
        }
        n_aux = clip_aux(0, r.m.vis.cfg.hidden, r.m.dec.cfg.vocab, head_n).n;
        ml_train_model_close(&r.m);
    } else if (o->mention_head > 0 || o->answer_head > 0) {
        if ((rc = ml_train_model_open(&r.m, o->in_dir, 0, err))) return rc;
        mention_n = ml_mention_head_size(r.m.dec.cfg.hidden, 1);
        n_aux = mention_n + ml_mention_head_size(r.m.dec.cfg.hidden, 2);
        const int layers = r.m.dec.cfg.n_layers;
        rc = ml_mention_words_init(&r.mention_words, r.m.tok, o->data, err);
        ml_train_model_close(&r.m);
        if (rc) return rc;
        r.mention_layers = o->mention_layer ? o->mention_layer : layers > 1 ? layers - 1 : 1;
        if (r.mention_layers < 1 || r.mention_layers > layers)
            return ml_error_set(err, ML_ERR_ARG, "stage %d: mention_layer %d is not one of the LM's layers 1..%d",
                                o->stage, o->mention_layer, layers);
    }
    if ((rc = ml_train_model_open(&r.m, o->in_dir, n_aux, err))) return rc;
    if (need_slots) {
        if ((rc = ml_train_slots_init(&r.slots, &r.m, o->data, err))) {
            ml_train_model_close(&r.m);
            return rc;
        }
        r.has_slots = 1;
    }
    if (o->stage == 1) {
        r.aux = clip_aux(r.m.n_model, r.m.vis.cfg.hidden, r.m.dec.cfg.vocab, head_n);
        uint64_t s = o->seed ^ 0xc11f;
        float *P = r.m.block.params;
        fill_normal(P + r.aux.img_proj, r.aux.logit_scale - r.aux.img_proj, &s);
        P[r.aux.logit_scale] = logf(1.0f / 0.07f); /* CLIP's initial temperature */
        fill_normal(P + r.aux.head, head_n, &s);
    }
    if (o->stage != 1 && n_aux) {
        uint64_t s = o->seed ^ 0x4e1a;
        fill_normal(r.m.block.params + r.m.n_model, n_aux, &s);
    }
    if (o->stage == 1 && o->data->n_cap == 0 && o->infonce > 0) {
        if (r.has_slots) ml_train_slots_free(&r.slots);
        ml_train_model_close(&r.m);
        return ml_error_set(err, ML_ERR_ARG, "stage 1 needs captions");
    }
    r.nw = o->threads > 0 ? o->threads : omp_get_max_threads();
    if (r.nw > o->batch) r.nw = (int)o->batch;
    omp_set_max_active_levels(1);
    int64_t step0 = 0;
    uint64_t rng[ML_TRAIN_RNG_WORDS] = {o->seed, (uint64_t)o->stage, 0, 0};
    char layout[256];
    snprintf(layout, sizeof layout,
             "misalign stage %d: %d tensors, %zu model floats, %zu aux; start %016llx, settings %016llx", o->stage,
             r.m.n_tensors, r.m.n_model, r.m.n_aux, (unsigned long long)start_fingerprint(&r.m),
             (unsigned long long)settings_fingerprint(o));
    r.w = calloc((size_t)r.nw, sizeof *r.w);
    int64_t *images = calloc((size_t)o->batch, sizeof(int64_t)), *caps = calloc((size_t)o->batch, sizeof(int64_t));
    if (!r.w || !images || !caps) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < r.nw; k++) {
        if ((rc = ml_train_worker_init(&r.w[k], &r.m, ML_DECODER_CHUNK, err))) goto done;
        r.w[k].slots = r.has_slots ? &r.slots : NULL;
        r.w[k].regress = o->stage >= 2 ? (float)o->regress : 0.0f;
        r.w[k].mention_words = &r.mention_words;
        r.w[k].mention_head = r.m.n_model;
        r.w[k].answer_head = r.m.n_model + mention_n;
        r.w[k].mention_weight = o->stage != 1 ? (float)o->mention_head : 0.0f;
        r.w[k].answer_weight = o->stage != 1 ? (float)o->answer_head : 0.0f;
        r.w[k].mention_layers = r.mention_layers;
    }
    if ((rc = make_groups(&r, err))) goto done;
    if (o->stage == 0 && o->qk_identity > 0) qk_identity_init(&r, (float)o->qk_identity);
    if (o->state_path && ml_file_exists(o->state_path)) {
        if ((rc = ml_train_state_load(o->state_path, &r.m.block, &step0, rng, layout, err)) ||
            (rc = log_rewind(o->log_path, o->stage, step0, err)))
            goto done;
    }
    MlAdamWConfig ac = {.beta1 = o->beta1, .beta2 = o->beta2, .eps = 1e-8, .weight_decay = o->weight_decay};
    MlLrSchedule sched = {.lr_max = o->lr, .min_ratio = o->min_ratio, .warmup_steps = o->warmup,
                          .total_steps = o->steps};
    if (sched.warmup_steps > sched.total_steps) sched.warmup_steps = sched.total_steps;
    MlProgress prog;
    char label[32];
    snprintf(label, sizeof label, "train stage %d", o->stage);
    if (o->progress) {
        ml_progress_start(&prog, label, o->steps);
        if (step0) ml_progress_resume(&prog, step0);
    }
    double t0 = ml_time_now(), win_loss = 0.0, win_aux = 0.0;
    int64_t win_aux_n = 0, win_fam_n[2][ML_TRAIN_FAMILY_N] = {{0}}, win_fam_right[2][ML_TRAIN_FAMILY_N] = {{0}};
    int64_t win_n = 0, win_correct = 0, win_steps = 0, first_logged = 0, win_head_n = 0, win_mention_n = 0,
            win_answer_n = 0;
    double win_mention = 0.0, win_answer = 0.0;
    for (int64_t step = step0; step < o->steps; step++) {
        for (int64_t e = 0; e < o->batch; e++) {
            images[e] = (int64_t)(mix(o->seed, (uint64_t)step + 1, 0x1a6e + (uint64_t)e) % (uint64_t)o->data->n_images);
            int64_t nc = o->data->cap_count[images[e]];
            caps[e] = nc ? o->data->cap_first[images[e]] +
                               (int64_t)(mix(o->seed, (uint64_t)step + 1, 0xca9 + (uint64_t)e) % (uint64_t)nc)
                         : 0;
        }
        double step_loss;
        int64_t counted = 0, tokens = 0;
        if (o->stage == 1) {
            /* images without a caption are rare; take the next one that has one */
            for (int64_t e = 0; e < o->batch && o->infonce > 0; e++)
                while (!o->data->cap_count[images[e]]) images[e] = (images[e] + 1) % o->data->n_images;
            for (int64_t e = 0; e < o->batch; e++) caps[e] = o->data->cap_first[images[e]];
            float l;
            for (int k = 0; k < r.nw; k++) r.w[k].aux_sum = 0, r.w[k].aux_n = 0, r.w[k].n_correct = 0;
            if ((rc = clip_step(&r, images, caps, &l, err))) goto done;
            reduce_grads(&r, 1.0);
            double hs = 0.0;
            int64_t hn = 0;
            for (int k = 0; k < r.nw; k++) {
                hs += r.w[k].aux_sum;
                hn += r.w[k].aux_n;
                win_correct += r.w[k].n_correct;
                win_head_n += ML_PATCH_GROUPS * r.m.vis.n_out * r.w[k].aux_n;
            }
            step_loss = l + (hn ? o->patch_head * hs / (double)hn : 0.0);
            win_aux += hs;
            win_aux_n += hn;
            counted = 1;
            tokens = o->batch * r.m.vis.n_tokens;
            win_loss += step_loss;
            win_n += 1;
        } else {
            for (int k = 0; k < r.nw; k++)
                r.w[k].loss_sum = 0, r.w[k].n_counted = 0, r.w[k].n_correct = 0, r.w[k].aux_sum = 0, r.w[k].aux_n = 0;
            if ((rc = ce_step(&r, step, images, &counted, &tokens, err))) goto done;
            reduce_grads(&r, counted > 0 ? 1.0 / (double)counted : 0.0);
            double ls = 0.0;
            for (int k = 0; k < r.nw; k++) {
                ls += r.w[k].loss_sum;
                win_correct += r.w[k].n_correct;
                win_aux += r.w[k].aux_sum;
                win_aux_n += r.w[k].aux_n;
                win_mention_n += r.w[k].mention_n;
                win_mention += r.w[k].mention_sum;
                win_answer_n += r.w[k].answer_n;
                win_answer += r.w[k].answer_sum;
                r.w[k].mention_n = r.w[k].answer_n = 0;
                r.w[k].mention_sum = r.w[k].answer_sum = 0.0;
                for (int t = 0; t < 2; t++)
                    for (int f = 0; f < ML_TRAIN_FAMILY_N; f++) {
                        win_fam_n[t][f] += r.w[k].fam_n[t][f];
                        win_fam_right[t][f] += r.w[k].fam_right[t][f];
                        r.w[k].fam_n[t][f] = r.w[k].fam_right[t][f] = 0;
                    }
            }
            step_loss = counted ? ls / (double)counted : 0.0;
            win_loss += ls;
            win_n += counted;
        }
        res->tokens += tokens;
        win_steps++;
        double norm = ml_grad_clip(r.m.block.grads, r.m.block.n, (float)o->clip);
        double lr = ml_lr_at(&sched, step);
        if (isfinite(norm)) ml_adamw_step(&ac, lr, step + 1, r.groups, r.n_groups, &r.m.block);
        if (!first_logged) res->first_loss = step_loss;
        first_logged = 1;
        int log_now = o->log_every > 0 && ((step + 1) % o->log_every == 0 || step + 1 == o->steps);
        double el = ml_time_now() - t0;
        if (log_now) {
            double mean = win_n ? win_loss / (double)win_n : 0.0;
            double acc = o->stage == 1 ? (win_head_n ? (double)win_correct / (double)win_head_n : 0.0)
                         : !win_n    ? 0.0
                                     : (double)win_correct / (double)win_n;
            double aux = win_aux_n ? win_aux / (double)win_aux_n : 0.0;
            /* the early signal: first answer token right per QA family, yes/no and open
               questions apart, on the batches as drawn */
            char yesno[256], open[256];
            family_json(yesno, sizeof yesno, win_fam_n[0], win_fam_right[0]);
            family_json(open, sizeof open, win_fam_n[1], win_fam_right[1]);
            memset(win_fam_n, 0, sizeof win_fam_n);
            memset(win_fam_right, 0, sizeof win_fam_right);
            char line[1024], mention[96] = "";
            if (r.w[0].mention_weight > 0 || r.w[0].answer_weight > 0)
                snprintf(mention, sizeof mention, "\"mention_rms\":%.4f,\"answer_rms\":%.4f,",
                         win_mention_n ? sqrt(win_mention / (double)(2 * win_mention_n)) : 0.0,
                         win_answer_n ? sqrt(win_answer / (double)(4 * win_answer_n)) : 0.0);
            snprintf(line, sizeof line,
                     "{\"stage\":%d,\"step\":%lld,\"loss\":%.5f,\"%s\":%.4f,\"%s\":%.5f,\"yesno_accuracy\":%s,"
                     "\"open_accuracy\":%s,%s\"lr\":%.3g,\"grad_norm\":%.4g,\"tokens_per_s\":%.0f,\"seconds\":%.1f}\n",
                     o->stage, (long long)(step + 1), mean, o->stage == 1 ? "patch_accuracy" : "answer_token_accuracy",
                     acc, o->stage == 1 ? "patch_loss" : "regress_loss", aux, yesno, open, mention, lr, norm,
                     res->tokens / (el > 0 ? el : 1), el);
            append_log(o->log_path, line);
            res->last_loss = mean;
            res->last_accuracy = acc;
            res->last_aux = aux;
            win_loss = win_aux = 0.0;
            win_n = win_correct = win_steps = win_aux_n = win_head_n = win_mention_n = win_answer_n = 0;
            win_mention = win_answer = 0.0;
        }
        if (o->progress) {
            snprintf(prog.extra, sizeof prog.extra, "loss %.4f lr %.2g %.0f tok/s", step_loss, lr,
                     res->tokens / (el > 0 ? el : 1));
            ml_progress_update(&prog, step + 1);
        }
        if (o->state_path && o->save_every > 0 && (step + 1) % o->save_every == 0 && step + 1 < o->steps) {
            rng[2] = (uint64_t)step + 1;
            if ((rc = ml_train_state_save(o->state_path, &r.m.block, step + 1, rng, layout, err))) goto done;
        }
    }
    if (o->progress) ml_progress_finish(&prog);
    res->seconds = ml_time_now() - t0;
    res->tokens_per_s = res->tokens / (res->seconds > 0 ? res->seconds : 1);
    if (o->state_path) {
        rng[2] = (uint64_t)o->steps;
        if ((rc = ml_train_state_save(o->state_path, &r.m.block, o->steps, rng, layout, err))) goto done;
    }
    rc = ml_train_model_save(&r.m, o->out_dir, err);
done:
    if (r.w)
        for (int k = 0; k < r.nw; k++) ml_train_worker_free(&r.w[k]);
    free(r.w);
    free(r.groups);
    free(images);
    free(caps);
    if (r.has_slots) ml_train_slots_free(&r.slots);
    ml_train_model_close(&r.m);
    return rc;
}
