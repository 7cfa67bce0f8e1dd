/* vocab.c: the scene world's word tables, palette and severity scales. */
#include "scene/vocab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct CategoryWords {
    const char *name, *plural, *article;
} CategoryWords;

static const CategoryWords categories[ML_N_CATEGORIES] = {
    {"circle", "circles", "a"},   {"square", "squares", "a"},   {"triangle", "triangles", "a"},
    {"star", "stars", "a"},       {"heart", "hearts", "a"},     {"cross", "crosses", "a"},
    {"diamond", "diamonds", "a"}, {"ring", "rings", "a"},       {"moon", "moons", "a"},
    {"arrow", "arrows", "an"},    {"house", "houses", "a"},     {"hourglass", "hourglasses", "an"},
};

static const char *const color_names[ML_N_COLORS] = {"red",  "orange", "yellow", "green",
                                                     "cyan", "blue",   "purple", "white"};
/* Saturated and well apart in hue so each reads clearly against the grey
   background at 64 px; white is the one light colour. */
static const uint8_t color_rgb[ML_N_COLORS][3] = {
    {200, 30, 30}, {245, 140, 20}, {250, 230, 40}, {30, 160, 40},
    {40, 210, 210}, {40, 70, 220}, {170, 45, 190}, {245, 245, 245},
};

/* The second colour of striped and checked objects: a darker shade, except
   that white pairs with dark grey, since 60% of white is the background's grey. */
static const uint8_t pattern_rgb[ML_N_COLORS][3] = {
    {120, 18, 18}, {147, 84, 12}, {150, 138, 24}, {18, 96, 24},
    {24, 126, 126}, {24, 42, 132}, {102, 27, 114}, {60, 60, 60},
};

static const char *const size_names[ML_N_SIZES] = {"small", "medium", "large"};
static const double size_fractions[ML_N_SIZES] = {0.17, 0.23, 0.30};

static const char *const texture_names[ML_N_TEXTURES] = {"solid", "striped", "checked"};

static const char *const number_words[10] = {"one", "two",   "three", "four", "five",
                                             "six", "seven", "eight", "nine", "ten"};

int ml_vocab_count(MlVocabKind kind) {
    switch (kind) {
    case ML_VOCAB_CATEGORY: return ML_N_CATEGORIES;
    case ML_VOCAB_COLOR: return ML_N_COLORS;
    case ML_VOCAB_SIZE: return ML_N_SIZES;
    case ML_VOCAB_TEXTURE: return ML_N_TEXTURES;
    }
    return 0;
}

const char *ml_vocab_name(MlVocabKind kind, int index) {
    if (index < 0 || index >= ml_vocab_count(kind)) return NULL;
    switch (kind) {
    case ML_VOCAB_CATEGORY: return categories[index].name;
    case ML_VOCAB_COLOR: return color_names[index];
    case ML_VOCAB_SIZE: return size_names[index];
    case ML_VOCAB_TEXTURE: return texture_names[index];
    }
    return NULL;
}

int ml_vocab_find(MlVocabKind kind, const char *name) {
    if (!name) return -1;
    for (int i = 0; i < ml_vocab_count(kind); i++)
        if (!strcmp(ml_vocab_name(kind, i), name)) return i;
    return -1;
}

MlVocabKind ml_attr_vocab(MlAttr attr) {
    return attr == ML_ATTR_COLOR ? ML_VOCAB_COLOR : attr == ML_ATTR_SIZE ? ML_VOCAB_SIZE : ML_VOCAB_TEXTURE;
}

int ml_attr_count(MlAttr attr) { return ml_vocab_count(ml_attr_vocab(attr)); }

const char *ml_attr_name(MlAttr attr) {
    static const char *const names[ML_N_ATTRS] = {"color", "size", "texture"};
    return (unsigned)attr < ML_N_ATTRS ? names[attr] : NULL;
}

const char *ml_attr_value_name(MlAttr attr, int value) { return ml_vocab_name(ml_attr_vocab(attr), value); }

const char *ml_category_name(int c) { return ml_vocab_name(ML_VOCAB_CATEGORY, c); }
const char *ml_category_plural(int c) { return (c >= 0 && c < ML_N_CATEGORIES) ? categories[c].plural : NULL; }
const char *ml_category_article(int c) { return (c >= 0 && c < ML_N_CATEGORIES) ? categories[c].article : NULL; }

const uint8_t *ml_color_rgb(int color) { return color_rgb[color]; }
const uint8_t *ml_color_pattern_rgb(int color) { return pattern_rgb[color]; }

double ml_size_fraction(int size) { return size_fractions[size]; }

const char *ml_number_word(int n) { return (n >= 1 && n <= 10) ? number_words[n - 1] : NULL; }

/* sRGB (D65) to CIE L*a*b*, the textbook formulas. */
static void rgb_to_lab(const uint8_t rgb[3], double lab[3]) {
    double lin[3];
    for (int i = 0; i < 3; i++) {
        double c = rgb[i] / 255.0;
        lin[i] = c > 0.04045 ? pow((c + 0.055) / 1.055, 2.4) : c / 12.92;
    }
    double xyz[3] = {
        (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047,
        0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2],
        (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883,
    };
    double f[3];
    for (int i = 0; i < 3; i++) f[i] = xyz[i] > 0.008856 ? cbrt(xyz[i]) : 7.787 * xyz[i] + 16.0 / 116.0;
    lab[0] = 116 * f[1] - 16;
    lab[1] = 500 * (f[0] - f[1]);
    lab[2] = 200 * (f[1] - f[2]);
}

double ml_color_delta_e(int a, int b) {
    double la[3], lb[3];
    rgb_to_lab(color_rgb[a], la);
    rgb_to_lab(color_rgb[b], lb);
    return sqrt((la[0] - lb[0]) * (la[0] - lb[0]) + (la[1] - lb[1]) * (la[1] - lb[1]) +
                (la[2] - lb[2]) * (la[2] - lb[2]));
}

int ml_attr_severity(MlAttr attr, int truth, int claimed) {
    if (truth == claimed) return 0;
    switch (attr) {
    case ML_ATTR_COLOR: return ml_color_delta_e(truth, claimed) < ML_COLOR_CLOSE_DELTA_E ? 1 : 2;
    case ML_ATTR_SIZE: return abs(truth - claimed);
    case ML_ATTR_TEXTURE: return (truth == ML_TEXTURE_SOLID || claimed == ML_TEXTURE_SOLID) ? 2 : 1;
    default: return 0;
    }
}
