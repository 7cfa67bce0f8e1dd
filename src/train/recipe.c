/* train/recipe.c: a whole organism from one JSON file (see recipe.h). */
#include "train/recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "model/init.h"
#include "scene/corpus.h"
#include "scene/world.h"
#include "train/bpe.h"
#include "train/data.h"
#include "train/loop.h"
#include "train/model.h"
#include "train/slots.h"

static int make_split(const char *dir, const MlWorld *w, const char *world_path, int64_t n, uint64_t seed,
                      int threads, int progress, MlError *err) {
    MlCorpusOptions co = {.out_dir = dir, .n = n, .seed = seed, .split = ML_SPLIT_TRAIN, .threads = threads,
                          .world_source = world_path, .progress = progress};
    MlCorpusSummary sum;
    return ml_corpus_generate(w, &co, &sum, err);
}

/* The chat template's own words (model/prompt.h's llava-hf template). */
static const char TEMPLATE_WORDS[] = "USER: ASSISTANT:";

/* The tokenizer of the split's text, with the position words of a grid x grid
   patch layout (train/slots.h) as added special tokens. */
static int make_tokenizer(const char *split, const char *out, int vocab, int grid, MlError *err) {
    char names[2 * ML_SLOT_MAX_GRID][16];
    const char *added[2 * ML_SLOT_MAX_GRID];
    const int n_added = ml_train_position_words(grid, names, added);
    if (!n_added)
        return ml_error_set(err, ML_ERR_RANGE, "%s: a grid of %d patches per side has no position words (1..%d)", out,
                            grid, ML_SLOT_MAX_GRID);
    MlBpeWords *words;
    int rc = ml_bpe_words_new(&words, err);
    if (rc) return rc;
    const char *keys[] = {"caption", "question", "answer"};
    const char *files[] = {"captions.jsonl", "qa.jsonl"};
    char path[2048];
    for (int i = 0; i < 2 && !rc; i++) {
        rc = ml_path_join(path, sizeof path, split, files[i], err);
        if (!rc) rc = ml_bpe_words_add_file(words, path, keys, 3, err);
        /* Every line is one turn of the chat template ("USER: ... ASSISTANT:"),
           and a caption turn also holds the caption instruction: counting them
           as often as the model sees them makes them whole pieces, not one
           byte piece per letter between question and answer. */
        char *text;
        size_t len;
        if (rc || (rc = ml_file_read(path, &text, &len, err))) break;
        for (size_t k = 0; !rc && k < len; k++)
            if (text[k] == '\n') {
                rc = ml_bpe_words_add_text(words, TEMPLATE_WORDS, strlen(TEMPLATE_WORDS), err);
                if (!rc && i == 0)
                    rc = ml_bpe_words_add_text(words, ML_TRAIN_CAPTION_PROMPT, strlen(ML_TRAIN_CAPTION_PROMPT), err);
            }
        free(text);
    }
    MlBpeVocab v = {0};
    MlBpeOptions bo = ml_bpe_defaults();
    bo.vocab_size = vocab;
    if (!rc) rc = ml_bpe_train(words, &bo, &v, err);
    if (!rc) rc = ml_bpe_vocab_write(&v, added, n_added, out, err);
    ml_bpe_vocab_free(&v);
    ml_bpe_words_free(words);
    return rc;
}

static int model_config(const cJSON *m, MlLlavaConfig *c, const char *where, MlError *err) {
    int rc = ml_init_preset("tiny", c, err);
    if (rc) return rc;
    const struct {
        const char *key;
        long long def;
        int *dst;
    } sizes[] = {{"image_size", 64, &c->vision.image_size},       {"patch_size", 16, &c->vision.patch_size},
                 {"vision_hidden", 96, &c->vision.hidden},         {"vision_layers", 3, &c->vision.n_layers},
                 {"vision_heads", 4, &c->vision.n_heads},          {"vision_intermediate", 384, &c->vision.intermediate},
                 {"text_hidden", 128, &c->text.hidden},            {"text_layers", 2, &c->text.n_layers},
                 {"text_heads", 4, &c->text.n_heads},              {"text_kv_heads", 4, &c->text.n_kv_heads},
                 {"text_intermediate", 344, &c->text.intermediate}, {"max_pos", 512, &c->text.max_pos}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        long long v;
        if ((rc = ml_json_int(m, sizes[i].key, sizes[i].def, 1, 1 << 16, &v, where, err))) return rc;
        *sizes[i].dst = (int)v;
    }
    c->vision.projection_dim = c->vision.hidden;
    if (c->vision.image_size % c->vision.patch_size || c->vision.hidden % c->vision.n_heads ||
        c->text.hidden % c->text.n_heads || c->text.n_heads % c->text.n_kv_heads || (c->text.hidden / c->text.n_heads) % 2)
        return ml_error_set(err, ML_ERR_ARG, "%s: model: sizes do not divide (patch into image, heads into widths)",
                            where);
    c->text.head_dim = c->text.hidden / c->text.n_heads;
    /* the last vision layer's output feeds the projector, so every layer trains */
    c->vision_feature_layer = -1;
    return ML_OK;
}

static int stage_options(const cJSON *s, MlStageOptions *o, const char *where, MlError *err) {
    long long stage, steps, batch, warmup, turns, log_every, save_every, image_qa, mention_layer;
    int rc = ml_json_int(s, "stage", -1, 0, 3, &stage, where, err);
    if (rc) return rc;
    *o = ml_stage_defaults((int)stage);
    if ((rc = ml_json_int(s, "steps", o->steps, 1, 10000000, &steps, where, err)) ||
        (rc = ml_json_int(s, "batch", o->batch, 1, 4096, &batch, where, err)) ||
        (rc = ml_json_int(s, "warmup", o->warmup, 0, 10000000, &warmup, where, err)) ||
        (rc = ml_json_int(s, "qa_turns", o->qa_turns, 0, 60, &turns, where, err)) ||
        (rc = ml_json_int(s, "log_every", o->log_every, 1, 1000000, &log_every, where, err)) ||
        (rc = ml_json_int(s, "save_every", 100, 0, 1000000, &save_every, where, err)) ||
        (rc = ml_json_num(s, "lr", o->lr, 0, 1, &o->lr, where, err)) ||
        (rc = ml_json_num(s, "min_ratio", o->min_ratio, 0, 1, &o->min_ratio, where, err)) ||
        (rc = ml_json_num(s, "weight_decay", o->weight_decay, 0, 1, &o->weight_decay, where, err)) ||
        (rc = ml_json_num(s, "clip", o->clip, 0, 1e9, &o->clip, where, err)) ||
        (rc = ml_json_num(s, "caption_prob", o->caption_prob, 0, 1, &o->caption_prob, where, err)) ||
        (rc = ml_json_num(s, "slot_prob", o->slot_prob, 0, 1, &o->slot_prob, where, err)) ||
        (rc = ml_json_num(s, "empty_from", o->empty_from, 0, 1, &o->empty_from, where, err)) ||
        (rc = ml_json_num(s, "empty_to", o->empty_to, 0, 1, &o->empty_to, where, err)) ||
        (rc = ml_json_num(s, "qk_identity", o->qk_identity, 0, 100, &o->qk_identity, where, err)) ||
        (rc = ml_json_num(s, "regress", o->regress, 0, 1e6, &o->regress, where, err)) ||
        (rc = ml_json_num(s, "infonce", o->infonce, 0, 1e6, &o->infonce, where, err)) ||
        (rc = ml_json_num(s, "patch_head", o->patch_head, 0, 1e6, &o->patch_head, where, err)) ||
        (rc = ml_json_num(s, "mention_head", o->mention_head, 0, 1e6, &o->mention_head, where, err)) ||
        (rc = ml_json_num(s, "answer_head", o->answer_head, 0, 1e6, &o->answer_head, where, err)) ||
        (rc = ml_json_int(s, "mention_layer", o->mention_layer, 0, 64, &mention_layer, where, err)) ||
        (rc = ml_json_int(s, "image_qa", o->image_qa, 0, 1, &image_qa, where, err)))
        return rc;
    o->image_qa = (int)image_qa;
    o->mention_layer = (int)mention_layer;
    const cJSON *fams = cJSON_GetObjectItemCaseSensitive(s, "families");
    if (fams) {
        if (!cJSON_IsArray(fams)) return ml_error_set(err, ML_ERR_FORMAT, "%s: families: an array of names", where);
        const cJSON *f;
        cJSON_ArrayForEach(f, fams) {
            int k = 0;
            while (k < ML_TRAIN_FAMILY_N && !(cJSON_IsString(f) && !strcmp(f->valuestring, ML_TRAIN_FAMILY_NAMES[k]))) k++;
            if (k == ML_TRAIN_FAMILY_N)
                return ml_error_set(err, ML_ERR_FORMAT, "%s: families: unknown family", where);
            o->family_mask |= 1u << k;
        }
    }
    o->steps = steps;
    o->batch = batch;
    o->warmup = warmup;
    o->qa_turns = (int)turns;
    o->log_every = (int)log_every;
    o->save_every = (int)save_every;
    return ML_OK;
}

static int copy_text(const char *from, const char *dir, const char *name, MlError *err) {
    char path[2048], *data;
    size_t len;
    int rc = ml_file_read(from, &data, &len, err);
    if (rc) return rc;
    if (!(rc = ml_path_join(path, sizeof path, dir, name, err))) rc = ml_file_write(path, data, len, err);
    free(data);
    return rc;
}

/* The stages' logs, in order, as one JSONL file. */
static int join_logs(const char *work, int n_stages, const char *log, MlError *err) {
    MlStrBuf b = {0};
    int rc = ML_OK;
    for (int i = 0; i < n_stages && !rc; i++) {
        char path[2100], *data;
        size_t len;
        snprintf(path, sizeof path, "%s/log_%d.jsonl", work, i);
        if (!ml_file_exists(path)) continue; /* a stage that logged nothing */
        if ((rc = ml_file_read(path, &data, &len, err))) break;
        ml_strbuf_puts(&b, data);
        free(data);
    }
    if (!rc && b.failed) rc = ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory joining the stage logs", log);
    if (!rc) rc = ml_file_write(log, b.data ? b.data : "", b.len, err);
    ml_strbuf_free(&b);
    return rc;
}

int ml_train_recipe(const char *path, const MlRecipeOverrides *ov, MlError *err) {
    cJSON *root;
    int rc = ml_json_load(path, &root, err);
    if (rc) return rc;
    const char *work, *out, *world_path, *from;
    long long seed, n, max_images, vocab;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const cJSON *tokj = cJSON_GetObjectItemCaseSensitive(root, "tokenizer");
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    MlLlavaConfig cfg;
    MlWorld world;
    MlTrainData d = {0};
    char split[2048], tok[2048], dir[2048], prev[2048], log[2048], state[2048];
    if ((rc = ml_json_str(root, "work", "build/organism", &work, path, err)) ||
        (rc = ml_json_str(root, "out", "models/organism", &out, path, err)) ||
        (rc = ml_json_str(root, "world", NULL, &world_path, path, err)) ||
        (rc = ml_json_str(root, "from", NULL, &from, path, err)) ||
        (rc = ml_json_int(root, "seed", 1, 0, (1LL << 62), &seed, path, err)) ||
        (rc = ml_json_int(data, "n", 20000, 1, ML_CORPUS_MAX_SCENES, &n, path, err)) ||
        (rc = ml_json_int(data, "max_images", 0, 0, ML_CORPUS_MAX_SCENES, &max_images, path, err)) ||
        (rc = ml_json_int(tokj, "vocab_size", 1000, ML_BPE_FIXED_PIECES + 1, 1 << 20, &vocab, path, err)) ||
        (rc = model_config(cJSON_GetObjectItemCaseSensitive(root, "model"), &cfg, path, err)))
        goto done;
    if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) < 1) {
        rc = ml_error_set(err, ML_ERR_FORMAT, "%s: stages: a non-empty array is required", path);
        goto done;
    }
    if (ov->out) out = ov->out;
    if (ov->work) work = ov->work;
    if (world_path) rc = ml_world_load(world_path, &world, err);
    else ml_world_default(&world);
    if (rc) goto done;
    snprintf(split, sizeof split, "%s/train", work);
    snprintf(tok, sizeof tok, "%s/tokenizer.json", work);
    snprintf(log, sizeof log, "%s/train_log.jsonl", work);
    char probe[2100];
    snprintf(probe, sizeof probe, "%s/scenes.jsonl", split);
    if ((rc = ml_mkdirs(work, err))) goto done;
    if (!ml_file_exists(probe) &&
        (rc = make_split(split, &world, world_path, n, (uint64_t)seed, ov->threads, ov->progress, err)))
        goto done;
    if (from) {
        /* a variant of a trained model: its own tokenizer and weights (the "model" knobs do not apply) */
        snprintf(prev, sizeof prev, "%s", from);
    } else {
        const int grid = cfg.vision.image_size / cfg.vision.patch_size;
        if (!ml_file_exists(tok) && (rc = make_tokenizer(split, tok, (int)vocab, grid, err))) goto done;
        snprintf(prev, sizeof prev, "%s/init", work);
        if ((rc = ml_train_init_folder(prev, cfg, tok, (uint64_t)seed, err))) goto done;
    }
    if ((rc = ml_train_data_load(&d, split, max_images, err))) goto done;
    int n_st = cJSON_GetArraySize(stages);
    for (int i = 0; i < n_st; i++) {
        MlStageOptions so;
        if ((rc = stage_options(cJSON_GetArrayItem(stages, i), &so, path, err))) goto done;
        if (i == n_st - 1) snprintf(dir, sizeof dir, "%s", out);
        else snprintf(dir, sizeof dir, "%s/stage%d_%d", work, so.stage, i);
        snprintf(state, sizeof state, "%s/state_%d.safetensors", work, i);
        so.in_dir = prev;
        so.out_dir = dir;
        so.state_path = state;
        char stage_log[2100];
        snprintf(stage_log, sizeof stage_log, "%s/log_%d.jsonl", work, i);
        if (!ml_file_exists(state)) remove(stage_log); /* a fresh stage; a resumed one keeps its lines */
        so.log_path = stage_log;
        so.data = &d;
        so.seed = (uint64_t)seed + (uint64_t)i;
        so.threads = ov->threads;
        so.progress = ov->progress;
        MlStageResult res;
        if ((rc = ml_train_stage(&so, &res, err))) goto done;
        snprintf(prev, sizeof prev, "%s", dir);
    }
    if ((rc = join_logs(work, n_st, log, err)) || (rc = copy_text(path, out, "recipe.json", err)) ||
        (rc = copy_text(log, out, "train_log.jsonl", err)))
        goto done;
    {
        MlStrBuf b = {0};
        ml_world_to_json(&world, &b);
        char wpath[2048];
        if (!(rc = ml_path_join(wpath, sizeof wpath, out, "world.json", err)))
            rc = ml_file_write(wpath, b.data, b.len, err);
        free(b.data);
    }
done:
    ml_train_data_free(&d);
    cJSON_Delete(root);
    return rc;
}
