/* caption.c: captions and QA pairs for the training split (see caption.h). */
#include "scene/caption.h"

#include <stdio.h>
#include <string.h>

#include "scene/probe.h"
#include "scene/relations.h"
#include "scene/rng.h"
#include "scene/text.h"

#define TEXT_CAP 1536

/* Appends with bounds; text never exceeds TEXT_CAP in practice (10 objects). */
static void append(char *out, const char *s) {
    size_t n = strlen(out);
    snprintf(out + n, TEXT_CAP - n, "%s", s);
}

/* "a, b and c" of every object's mention. */
static void object_list(const MlScene *s, char *out) {
    for (int k = 0; k < s->n_objects; k++) {
        char m[128];
        ml_text_mention(&s->obj[k], m, sizeof m);
        if (k) append(out, k + 1 == s->n_objects ? " and " : ", ");
        append(out, m);
    }
}

/* One true relation sentence ("The red star is left of the circle."), or nothing. */
static void relation_sentence(const MlWorld *w, const MlScene *s, MlRng *r, char *out) {
    char refs[ML_WORLD_MAX_OBJECTS][96];
    int named[ML_WORLD_MAX_OBJECTS], facts[ML_WORLD_MAX_OBJECTS * ML_WORLD_MAX_OBJECTS * ML_N_RELATIONS][3], n = 0;
    for (int k = 0; k < s->n_objects; k++) named[k] = ml_text_refer(s, k, -1, refs[k], sizeof refs[k]);
    for (int a = 0; a < s->n_objects; a++)
        for (int b = 0; b < s->n_objects; b++)
            for (int rel = 0; rel < ML_N_RELATIONS && a != b && named[a] && named[b]; rel++)
                if (ml_relation_truth(w, &s->obj[a], &s->obj[b], (MlRelation)rel) == ML_TRUTH_YES) {
                    facts[n][0] = a;
                    facts[n][1] = rel;
                    facts[n++][2] = b;
                }
    if (!n) return;
    const int *f = facts[ml_rng_below(r, n)];
    char sentence[256];
    snprintf(sentence, sizeof sentence, " The %s is %s the %s.", refs[f[0]], ml_relation_name((MlRelation)f[1]),
             refs[f[2]]);
    append(out, sentence);
}

static void caption_text(const MlWorld *w, const MlScene *s, MlRng *r, char *out) {
    out[0] = 0;
    int t = ml_rng_below(r, 4);
    if (t == 0) {
        char head[64];
        if (s->n_objects == 1) snprintf(head, sizeof head, "There is one object: ");
        else snprintf(head, sizeof head, "There are %s objects: ", ml_number_word(s->n_objects));
        append(out, head);
        object_list(s, out);
        append(out, ".");
    } else if (t == 1) {
        append(out, "This image shows ");
        object_list(s, out);
        append(out, ".");
        relation_sentence(w, s, r, out);
    } else if (t == 2) {
        append(out, "A picture of ");
        object_list(s, out);
        append(out, ".");
        relation_sentence(w, s, r, out);
        relation_sentence(w, s, r, out);
    } else {
        /* Relation first, then the full list, so every object is still named. */
        char list[TEXT_CAP] = "";
        relation_sentence(w, s, r, list);
        if (list[0]) {
            append(out, list + 1); /* drop the leading space */
            append(out, " ");
        }
        append(out, "The image contains ");
        object_list(s, out);
        append(out, ".");
    }
}

/* A copy of s with one object made wrong: a colour no object of its category
   has, or a category absent from the image. */
static void corrupt(const MlWorld *w, const MlScene *s, MlRng *r, MlScene *out) {
    *out = *s;
    int k = ml_rng_below(r, s->n_objects);
    MlSceneObject *o = &out->obj[k];
    int pool[ML_N_CATEGORIES > ML_N_COLORS ? ML_N_CATEGORIES : ML_N_COLORS], n = 0;
    if (ml_rng_below(r, 2) == 0) {
        for (int c = 0; c < ML_N_COLORS; c++) {
            int taken = !w->color_enabled[c];
            for (int j = 0; j < s->n_objects; j++)
                taken |= s->obj[j].category == o->category && s->obj[j].attr[ML_ATTR_COLOR] == c;
            if (!taken) pool[n++] = c;
        }
        if (n) {
            o->attr[ML_ATTR_COLOR] = pool[ml_rng_below(r, n)];
            return;
        }
    }
    n = 0;
    for (int c = 0; c < ML_N_CATEGORIES; c++)
        if (w->category[c].enabled && !ml_scene_count(s, c)) pool[n++] = c;
    o->category = pool[ml_rng_below(r, n)]; /* validation guarantees 3+ absent categories */
}

void ml_caption_lines(const MlWorld *w, const MlScene *scenes, int64_t n, int64_t i, MlStrBuf *b) {
    const MlScene *s = &scenes[i];
    MlRng r;
    ml_rng_init(&r, s->seed, (uint64_t)s->split, (uint64_t)s->index, ML_STREAM_CAPTIONS);
    char image[64], text[TEXT_CAP];
    ml_scene_image_name(s, image, sizeof image);
    for (int c = 0; c < w->captions_per_image; c++) {
        double u = ml_rng_uniform(&r);
        const char *noise = "none";
        if (u < w->caption_wrong) {
            MlScene wrong;
            corrupt(w, s, &r, &wrong);
            caption_text(w, &wrong, &r, text);
            noise = "wrong";
        } else if (u < w->caption_wrong + w->caption_mismatched && n > 1) {
            int64_t j = (i + 1 + (int64_t)(ml_rng_uniform(&r) * (double)(n - 1))) % n;
            caption_text(w, &scenes[j], &r, text);
            noise = "mismatched";
        } else {
            caption_text(w, s, &r, text);
        }
        ml_strbuf_printf(b, "{\"image\":\"%s\",\"caption\":", image);
        ml_strbuf_json_string(b, text);
        ml_strbuf_printf(b, ",\"noise\":\"%s\"}\n", noise);
    }
}

void ml_caption_pair(const MlWorld *w, const MlScene *s, char *truthful, char *hallucinated, size_t cap) {
    MlRng r, same;
    ml_rng_init(&r, s->seed, (uint64_t)s->split, (uint64_t)s->index, ML_STREAM_STEER);
    MlScene wrong;
    corrupt(w, s, &r, &wrong);
    char text[TEXT_CAP];
    same = r; /* both captions draw the same template: they differ in the corrupted object only */
    caption_text(w, s, &r, text);
    snprintf(truthful, cap, "%s", text);
    caption_text(w, &wrong, &same, text);
    snprintf(hallucinated, cap, "%s", text);
}

/* ---- QA ---------------------------------------------------------------- */

typedef struct QaItem {
    char question[192], answer[32];
    const char *family, *type;
} QaItem;

/* Existence yes/no: a present category, or an absent one. */
static int existence_item(const MlWorld *w, const MlScene *s, int want, MlRng *r, QaItem *q) {
    int pool[ML_N_CATEGORIES], n = 0;
    for (int c = 0; c < ML_N_CATEGORIES; c++)
        if (w->category[c].enabled && (ml_scene_count(s, c) > 0) == want) pool[n++] = c;
    if (!n) return 0;
    ml_text_exists_question(pool[ml_rng_below(r, n)], q->question, sizeof q->question);
    return 1;
}

static int yesno_item(const MlWorld *w, const MlScene *s, const MlProbe *probes, int n_probes, int want, MlRng *r,
                      QaItem *q) {
    static const char *const families[4] = {"existence", "attribute", "count", "relation"};
    int start = ml_rng_below(r, 4);
    for (int t = 0; t < 4; t++) {
        int f = (start + t) % 4;
        int ok = 0;
        if (f == 0) ok = existence_item(w, s, want, r, q);
        else {
            MlProbeFamily fam = f == 1 ? ML_FAMILY_ATTRIBUTE : f == 2 ? ML_FAMILY_COUNT : ML_FAMILY_RELATION;
            int pool[ML_PROBES_PER_SCENE_MAX], n = 0;
            for (int i = 0; i < n_probes; i++)
                if (probes[i].family == fam && probes[i].label == want) pool[n++] = i;
            if (n) {
                snprintf(q->question, sizeof q->question, "%s", probes[pool[ml_rng_below(r, n)]].text);
                ok = 1;
            }
        }
        if (ok) {
            snprintf(q->answer, sizeof q->answer, "%s", want ? "yes" : "no");
            q->family = families[f];
            q->type = "yesno";
            return 1;
        }
    }
    return 0;
}

static int open_item(const MlScene *s, MlRng *r, QaItem *q) {
    /* kinds: 0 colour, 1 size, 2 texture, 3 count, 4 shape */
    int kind = ml_rng_below(r, 5), k = ml_rng_below(r, s->n_objects);
    const MlSceneObject *o = &s->obj[k];
    char ref[96];
    q->type = "open";
    if (kind <= 2) {
        MlAttr a = (MlAttr)kind;
        if (!ml_text_refer(s, k, a, ref, sizeof ref)) return 0;
        static const char *const forms[3] = {"What color is the %s?", "What size is the %s?",
                                             "What pattern does the %s have?"};
        snprintf(q->question, sizeof q->question, forms[kind], ref);
        snprintf(q->answer, sizeof q->answer, "%s", ml_attr_value_name(a, o->attr[a]));
        q->family = "attribute";
        return 1;
    }
    if (kind == 3) {
        snprintf(q->question, sizeof q->question, "How many %s are there?", ml_category_plural(o->category));
        snprintf(q->answer, sizeof q->answer, "%s", ml_number_word(ml_scene_count(s, o->category)));
        q->family = "count";
        return 1;
    }
    /* shape: only when the colour alone picks the object out */
    for (int j = 0; j < s->n_objects; j++)
        if (j != k && s->obj[j].attr[ML_ATTR_COLOR] == o->attr[ML_ATTR_COLOR]) return 0;
    snprintf(q->question, sizeof q->question, "What shape is the %s object?",
             ml_attr_value_name(ML_ATTR_COLOR, o->attr[ML_ATTR_COLOR]));
    snprintf(q->answer, sizeof q->answer, "%s", ml_category_name(o->category));
    q->family = "existence";
    return 1;
}

void ml_qa_lines(const MlWorld *w, const MlScene *s, MlStrBuf *b) {
    MlRng r;
    ml_rng_init(&r, s->seed, (uint64_t)s->split, (uint64_t)s->index, ML_STREAM_QA);
    MlProbe probes[ML_PROBES_PER_SCENE_MAX];
    int n_probes = ml_probe_scene(w, s, &r, probes);
    char image[64];
    ml_scene_image_name(s, image, sizeof image);
    for (int i = 0; i < w->qa_per_image; i++) {
        QaItem q;
        int ok = 0;
        /* An open question may find no uniquely named target; a few redraws suffice. */
        for (int tries = 0; tries < 8 && !ok; tries++) {
            if (ml_rng_uniform(&r) < 0.5) {
                int want = ml_rng_uniform(&r) < w->yes_ratio;
                ok = yesno_item(w, s, probes, n_probes, want, &r, &q);
            } else {
                ok = open_item(s, &r, &q);
            }
        }
        if (!ok) continue;
        ml_strbuf_printf(b, "{\"image\":\"%s\",\"question\":", image);
        ml_strbuf_json_string(b, q.question);
        ml_strbuf_printf(b, ",\"answer\":\"%s\",\"family\":\"%s\",\"type\":\"%s\"}\n", q.answer, q.family, q.type);
    }
}
