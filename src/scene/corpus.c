/* corpus.c: one split of the scene world written to a folder (see corpus.h). */
#include "scene/corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/file.h"
#include "core/progress.h"
#include "scene/caption.h"
#include "scene/pope.h"
#include "scene/relations.h"
#include "scene/stats.h"
#include "scene/text.h"

#define CORPUS_FORMAT_VERSION 1

const char *ml_probe_file_name(int file) {
    static const char *const names[ML_N_PROBE_FILES] = {"pope_random", "pope_popular", "pope_adversarial",
                                                        "attribute",   "count",        "relation"};
    return (file >= 0 && file < ML_N_PROBE_FILES) ? names[file] : "?";
}

/* ---- output files ------------------------------------------------------ */

typedef struct OutFile {
    FILE *f;
    char path[4096];
} OutFile;

static int out_open(OutFile *o, const char *dir, const char *name, MlError *err) {
    int rc = ml_path_join(o->path, sizeof o->path, dir, name, err);
    if (rc) return rc;
    o->f = fopen(o->path, "wb");
    if (!o->f) return ml_error_set(err, ML_ERR_IO, "%s: cannot create: %s", o->path, strerror(errno));
    return ML_OK;
}

static int out_write(OutFile *o, const MlStrBuf *b, MlError *err) {
    if (b->failed) return ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory while formatting", o->path);
    if (b->len && fwrite(b->data, 1, b->len, o->f) != b->len)
        return ml_error_set(err, ML_ERR_IO, "%s: write failed: %s", o->path, strerror(errno));
    return ML_OK;
}

static int out_close(OutFile *o, MlError *err) {
    if (!o->f) return ML_OK;
    int bad = ferror(o->f) != 0;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    return bad ? ml_error_set(err, ML_ERR_IO, "%s: write failed", o->path) : ML_OK;
}

/* ---- images ------------------------------------------------------------ */

/* Samples, renders and saves every scene; each scene is independent, so the
   loop runs in parallel and the result does not depend on the schedule. */
static int make_images(const MlWorld *w, const MlCorpusOptions *opt, MlScene *scenes, MlError *err) {
    char images_dir[4096];
    int rc = ml_path_join(images_dir, sizeof images_dir, opt->out_dir, "images", err);
    if (rc || (rc = ml_mkdirs(images_dir, err))) return rc;
    int64_t n = opt->n, first_bad = n, done = 0;
    MlError bad_err = {0};
    MlProgress prog;
    if (opt->progress) ml_progress_start(&prog, "scenes", n);
#ifdef _OPENMP
    int threads = opt->threads > 0 ? opt->threads : omp_get_max_threads();
#endif
#pragma omp parallel num_threads(threads)
    {
        MlImage img = {0};
        MlError e = {0};
        int ok = ml_image_alloc(&img, w->image_size, w->image_size, &e) == ML_OK;
#pragma omp for schedule(dynamic, 16)
        for (int64_t i = 0; i < n; i++) {
            int r = ok ? ML_OK : e.code;
            char name[64], path[4200];
            if (r == ML_OK) r = ml_scene_sample(w, opt->seed, opt->split, i, &scenes[i], &e);
            if (r == ML_OK) r = ml_scene_render(w, &scenes[i], &img, &e);
            if (r == ML_OK) {
                ml_scene_image_name(&scenes[i], name, sizeof name);
                r = ml_path_join(path, sizeof path, images_dir, name, &e);
            }
            if (r == ML_OK) r = ml_image_write_png(path, &img, &e);
            if (r != ML_OK) {
#pragma omp critical(corpus_error)
                if (i < first_bad) { /* report the lowest failing index, as a serial run would */
                    first_bad = i;
                    bad_err = e;
                }
            }
            int64_t now;
#pragma omp atomic capture
            now = ++done;
#ifdef _OPENMP
            if (opt->progress && omp_get_thread_num() == 0) ml_progress_update(&prog, now);
#else
            if (opt->progress) ml_progress_update(&prog, now);
#endif
        }
        ml_image_free(&img);
    }
    if (opt->progress) {
        ml_progress_update(&prog, n);
        ml_progress_finish(&prog);
    }
    if (first_bad < n) {
        if (err) *err = bad_err;
        return bad_err.code ? bad_err.code : ML_ERR_IO;
    }
    return ML_OK;
}

/* ---- probes (test and conflict splits) --------------------------------- */

static void tally(MlProbeTally *t, const MlProbe *p) {
    t->total++;
    t->yes += p->label;
    if (p->subtype >= 0 && p->subtype < 3) t->by_subtype[p->subtype]++;
    t->by_kind[p->negative_kind]++;
    if (p->severity >= 0 && p->severity < 3) t->by_severity[p->severity]++;
}

static int write_probes(const MlWorld *w, const MlCorpusOptions *opt, const MlScene *scenes, MlCorpusSummary *sum,
                        MlError *err) {
    char dir[4096];
    int rc = ml_path_join(dir, sizeof dir, opt->out_dir, "probes", err);
    if (rc || (rc = ml_mkdirs(dir, err))) return rc;
    /* POPE statistics are taken over the images POPE asks about (3+ categories), as POPE does. */
    MlSceneStats st;
    ml_scene_stats_init(&st);
    for (int64_t i = 0; i < opt->n; i++) {
        int cats[ML_WORLD_MAX_OBJECTS], nc = ml_scene_categories(&scenes[i], cats);
        if (nc >= ML_POPE_POSITIVES) ml_scene_stats_add(&st, cats, nc);
    }
    ml_scene_stats_finish(&st);
    sum->pope_eligible = st.n_images;

    OutFile files[ML_N_PROBE_FILES + 1];
    memset(files, 0, sizeof files);
    for (int f = 0; f <= ML_N_PROBE_FILES && !rc; f++) {
        char name[64];
        snprintf(name, sizeof name, "%s.jsonl", f < ML_N_PROBE_FILES ? ml_probe_file_name(f) : "describe");
        rc = out_open(&files[f], dir, name, err);
    }
    long long qid[ML_N_PROBE_FILES + 1];
    for (int f = 0; f <= ML_N_PROBE_FILES; f++) qid[f] = 1;
    MlStrBuf bufs[ML_N_PROBE_FILES + 1];
    memset(bufs, 0, sizeof bufs);
    for (int64_t i = 0; i < opt->n && !rc; i++) {
        const MlScene *s = &scenes[i];
        char image[64];
        ml_scene_image_name(s, image, sizeof image);
        for (int f = 0; f <= ML_N_PROBE_FILES; f++) ml_strbuf_clear(&bufs[f]);
        int cats[ML_WORLD_MAX_OBJECTS], nc = ml_scene_categories(s, cats);
        for (int strat = 0; strat < 3; strat++) {
            MlRng r;
            ml_rng_init(&r, s->seed, (uint64_t)s->split, (uint64_t)s->index, ML_STREAM_POPE * 16 + (uint64_t)strat);
            MlScenePopeQuestion q[2 * ML_POPE_POSITIVES];
            int nq = ml_scene_pope_image(&st, cats, nc, (MlScenePopeStrategy)strat, &r, q);
            for (int k = 0; k < nq; k++) {
                MlProbe p;
                memset(&p, 0, sizeof p);
                p.family = ML_FAMILY_POPE;
                p.subtype = strat;
                p.label = q[k].label;
                p.negative_kind = q[k].label ? ML_NEG_NONE
                                  : q[k].fell_back || strat == ML_POPE_RANDOM
                                      ? ML_NEG_RANDOM
                                      : (strat == ML_POPE_POPULAR ? ML_NEG_POPULAR : ML_NEG_ADVERSARIAL);
                p.severity = q[k].severity;
                p.subject = p.object = p.value = p.truth = -1;
                p.category = q[k].category;
                ml_text_exists_question(p.category, p.text, sizeof p.text);
                ml_probe_json(&p, image, qid[strat]++, &bufs[strat]);
                ml_strbuf_puts(&bufs[strat], "\n");
                tally(&sum->file[strat], &p);
            }
        }
        MlRng r;
        ml_rng_init(&r, s->seed, (uint64_t)s->split, (uint64_t)s->index, ML_STREAM_PROBES);
        MlProbe probes[ML_PROBES_PER_SCENE_MAX];
        int np = ml_probe_scene(w, s, &r, probes);
        for (int k = 0; k < np; k++) {
            int f = probes[k].family == ML_FAMILY_ATTRIBUTE ? ML_PROBE_FILE_ATTRIBUTE
                    : probes[k].family == ML_FAMILY_COUNT   ? ML_PROBE_FILE_COUNT
                                                            : ML_PROBE_FILE_RELATION;
            ml_probe_json(&probes[k], image, qid[f]++, &bufs[f]);
            ml_strbuf_puts(&bufs[f], "\n");
            tally(&sum->file[f], &probes[k]);
        }
        ml_probe_describe_json(w, s, qid[ML_N_PROBE_FILES]++, &bufs[ML_N_PROBE_FILES]);
        ml_strbuf_puts(&bufs[ML_N_PROBE_FILES], "\n");
        sum->describe++;
        for (int f = 0; f <= ML_N_PROBE_FILES && !rc; f++) rc = out_write(&files[f], &bufs[f], err);
    }
    for (int f = 0; f <= ML_N_PROBE_FILES; f++) {
        int rc2 = out_close(&files[f], err);
        if (!rc) rc = rc2;
        ml_strbuf_free(&bufs[f]);
    }
    return rc;
}

/* ---- captions and QA (train split) ------------------------------------- */

static int count_lines(const MlStrBuf *b) {
    int n = 0;
    for (size_t i = 0; i < b->len; i++) n += b->data[i] == '\n';
    return n;
}

static int write_training_text(const MlWorld *w, const MlCorpusOptions *opt, const MlScene *scenes,
                               MlCorpusSummary *sum, MlError *err) {
    OutFile cap = {0}, qa = {0};
    int rc = out_open(&cap, opt->out_dir, "captions.jsonl", err);
    if (!rc) rc = out_open(&qa, opt->out_dir, "qa.jsonl", err);
    MlStrBuf b = {0};
    for (int64_t i = 0; i < opt->n && !rc; i++) {
        ml_strbuf_clear(&b);
        ml_caption_lines(w, scenes, opt->n, i, &b);
        sum->captions += count_lines(&b);
        rc = out_write(&cap, &b, err);
        if (rc) break;
        ml_strbuf_clear(&b);
        ml_qa_lines(w, &scenes[i], &b);
        sum->qa += count_lines(&b);
        for (const char *p = b.data; p && (p = strstr(p, "\"type\":\"yesno\"")); p++) sum->qa_yesno++;
        for (const char *p = b.data; p && (p = strstr(p, "\"answer\":\"yes\"")); p++) sum->qa_yes++;
        rc = out_write(&qa, &b, err);
    }
    ml_strbuf_free(&b);
    int rc2 = out_close(&cap, err);
    if (!rc) rc = rc2;
    rc2 = out_close(&qa, err);
    return rc ? rc : rc2;
}

/* ---- manifest ---------------------------------------------------------- */

static void vocab_list(MlStrBuf *b, MlVocabKind kind) {
    ml_strbuf_puts(b, "[");
    for (int i = 0; i < ml_vocab_count(kind); i++) ml_strbuf_printf(b, "%s\"%s\"", i ? "," : "", ml_vocab_name(kind, i));
    ml_strbuf_puts(b, "]");
}

static void tally_json(MlStrBuf *b, int file, const MlProbeTally *t) {
    ml_strbuf_printf(b, "{\"total\":%lld,\"yes\":%lld,\"no\":%lld", (long long)t->total, (long long)t->yes,
                     (long long)(t->total - t->yes));
    if (file == ML_PROBE_FILE_ATTRIBUTE || file == ML_PROBE_FILE_RELATION) {
        MlProbeFamily fam = file == ML_PROBE_FILE_ATTRIBUTE ? ML_FAMILY_ATTRIBUTE : ML_FAMILY_RELATION;
        int n_sub = fam == ML_FAMILY_ATTRIBUTE ? 3 : 2;
        ml_strbuf_puts(b, ",\"by_subtype\":{");
        for (int s = 0; s < n_sub; s++)
            ml_strbuf_printf(b, "%s\"%s\":%lld", s ? "," : "", ml_probe_subtype_name(fam, s),
                             (long long)t->by_subtype[s]);
        ml_strbuf_puts(b, "}");
    }
    ml_strbuf_puts(b, ",\"by_negative_kind\":{");
    int first = 1;
    for (int k = 1; k < ML_N_NEG_KINDS; k++) {
        if (!t->by_kind[k]) continue;
        ml_strbuf_printf(b, "%s\"%s\":%lld", first ? "" : ",", ml_neg_kind_name((MlNegKind)k), (long long)t->by_kind[k]);
        first = 0;
    }
    ml_strbuf_printf(b, "},\"no_by_severity\":{\"1\":%lld,\"2\":%lld}}", (long long)t->by_severity[1],
                     (long long)t->by_severity[2]);
}

static int write_manifest(const MlWorld *w, const MlCorpusOptions *opt, const MlScene *scenes,
                          const MlCorpusSummary *sum, MlError *err) {
    MlStrBuf b = {0};
    ml_world_to_json(w, &b);
    char path[4096];
    int rc = ml_path_join(path, sizeof path, opt->out_dir, "world.json", err);
    if (!rc) rc = b.failed ? ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path) : ml_file_write(path, b.data, b.len, err);
    if (rc) {
        ml_strbuf_free(&b);
        return rc;
    }
    ml_strbuf_clear(&b);
    ml_strbuf_printf(&b, "{\n  \"format\": \"misalign-scenes\",\n  \"version\": %d,\n  \"split\": \"%s\",\n",
                     CORPUS_FORMAT_VERSION, ml_split_name(opt->split));
    ml_strbuf_printf(&b, "  \"seed\": %llu,\n  \"n_scenes\": %lld,\n  \"image_size\": %d,\n",
                     (unsigned long long)opt->seed, (long long)opt->n, w->image_size);
    ml_strbuf_puts(&b, "  \"world\": \"world.json\",\n  \"world_source\": ");
    ml_strbuf_json_string(&b, opt->world_source ? opt->world_source : "built-in default");
    ml_strbuf_puts(&b, ",\n  \"images\": \"images/<split>_<index>.png\",\n  \"scenes\": \"scenes.jsonl\",\n");
    if (opt->split == ML_SPLIT_TRAIN) {
        ml_strbuf_printf(&b,
                         "  \"captions\": {\"file\": \"captions.jsonl\", \"count\": %lld},\n"
                         "  \"qa\": {\"file\": \"qa.jsonl\", \"count\": %lld, \"yesno\": %lld, \"yes\": %lld},\n",
                         (long long)sum->captions, (long long)sum->qa, (long long)sum->qa_yesno, (long long)sum->qa_yes);
    } else {
        ml_strbuf_printf(&b, "  \"pope_eligible_scenes\": %lld,\n  \"probes\": {\n", (long long)sum->pope_eligible);
        for (int f = 0; f < ML_N_PROBE_FILES; f++) {
            ml_strbuf_printf(&b, "    \"%s\": {\"file\": \"probes/%s.jsonl\", \"counts\": ", ml_probe_file_name(f),
                             ml_probe_file_name(f));
            tally_json(&b, f, &sum->file[f]);
            ml_strbuf_puts(&b, "},\n");
        }
        ml_strbuf_printf(&b, "    \"describe\": {\"file\": \"probes/describe.jsonl\", \"counts\": {\"total\": %lld}}\n  },\n",
                         (long long)sum->describe);
        ml_strbuf_puts(&b, "  \"describe_prompt\": ");
        ml_strbuf_json_string(&b, ML_DESCRIBE_PROMPT);
        ml_strbuf_puts(&b, ",\n");
    }
    /* Images containing each category, over the whole split. */
    ml_strbuf_puts(&b, "  \"category_images\": {");
    int first = 1;
    for (int c = 0; c < ML_N_CATEGORIES; c++) {
        if (!w->category[c].enabled) continue;
        long long k = 0;
        for (int64_t i = 0; i < opt->n; i++) k += ml_scene_count(&scenes[i], c) > 0;
        ml_strbuf_printf(&b, "%s\"%s\": %lld", first ? "" : ", ", ml_category_name(c), k);
        first = 0;
    }
    ml_strbuf_printf(&b, "},\n  \"thresholds_px\": {\"margin\": %.4f, \"near\": %.4f, \"far\": %.4f},\n",
                     ml_world_px(w, w->margin), ml_world_px(w, w->near), ml_world_px(w, w->far));
    ml_strbuf_puts(&b, "  \"vocabulary\": {\"categories\": ");
    vocab_list(&b, ML_VOCAB_CATEGORY);
    ml_strbuf_puts(&b, ", \"plurals\": [");
    for (int c = 0; c < ML_N_CATEGORIES; c++) ml_strbuf_printf(&b, "%s\"%s\"", c ? "," : "", ml_category_plural(c));
    ml_strbuf_puts(&b, "], \"colors\": ");
    vocab_list(&b, ML_VOCAB_COLOR);
    ml_strbuf_puts(&b, ", \"sizes\": ");
    vocab_list(&b, ML_VOCAB_SIZE);
    ml_strbuf_puts(&b, ", \"textures\": ");
    vocab_list(&b, ML_VOCAB_TEXTURE);
    ml_strbuf_puts(&b, ", \"relations\": [");
    for (int r = 0; r < ML_N_RELATIONS; r++) ml_strbuf_printf(&b, "%s\"%s\"", r ? "," : "", ml_relation_name((MlRelation)r));
    ml_strbuf_puts(&b, "], \"numbers\": [");
    for (int k = 1; k <= 10; k++) ml_strbuf_printf(&b, "%s\"%s\"", k > 1 ? "," : "", ml_number_word(k));
    ml_strbuf_puts(&b, "]}\n}\n");
    rc = ml_path_join(path, sizeof path, opt->out_dir, "manifest.json", err);
    if (!rc) rc = b.failed ? ml_error_set(err, ML_ERR_NOMEM, "%s: out of memory", path) : ml_file_write(path, b.data, b.len, err);
    ml_strbuf_free(&b);
    return rc;
}

int ml_corpus_generate(const MlWorld *w, const MlCorpusOptions *opt, MlCorpusSummary *sum, MlError *err) {
    memset(sum, 0, sizeof *sum);
    if (opt->n < 1 || opt->n > ML_CORPUS_MAX_SCENES)
        return ml_error_set(err, ML_ERR_ARG, "scenes: --n %lld is outside [1, %d]", (long long)opt->n,
                            ML_CORPUS_MAX_SCENES);
    if (!opt->out_dir || !*opt->out_dir) return ml_error_set(err, ML_ERR_ARG, "scenes: no output folder given");
    int rc = ml_mkdirs(opt->out_dir, err);
    if (rc) return rc;
    MlScene *scenes = calloc((size_t)opt->n, sizeof *scenes);
    if (!scenes)
        return ml_error_set(err, ML_ERR_NOMEM, "scenes: out of memory for %lld scene graphs", (long long)opt->n);
    double t0 = ml_time_now();
    rc = make_images(w, opt, scenes, err);
    double t1 = ml_time_now();
    OutFile graphs = {0};
    if (!rc) rc = out_open(&graphs, opt->out_dir, "scenes.jsonl", err);
    MlStrBuf b = {0};
    for (int64_t i = 0; i < opt->n && !rc; i++) {
        ml_strbuf_clear(&b);
        ml_scene_graph_json(w, &scenes[i], &b);
        ml_strbuf_puts(&b, "\n");
        rc = out_write(&graphs, &b, err);
    }
    ml_strbuf_free(&b);
    int rc2 = out_close(&graphs, err);
    if (!rc) rc = rc2;
    sum->scenes = rc ? 0 : opt->n;
    if (!rc) rc = opt->split == ML_SPLIT_TRAIN ? write_training_text(w, opt, scenes, sum, err)
                                               : write_probes(w, opt, scenes, sum, err);
    if (!rc) rc = write_manifest(w, opt, scenes, sum, err);
    sum->seconds_images = t1 - t0;
    sum->seconds_text = ml_time_now() - t1;
    free(scenes);
    return rc;
}
