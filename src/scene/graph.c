/* graph.c: a scene as one JSON line (the scenes.jsonl record, docs/scenes.md). */
#include "scene/relations.h"
#include "scene/scene.h"

static void relation_list(const MlWorld *w, const MlScene *s, int want, MlStrBuf *b) {
    int first = 1;
    ml_strbuf_puts(b, "[");
    for (int i = 0; i < s->n_objects; i++)
        for (int j = 0; j < s->n_objects; j++) {
            if (i == j) continue;
            for (int r = 0; r < ML_N_RELATIONS; r++) {
                if (ml_relation_truth(w, &s->obj[i], &s->obj[j], (MlRelation)r) != want) continue;
                ml_strbuf_printf(b, "%s[%d,\"%s\",%d]", first ? "" : ",", i, ml_relation_name((MlRelation)r), j);
                first = 0;
            }
        }
    ml_strbuf_puts(b, "]");
}

void ml_scene_graph_json(const MlWorld *w, const MlScene *s, MlStrBuf *b) {
    char id[64], image[64];
    ml_scene_id(s, id, sizeof id);
    ml_scene_image_name(s, image, sizeof image);
    ml_strbuf_printf(b, "{\"id\":\"%s\",\"image\":\"%s\",\"split\":\"%s\",\"index\":%lld,\"size\":%d,\"objects\":[", id,
                     image, ml_split_name(s->split), (long long)s->index, w->image_size);
    for (int k = 0; k < s->n_objects; k++) {
        const MlSceneObject *o = &s->obj[k];
        ml_strbuf_printf(b,
                         "%s{\"id\":%d,\"category\":\"%s\",\"color\":\"%s\",\"size\":\"%s\",\"texture\":\"%s\","
                         "\"center\":[%.3f,%.3f],\"bbox\":[%d,%d,%d,%d],\"area_pixels\":%d,\"visible_pixels\":%d,"
                         "\"atypical\":[",
                         k ? "," : "", k, ml_category_name(o->category),
                         ml_attr_value_name(ML_ATTR_COLOR, o->attr[ML_ATTR_COLOR]),
                         ml_attr_value_name(ML_ATTR_SIZE, o->attr[ML_ATTR_SIZE]),
                         ml_attr_value_name(ML_ATTR_TEXTURE, o->attr[ML_ATTR_TEXTURE]), o->cx, o->cy, o->bbox[0],
                         o->bbox[1], o->bbox[2], o->bbox[3], o->area_pixels, o->visible_pixels);
        int first = 1;
        for (int a = 0; a < ML_N_ATTRS; a++)
            if (o->atypical & (1u << a)) {
                ml_strbuf_printf(b, "%s\"%s\"", first ? "" : ",", ml_attr_name((MlAttr)a));
                first = 0;
            }
        ml_strbuf_puts(b, "]}");
    }
    ml_strbuf_puts(b, "],\"counts\":{");
    int cats[ML_WORLD_MAX_OBJECTS];
    int n = ml_scene_categories(s, cats);
    for (int i = 0; i < n; i++)
        ml_strbuf_printf(b, "%s\"%s\":%d", i ? "," : "", ml_category_name(cats[i]), ml_scene_count(s, cats[i]));
    ml_strbuf_puts(b, "},\"relations\":");
    relation_list(w, s, ML_TRUTH_YES, b);
    ml_strbuf_puts(b, ",\"ambiguous\":");
    relation_list(w, s, ML_TRUTH_AMBIGUOUS, b);
    ml_strbuf_puts(b, ",\"defects\":[");
    static const char *const defect_names[] = {"blur", "noise", "crop"};
    int first = 1;
    for (int d = 0; d < 3; d++)
        if (s->defects & (1u << d)) {
            ml_strbuf_printf(b, "%s\"%s\"", first ? "" : ",", defect_names[d]);
            first = 0;
        }
    ml_strbuf_puts(b, "]}");
}
