/* test_scene_probes.c: property tests over thousands of generated scenes.
**
** The scene graphs and probes are read back from the JSON the generator
** writes and checked by this file's own reading of the question templates
** and its own geometry: every asserted relation holds with the margin, no
** ambiguous pair is asked, every label agrees with the scene graph, every
** severity follows the documented scale, and each family is balanced.
** POPE sampling is checked on a constructed example computed by hand. */
#include "test.h"

#include <cjson/cJSON.h>

#include "scene/caption.h"
#include "scene/pope.h"
#include "scene/probe.h"
#include "scene/relations.h"
#include "scene/scene.h"
#include "scene/stats.h"

/* ---- the test's own vocabulary (docs/scenes.md) ------------------------ */

static const char *const CATS[12] = {"circle", "square", "triangle", "star", "heart", "cross",
                                     "diamond", "ring", "moon", "arrow", "house", "hourglass"};
static const char *const PLURALS[12] = {"circles", "squares", "triangles", "stars", "hearts", "crosses",
                                        "diamonds", "rings", "moons", "arrows", "houses", "hourglasses"};
static const char *const COLORS[8] = {"red", "orange", "yellow", "green", "cyan", "blue", "purple", "white"};
static const char *const SIZES[3] = {"small", "medium", "large"};
static const char *const TEXTURES[3] = {"solid", "striped", "checked"};
static const char *const NUMBERS[10] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"};
/* Colour pairs documented as close (CIE76 delta E < 70). */
static const char *const CLOSE[][2] = {{"red", "orange"}, {"orange", "yellow"}, {"yellow", "green"},
                                       {"green", "cyan"},  {"cyan", "white"},   {"blue", "purple"}};

static int find(const char *const *list, int n, const char *w) {
    for (int i = 0; i < n; i++)
        if (!strcmp(list[i], w)) return i;
    return -1;
}

/* ---- scene graphs as read from JSON ------------------------------------ */

typedef struct TObj {
    int cat, attr[3];
    double cx, cy;
    int bbox[4], area, visible;
    int atypical_color;
} TObj;

typedef struct TScene {
    int n;
    TObj o[16];
    char image[64];
} TScene;

static int read_scene(const char *json, TScene *t) {
    cJSON *root = cJSON_Parse(json);
    if (!root) return 0;
    memset(t, 0, sizeof *t);
    snprintf(t->image, sizeof t->image, "%s", cJSON_GetObjectItem(root, "image")->valuestring);
    const cJSON *o;
    cJSON_ArrayForEach(o, cJSON_GetObjectItem(root, "objects")) {
        TObj *x = &t->o[t->n++];
        x->cat = find(CATS, 12, cJSON_GetObjectItem(o, "category")->valuestring);
        x->attr[0] = find(COLORS, 8, cJSON_GetObjectItem(o, "color")->valuestring);
        x->attr[1] = find(SIZES, 3, cJSON_GetObjectItem(o, "size")->valuestring);
        x->attr[2] = find(TEXTURES, 3, cJSON_GetObjectItem(o, "texture")->valuestring);
        const cJSON *c = cJSON_GetObjectItem(o, "center"), *b = cJSON_GetObjectItem(o, "bbox");
        x->cx = cJSON_GetArrayItem(c, 0)->valuedouble;
        x->cy = cJSON_GetArrayItem(c, 1)->valuedouble;
        for (int i = 0; i < 4; i++) x->bbox[i] = cJSON_GetArrayItem(b, i)->valueint;
        x->area = cJSON_GetObjectItem(o, "area_pixels")->valueint;
        x->visible = cJSON_GetObjectItem(o, "visible_pixels")->valueint;
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(o, "atypical")) x->atypical_color |= !strcmp(a->valuestring, "color");
    }
    cJSON_Delete(root);
    return 1;
}

/* ---- the test's own geometry ------------------------------------------- */

typedef struct Px {
    double margin, near, far;
} Px;

static int gap(const TObj *a, const TObj *b) {
    int gx = b->bbox[0] - a->bbox[2], gx2 = a->bbox[0] - b->bbox[2], gy = b->bbox[1] - a->bbox[3], gy2 = a->bbox[1] - b->bbox[3];
    int x = gx > gx2 ? gx : gx2, y = gy > gy2 ? gy : gy2;
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    return x > y ? x : y;
}

/* 1 yes, 0 no, -1 ambiguous: "a REL b". */
static int truth(const Px *px, const TObj *a, const TObj *b, const char *rel) {
    if (!strcmp(rel, "next to")) {
        int g = gap(a, b);
        return g <= px->near ? 1 : g >= px->far ? 0 : -1;
    }
    double d = !strcmp(rel, "left of")    ? b->cx - a->cx
               : !strcmp(rel, "right of") ? a->cx - b->cx
               : !strcmp(rel, "above")    ? b->cy - a->cy
                                          : a->cy - b->cy; /* below */
    return d > px->margin ? 1 : d < -px->margin ? 0 : -1;
}

static int relation_severity(const Px *px, const TObj *a, const TObj *b, const char *rel) {
    if (!strcmp(rel, "next to")) return gap(a, b) < 2 * px->far ? 1 : 2;
    double dx = !strcmp(rel, "left of") ? -1 : !strcmp(rel, "right of") ? 1 : 0;
    double dy = !strcmp(rel, "above") ? -1 : !strcmp(rel, "below") ? 1 : 0;
    double ox = a->cx - b->cx, oy = a->cy - b->cy;
    /* angle between the claimed direction and the true offset; exactly 135
       degrees (a diagonal offset) counts as opposite */
    double angle = atan2(fabs(ox * dy - oy * dx), ox * dx + oy * dy) * 180 / 3.14159265358979323846;
    return angle >= 135 - 1e-9 ? 2 : 1;
}

static int attr_severity(int attr, int truth_v, int claim) {
    if (attr == 0) {
        for (size_t i = 0; i < sizeof CLOSE / sizeof CLOSE[0]; i++) {
            int a = find(COLORS, 8, CLOSE[i][0]), b = find(COLORS, 8, CLOSE[i][1]);
            if ((a == truth_v && b == claim) || (b == truth_v && a == claim)) return 1;
        }
        return 2;
    }
    if (attr == 1) return abs(truth_v - claim);
    return (truth_v == 0 || claim == 0) ? 2 : 1;
}

/* ---- reading a question ------------------------------------------------ */

/* Resolves "small red striped star" to the one object it names; -1 if none or several.
   *used gets a bit per attribute the expression mentions. */
static int resolve(const TScene *t, char **w, int n, unsigned *used) {
    if (n < 1) return -1;
    int cat = find(CATS, 12, w[n - 1]), want[3] = {-1, -1, -1};
    *used = 0;
    if (cat < 0) return -1;
    for (int i = 0; i < n - 1; i++) {
        int v;
        if ((v = find(SIZES, 3, w[i])) >= 0) want[1] = v, *used |= 2;
        else if ((v = find(COLORS, 8, w[i])) >= 0) want[0] = v, *used |= 1;
        else if ((v = find(TEXTURES, 3, w[i])) >= 0) want[2] = v, *used |= 4;
        else return -1;
    }
    int hit = -1, hits = 0;
    for (int k = 0; k < t->n; k++) {
        if (t->o[k].cat != cat) continue;
        int ok = 1;
        for (int a = 0; a < 3; a++)
            if (want[a] >= 0 && t->o[k].attr[a] != want[a]) ok = 0;
        if (ok) hit = k, hits++;
    }
    return hits == 1 ? hit : -1;
}

typedef struct Reading {
    int ok, answer;   /* parsed; 1 yes / 0 no by the scene graph */
    int ambiguous;    /* a relation inside the band */
    int severity;     /* what the documented scale gives for a "no" */
    char kind[16];    /* exists, attribute, count, relation */
    int subject, object, attr, claim;
} Reading;

static Reading read_question(const Px *px, const TScene *t, const char *text) {
    Reading r;
    memset(&r, 0, sizeof r);
    r.subject = r.object = r.attr = r.claim = -1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    size_t len = strlen(buf);
    if (!len || buf[len - 1] != '?') return r;
    buf[len - 1] = 0;
    char *w[40];
    int n = 0;
    for (char *tok = strtok(buf, " "); tok && n < 40; tok = strtok(NULL, " ")) w[n++] = tok;
    int count[12] = {0};
    for (int k = 0; k < t->n; k++) count[t->o[k].cat]++;
    if (n == 7 && !strcmp(w[0], "Is") && !strcmp(w[1], "there") && !strcmp(w[4], "in") && !strcmp(w[6], "image") &&
        strcmp(w[2], "exactly")) {
        int c = find(CATS, 12, w[3]);
        int vowel = strchr("aeiou", w[3][0]) || !strcmp(w[3], "hourglass");
        if (c < 0 || strcmp(w[2], vowel ? "an" : "a")) return r;
        snprintf(r.kind, sizeof r.kind, "exists");
        r.claim = c;
        r.answer = count[c] > 0;
        r.ok = 1;
        return r;
    }
    if (n == 8 && !strcmp(w[2], "exactly") && !strcmp(w[5], "in") && !strcmp(w[7], "image")) {
        int k = find(NUMBERS, 10, w[3]) + 1;
        int singular = !strcmp(w[0], "Is") && !strcmp(w[1], "there") && k == 1;
        int plural = !strcmp(w[0], "Are") && !strcmp(w[1], "there") && k > 1;
        int c = singular ? find(CATS, 12, w[4]) : find(PLURALS, 12, w[4]);
        if (!(singular || plural) || c < 0) return r;
        snprintf(r.kind, sizeof r.kind, "count");
        r.claim = k;
        r.subject = c;
        r.answer = count[c] == k;
        r.severity = abs(count[c] - k) == 1 ? 1 : 2;
        r.ok = count[c] > 0; /* count probes only ask about categories in the image */
        return r;
    }
    if (n < 4 || strcmp(w[0], "Is") || strcmp(w[1], "the")) return r;
    static const char *const rels[5] = {"left of", "right of", "above", "below", "next to"};
    for (int i = 3; i < n; i++)
        for (int q = 0; q < 5; q++) {
            char two[64];
            int words = strchr(rels[q], ' ') ? 2 : 1;
            if (i + words >= n) continue;
            if (words == 2) snprintf(two, sizeof two, "%s %s", w[i], w[i + 1]);
            else snprintf(two, sizeof two, "%s", w[i]);
            if (strcmp(two, rels[q]) || strcmp(w[i + words], "the")) continue;
            unsigned ua, ub;
            int a = resolve(t, w + 2, i - 2, &ua), b = resolve(t, w + i + words + 1, n - i - words - 1, &ub);
            if (a < 0 || b < 0 || a == b) return r;
            snprintf(r.kind, sizeof r.kind, "relation");
            r.subject = a;
            r.object = b;
            r.claim = q;
            int tr = truth(px, &t->o[a], &t->o[b], rels[q]);
            r.ambiguous = tr < 0;
            r.answer = tr == 1;
            if (tr == 0) r.severity = relation_severity(px, &t->o[a], &t->o[b], rels[q]);
            r.ok = 1;
            return r;
        }
    /* attribute: "Is the REF VALUE?" */
    int attr = -1, v;
    if ((v = find(COLORS, 8, w[n - 1])) >= 0) attr = 0;
    else if ((v = find(SIZES, 3, w[n - 1])) >= 0) attr = 1;
    else if ((v = find(TEXTURES, 3, w[n - 1])) >= 0) attr = 2;
    if (attr < 0) return r;
    unsigned used;
    int k = resolve(t, w + 2, n - 3, &used);
    if (k < 0 || (used & (1u << attr))) return r; /* the expression must not give the answer away */
    snprintf(r.kind, sizeof r.kind, "attribute");
    r.subject = k;
    r.attr = attr;
    r.claim = v;
    r.answer = t->o[k].attr[attr] == v;
    r.severity = r.answer ? 0 : attr_severity(attr, t->o[k].attr[attr], v);
    r.ok = 1;
    return r;
}

/* ---- properties over generated scenes ---------------------------------- */

typedef struct Totals {
    long yes[4], no[4];          /* attribute, count, relation-direction, relation-next */
    long sub_yes[3], sub_no[3];  /* attribute colour, size, texture */
    long kinds[16];
    long relations_checked, probes_checked;
} Totals;

static void check_scene_graph(const MlWorld *w, const Px *px, const char *json, const TScene *t) {
    cJSON *root = cJSON_Parse(json);
    CHECK(root != NULL);
    if (!root) return;
    static const char *const rels[5] = {"left of", "right of", "above", "below", "next to"};
    int listed[16][16][5] = {{{0}}};
    const cJSON *it;
    /* every asserted relation holds geometrically, with the margin */
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(root, "relations")) {
        int a = cJSON_GetArrayItem(it, 0)->valueint, b = cJSON_GetArrayItem(it, 2)->valueint;
        int q = find(rels, 5, cJSON_GetArrayItem(it, 1)->valuestring);
        CHECK(q >= 0 && a != b);
        if (q < 0) continue;
        CHECK(truth(px, &t->o[a], &t->o[b], rels[q]) == 1);
        listed[a][b][q] = 1;
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(root, "ambiguous")) {
        int a = cJSON_GetArrayItem(it, 0)->valueint, b = cJSON_GetArrayItem(it, 2)->valueint;
        int q = find(rels, 5, cJSON_GetArrayItem(it, 1)->valuestring);
        if (q < 0) continue;
        CHECK(truth(px, &t->o[a], &t->o[b], rels[q]) == -1);
        listed[a][b][q] = 2;
    }
    /* and nothing that holds is missing */
    for (int a = 0; a < t->n; a++)
        for (int b = 0; b < t->n; b++)
            for (int q = 0; q < 5 && a != b; q++) {
                int tr = truth(px, &t->o[a], &t->o[b], rels[q]);
                CHECK((tr == 1) == (listed[a][b][q] == 1) && (tr == -1) == (listed[a][b][q] == 2));
            }
    /* counts agree with the objects; pixels respect the world */
    int count[12] = {0};
    for (int k = 0; k < t->n; k++) count[t->o[k].cat]++;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(root, "counts")) CHECK(count[find(CATS, 12, it->string)] == it->valueint);
    for (int k = 0; k < t->n; k++) {
        CHECK(t->o[k].visible >= w->min_visible_pixels);
        CHECK(t->o[k].visible <= t->o[k].area);
        CHECK(t->o[k].visible >= (1 - w->max_occlusion) * t->o[k].area - 1e-9);
        CHECK(t->o[k].bbox[0] >= 0 && t->o[k].bbox[2] <= w->image_size && t->o[k].bbox[1] >= 0 &&
              t->o[k].bbox[3] <= w->image_size);
    }
    cJSON_Delete(root);
}

static void check_probes(const MlWorld *w, const Px *px, const MlScene *s, const TScene *t, MlRng *rng, Totals *tot) {
    MlProbe p[ML_PROBES_PER_SCENE_MAX];
    int n = ml_probe_scene(w, s, rng, p);
    CHECK(n % 2 == 0);
    Reading prev;
    memset(&prev, 0, sizeof prev);
    for (int i = 0; i < n; i++) {
        MlStrBuf b = {0};
        ml_probe_json(&p[i], t->image, i + 1, &b);
        cJSON *j = cJSON_Parse(b.data);
        ml_strbuf_free(&b);
        CHECK(j != NULL);
        if (!j) continue;
        const char *text = cJSON_GetObjectItem(j, "text")->valuestring;
        const char *label = cJSON_GetObjectItem(j, "label")->valuestring;
        const char *family = cJSON_GetObjectItem(j, "family")->valuestring;
        const char *subtype = cJSON_GetObjectItem(j, "subtype")->valuestring;
        const char *kind = cJSON_GetObjectItem(j, "negative_kind")->valuestring;
        int severity = cJSON_GetObjectItem(j, "severity")->valueint;
        CHECK(!strcmp(cJSON_GetObjectItem(j, "image")->valuestring, t->image));
        Reading r = read_question(px, t, text);
        if (!r.ok || r.ambiguous) fprintf(stderr, "  unreadable or ambiguous: %s (%s)\n", text, t->image);
        CHECK(r.ok && !r.ambiguous);
        int yes = !strcmp(label, "yes");
        CHECK(yes || !strcmp(label, "no"));
        if (r.answer != yes) fprintf(stderr, "  wrong label %s: %s (%s)\n", label, text, t->image);
        CHECK(r.answer == yes);
        /* pairs: a positive, then its negative about the same thing */
        CHECK(yes == (i % 2 == 0));
        if (!yes && severity != r.severity) fprintf(stderr, "  severity %d, expected %d: %s (%s)\n", severity, r.severity, text, t->image);
        CHECK(yes ? (!strcmp(kind, "none") && severity == 0) : (strcmp(kind, "none") && severity == r.severity));
        int fam = !strcmp(family, "attribute") ? 0 : !strcmp(family, "count") ? 1 : !strcmp(subtype, "next_to") ? 3 : 2;
        CHECK(!strcmp(r.kind, fam == 0 ? "attribute" : fam == 1 ? "count" : "relation"));
        if (yes) tot->yes[fam]++;
        else tot->no[fam]++;
        if (fam == 0) {
            int a = find((const char *const[]){"color", "size", "texture"}, 3, subtype);
            CHECK(a == r.attr);
            if (yes) tot->sub_yes[a]++;
            else tot->sub_no[a]++;
        }
        if (!yes) {
            /* attribute and count negatives ask about the positive's object or category */
            if (fam <= 1) CHECK(r.subject == prev.subject);
            if (fam == 0) {
                /* the negative kinds mean what docs/scenes.md says */
                int on_other = 0, on_any = 0;
                for (int k = 0; k < t->n; k++) {
                    on_any |= t->o[k].attr[r.attr] == r.claim;
                    on_other |= k != r.subject && t->o[k].attr[r.attr] == r.claim;
                }
                if (!strcmp(kind, "random")) { CHECK(!on_any); tot->kinds[0]++; }
                else if (!strcmp(kind, "binding")) { CHECK(on_other); tot->kinds[1]++; }
                else if (!strcmp(kind, "knowledge_conflict")) {
                    const MlWorldCategory *c = &w->category[ml_vocab_find(ML_VOCAB_CATEGORY, CATS[t->o[r.subject].cat])];
                    CHECK(c->typical[r.attr] == r.claim);
                    tot->kinds[2]++;
                } else CHECK(0);
            } else if (fam == 1) {
                int other = 0, count[12] = {0};
                for (int k = 0; k < t->n; k++) count[t->o[k].cat]++;
                for (int c = 0; c < 12; c++) other |= c != r.subject && count[c] == r.claim;
                if (!strcmp(kind, "random")) { CHECK(!other); tot->kinds[3]++; }
                else if (!strcmp(kind, "binding")) { CHECK(other); tot->kinds[4]++; }
                else CHECK(0);
            } else if (fam == 2) {
                if (!strcmp(kind, "swap")) { CHECK(r.subject == prev.object && r.object == prev.subject && r.claim == prev.claim); tot->kinds[5]++; }
                else if (!strcmp(kind, "opposite")) { CHECK(r.subject == prev.subject && r.object == prev.object && r.claim == (prev.claim ^ 1)); tot->kinds[6]++; }
                else CHECK(0);
            } else {
                CHECK(!strcmp(kind, "far_pair"));
                tot->kinds[7]++;
            }
        }
        /* a negative is paired with the positive before it: keep the positive's reading */
        if (yes) prev = r;
        tot->probes_checked++;
        cJSON_Delete(j);
    }
}

static void run_world(const MlWorld *w, MlSplit split, int n_scenes, Totals *tot) {
    Px px = {w->margin * w->image_size, w->near * w->image_size, w->far * w->image_size};
    MlError err = {0};
    for (int i = 0; i < n_scenes; i++) {
        MlScene s;
        CHECK_OK(ml_scene_sample(w, 21, split, i, &s, &err), &err);
        MlStrBuf g = {0};
        ml_scene_graph_json(w, &s, &g);
        TScene t;
        CHECK(read_scene(g.data, &t));
        check_scene_graph(w, &px, g.data, &t);
        ml_strbuf_free(&g);
        MlRng rng;
        ml_rng_init(&rng, 21, split, (uint64_t)i, ML_STREAM_PROBES);
        check_probes(w, &px, &s, &t, &rng, tot);
    }
}

static void test_default_world_properties(void) {
    MlWorld w;
    ml_world_default(&w);
    Totals tot;
    memset(&tot, 0, sizeof tot);
    run_world(&w, ML_SPLIT_TEST, 2500, &tot);
    for (int f = 0; f < 4; f++) CHECK(tot.yes[f] == tot.no[f] && tot.yes[f] > 0);
    for (int a = 0; a < 3; a++) CHECK(tot.sub_yes[a] == tot.sub_no[a] && tot.sub_yes[a] > 1500);
    /* every negative kind occurs */
    for (int k = 0; k < 8; k++) CHECK(tot.kinds[k] > 0);
    printf("  default world: %ld probes checked\n", tot.probes_checked);
}

static void test_crowded_world_properties(void) {
    MlWorld w;
    MlError err = {0};
    CHECK_OK(ml_world_load("worlds/crowded96.json", &w, &err), &err);
    Totals tot;
    memset(&tot, 0, sizeof tot);
    run_world(&w, ML_SPLIT_TEST, 400, &tot);
    for (int f = 0; f < 4; f++) CHECK(tot.yes[f] == tot.no[f] && tot.yes[f] > 0);
}

/* The conflict split: every scene holds an atypical object, and its attribute
   probes ask for the typical value (knowledge conflict). */
static void test_conflict_split(void) {
    MlWorld w;
    MlError err = {0};
    CHECK_OK(ml_world_load("worlds/strong-bias.json", &w, &err), &err);
    Totals tot;
    memset(&tot, 0, sizeof tot);
    run_world(&w, ML_SPLIT_CONFLICT, 600, &tot);
    int with_atypical = 0;
    for (int i = 0; i < 600; i++) {
        MlScene s;
        CHECK_OK(ml_scene_sample(&w, 21, ML_SPLIT_CONFLICT, i, &s, &err), &err);
        int any = 0;
        for (int k = 0; k < s.n_objects; k++) any |= s.obj[k].atypical != 0;
        with_atypical += any;
    }
    CHECK(with_atypical == 600);
    CHECK(tot.kinds[2] > 300); /* knowledge-conflict negatives dominate attribute probes there */
}

/* ---- relation thresholds, by hand -------------------------------------- */

static void test_relation_band_by_hand(void) {
    MlWorld w;
    ml_world_default(&w); /* margin 0.08 x 64 = 5.12 px, near 3.84, far 9.6 */
    MlSceneObject a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.cx = 20, a.cy = 20, b.cx = 25.125, b.cy = 20;
    CHECK(ml_relation_truth(&w, &a, &b, ML_REL_LEFT) == ML_TRUTH_YES);
    CHECK(ml_relation_truth(&w, &b, &a, ML_REL_LEFT) == ML_TRUTH_NO);
    CHECK(ml_relation_truth(&w, &a, &b, ML_REL_ABOVE) == ML_TRUTH_AMBIGUOUS);
    b.cx = 25.0; /* 5 px: inside the band */
    CHECK(ml_relation_truth(&w, &a, &b, ML_REL_LEFT) == ML_TRUTH_AMBIGUOUS);
    CHECK(ml_relation_truth(&w, &a, &b, ML_REL_RIGHT) == ML_TRUTH_AMBIGUOUS);
    /* boxes 3 px apart: next to; 9 px: ambiguous; 10 px: not next to */
    int boxes[3][2] = {{13, 3}, {19, 2}, {20, 1}};
    for (int i = 0; i < 3; i++) {
        memcpy(a.bbox, (int[]){0, 0, 10, 10}, sizeof a.bbox);
        memcpy(b.bbox, (int[]){boxes[i][0], 5, boxes[i][0] + 10, 15}, sizeof b.bbox);
        CHECK(ml_relation_box_gap(&a, &b) == boxes[i][0] - 10);
    }
    memcpy(b.bbox, (int[]){13, 5, 23, 15}, sizeof b.bbox);
    CHECK(ml_relation_truth(&w, &a, &b, ML_REL_NEXT_TO) == ML_TRUTH_YES);
    memcpy(b.bbox, (int[]){19, 5, 29, 15}, sizeof b.bbox);
    CHECK(ml_relation_truth(&w, &a, &b, ML_REL_NEXT_TO) == ML_TRUTH_AMBIGUOUS);
    memcpy(b.bbox, (int[]){20, 5, 30, 15}, sizeof b.bbox);
    CHECK(ml_relation_truth(&w, &a, &b, ML_REL_NEXT_TO) == ML_TRUTH_NO);
    CHECK(ml_relation_severity(&w, &a, &b, ML_REL_NEXT_TO) == 1); /* 10 < 2 x 9.6 */
    memcpy(b.bbox, (int[]){40, 5, 50, 15}, sizeof b.bbox);
    CHECK(ml_relation_severity(&w, &a, &b, ML_REL_NEXT_TO) == 2);
    /* a is 20 px left of and 8 px below b: "a right of b" points 158 degrees away, "a above b" 112 */
    a.cx = 10, a.cy = 30, b.cx = 30, b.cy = 22;
    CHECK(ml_relation_severity(&w, &a, &b, ML_REL_RIGHT) == 2);
    CHECK(ml_relation_severity(&w, &a, &b, ML_REL_ABOVE) == 1);
    CHECK(ml_relation_severity(&w, &a, &b, ML_REL_LEFT) == 0); /* true claims have no severity */
}

static void test_attribute_severity_by_hand(void) {
    int red = 0, orange = 1, yellow = 2, blue = 5, purple = 6, white = 7, cyan = 4;
    CHECK(ml_attr_severity(ML_ATTR_COLOR, red, orange) == 1);
    CHECK(ml_attr_severity(ML_ATTR_COLOR, blue, purple) == 1);
    CHECK(ml_attr_severity(ML_ATTR_COLOR, white, cyan) == 1);
    CHECK(ml_attr_severity(ML_ATTR_COLOR, red, blue) == 2);
    CHECK(ml_attr_severity(ML_ATTR_COLOR, yellow, purple) == 2);
    CHECK(ml_attr_severity(ML_ATTR_COLOR, red, red) == 0);
    /* the documented table of close pairs is exactly the pairs under delta E 70 */
    int close = 0;
    for (int a = 0; a < 8; a++)
        for (int b = a + 1; b < 8; b++) close += ml_attr_severity(ML_ATTR_COLOR, a, b) == 1;
    CHECK(close == (int)(sizeof CLOSE / sizeof CLOSE[0]));
    for (size_t i = 0; i < sizeof CLOSE / sizeof CLOSE[0]; i++)
        CHECK(ml_attr_severity(ML_ATTR_COLOR, find(COLORS, 8, CLOSE[i][0]), find(COLORS, 8, CLOSE[i][1])) == 1);
    CHECK(ml_attr_severity(ML_ATTR_SIZE, 0, 2) == 2);
    CHECK(ml_attr_severity(ML_ATTR_SIZE, 1, 2) == 1);
    CHECK(ml_attr_severity(ML_ATTR_TEXTURE, ML_TEXTURE_STRIPED, ML_TEXTURE_CHECKED) == 1);
    CHECK(ml_attr_severity(ML_ATTR_TEXTURE, ML_TEXTURE_SOLID, ML_TEXTURE_CHECKED) == 2);
}

/* ---- POPE on a constructed example, computed by hand ------------------- */

static int cat(const char *name) { return ml_vocab_find(ML_VOCAB_CATEGORY, name); }

static void build_example(MlSceneStats *st, int images[5][3]) {
    const char *names[5][3] = {{"circle", "square", "star"},  {"circle", "square", "heart"}, {"circle", "ring", "moon"},
                               {"square", "star", "cross"},   {"triangle", "circle", "star"}};
    ml_scene_stats_init(st);
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 3; k++) images[i][k] = cat(names[i][k]);
        ml_scene_stats_add(st, images[i], 3);
    }
    ml_scene_stats_finish(st);
}

static void expect_questions(const MlScenePopeQuestion *q, int n, const char *const expect[6]) {
    CHECK(n == 6);
    for (int k = 0; k < 6 && k < n; k++) {
        if (expect[k] && q[k].category != cat(expect[k]))
            fprintf(stderr, "  question %d: got %s, expected %s\n", k, ml_category_name(q[k].category), expect[k]);
        if (expect[k]) CHECK(q[k].category == cat(expect[k]));
        CHECK(q[k].label == (k % 2 == 0));
    }
}

static void test_pope_constructed_example(void) {
    MlSceneStats st;
    int img[5][3];
    build_example(&st, img);
    /* frequencies: circle 4, square 3, star 3 (square seen first), then heart, ring, moon, cross, triangle (1 each) */
    CHECK(st.n_seen == 8);
    const char *order[8] = {"circle", "square", "star", "heart", "ring", "moon", "cross", "triangle"};
    for (int i = 0; i < 8; i++) CHECK(st.by_frequency[i] == cat(order[i]));
    MlRng r;
    ml_rng_init(&r, 1, 0, 0, 0);
    MlScenePopeQuestion q[6];
    /* popular: the most frequent absent category not asked yet */
    expect_questions(q, ml_scene_pope_image(&st, img[0], 3, ML_POPE_POPULAR, &r, q),
                     (const char *const[]){"circle", "heart", "square", "ring", "star", "moon"});
    expect_questions(q, ml_scene_pope_image(&st, img[4], 3, ML_POPE_POPULAR, &r, q),
                     (const char *const[]){"triangle", "square", "circle", "heart", "star", "ring"});
    expect_questions(q, ml_scene_pope_image(&st, img[3], 3, ML_POPE_POPULAR, &r, q),
                     (const char *const[]){"square", "circle", "star", "heart", "cross", "ring"});
    /* severity: circle never co-occurs above chance with square, star or cross (lifts 0.83, 0.83, 0) */
    CHECK(q[1].severity == 2);
    /* heart: lift(square, heart) = 1 x 5 / (3 x 1) = 1.67 > 1 */
    CHECK(q[3].severity == 1);
    /* adversarial: co-occurrence lists, ties in first-counted order.
       circle: square 2, star 2, heart 1, ring 1, moon 1, triangle 1
       square: circle 2, star 2, heart 1, cross 1;  star: circle 2, square 2, cross 1, triangle 1 */
    expect_questions(q, ml_scene_pope_image(&st, img[0], 3, ML_POPE_ADVERSARIAL, &r, q),
                     (const char *const[]){"circle", "heart", "square", "cross", "star", "triangle"});
    /* triangle co-occurs only with circle and star, both present: random fallback */
    int n = ml_scene_pope_image(&st, img[4], 3, ML_POPE_ADVERSARIAL, &r, q);
    expect_questions(q, n, (const char *const[]){"triangle", NULL, "circle", NULL, "star", NULL});
    CHECK(q[1].fell_back == 1 && q[3].fell_back == 0 && q[5].fell_back == 0);
    /* after the fallback, circle's list gives square unless the fallback took it, then heart */
    CHECK(q[3].category == (q[1].category == cat("square") ? cat("heart") : cat("square")));
    const char *absent4[] = {"square", "heart", "ring", "moon", "cross"};
    int ok = 0;
    for (int i = 0; i < 5; i++) ok |= q[1].category == cat(absent4[i]);
    CHECK(ok);
    /* images with fewer than 3 categories get no questions */
    CHECK(ml_scene_pope_image(&st, img[0], 2, ML_POPE_RANDOM, &r, q) == 0);
}

/* Random negatives: uniform over the seen categories absent from the image and not yet asked. */
static void test_pope_random_is_uniform(void) {
    MlSceneStats st;
    int img[5][3];
    build_example(&st, img);
    const char *pool[5] = {"heart", "ring", "moon", "cross", "triangle"};
    long hits[5] = {0};
    int draws = 5000;
    for (int i = 0; i < draws; i++) {
        MlRng r;
        ml_rng_init(&r, 99, 1, (uint64_t)i, ML_STREAM_POPE);
        MlScenePopeQuestion q[6];
        CHECK(ml_scene_pope_image(&st, img[0], 3, ML_POPE_RANDOM, &r, q) == 6);
        int found = 0;
        for (int k = 0; k < 5; k++)
            if (q[1].category == cat(pool[k])) hits[k]++, found = 1;
        CHECK(found);
        /* three distinct negatives, none in the image */
        CHECK(q[1].category != q[3].category && q[3].category != q[5].category && q[1].category != q[5].category);
    }
    for (int k = 0; k < 5; k++) CHECK(labs(hits[k] - draws / 5) < 140); /* 5 sigma */
}

/* On generated sets: positives are the first 3 distinct categories, negatives absent and distinct. */
static void test_pope_on_generated_set(void) {
    MlWorld w;
    MlError err = {0};
    ml_world_default(&w);
    enum { N = 1500 };
    static MlScene s[N];
    MlSceneStats st;
    ml_scene_stats_init(&st);
    for (int i = 0; i < N; i++) {
        CHECK_OK(ml_scene_sample(&w, 4, ML_SPLIT_TEST, i, &s[i], &err), &err);
        int cats[16], n = ml_scene_categories(&s[i], cats);
        if (n >= 3) ml_scene_stats_add(&st, cats, n);
    }
    ml_scene_stats_finish(&st);
    long eligible = 0, fell_back = 0;
    for (int i = 0; i < N; i++) {
        int cats[16], n = ml_scene_categories(&s[i], cats);
        for (int strat = 0; strat < 3; strat++) {
            MlRng r;
            ml_rng_init(&r, 4, 1, (uint64_t)i, ML_STREAM_POPE);
            MlScenePopeQuestion q[6];
            int nq = ml_scene_pope_image(&st, cats, n, (MlScenePopeStrategy)strat, &r, q);
            CHECK(nq == (n >= 3 ? 6 : 0));
            if (!nq) continue;
            eligible += strat == 0;
            for (int k = 0; k < 3; k++) {
                CHECK(q[2 * k].category == cats[k] && q[2 * k].label == 1);
                CHECK(ml_scene_count(&s[i], q[2 * k + 1].category) == 0 && q[2 * k + 1].label == 0);
                CHECK(q[2 * k + 1].severity == 1 || q[2 * k + 1].severity == 2);
                fell_back += q[2 * k + 1].fell_back;
                for (int j = 0; j < k; j++) CHECK(q[2 * j + 1].category != q[2 * k + 1].category);
            }
            if (strat == ML_POPE_POPULAR) {
                /* nothing more frequent was absent and unused */
                for (int k = 0; k < 3; k++) {
                    int c = q[2 * k + 1].category;
                    for (int j = 0; j < st.n_seen; j++) {
                        int d = st.by_frequency[j];
                        if (d == c) break;
                        int used = ml_scene_count(&s[i], d) > 0;
                        for (int m = 0; m < 2 * k + 1; m++) used |= q[m].category == d;
                        CHECK(used);
                    }
                    CHECK(st.freq[c] <= st.freq[st.by_frequency[0]]);
                }
            }
        }
    }
    CHECK(eligible == st.n_images);
    CHECK(eligible > N / 2);
    CHECK(fell_back < eligible / 10);
}

/* ---- training QA: every answer agrees with the scene graph ------------- */

/* Answer to an open question by this file's reading, or NULL if unreadable. */
static const char *open_answer(const TScene *t, const char *q, char *out) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", q);
    size_t len = strlen(buf);
    if (!len || buf[len - 1] != '?') return NULL;
    buf[len - 1] = 0;
    char *w[40];
    int n = 0;
    for (char *tok = strtok(buf, " "); tok && n < 40; tok = strtok(NULL, " ")) w[n++] = tok;
    unsigned used;
    int k;
    if (n >= 4 && !strcmp(w[0], "What") && (!strcmp(w[1], "color") || !strcmp(w[1], "size")) && !strcmp(w[2], "is") &&
        !strcmp(w[3], "the")) {
        int attr = !strcmp(w[1], "color") ? 0 : 1;
        if ((k = resolve(t, w + 4, n - 4, &used)) < 0 || (used & (1u << attr))) return NULL;
        return strcpy(out, attr == 0 ? COLORS[t->o[k].attr[0]] : SIZES[t->o[k].attr[1]]);
    }
    if (n >= 6 && !strcmp(w[0], "What") && !strcmp(w[1], "pattern") && !strcmp(w[2], "does") && !strcmp(w[3], "the") &&
        !strcmp(w[n - 1], "have")) {
        if ((k = resolve(t, w + 4, n - 5, &used)) < 0 || (used & 4)) return NULL;
        return strcpy(out, TEXTURES[t->o[k].attr[2]]);
    }
    if (n == 5 && !strcmp(w[0], "How") && !strcmp(w[1], "many") && !strcmp(w[3], "are") && !strcmp(w[4], "there")) {
        int c = find(PLURALS, 12, w[2]), cnt = 0;
        for (int i = 0; i < t->n; i++) cnt += t->o[i].cat == c;
        return (c < 0 || !cnt) ? NULL : strcpy(out, NUMBERS[cnt - 1]);
    }
    if (n == 6 && !strcmp(w[0], "What") && !strcmp(w[1], "shape") && !strcmp(w[5], "object")) {
        int color = find(COLORS, 8, w[4]), hit = -1, hits = 0;
        for (int i = 0; i < t->n; i++)
            if (t->o[i].attr[0] == color) hit = i, hits++;
        return hits == 1 ? strcpy(out, CATS[t->o[hit].cat]) : NULL;
    }
    return NULL;
}

static void test_training_qa_answers(void) {
    MlWorld w;
    ml_world_default(&w);
    Px px = {w.margin * w.image_size, w.near * w.image_size, w.far * w.image_size};
    MlError err = {0};
    long open = 0, yesno = 0;
    MlStrBuf b = {0}, g = {0};
    for (int i = 0; i < 800; i++) {
        MlScene s;
        CHECK_OK(ml_scene_sample(&w, 8, ML_SPLIT_TRAIN, i, &s, &err), &err);
        ml_strbuf_clear(&g);
        ml_scene_graph_json(&w, &s, &g);
        TScene t;
        CHECK(read_scene(g.data, &t));
        ml_strbuf_clear(&b);
        ml_qa_lines(&w, &s, &b);
        int lines = 0;
        for (char *line = b.data; line && *line; lines++) {
            char *end = strchr(line, '\n');
            *end = 0;
            cJSON *j = cJSON_Parse(line);
            CHECK(j != NULL);
            if (j) {
                const char *q = cJSON_GetObjectItem(j, "question")->valuestring;
                const char *a = cJSON_GetObjectItem(j, "answer")->valuestring;
                if (!strcmp(cJSON_GetObjectItem(j, "type")->valuestring, "yesno")) {
                    Reading r = read_question(&px, &t, q);
                    CHECK(r.ok && !r.ambiguous && !strcmp(a, r.answer ? "yes" : "no"));
                    yesno++;
                } else {
                    char want[32];
                    const char *ans = open_answer(&t, q, want);
                    if (!ans || strcmp(ans, a)) fprintf(stderr, "  open QA: %s -> %s (expected %s)\n", q, a, ans ? ans : "?");
                    CHECK(ans && !strcmp(ans, a));
                    open++;
                }
                cJSON_Delete(j);
            }
            line = end + 1;
        }
        CHECK(lines == w.qa_per_image);
    }
    ml_strbuf_free(&b);
    ml_strbuf_free(&g);
    CHECK(open > 2000 && yesno > 2000);
}

int main(void) {
    RUN(test_relation_band_by_hand);
    RUN(test_attribute_severity_by_hand);
    RUN(test_pope_constructed_example);
    RUN(test_pope_random_is_uniform);
    RUN(test_pope_on_generated_set);
    RUN(test_default_world_properties);
    RUN(test_crowded_world_properties);
    RUN(test_conflict_split);
    RUN(test_training_qa_answers);
    return test_summary("test_scene_probes");
}
