/* fuzz_coco.c: the streamed COCO instances / captions reader behind
   `--coco-annotations`.  The first byte picks the file kind; the rest is the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/coco.h"

static const char synonyms[] = "person, girl, boy, man\nbicycle, bike\nchair, seat, stool\ntoilet, urinal\n"
                               "dining table, table\nhot dog\ndog, puppy\ncouch, sofa\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    MlError err = {0};
    MlChairVocab v;
    if (ml_chair_vocab_parse(synonyms, sizeof synonyms - 1, "synonyms", &v, &err)) abort();
    MlCocoBuilder b;
    ml_coco_begin(&b, &v);
    const char *text = (const char *)data + 1;
    int rc = data[0] & 1 ? ml_coco_add_captions(&b, text, size - 1, "fuzz", NULL, &err)
                         : ml_coco_add_instances(&b, text, size - 1, "fuzz", NULL, &err);
    if (rc) {
        if (!strstr(err.msg, "fuzz") && rc != ML_ERR_NOMEM) abort(); /* every error names the file */
        ml_coco_abandon(&b);
    } else {
        MlChairTruth gt;
        if (!ml_coco_finish(&b, "fuzz", &gt, &err)) {
            /* every object is a canonical name of the vocabulary, at most once per image */
            for (size_t i = 0; i < gt.count; i++)
                for (char **o = gt.objects[i]; *o; o++) {
                    int known = 0;
                    for (size_t k = 0; k < v.n_names; k++) known |= !strcmp(*o, v.names[k]);
                    for (char **p = gt.objects[i]; p < o; p++)
                        if (!strcmp(*p, *o)) abort();
                    if (!known) abort();
                }
            ml_chair_truth_free(&gt);
        }
    }
    ml_chair_vocab_free(&v);
    return 0;
}
