/* test_train_slots.c: the plateau breakers (train/slots.h, train/patch_head.h):
   per-patch labels worked out by hand from object centres (and stage 1's,
   with each patch's column and row), slot rows
   against sums of embedding rows (with the fixed position code and with
   position words), the slot backward as the transpose of the forward, the per-patch head against central differences of a double
   reference, and the objects read from a real scene split. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "train/patch_head.h"
#include "train/slots.h"

static double drand_pm1(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
}

/* A 64 px, 4x4-patch scene: objects at hand-chosen centres. */
static void test_labels_by_hand(void) {
    MlTrainObject obj[4] = {
        {.attr = {2, 1, 0, 1}, .cx = 31.0f, .cy = 31.25f, .visible = 232}, /* patch (1,1) = 5 */
        {.attr = {0, 3, 1, 0}, .cx = 46.5f, .cy = 44.75f, .visible = 112}, /* patch (2,2) = 10 */
        {.attr = {1, 0, 2, 1}, .cx = 17.0f, .cy = 20.0f, .visible = 300},  /* also patch 5, larger: wins */
        {.attr = {4, 2, 0, 0}, .cx = 63.9f, .cy = 0.0f, .visible = 10},    /* patch (3,0) = 3 */
    };
    int64_t first = 0, count = 4;
    MlTrainData d = {.n_images = 1, .side = 64, .obj = obj, .n_obj = 4, .obj_first = &first, .obj_count = &count};
    enum { A = ML_TRAIN_ATTR_N };
    int lab[16 * A];
    ml_train_slot_labels(&d, 0, 4, lab);
    for (int p = 0; p < 16; p++) {
        const int *want = p == 5 ? obj[2].attr : p == 10 ? obj[1].attr : p == 3 ? obj[3].attr : NULL;
        for (int a = 0; a < A; a++) CHECK(lab[p * A + a] == (want ? want[a] : -1));
    }
    /* a 2x2 grid over the same scene: everything lands in the four quadrants */
    ml_train_slot_labels(&d, 0, 2, lab);
    CHECK(lab[0 * A] == 1 && lab[0 * A + 2] == 2); /* obj 0 (232) and obj 2 (300) share quadrant 0 */
    CHECK(lab[1 * A] == 4);
    CHECK(lab[2 * A] == -1 && lab[2 * A + 3] == -1);
    CHECK(lab[3 * A] == 0 && lab[3 * A + 1] == 3);
    /* stage 1's head labels: the same attributes, then the patch's column and row */
    enum { G = ML_PATCH_GROUPS };
    int head[16 * G], slot[16 * A];
    ml_train_slot_labels(&d, 0, 4, slot);
    ml_train_patch_labels(&d, 0, 4, head);
    for (int p = 0; p < 16; p++) {
        for (int a = 0; a < A; a++) CHECK(head[p * G + a] == slot[p * A + a]);
        CHECK(head[p * G + A] == p % 4 && head[p * G + A + 1] == p / 4);
    }
    CHECK(head[10 * G + A] == 2 && head[10 * G + A + 1] == 2 && head[10 * G] == 0); /* obj 1 at (2,2) */
}

/* Slot rows against E rows summed by hand; the backward is the forward's transpose. */
static void test_slot_embed(void) {
    enum { V = 10, D = 6 };
    float table[V * D];
    for (int i = 0; i < V * D; i++) table[i] = (float)(i % 7) - 3.0f + 0.125f * (float)i;
    MlTrainModel m;
    memset(&m, 0, sizeof m);
    m.dec.embed = (MlTensor){0};
    m.dec.embed.dtype = ML_F32;
    m.dec.embed.ndim = 2;
    m.dec.embed.shape[0] = V;
    m.dec.embed.shape[1] = D;
    m.dec.embed.data = table;
    MlTrainSlots s;
    memset(&s, 0, sizeof s);
    s.grid = 2;
    s.n = 4;
    s.D = D;
    /* category: words 4 and 5+6 (two pieces); colour: 7, 9; size: 1; texture: 2, 3 */
    s.tok[0][0][0] = 4, s.ntok[0][0] = 1;
    s.tok[0][1][0] = 5, s.tok[0][1][1] = 6, s.ntok[0][1] = 2;
    s.tok[1][0][0] = 7, s.ntok[1][0] = 1;
    s.tok[1][1][0] = 9, s.ntok[1][1] = 1;
    s.tok[2][0][0] = 1, s.ntok[2][0] = 1;
    s.tok[3][0][0] = 2, s.ntok[3][0] = 1;
    s.tok[3][1][0] = 3, s.ntok[3][1] = 1;
    float pos[4 * D];
    for (int i = 0; i < 4 * D; i++) pos[i] = 0.01f * (float)i;
    s.pos = pos;
    const int lab[4 * 4] = {-1, -1, -1, -1, 1, 0, 0, 1, 0, 1, 0, 0, -1, -1, -1, -1};
    float rows[4 * D];
    ml_train_slot_embed(&s, &m, lab, rows);
    for (int j = 0; j < D; j++) {
        CHECK_NEAR(rows[0 * D + j], 0, 0);
        CHECK_NEAR(rows[1 * D + j],
                   pos[1 * D + j] + table[5 * D + j] + table[6 * D + j] + table[7 * D + j] + table[1 * D + j] +
                       table[3 * D + j],
                   1e-5);
        CHECK_NEAR(rows[2 * D + j],
                   pos[2 * D + j] + table[4 * D + j] + table[9 * D + j] + table[1 * D + j] + table[2 * D + j], 1e-5);
        CHECK_NEAR(rows[3 * D + j], 0, 0);
    }
    /* <drows, d rows/dE> summed: for every table entry, d(sum drows*rows)/dE = backward */
    float drows[4 * D], dembed[V * D];
    uint64_t r = 3;
    for (int i = 0; i < 4 * D; i++) drows[i] = (float)drand_pm1(&r);
    memset(dembed, 0, sizeof dembed);
    ml_train_slot_embed_backward(&s, dembed, lab, drows);
    for (int v = 0; v < V; v++)
        for (int j = 0; j < D; j++) {
            double want = 0;
            if (v == 5 || v == 6 || v == 7 || v == 1 || v == 3) want += drows[1 * D + j];
            if (v == 4 || v == 9 || v == 1 || v == 2) want += drows[2 * D + j];
            CHECK_NEAR(dembed[v * D + j], want, 1e-6);
        }
    /* with position words (x: ids 0, 8; y: ids 0, 3) they replace the code: patch 1 is column 1,
       row 0; patch 2 column 0, row 1; a word used twice (id 0) counts twice */
    s.has_pos_words = 1;
    s.pos = NULL;
    s.pos_word[0][0] = 0, s.pos_word[0][1] = 8, s.pos_word[1][0] = 0, s.pos_word[1][1] = 3;
    ml_train_slot_embed(&s, &m, lab, rows);
    for (int j = 0; j < D; j++) {
        CHECK_NEAR(rows[0 * D + j], 0, 0);
        CHECK_NEAR(rows[1 * D + j],
                   table[8 * D + j] + table[0 * D + j] + table[5 * D + j] + table[6 * D + j] + table[7 * D + j] +
                       table[1 * D + j] + table[3 * D + j],
                   1e-5);
        CHECK_NEAR(rows[2 * D + j],
                   table[0 * D + j] + table[3 * D + j] + table[4 * D + j] + table[9 * D + j] + table[1 * D + j] +
                       table[2 * D + j],
                   1e-5);
    }
    memset(dembed, 0, sizeof dembed);
    ml_train_slot_embed_backward(&s, dembed, lab, drows);
    for (int v = 0; v < V; v++)
        for (int j = 0; j < D; j++) {
            double want = 0;
            if (v == 5 || v == 6 || v == 7 || v == 1 || v == 3 || v == 8 || v == 0) want += drows[1 * D + j];
            if (v == 4 || v == 9 || v == 1 || v == 2 || v == 0) want += drows[2 * D + j];
            if (v == 3) want += drows[2 * D + j]; /* texture 3 in patch 1, row word 3 in patch 2 */
            CHECK_NEAR(dembed[v * D + j], want, 1e-6);
        }
    char name[16];
    ml_train_position_word(0, 3, name, sizeof name);
    CHECK(!strcmp(name, "<x3>"));
    ml_train_position_word(1, 0, name, sizeof name);
    CHECK(!strcmp(name, "<y0>"));
}

/* The head's loss in double, from the textbook definition. */
static double ref_head(const double *P, const double *f, int T, int Dv, const int *sizes, int G, const int *lab) {
    int C = 0;
    for (int g = 0; g < G; g++) C += sizes[g] + 1;
    double total = 0;
    for (int t = 0; t < T; t++) {
        double z[64];
        for (int c = 0; c < C; c++) {
            z[c] = P[C * Dv + c];
            for (int j = 0; j < Dv; j++) z[c] += P[c * Dv + j] * f[t * Dv + j];
        }
        for (int g = 0, at = 0; g < G; at += sizes[g] + 1, g++) {
            const double *x = z + at;
            int n = sizes[g] + 1, y = lab[t * G + g] + 1;
            double mx = -INFINITY, sum = 0;
            for (int i = 0; i < n; i++) mx = fmax(mx, x[i]);
            for (int i = 0; i < n; i++) sum += exp(x[i] - mx);
            total += mx + log(sum) - x[y];
        }
    }
    return total / T;
}

static void test_patch_head_gradient(void) {
    enum { T = 5, Dv = 7, G = 3, NP = (3 + 1 + 4 + 1 + 2 + 1) * (Dv + 1) };
    const int sizes[G] = {3, 4, 2};
    const int lab[T * G] = {-1, -1, -1, 0, 3, 1, 2, 0, 0, 1, 1, 1, -1, -1, -1};
    const size_t n = ml_patch_head_size(Dv, sizes, G);
    CHECK(n == NP);
    float P[NP], Gr[NP], feats[T * Dv], dfeat[T * Dv];
    double Pd[NP], fd_[T * Dv];
    uint64_t r = 11;
    for (size_t i = 0; i < NP; i++) Pd[i] = P[i] = (float)(0.7 * drand_pm1(&r));
    for (int i = 0; i < T * Dv; i++) fd_[i] = feats[i] = (float)drand_pm1(&r);
    memset(Gr, 0, sizeof Gr);
    memset(dfeat, 0, sizeof dfeat);
    int64_t correct = 0;
    const float scale = 0.5f;
    double loss = ml_patch_head_run(P, Gr, feats, T, Dv, sizes, G, lab, scale, dfeat, &correct);
    CHECK_NEAR(loss, ref_head(Pd, fd_, T, Dv, sizes, G, lab), 1e-5);
    CHECK(correct >= 0 && correct <= G * T);
    const double h = 1e-4;
    double worst = 0;
    for (size_t i = 0; i < NP; i++) {
        double keep = Pd[i];
        Pd[i] = keep + h;
        double up = ref_head(Pd, fd_, T, Dv, sizes, G, lab);
        Pd[i] = keep - h;
        double down = ref_head(Pd, fd_, T, Dv, sizes, G, lab);
        Pd[i] = keep;
        worst = fmax(worst, fabs(scale * (up - down) / (2 * h) - Gr[i]));
    }
    for (int i = 0; i < T * Dv; i++) {
        double keep = fd_[i];
        fd_[i] = keep + h;
        double up = ref_head(Pd, fd_, T, Dv, sizes, G, lab);
        fd_[i] = keep - h;
        double down = ref_head(Pd, fd_, T, Dv, sizes, G, lab);
        fd_[i] = keep;
        worst = fmax(worst, fabs(scale * (up - down) / (2 * h) - dfeat[i]));
    }
    CHECK(worst < 1e-5);
    /* a head whose biases are sure of "empty" scores every token of an empty image */
    float sure[NP];
    memset(sure, 0, sizeof sure);
    const int C = NP / (Dv + 1);
    for (int g = 0, at = 0; g < G; at += sizes[g] + 1, g++) sure[C * Dv + at] = 50.0f;
    int empty[T * G];
    for (int i = 0; i < T * G; i++) empty[i] = -1;
    correct = 0;
    loss = ml_patch_head_run(sure, Gr, feats, T, Dv, sizes, G, empty, 1.0f, dfeat, &correct);
    CHECK(correct == G * T);
    CHECK(loss < 1e-6);
    /* too many classes: size 0, and the run refuses */
    const int huge[1] = {ML_PATCH_HEAD_MAX_CLASSES};
    CHECK(ml_patch_head_size(Dv, huge, 1) == 0);
}

/* The loader on a hand-written scenes.jsonl (the generator's record shape),
   and malformed records refused with a message. */
static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_objects_loader(void) {
    char dir[] = "/tmp/test_train_slots_XXXXXX", path[256];
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/scenes.jsonl", dir);
    write_file(path,
               "{\"index\":0,\"objects\":[{\"category\":\"house\",\"color\":\"green\",\"size\":\"large\","
               "\"texture\":\"checked\",\"center\":[31.0,31.25],\"visible_pixels\":232},{\"category\":\"heart\","
               "\"color\":\"red\",\"size\":\"small\",\"texture\":\"solid\",\"center\":[10.5,11.5],"
               "\"visible_pixels\":266}]}\n"
               "{\"index\":1,\"objects\":[{\"category\":\"heart\",\"color\":\"green\",\"size\":\"small\","
               "\"texture\":\"checked\",\"center\":[50,40],\"visible_pixels\":90}]}\n");
    MlTrainData d;
    memset(&d, 0, sizeof d);
    d.n_images = 2;
    d.side = 64;
    MlError err = {0};
    CHECK_OK(ml_train_data_load_objects(&d, dir, &err), &err);
    CHECK(d.n_obj == 3 && d.n_names[0] == 2 && d.n_names[1] == 2 && d.n_names[2] == 2 && d.n_names[3] == 2);
    CHECK(d.obj_first[1] == 2 && d.obj_count[0] == 2 && d.obj_count[1] == 1);
    CHECK_STR(d.names[0][0], "house");
    CHECK_STR(d.names[0][1], "heart");
    CHECK_STR(d.names[1][1], "red");
    CHECK_STR(d.names[2][1], "small");
    CHECK_STR(d.names[3][0], "checked");
    CHECK(d.obj[2].attr[0] == 1 && d.obj[2].attr[1] == 0 && d.obj[2].attr[2] == 1 && d.obj[2].attr[3] == 0 &&
          d.obj[2].visible == 90);
    CHECK_NEAR(d.obj[0].cy, 31.25, 0);
    int lab[16 * ML_TRAIN_ATTR_N];
    ml_train_slot_labels(&d, 1, 4, lab);
    CHECK(lab[(2 * 4 + 3) * ML_TRAIN_ATTR_N] == 1 && lab[(2 * 4 + 3) * ML_TRAIN_ATTR_N + 1] == 0);
    ml_train_data_free(&d);
    /* malformed: a missing centre, a non-JSON line, too few records */
    const char *bad[] = {
        "{\"objects\":[{\"category\":\"house\",\"color\":\"green\",\"size\":\"small\",\"texture\":\"solid\","
        "\"visible_pixels\":2}]}\n{\"objects\":[]}\n",
        "not json\n{\"objects\":[]}\n",
        "{\"objects\":[]}\n",
    };
    for (int i = 0; i < 3; i++) {
        write_file(path, bad[i]);
        memset(&d, 0, sizeof d);
        d.n_images = 2;
        err = (MlError){0};
        CHECK(ml_train_data_load_objects(&d, dir, &err) != 0);
        CHECK(strstr(err.msg, "scenes.jsonl") != NULL);
        ml_train_data_free(&d);
    }
    remove(path);
    rmdir(dir);
}

int main(void) {
    RUN(test_labels_by_hand);
    RUN(test_slot_embed);
    RUN(test_patch_head_gradient);
    RUN(test_objects_loader);
    return test_summary("test_train_slots");
}
