/*
** caption.h: the training split's text: captions and instruction-style QA.
**
** Captions come from several templates (a counted list, "This image shows",
** relation-first sentences) and always name each object with its size,
** colour and pattern next to its category ("a small red striped star");
** relation sentences use unambiguous relations only.  Caption noise (world
** training.caption_noise) makes a share of captions wrong (one object gets a
** colour no object of its category has, or becomes a category absent from
** the image) or mismatched (the caption of another image of the set).
**
** QA pairs mix yes/no questions of every probe family (answered "yes" with
** probability training.yes_ratio) with open questions ("What color is the
** star?" -> "red", "How many stars are there?" -> "two", "What pattern does
** the star have?", "What size is the star?", "What shape is the red object?").
**
**     ml_caption_lines(&world, scenes, n, i, &caption_lines);  // captions_per_image JSONL lines
**     ml_qa_lines(&world, &scenes[i], &qa_lines);               // qa_per_image JSONL lines
*/
#ifndef ML_SCENE_CAPTION_H
#define ML_SCENE_CAPTION_H

#include "core/strbuf.h"
#include "scene/scene.h"

/* Caption records for scene i of scenes[0..n) (another scene supplies mismatched captions). */
void ml_caption_lines(const MlWorld *w, const MlScene *scenes, int64_t n, int64_t i, MlStrBuf *out);

void ml_qa_lines(const MlWorld *w, const MlScene *s, MlStrBuf *out);

/* A truthful caption of s and the same caption with one object made wrong
   (a colour its category lacks in the image, or an absent category): the
   contrast pairs steering methods (VTI) are fitted on.  Each is cut to cap. */
void ml_caption_pair(const MlWorld *w, const MlScene *s, char *truthful, char *hallucinated, size_t cap);

#endif
