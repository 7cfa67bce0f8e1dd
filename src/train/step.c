/* train/step.c: one example forward and backward (see step.h). */
#include "train/step.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "io/image.h"
#include "kernels/matmul.h"
#include "model/prompt.h"
#include "train/loss.h"

int ml_train_worker_init(MlTrainWorker *w, const MlTrainModel *m, int64_t cap, MlError *err) {
    memset(w, 0, sizeof *w);
    const MlTextConfig *c = &m->dec.cfg;
    if (cap > ML_DECODER_CHUNK) cap = ML_DECODER_CHUNK;
    if (cap > c->max_pos) cap = c->max_pos;
    w->cap = cap;
    const size_t D = (size_t)c->hidden, V = (size_t)c->vocab, T = (size_t)cap, nimg = (size_t)m->vis.n_out,
                 Dv = (size_t)m->vis.cfg.hidden, S = (size_t)m->vis.cfg.image_size;
    int rc;
    if ((rc = ml_vision_state_init(&w->vst, &m->vis, err)) || (rc = ml_vision_record_alloc(&w->vrec, &m->vis, err)) ||
        (rc = ml_projector_record_alloc(&w->prec, &m->pj, (int64_t)nimg, err)) ||
        (rc = ml_decoder_state_init(&w->dst, &m->dec, err)) ||
        (rc = ml_decoder_record_alloc(&w->drec, &m->dec, cap, err)) ||
        (rc = ml_kv_cache_init(&w->kv, &m->dec, NULL, cap, err)))
        goto fail;
    /* each worker is one thread: the kernels inside run single-threaded */
    w->vst.n_threads = 1;
    w->dst.n_threads = 1;
    w->grad = calloc(m->block.n, sizeof(float));
    const struct {
        float **p;
        size_t n;
    } floats[] = {{&w->pixels, 3 * S * S}, {&w->feats, nimg * Dv}, {&w->dfeat, nimg * Dv}, {&w->proj, nimg * D},
                  {&w->ptmp, nimg * D},    {&w->pvec, D},          {&w->dproj, nimg * D},  {&w->x, T * D},
                  {&w->dx, T * D},         {&w->dresid, T * D},    {&w->dfinal, T * D},    {&w->logits, T * V},
                  {&w->dlogits, T * V},    {&w->losses, T},        {&w->target, nimg * D}};
    int ok = w->grad != NULL;
    for (size_t i = 0; i < sizeof floats / sizeof *floats; i++)
        ok &= (*floats[i].p = malloc(sizeof(float) * floats[i].n)) != NULL;
    w->slot_lab = malloc(sizeof(int) * nimg * ML_TRAIN_ATTR_N);
    w->slot_keep = malloc(sizeof(int) * nimg);
    w->ids = malloc(sizeof(int32_t) * T);
    w->targets = malloc(sizeof(int32_t) * T);
    if (!ok || !w->slot_lab || !w->slot_keep || !w->ids || !w->targets) {
        rc = ml_error_set(err, ML_ERR_NOMEM, "training worker: out of memory");
        goto fail;
    }
    if ((rc = ml_train_views_init(&w->g, m, w->grad, err))) goto fail;
    return ML_OK;
fail:
    ml_train_worker_free(w);
    return rc;
}

void ml_train_worker_free(MlTrainWorker *w) {
    ml_vision_state_free(&w->vst);
    ml_vision_record_free(&w->vrec);
    ml_projector_record_free(&w->prec);
    ml_decoder_state_free(&w->dst);
    ml_decoder_record_free(&w->drec);
    ml_kv_cache_free(&w->kv);
    ml_train_views_free(&w->g);
    void *bufs[] = {w->grad, w->pixels, w->feats, w->dfeat, w->proj, w->ptmp, w->pvec, w->dproj,
                    w->x,    w->dx,     w->dresid, w->dfinal, w->logits, w->dlogits, w->losses, w->ids, w->targets, w->target, w->slot_lab, w->slot_keep};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    memset(w, 0, sizeof *w);
}

/* Appends the tokens of text (no BOS); 0 when they do not fit. */
static int append_text(MlTrainWorker *w, const MlTokenizer *tok, const char *text, int32_t target_mark,
                       MlError *err) {
    size_t n = 0;
    if (w->T >= w->cap) return 0;
    int rc = ml_tokenizer_encode(tok, text, strlen(text), w->ids + w->T, (size_t)(w->cap - w->T), &n, err);
    if (rc) return 0;
    for (size_t i = 0; i < n; i++) w->targets[w->T + (int64_t)i] = target_mark;
    w->T += (int64_t)n;
    return 1;
}

/* The answer tokens and </s> are targets: the position before each predicts it. */
static int64_t append_answer(MlTrainWorker *w, const MlTrainModel *m, const char *answer, int64_t start,
                             MlError *err) {
    if (!append_text(w, m->tok, answer, 0, err) || w->T >= w->cap) return -1;
    w->ids[w->T++] = m->dec.cfg.eos_id;
    for (int64_t i = start; i < w->T; i++) w->targets[i - 1] = w->ids[i];
    w->targets[w->T - 1] = ML_LOSS_IGNORE;
    return w->T - start;
}

/* The mentions of a relation question whose tokens are ids[from, to) and
   whose answer is predicted at `answer`: the subject's word is the first of
   its category there, the object's the last (the question ends with it).
   Turns whose objects cannot be told apart by their words are left out. */
static void add_relation(MlTrainWorker *w, const MlTrainData *d, int64_t image, const char *question, int64_t from,
                         int64_t to, int64_t answer) {
    int subject, object;
    const int k = w->n_relations;
    if (k >= 32 || !d->obj_count || !ml_mention_refs(d, image, question, &subject, &object)) return;
    const MlTrainObject *o = d->obj + d->obj_first[image];
    int64_t at_s = ml_mention_find(w->mention_words, w->ids, from, to, o[subject].attr[ML_TRAIN_ATTR_CATEGORY], 0);
    int64_t at_o = ml_mention_find(w->mention_words, w->ids, from, to, o[object].attr[ML_TRAIN_ATTR_CATEGORY], 1);
    if (at_s < 0 || at_o <= at_s) return;
    w->mention_at[2 * k] = at_s;
    w->mention_at[2 * k + 1] = at_o;
    w->relation_object[2 * k] = subject;
    w->relation_object[2 * k + 1] = object;
    w->answer_at[k] = answer;
    w->n_relations++;
}

int64_t ml_train_example_build(MlTrainWorker *w, const MlTrainModel *m, const MlTrainData *d, int64_t image,
                               const MlExampleOptions *o, uint64_t *rng, MlError *err) {
    w->image = image;
    w->T = 0;
    w->use_slots = 0;
    int with_image = o->with_image;
    if (o->slot_prob > 0) {
        double us = ml_rng_unit53(ml_splitmix64(rng));
        if (us < o->slot_prob) w->use_slots = with_image = 1;
    }
    w->n_keep = (int)m->vis.n_out;
    for (int p = 0; p < w->n_keep; p++) w->slot_keep[p] = p;
    if (w->use_slots && o->empty_keep < 1.0 && o->grid * o->grid == m->vis.n_out) {
        /* a compact text scene: occupied slots always, empty ones by chance, original order */
        ml_train_slot_labels(d, image, o->grid, w->slot_lab);
        w->n_keep = 0;
        for (int p = 0; p < m->vis.n_out; p++) {
            double uk = ml_rng_unit53(ml_splitmix64(rng));
            if (w->slot_lab[p * ML_TRAIN_ATTR_N] >= 0 || uk < o->empty_keep) w->slot_keep[w->n_keep++] = p;
        }
        if (!w->n_keep) w->n_keep = 1; /* slot 0 */
    }
    /* the turns: an optional caption, then QA pairs without repeats, shuffled */
    const MlTrainPair *turn[64];
    int n_turns = 0;
    int64_t nq = d->qa_count[image], qa0 = d->qa_first[image];
    int want = o->qa_turns < nq ? o->qa_turns : (int)nq;
    if (want > 60) want = 60;
    int order[64], pool = 0;
    for (int i = 0; i < nq && pool < 64; i++)
        if (!o->family_mask || (o->family_mask >> d->qa[qa0 + i].family & 1u)) order[pool++] = i;
    if (want > pool) want = pool;
    for (int i = 0; i < want; i++) {
        int j = i + (int)(ml_splitmix64(rng) % (uint64_t)(pool - i));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
        turn[n_turns++] = &d->qa[qa0 + order[i]];
    }
    double u = ml_rng_unit53(ml_splitmix64(rng));
    if (d->cap_count[image] > 0 && u < o->caption_prob) {
        int64_t c = d->cap_first[image] + (int64_t)(ml_splitmix64(rng) % (uint64_t)d->cap_count[image]);
        int at = (int)(ml_splitmix64(rng) % (uint64_t)(n_turns + 1));
        for (int i = n_turns; i > at; i--) turn[i] = turn[i - 1];
        turn[at] = &d->cap[c];
        n_turns++;
    }
    int64_t counted = 0;
    w->n_turns = w->n_relations = 0;
    for (int t = 0; t < n_turns; t++) {
        int64_t start, question_from;
        if (t == 0) {
            int32_t *ids;
            size_t n, image_end;
            int rc = ml_prompt_build(m->tok, NULL, turn[t]->prompt, with_image, m->cfg.image_token_id,
                                     w->n_keep, &ids, &n, &image_end, err);
            if (rc) return -1;
            if ((int64_t)n + 8 > w->cap) {
                free(ids);
                return ml_error_set(err, ML_ERR_RANGE, "a prompt of %zu tokens does not fit %lld", n,
                                    (long long)w->cap), -1;
            }
            memcpy(w->ids, ids, n * sizeof *ids);
            for (size_t i = 0; i < n; i++) w->targets[i] = ML_LOSS_IGNORE;
            w->T = (int64_t)n;
            question_from = (int64_t)image_end;
            free(ids);
        } else {
            char buf[1024];
            snprintf(buf, sizeof buf, "USER: %s ASSISTANT:", turn[t]->prompt);
            int64_t keep = question_from = w->T;
            if (!append_text(w, m->tok, buf, ML_LOSS_IGNORE, err)) {
                w->T = keep;
                break;
            }
        }
        start = w->T;
        int64_t keep = w->T;
        int64_t k = append_answer(w, m, turn[t]->answer, start, err);
        if (k < 0) {
            /* does not fit: drop this turn and stop */
            for (int64_t i = keep - 1; i < w->T && i >= 0; i++) w->targets[i] = ML_LOSS_IGNORE;
            w->T = keep;
            break;
        }
        counted += k;
        w->turn_family[w->n_turns] = turn[t]->family;
        if ((w->mention_weight > 0 || w->answer_weight > 0) && turn[t]->family == ML_TRAIN_FAMILY_RELATION &&
            turn[t]->yesno)
            add_relation(w, d, image, turn[t]->prompt, question_from, start, start - 1);
        w->turn_open[w->n_turns] = !turn[t]->yesno;
        w->turn_pos[w->n_turns++] = start - 1;
    }
    if (w->T > 0) w->targets[w->T - 1] = ML_LOSS_IGNORE;
    return counted;
}

int ml_train_pixels(const MlTrainModel *m, const MlTrainData *d, int64_t i, float *px, MlError *err) {
    MlImage img = {.width = d->side, .height = d->side, .rgb = d->rgb + (size_t)i * d->side * d->side * 3};
    return ml_image_preprocess(&img, &m->img, ML_ASPECT_RESIZE, px, err);
}

/* The mention head (train/mention_head.h) on the residual after
   w->mention_layers layers at each mention, and the answer head on the
   last layer's output at each answer.  Their gradients are handed to the
   decoder's backward as those layers' dx_out (w->dresid, w->dfinal; one
   buffer when both heads read the last layer). */
static void relation_heads_run(MlTrainWorker *w, const MlTrainModel *m, const MlTrainData *d, float dloss) {
    const int64_t D = m->dec.cfg.hidden;
    const int last = m->dec.cfg.n_layers;
    for (int l = 0; l < last; l++) w->drec.layers[l].dx_out = NULL;
    if (!w->n_relations || (w->mention_weight <= 0 && w->answer_weight <= 0)) return;
    const int at_layers = w->mention_layers >= 1 && w->mention_layers <= last ? w->mention_layers : last;
    const float *resid = at_layers == last ? w->drec.x_final : w->drec.layers[at_layers].x_in;
    float *dfinal = at_layers == last ? w->dresid : w->dfinal;
    memset(w->dresid, 0, sizeof(float) * (size_t)(w->T * D));
    memset(dfinal, 0, sizeof(float) * (size_t)(w->T * D));
    w->drec.layers[at_layers - 1].dx_out = w->dresid;
    w->drec.layers[last - 1].dx_out = dfinal;
    for (int k = 0; k < w->n_relations; k++) {
        float t[4];
        ml_mention_head_targets(d, w->image, w->relation_object[2 * k], m->vis.grid, t);
        ml_mention_head_targets(d, w->image, w->relation_object[2 * k + 1], m->vis.grid, t + 2);
        for (int i = 0; i < 2 && w->mention_weight > 0; i++) {
            const int64_t at = w->mention_at[2 * k + i];
            w->mention_sum += ml_mention_head_run(m->block.params + w->mention_head, w->grad + w->mention_head,
                                                  resid + at * D, D, 1, t + 2 * i, dloss * w->mention_weight,
                                                  w->dresid + at * D);
            w->mention_n++;
        }
        if (w->answer_weight > 0) {
            const int64_t at = w->answer_at[k];
            w->answer_sum += ml_mention_head_run(m->block.params + w->answer_head, w->grad + w->answer_head,
                                                 w->drec.x_final + at * D, D, 2, t, dloss * w->answer_weight,
                                                 dfinal + at * D);
            w->answer_n++;
        }
    }
}

/* The regression term: w->target holds the slots; adds its gradient into dproj. */
static void regress_backward(MlTrainWorker *w, int64_t nimg, int64_t D, float dloss) {
    double sum = 0.0;
    const float g = dloss * w->regress * 2.0f / (float)D;
    for (int64_t i = 0; i < nimg * D; i++) {
        float diff = w->proj[i] - w->target[i];
        sum += (double)diff * diff;
        w->dproj[i] += g * diff;
    }
    w->aux_sum += sum / (double)(nimg * D);
    w->aux_n++;
}

int ml_train_example_run(MlTrainWorker *w, const MlTrainModel *m, const MlTrainData *d, const MlTrainParts *parts,
                         float dloss, MlError *err) {
    const int64_t T = w->T, D = m->dec.cfg.hidden, V = m->dec.cfg.vocab, nimg = m->vis.n_out,
                  Dv = m->vis.cfg.hidden;
    const int32_t img_id = m->cfg.image_token_id;
    int has_image = 0;
    for (int64_t i = 0; i < T; i++) has_image |= w->ids[i] == img_id;
    const int slots = has_image && w->use_slots, regress = has_image && !slots && w->regress > 0;
    if ((slots || regress) && !w->slots)
        return ml_error_set(err, ML_ERR_ARG, "training example: slots or regression need the slot tables");
    if (slots || regress) ml_train_slot_labels(d, w->image, w->slots->grid, w->slot_lab);
    int rc;
    if (slots) {
        ml_train_slot_embed(w->slots, m, w->slot_lab, w->proj);
    } else if (has_image) {
        if ((rc = ml_train_pixels(m, d, w->image, w->pixels, err)) ||
            (rc = ml_vision_forward_rec(&m->vis, &w->vst, w->feats, w->pixels, NULL, &w->vrec, err)))
            return rc;
        ml_projector_forward_rec(&m->pj, w->proj, w->ptmp, w->pvec, w->feats, nimg, &w->vst.mm, &w->prec);
        if (regress) ml_train_slot_embed(w->slots, m, w->slot_lab, w->target);
    }
    /* token embeddings, image rows replaced by the projector's output (or the slots kept) in order */
    for (int64_t i = 0, r = 0; i < T; i++) {
        if (w->ids[i] == img_id && has_image)
            memcpy(w->x + i * D, w->proj + (int64_t)(slots ? w->slot_keep[r++] : r++) * D, sizeof(float) * (size_t)D);
        else ml_tensor_row_f32(w->x + i * D, &m->dec.embed, w->ids[i]);
    }
    w->kv.n = 0;
    if ((rc = ml_decoder_forward_rec(&m->dec, &w->dst, &w->kv, w->x, T, NULL, w->logits, 1, &w->drec, err))) return rc;
    int64_t n = ml_cross_entropy_forward(w->losses, w->logits, w->targets, T, V);
    for (int64_t i = 0; i < T; i++) {
        if (w->targets[i] < 0) continue;
        w->loss_sum += w->losses[i];
        const float *row = w->logits + i * V;
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        w->n_correct += best == w->targets[i];
    }
    w->n_counted += n;
    for (int t = 0; t < w->n_turns; t++) {
        const int64_t i = w->turn_pos[t];
        if (i < 0 || i >= T || w->targets[i] < 0) continue;
        const float *row = w->logits + i * V;
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        w->fam_n[w->turn_open[t]][w->turn_family[t]]++;
        w->fam_right[w->turn_open[t]][w->turn_family[t]] += best == w->targets[i];
    }
    memset(w->dlogits, 0, sizeof(float) * (size_t)(T * V));
    ml_cross_entropy_backward(w->dlogits, w->logits, w->targets, dloss, T, V);
    relation_heads_run(w, m, d, dloss);
    ml_decoder_backward(&m->dec, parts->text ? &w->g.dec : NULL, &w->drec, w->dx, w->dlogits);
    if (has_image) memset(w->dproj, 0, sizeof(float) * (size_t)(nimg * D));
    for (int64_t i = 0, r = 0; i < T; i++)
        if (w->ids[i] == img_id && has_image) {
            memcpy(w->dproj + (int64_t)(slots ? w->slot_keep[r++] : r++) * D, w->dx + i * D, sizeof(float) * (size_t)D);
            memset(w->dx + i * D, 0, sizeof(float) * (size_t)D);
        }
    if (parts->text) ml_embedding_backward((float *)w->g.dec.embed.data, w->dx, w->ids, T, D);
    if (slots) {
        /* a text scene: the slot rows are embeddings, so their gradient goes to the table */
        if (parts->text)
            ml_train_slot_embed_backward(w->slots, (float *)w->g.dec.embed.data, w->slot_lab, w->dproj);
        return ML_OK;
    }
    if (regress) regress_backward(w, nimg, D, dloss);
    if (has_image && (parts->projector || parts->vision)) {
        if (parts->vision) memset(w->dfeat, 0, sizeof(float) * (size_t)(nimg * Dv));
        ml_projector_backward(&m->pj, parts->projector ? &w->g.pj : NULL, &w->prec, parts->vision ? w->dfeat : NULL,
                              w->dproj, nimg);
        if (parts->vision) ml_vision_backward(&m->vis, &w->g.vis, &w->vrec, w->dfeat);
    }
    return ML_OK;
}
