/* text.c: referring expressions and question templates (see text.h). */
#include "scene/text.h"

#include <stdio.h>
#include <string.h>

#include "scene/relations.h"

/* Attribute subsets tried in order: fewest words first. Bits: 1 colour, 2 size, 4 texture. */
static const unsigned subsets[] = {0, 1, 2, 4, 3, 5, 6, 7};

static int matches(const MlSceneObject *a, const MlSceneObject *b, unsigned used) {
    if (a->category != b->category) return 0;
    for (int t = 0; t < ML_N_ATTRS; t++)
        if ((used & (1u << t)) && a->attr[t] != b->attr[t]) return 0;
    return 1;
}

static void phrase(const MlSceneObject *o, unsigned used, int with_solid, char *out, int cap) {
    char buf[128] = "";
    if (used & (1u << ML_ATTR_SIZE)) {
        strcat(buf, ml_attr_value_name(ML_ATTR_SIZE, o->attr[ML_ATTR_SIZE]));
        strcat(buf, " ");
    }
    if (used & (1u << ML_ATTR_COLOR)) {
        strcat(buf, ml_attr_value_name(ML_ATTR_COLOR, o->attr[ML_ATTR_COLOR]));
        strcat(buf, " ");
    }
    if ((used & (1u << ML_ATTR_TEXTURE)) && (with_solid || o->attr[ML_ATTR_TEXTURE] != ML_TEXTURE_SOLID)) {
        strcat(buf, ml_attr_value_name(ML_ATTR_TEXTURE, o->attr[ML_ATTR_TEXTURE]));
        strcat(buf, " ");
    }
    snprintf(out, (size_t)cap, "%s%s", buf, ml_category_name(o->category));
}

int ml_text_refer(const MlScene *s, int k, int exclude, char *out, int cap) {
    for (size_t i = 0; i < sizeof subsets / sizeof subsets[0]; i++) {
        unsigned used = subsets[i];
        if (exclude >= 0 && (used & (1u << exclude))) continue;
        int unique = 1;
        for (int j = 0; j < s->n_objects && unique; j++)
            if (j != k && matches(&s->obj[k], &s->obj[j], used)) unique = 0;
        if (unique) {
            /* "solid" must be said when texture is what tells two objects apart */
            phrase(&s->obj[k], used, 1, out, cap);
            return 1;
        }
    }
    return 0;
}

void ml_text_mention(const MlSceneObject *o, char *out, int cap) {
    char p[128];
    phrase(o, 7, 0, p, sizeof p);
    /* sizes all start with a consonant, so the article is always "a" */
    snprintf(out, (size_t)cap, "a %s", p);
}

void ml_text_exists_question(int category, char *out, int cap) {
    snprintf(out, (size_t)cap, "Is there %s %s in the image?", ml_category_article(category), ml_category_name(category));
}

void ml_text_attribute_question(const char *ref, MlAttr attr, int value, char *out, int cap) {
    snprintf(out, (size_t)cap, "Is the %s %s?", ref, ml_attr_value_name(attr, value));
}

void ml_text_count_question(int category, int count, char *out, int cap) {
    if (count == 1) snprintf(out, (size_t)cap, "Is there exactly one %s in the image?", ml_category_name(category));
    else
        snprintf(out, (size_t)cap, "Are there exactly %s %s in the image?", ml_number_word(count),
                 ml_category_plural(category));
}

void ml_text_relation_question(const char *ref_a, int relation, const char *ref_b, char *out, int cap) {
    snprintf(out, (size_t)cap, "Is the %s %s the %s?", ref_a, ml_relation_name((MlRelation)relation), ref_b);
}
