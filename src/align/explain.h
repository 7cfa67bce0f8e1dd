/*
** explain.h: why a LLaVA model answered what it did, for one image and one
** prompt (docs/alignment.md, METRICS.md "Explainability on LVLMs").
**
** ml_explain runs the prompt with the image, generates the greedy answer,
** and measures, all at the last prompt position (the query that predicts
** the answer's first token):
**   attention   per decoder layer and head, the softmax mass that query puts
**               on the image positions, on BOS (position 0, when the prompt
**               starts with BOS) and on every other (text) position; the
**               three add up to 1 (FastV's ratio_img with one query row).
**   logit lens  per layer -1 .. n_layers-1, softmax(lm_head(norm(h))) of the
**               residual row (Neo et al.; lens_norm = 0 leaves out the final
**               RMSNorm, as DoLa's copies and Jiang et al. do): the top_k
**               tokens and the rank (1 = best) and probability of the
**               answer's first token.  At the last layer with the norm this
**               is the model's own output distribution.
**   contribution  log p(answer token t | condition, prompt, answer < t) for
**               every token of the greedy answer under four conditions: the
**               image, no image (the template without "<image>\n"), a
**               mean-colour image (every preprocessed pixel set to its
**               channel's mean over the image) and a noise image (standard
**               normal values in the processor's normalised pixel space,
**               from `seed`).  image minus no_image is the visual
**               contribution VC_t; near 0 or below means the language prior.
**
**     MlExplainOptions o = ML_EXPLAIN_DEFAULTS;
**     MlExplanation e; MlError err = {0};
**     if (ml_explain(m, pixels, "Is there a star?", &o, &e, &err)) ...
**     double vc = ml_explain_logp_sum(&e, ML_EXPLAIN_IMAGE) - ml_explain_logp_sum(&e, ML_EXPLAIN_NO_IMAGE);
**     ml_explanation_free(&e);
**
** The explanation owns its arrays.  The model runs one forward at a time.
*/
#ifndef ML_ALIGN_EXPLAIN_H
#define ML_ALIGN_EXPLAIN_H

#include <stdint.h>

#include "core/error.h"
#include "model/lvlm.h"
#include "model/prompt.h"

typedef enum MlExplainCondition {
    ML_EXPLAIN_IMAGE = 0,  /* the image given */
    ML_EXPLAIN_NO_IMAGE,   /* no image tokens at all */
    ML_EXPLAIN_MEAN_IMAGE, /* every pixel the image's mean colour */
    ML_EXPLAIN_NOISE_IMAGE, /* Gaussian noise */
    ML_EXPLAIN_N_CONDITIONS
} MlExplainCondition;

typedef struct MlExplainOptions {
    MlPromptOptions prompt;
    int top_k;          /* logit-lens tokens per layer, >= 1 */
    int64_t max_tokens; /* greedy answer length, >= 1 (EOS included when it stops) */
    int lens_norm;      /* 1: the final norm before lm_head; 0: lm_head alone */
    uint64_t seed;      /* of the noise image */
} MlExplainOptions;

#define ML_EXPLAIN_DEFAULTS                                                                                  \
    ((MlExplainOptions){.prompt = {.tmpl = ML_TEMPLATE_HF}, .top_k = 5, .max_tokens = 16, .lens_norm = 1, .seed = 0})

typedef struct MlExplanation {
    int n_layers, n_heads, top_k, lens_norm;
    int32_t *prompt;               /* (n_prompt) the ids run with the image */
    int64_t n_prompt;
    int64_t image_lo, image_hi;    /* image positions [lo, hi) in prompt */
    int has_bos;                   /* prompt[0] is BOS */
    /* attention of the last prompt position: (n_layers, n_heads), layer-major */
    double *attn_image, *attn_bos, *attn_text;
    /* logit lens: row l + 1 is layer l (row 0: the input embeddings) */
    int32_t *lens_top;             /* (n_layers + 1, top_k), best first */
    float *lens_prob;              /* (n_layers + 1, top_k) */
    int64_t *answer_rank;          /* (n_layers + 1) */
    double *answer_prob;           /* (n_layers + 1) */
    /* the greedy answer (with the image) and its log-probabilities */
    int32_t *answer;               /* (n_answer) */
    int64_t n_answer;
    double *logp[ML_EXPLAIN_N_CONDITIONS]; /* (n_answer) each, natural log */
} MlExplanation;

/* pixels as ml_lvlm_load_image leaves them.  Fails with ML_ERR_RANGE when the
   prompt plus max_tokens does not fit the context. */
int ml_explain(MlLvlm *m, const float *pixels, const char *prompt, const MlExplainOptions *opt, MlExplanation *out,
               MlError *err);
void ml_explanation_free(MlExplanation *e);

/* Head means of one layer's masses. */
double ml_explain_head_mean(const MlExplanation *e, const double *mass, int layer);
/* log p of the whole answer under a condition. */
double ml_explain_logp_sum(const MlExplanation *e, MlExplainCondition c);
/* "image", "no_image", "mean_image", "noise_image" */
const char *ml_explain_condition_name(MlExplainCondition c);

#endif
