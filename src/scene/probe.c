/* probe.c: attribute, count and relation probe pairs, and probe records (see probe.h). */
#include "scene/probe.h"

#include <stdio.h>
#include <string.h>

#include "scene/pope.h"
#include "scene/relations.h"
#include "scene/text.h"

const char *ml_probe_family_name(MlProbeFamily f) {
    static const char *const names[ML_N_FAMILIES] = {"pope", "attribute", "count", "relation"};
    return (unsigned)f < ML_N_FAMILIES ? names[f] : "?";
}

const char *ml_probe_subtype_name(MlProbeFamily f, int subtype) {
    switch (f) {
    case ML_FAMILY_POPE: return ml_scene_pope_strategy_name((MlScenePopeStrategy)subtype);
    case ML_FAMILY_ATTRIBUTE: return ml_attr_name((MlAttr)subtype);
    case ML_FAMILY_COUNT: return "count";
    case ML_FAMILY_RELATION: return subtype == ML_PROBE_NEXT_TO ? "next_to" : "direction";
    default: return "?";
    }
}

const char *ml_neg_kind_name(MlNegKind k) {
    static const char *const names[ML_N_NEG_KINDS] = {"none",    "random",             "popular",
                                                      "adversarial", "binding",        "knowledge_conflict",
                                                      "swap",    "opposite",           "far_pair"};
    return (unsigned)k < ML_N_NEG_KINDS ? names[k] : "?";
}

static MlProbe blank(MlProbeFamily f, int subtype) {
    MlProbe p;
    memset(&p, 0, sizeof p);
    p.family = f;
    p.subtype = subtype;
    p.subject = p.object = p.category = p.value = p.truth = -1;
    return p;
}

/* ---- attributes -------------------------------------------------------- */

static int attribute_pair(const MlWorld *w, const MlScene *s, MlAttr a, MlRng *r, MlProbe *out) {
    char refs[ML_WORLD_MAX_OBJECTS][96];
    int cands[ML_WORLD_MAX_OBJECTS], n = 0, atypical[ML_WORLD_MAX_OBJECTS], n_atyp = 0;
    for (int k = 0; k < s->n_objects; k++) {
        if (!ml_text_refer(s, k, a, refs[k], sizeof refs[k])) continue;
        cands[n++] = k;
        if (s->obj[k].atypical & (1u << a)) atypical[n_atyp++] = k;
    }
    if (!n) return 0;
    /* The conflict split asks about its atypical objects first. */
    int t = (s->split == ML_SPLIT_CONFLICT && n_atyp) ? atypical[ml_rng_below(r, n_atyp)] : cands[ml_rng_below(r, n)];
    const MlSceneObject *o = &s->obj[t];
    int truth = o->attr[a], nv = ml_attr_count(a);
    int present[ML_WORLD_MAX_VALUES] = {0}, other[ML_WORLD_MAX_VALUES] = {0};
    for (int k = 0; k < s->n_objects; k++) {
        present[s->obj[k].attr[a]] = 1;
        if (k != t && s->obj[k].attr[a] != truth) other[s->obj[k].attr[a]] = 1;
    }
    int pool_random[ML_WORLD_MAX_VALUES], n_random = 0, pool_binding[ML_WORLD_MAX_VALUES], n_binding = 0;
    for (int v = 0; v < nv; v++) {
        if (ml_world_value_enabled(w, a, v) && !present[v]) pool_random[n_random++] = v;
        if (other[v]) pool_binding[n_binding++] = v;
    }
    int typical = w->category[o->category].typical[a];
    int knowledge = (o->atypical & (1u << a)) ? typical : -1;
    MlNegKind kinds[3];
    int n_kinds = 0;
    if (n_random) kinds[n_kinds++] = ML_NEG_RANDOM;
    if (n_binding) kinds[n_kinds++] = ML_NEG_BINDING;
    if (knowledge >= 0) kinds[n_kinds++] = ML_NEG_KNOWLEDGE_CONFLICT;
    if (!n_kinds) return 0;
    MlNegKind kind = (s->split == ML_SPLIT_CONFLICT && knowledge >= 0) ? ML_NEG_KNOWLEDGE_CONFLICT
                                                                       : kinds[ml_rng_below(r, n_kinds)];
    int claimed = kind == ML_NEG_RANDOM    ? pool_random[ml_rng_below(r, n_random)]
                  : kind == ML_NEG_BINDING ? pool_binding[ml_rng_below(r, n_binding)]
                                           : knowledge;
    MlProbe pos = blank(ML_FAMILY_ATTRIBUTE, a), neg = pos;
    pos.label = 1;
    pos.subject = neg.subject = t;
    pos.value = pos.truth = neg.truth = truth;
    ml_text_attribute_question(refs[t], a, truth, pos.text, sizeof pos.text);
    neg.value = claimed;
    neg.negative_kind = kind;
    neg.severity = ml_attr_severity(a, truth, claimed);
    ml_text_attribute_question(refs[t], a, claimed, neg.text, sizeof neg.text);
    out[0] = pos;
    out[1] = neg;
    return 2;
}

/* ---- counts ------------------------------------------------------------ */

static int count_pair(const MlWorld *w, const MlScene *s, MlRng *r, MlProbe *out) {
    int cats[ML_WORLD_MAX_OBJECTS];
    int n = ml_scene_categories(s, cats);
    if (!n) return 0;
    int c = cats[ml_rng_below(r, n)], truth = ml_scene_count(s, c);
    int used[ML_WORLD_MAX_OBJECTS + 1] = {0}; /* counts some category in the image has */
    for (int i = 0; i < n; i++) used[ml_scene_count(s, cats[i])] = 1;
    int pool_binding[ML_WORLD_MAX_OBJECTS], n_binding = 0, pool_random[ML_WORLD_MAX_OBJECTS], n_random = 0;
    for (int v = 1; v <= w->objects_max; v++) {
        if (v == truth) continue;
        if (used[v]) pool_binding[n_binding++] = v;
        else pool_random[n_random++] = v;
    }
    MlNegKind kinds[2];
    int n_kinds = 0;
    if (n_random) kinds[n_kinds++] = ML_NEG_RANDOM;
    if (n_binding) kinds[n_kinds++] = ML_NEG_BINDING;
    if (!n_kinds) return 0;
    MlNegKind kind = kinds[ml_rng_below(r, n_kinds)];
    int claimed = kind == ML_NEG_RANDOM ? pool_random[ml_rng_below(r, n_random)] : pool_binding[ml_rng_below(r, n_binding)];
    MlProbe pos = blank(ML_FAMILY_COUNT, 0), neg = pos;
    pos.label = 1;
    pos.category = neg.category = c;
    pos.value = pos.truth = neg.truth = truth;
    ml_text_count_question(c, truth, pos.text, sizeof pos.text);
    neg.value = claimed;
    neg.negative_kind = kind;
    neg.severity = (claimed - truth == 1 || truth - claimed == 1) ? 1 : 2;
    ml_text_count_question(c, claimed, neg.text, sizeof neg.text);
    out[0] = pos;
    out[1] = neg;
    return 2;
}

/* ---- relations --------------------------------------------------------- */

static MlProbe relation_probe(const MlWorld *w, const MlScene *s, char refs[][96], int a, int rel, int b, int subtype,
                              MlNegKind kind) {
    MlProbe p = blank(ML_FAMILY_RELATION, subtype);
    p.subject = a;
    p.object = b;
    p.value = rel;
    p.label = ml_relation_truth(w, &s->obj[a], &s->obj[b], (MlRelation)rel) == ML_TRUTH_YES;
    p.negative_kind = kind;
    p.severity = p.label ? 0 : ml_relation_severity(w, &s->obj[a], &s->obj[b], (MlRelation)rel);
    ml_text_relation_question(refs[a], rel, refs[b], p.text, sizeof p.text);
    return p;
}

static int relation_pairs(const MlWorld *w, const MlScene *s, MlRng *r, MlProbe *out) {
    char refs[ML_WORLD_MAX_OBJECTS][96];
    int named[ML_WORLD_MAX_OBJECTS];
    for (int k = 0; k < s->n_objects; k++) named[k] = ml_text_refer(s, k, -1, refs[k], sizeof refs[k]);
    /* Direction facts (a, rel, b) that hold beyond the margin. */
    int facts[ML_WORLD_MAX_OBJECTS * ML_WORLD_MAX_OBJECTS * 4][3], n_facts = 0;
    int near[ML_WORLD_MAX_OBJECTS * ML_WORLD_MAX_OBJECTS][2], n_near = 0;
    int far[ML_WORLD_MAX_OBJECTS * ML_WORLD_MAX_OBJECTS][2], n_far = 0;
    for (int a = 0; a < s->n_objects; a++)
        for (int b = 0; b < s->n_objects; b++) {
            if (a == b || !named[a] || !named[b]) continue;
            for (int rel = ML_REL_LEFT; rel <= ML_REL_BELOW; rel++)
                if (ml_relation_truth(w, &s->obj[a], &s->obj[b], (MlRelation)rel) == ML_TRUTH_YES) {
                    facts[n_facts][0] = a;
                    facts[n_facts][1] = rel;
                    facts[n_facts][2] = b;
                    n_facts++;
                }
            int t = ml_relation_truth(w, &s->obj[a], &s->obj[b], ML_REL_NEXT_TO);
            if (t == ML_TRUTH_YES) {
                near[n_near][0] = a;
                near[n_near++][1] = b;
            } else if (t == ML_TRUTH_NO) {
                far[n_far][0] = a;
                far[n_far++][1] = b;
            }
        }
    int n_out = 0, chosen[ML_PROBE_DIRECTION_PAIRS][3], n_chosen = 0;
    for (int pair = 0; pair < ML_PROBE_DIRECTION_PAIRS; pair++) {
        /* Skip facts already asked, in either wording ("a left of b" = "b right of a"). */
        int pool[ML_WORLD_MAX_OBJECTS * ML_WORLD_MAX_OBJECTS * 4], n_pool = 0;
        for (int f = 0; f < n_facts; f++) {
            int dup = 0;
            for (int c = 0; c < n_chosen; c++) {
                int same = chosen[c][0] == facts[f][0] && chosen[c][1] == facts[f][1] && chosen[c][2] == facts[f][2];
                int mirror = chosen[c][0] == facts[f][2] && chosen[c][2] == facts[f][0] &&
                             chosen[c][1] == (int)ml_relation_opposite((MlRelation)facts[f][1]);
                dup |= same || mirror;
            }
            if (!dup) pool[n_pool++] = f;
        }
        if (!n_pool) break;
        const int *f = facts[pool[ml_rng_below(r, n_pool)]];
        memcpy(chosen[n_chosen++], f, sizeof chosen[0]);
        int a = f[0], rel = f[1], b = f[2];
        out[n_out++] = relation_probe(w, s, refs, a, rel, b, ML_PROBE_DIRECTION, ML_NEG_NONE);
        if (ml_rng_below(r, 2) == 0)
            out[n_out++] = relation_probe(w, s, refs, b, rel, a, ML_PROBE_DIRECTION, ML_NEG_SWAP);
        else
            out[n_out++] =
                relation_probe(w, s, refs, a, ml_relation_opposite((MlRelation)rel), b, ML_PROBE_DIRECTION, ML_NEG_OPPOSITE);
    }
    if (n_near && n_far) {
        const int *p = near[ml_rng_below(r, n_near)], *q = far[ml_rng_below(r, n_far)];
        out[n_out++] = relation_probe(w, s, refs, p[0], ML_REL_NEXT_TO, p[1], ML_PROBE_NEXT_TO, ML_NEG_NONE);
        out[n_out++] = relation_probe(w, s, refs, q[0], ML_REL_NEXT_TO, q[1], ML_PROBE_NEXT_TO, ML_NEG_FAR_PAIR);
    }
    return n_out;
}

int ml_probe_scene(const MlWorld *w, const MlScene *s, MlRng *r, MlProbe *out) {
    int n = 0;
    for (int a = 0; a < ML_N_ATTRS; a++) n += attribute_pair(w, s, (MlAttr)a, r, out + n);
    n += count_pair(w, s, r, out + n);
    n += relation_pairs(w, s, r, out + n);
    return n;
}

/* ---- records ----------------------------------------------------------- */

static const char *value_name(const MlProbe *p, int v, char *buf, int cap) {
    if (v < 0) return NULL;
    switch (p->family) {
    case ML_FAMILY_ATTRIBUTE: return ml_attr_value_name((MlAttr)p->subtype, v);
    case ML_FAMILY_RELATION: return ml_relation_name((MlRelation)v);
    case ML_FAMILY_COUNT: snprintf(buf, (size_t)cap, "%d", v); return buf;
    default: return NULL;
    }
}

void ml_probe_json(const MlProbe *p, const char *image, long long qid, MlStrBuf *b) {
    ml_strbuf_printf(b, "{\"question_id\":%lld,\"image\":", qid);
    ml_strbuf_json_string(b, image);
    ml_strbuf_puts(b, ",\"text\":");
    ml_strbuf_json_string(b, p->text);
    ml_strbuf_printf(b, ",\"label\":\"%s\",\"family\":\"%s\",\"subtype\":\"%s\",\"negative_kind\":\"%s\",\"severity\":%d",
                     p->label ? "yes" : "no", ml_probe_family_name(p->family),
                     ml_probe_subtype_name(p->family, p->subtype), ml_neg_kind_name(p->negative_kind), p->severity);
    if (p->category >= 0) ml_strbuf_printf(b, ",\"category\":\"%s\"", ml_category_name(p->category));
    if (p->subject >= 0) ml_strbuf_printf(b, ",\"subject\":%d", p->subject);
    if (p->object >= 0) ml_strbuf_printf(b, ",\"object\":%d", p->object);
    char buf[16];
    const char *claim = value_name(p, p->value, buf, sizeof buf);
    if (claim) ml_strbuf_printf(b, ",\"claim\":\"%s\"", claim);
    if (p->family != ML_FAMILY_RELATION) {
        const char *truth = value_name(p, p->truth, buf, sizeof buf);
        if (truth) ml_strbuf_printf(b, ",\"truth\":\"%s\"", truth);
    }
    ml_strbuf_puts(b, "}");
}

void ml_probe_describe_json(const MlWorld *w, const MlScene *s, long long qid, MlStrBuf *b) {
    char image[64];
    ml_scene_image_name(s, image, sizeof image);
    ml_strbuf_printf(b, "{\"question_id\":%lld,\"image\":\"%s\",\"text\":", qid, image);
    ml_strbuf_json_string(b, ML_DESCRIBE_PROMPT);
    ml_strbuf_puts(b, ",\"family\":\"describe\",\"truth\":");
    ml_scene_graph_json(w, s, b);
    ml_strbuf_puts(b, "}");
}
