/*
** vocab.h: the fixed vocabulary of the scene world and its severity scales.
**
** Categories are built-in shapes (scene/shapes.h draws them), colours a
** fixed palette, sizes three ordered steps, textures three fills.  A world
** file (scene/world.h) chooses which of them exist and how often; it cannot
** invent new ones, so every word a probe uses is listed here and in
** docs/scenes.md.  Indices are stable: they are the order of the tables.
**
**     int c = ml_vocab_find(ML_VOCAB_CATEGORY, "star");   // -1 if unknown
**     const char *p = ml_category_plural(c);               // "stars"
**     int sev = ml_attr_severity(ML_ATTR_COLOR, red, orange); // 1 (close)
*/
#ifndef ML_SCENE_VOCAB_H
#define ML_SCENE_VOCAB_H

#include <stdint.h>

#define ML_N_CATEGORIES 12
#define ML_N_COLORS 8
#define ML_N_SIZES 3
#define ML_N_TEXTURES 3

/* Object attributes a probe can ask about (indices into MlSceneObject.attr). */
typedef enum MlAttr { ML_ATTR_COLOR = 0, ML_ATTR_SIZE = 1, ML_ATTR_TEXTURE = 2, ML_N_ATTRS = 3 } MlAttr;

/* Word lists ml_vocab_find searches. */
typedef enum MlVocabKind {
    ML_VOCAB_CATEGORY = 0,
    ML_VOCAB_COLOR,
    ML_VOCAB_SIZE,
    ML_VOCAB_TEXTURE,
} MlVocabKind;

enum { ML_TEXTURE_SOLID = 0, ML_TEXTURE_STRIPED = 1, ML_TEXTURE_CHECKED = 2 };

/* Colours closer than this CIE76 distance (Lab, D65) count as "close". */
#define ML_COLOR_CLOSE_DELTA_E 70.0

int ml_vocab_count(MlVocabKind kind);
const char *ml_vocab_name(MlVocabKind kind, int index);
int ml_vocab_find(MlVocabKind kind, const char *name); /* -1 when absent */

/* The vocabulary list an attribute draws from. */
MlVocabKind ml_attr_vocab(MlAttr attr);
int ml_attr_count(MlAttr attr);
const char *ml_attr_name(MlAttr attr);                   /* "color", "size", "texture" */
const char *ml_attr_value_name(MlAttr attr, int value); /* "red", "small", "striped" */

const char *ml_category_name(int category);
const char *ml_category_plural(int category);
const char *ml_category_article(int category); /* "a" or "an" */

const uint8_t *ml_color_rgb(int color);         /* 3 bytes */
const uint8_t *ml_color_pattern_rgb(int color); /* second colour of stripes and checks */
double ml_color_delta_e(int a, int b);  /* CIE76 distance between two palette colours */

/* Side of an object's bounding square as a fraction of the image side. */
double ml_size_fraction(int size);

/* Severity of claiming value `claimed` when the truth is `truth` (0 if equal):
   colour 1 = close (delta E < 70), 2 = far; size = steps apart (1 or 2);
   texture 1 = one pattern for another (striped/checked), 2 = solid vs patterned. */
int ml_attr_severity(MlAttr attr, int truth, int claimed);

/* "one" .. "ten"; NULL outside 1..10. */
const char *ml_number_word(int n);

#endif
