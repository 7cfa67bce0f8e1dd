/*
** text.h: the plain words probes, captions and QA use to name objects.
**
** A referring expression names one object uniquely with the fewest words:
** the category alone, else category plus colour, size or texture, else two
** or all three of them, always in the order size, colour, texture, category
** ("small red striped star").  `exclude` keeps the attribute a question asks
** about out of the expression ("Is the small star red?" never says "red star").
**
**     char ref[64];
**     if (ml_text_refer(&scene, k, ML_ATTR_COLOR, ref, sizeof ref)) ...  // "small star"
**     ml_text_mention(&scene.obj[k], mention, sizeof mention);          // "a small red striped star"
*/
#ifndef ML_SCENE_TEXT_H
#define ML_SCENE_TEXT_H

#include "scene/scene.h"

/* 1 and the expression (without "the") when one exists, else 0. exclude: an MlAttr or -1. */
int ml_text_refer(const MlScene *s, int k, int exclude, char *out, int cap);

/* "a small red star" / "a large blue striped circle" (solid is left unsaid). */
void ml_text_mention(const MlSceneObject *o, char *out, int cap);

/* "Is there a star in the image?" */
void ml_text_exists_question(int category, char *out, int cap);
/* "Is the small star red?" for attribute `attr` with value `value`. */
void ml_text_attribute_question(const char *ref, MlAttr attr, int value, char *out, int cap);
/* "Is there exactly one star in the image?" / "Are there exactly two stars in the image?" */
void ml_text_count_question(int category, int count, char *out, int cap);
/* "Is the red star left of the circle?" */
void ml_text_relation_question(const char *ref_a, int relation, const char *ref_b, char *out, int cap);

#define ML_DESCRIBE_PROMPT "Describe this image in detail. Include specific objects, their attributes, and relationships."

#endif
