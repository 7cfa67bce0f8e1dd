/*
** method.h: decoding-time mitigation methods, registered by name, each with
** its published defaults (docs/mitigation.md, from the team's notes MITIGATIONS.md).
**
** A method is constant data.  It declares its passes (pass 0 is the normal
** one; each further pass sees the clean image, other pixels or no image, and
** asks the question as asked or its own prompt), optional hooks per pass and
** step (attention-score edits, attention-probability reads, residual and MLP
** edits: model/hooks.h), a combiner that turns every pass's logits into the
** scores the sampler draws from, optionally state of its own, and optionally
** its own generation loop (beam search, roll-back).  mitigate/runner.h runs
** any method; eval and `misalign generate` both go through it.  Registered:
**   greedy   argmax decoding, no parameters (the baseline every table needs)
**   sample   plain sampling (VCD's "regular" baseline): temperature, top_p, top_k
**   apc      the APC-only control (ustc-hyin/cd_rethink): APC with beta on the
**            normal pass, then the same sampling; no contrast pass
**   vcd      Visual Contrastive Decoding (DAMO-NLP-SG/VCD): a second pass on
**            the diffusion-noised image, s = (1+alpha) l - alpha l', APC, sampling
**   icd      Instruction Contrastive Decoding (p1k0pan/ICD): the contrast pass
**            asks under a disturbance system message; s = (1+alpha) l - alpha l', cutoff
**   m3id     M3ID (RITUAL's re-implementation): a contrast pass without the image,
**            s = l + (l - l_u)(1 - g_t)/g_t with g_t = exp(-0.02 t), cutoff
**   ritual   RITUAL (sangminwoo/RITUAL): a second pass on the image after a random
**            transform drawn per question (mitigate/ritual.h); s = l + alpha_pos l_T, cutoff
**   pai      PAI (LALBJ/PAI): image attention amplified on the last query row
**            of layers 2..L-1, contrast with a text-only pass, greedy
**   sid      SID (huofushuo/SID): contrast with a pass that keeps only the
**            least-attended image tokens from layer 2 on, greedy
**   beam     beam search as transformers' generate defines it (mitigate/beam_search.h)
**   opera    OPERA (shikiw/OPERA): beam search with the over-trust penalty and
**            retrospection roll-back (mitigate/opera.h)
**   vti      VTI (shengliu66/VTI): steers every MLP output of both towers
**            toward directions fitted offline (--steer FILE, mitigate/vti.h)
**   dola     DoLa (voidism/DoLa): final layer against the premature layer of
**            largest JSD, relative-top filter, greedy (reads residuals by hooks)
**
**     const MlMethod *m = ml_method_find("vcd");
**     MlMethodConfig c; ml_method_defaults(&c, m);
**     if (ml_method_set(&c, "alpha=0.5", &err)) ...        // --param alpha=0.5
**     MlSamplerConfig sc; ml_method_sampler(&c, seed, &sc);
**     ... then ml_runner_new(&r, model, &c, &options, &err) (mitigate/runner.h)
**
** Adding a method: one file src/mitigate/<name>.c defining
** `const MlMethod ml_method_<name>` and one line ML_METHOD(<name>) in
** src/mitigate/methods.def (docs/CONTRIBUTING.md, "Adding a method").
** Parameter names shared by methods mean the same thing everywhere:
** temperature, top_p, top_k (sampling), alpha (contrast weight), beta (APC).
** A config is a plain value the caller owns.
*/
#ifndef ML_MITIGATE_METHOD_H
#define ML_MITIGATE_METHOD_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "decode/contrast.h"
#include "decode/sampler.h"
#include "decode/session.h"
#include "model/hooks.h"
#include "model/lvlm.h"

#define ML_METHOD_MAX_PARAMS 16

typedef struct MlParamSpec {
    const char *name;
    double def, lo, hi; /* default and the accepted range (inclusive) */
    int integer;        /* the value must be integral */
    const char *help;
    /* NULL, or the names of the values 0, 1, ... separated by '|' ("sample|greedy"):
       the parameter is then given by name (--param decode=greedy). */
    const char *choices;
} MlParamSpec;

typedef struct MlMethodConfig MlMethodConfig;

/* What a pass sees where the prompt has its image. */
typedef enum MlPassImage {
    ML_PASS_CLEAN = 0, /* the image as loaded */
    ML_PASS_PIXELS,    /* other pixels: the method's pass_pixels, from the clean ones (VCD's noise) */
    ML_PASS_NO_IMAGE,  /* none: the template without its image placeholder (M3ID, PAI's contrast) */
    ML_PASS_DECODED,   /* the decoded image through the method's pass_image, then the model's image
                          processor, drawn anew for every question (RITUAL's transforms) */
} MlPassImage;

/* What a pass asks. */
typedef enum MlPassPrompt {
    ML_PASS_SAME_PROMPT = 0, /* the system text and question as the run asks them */
    ML_PASS_OWN_PROMPT,      /* the method's pass_prompt rewrites them (ICD's disturbance) */
} MlPassPrompt;

typedef struct MlPass {
    MlPassImage image;
    MlPassPrompt prompt;
} MlPass;

/* The steps pass_hooks is asked about besides generated tokens (0, 1, ...):
   the encoding of the pass's image (vision-tower hooks; asked of pass 0 for
   the clean image), the shared prefix (BOS ... image tokens, when the runner
   prefills it on its own) and the prompt (the rest of it, or all of it in
   one call). */
#define ML_STEP_IMAGE (-3)
#define ML_STEP_PREFIX (-2)
#define ML_STEP_PROMPT (-1)

/* What a method's functions see of the run: its configuration, the model,
   its state, and per pass the current question's session and prompt. */
typedef struct MlMethodRun {
    const MlMethodConfig *cfg;
    MlLvlm *m;
    void *state; /* the method's own (state_new), NULL without */
    int n_passes;
    MlSession *session[ML_LOCKSTEP_MAX_PASSES]; /* after its prompt (generate may fork these) */
    int64_t prompt_len[ML_LOCKSTEP_MAX_PASSES];  /* tokens of the pass's prompt */
    int64_t image_begin[ML_LOCKSTEP_MAX_PASSES]; /* its image tokens are positions [image_begin, image_end); */
    int64_t image_end[ML_LOCKSTEP_MAX_PASSES];   /* equal: the pass has no image */
} MlMethodRun;

typedef struct MlMethod {
    const char *name;
    const char *summary;       /* one line for --help */
    const char *prompt_suffix; /* appended to yes/no questions by its published protocol ("" = none) */
    const MlParamSpec *params;
    int n_params;
    int n_passes; /* 1 = plain decoding; each further pass is a contrast pass */
    int reads_steer; /* 1: it reads a directions file (MlMethodConfig.steer, --steer FILE) */
    /* [n_passes], pass 0 first; NULL: every pass the clean image and the same prompt. */
    const MlPass *passes;
    /* Pixels an ML_PASS_PIXELS pass sees, from the clean ones (n floats,
       the normalised tensor); seed is fixed per image so every question
       about it sees the same. */
    int (*pass_pixels)(const MlMethodConfig *c, int pass, float *dst, const float *clean, int64_t n, uint64_t seed,
                       MlError *err);
    /* The image an ML_PASS_DECODED pass sees (*out, which the runner frees), from the decoded
       one; seed is fixed per image and question. */
    int (*pass_image)(const MlMethodConfig *c, int pass, const MlImage *image, uint64_t seed, MlImage *out,
                      MlError *err);
    /* An ML_PASS_OWN_PROMPT pass's system text and question, from the run's
       (system NULL: the template's own).  Each output is malloc'd, or left
       NULL to keep the run's. */
    int (*pass_prompt)(const MlMethodConfig *c, int pass, const char *system, const char *question, char **system_out,
                       char **question_out, MlError *err);
    /* State the other functions share (run->state), made once per runner. */
    int (*state_new)(MlMethodRun *run, MlError *err);
    void (*state_free)(MlMethodRun *run);
    /* Hooks for pass `pass` when it is fed at `step` (ML_STEP_PREFIX,
       ML_STEP_PROMPT, or the generated token's index); NULL: none.  A pass
       with prefix hooks gets a prefix of its own. */
    const MlHooks *(*pass_hooks)(MlMethodRun *run, int pass, int64_t step);
    /* Bit p set: pass p's prefix hooks depend on the question (SID's
       selection), so a prefix it hooks is prefilled with every question,
       never prepared or shared; without prefix hooks it shares as usual. */
    unsigned question_prefix;
    /* The scores to sample from, given every pass's logits; user is the
       MlMethodRun *.  NULL: pass 0's logits unchanged. */
    MlCombineFn combine;
    /* Its own generation loop (beam search, OPERA); NULL: every pass in
       lockstep (decode/contrast.h).  logits[p] holds pass p's logits after
       its prompt; scores is vocab floats of scratch.  It may fork the
       sessions of run, and frees its forks before it returns. */
    int (*generate)(MlMethodRun *run, float *const *logits, float *scores, MlSampler *sampler, int64_t max_tokens,
                    int32_t eos_id, int32_t *out, int64_t *n_out, MlError *err);
} MlMethod;

struct MlMethodConfig {
    const MlMethod *method;
    double value[ML_METHOD_MAX_PARAMS]; /* in the order of method->params */
    const char *steer; /* a steering-direction file the method reads (--steer FILE: VTI); NULL: none */
};

/* The sampling parameters every sampling method lists, with its default temperature. */
#define ML_SAMPLING_PARAMS(default_temperature)                                                                   \
    {"temperature", (default_temperature), 0, 100, 0, "softmax temperature; 0 = greedy (argmax)", NULL},                \
    {"top_p", 1, 0, 1, 0, "nucleus sampling: keep the best tokens up to this mass; 1 = off", NULL},                   \
    {"top_k", 0, 0, 1e9, 1, "keep the k best tokens; 0 = off", NULL}

/* `decode`, which every contrastive method lists: sample (0) from its scores
   with the sampling parameters, or take their argmax (1, greedy). */
#define ML_DECODE_SAMPLE 0
#define ML_DECODE_GREEDY 1
#define ML_DECODE_PARAM(default_decode)                                                                              \
    {"decode", (default_decode), 0, 1, 1, "sample from the scores (temperature, top_p, top_k) or take their argmax", \
     "sample|greedy"}

/* An MlMethod's name, one-line summary and prompt suffix. */
#define ML_METHOD_ID(name_, summary_, suffix_) .name = (name_), .summary = (summary_), .prompt_suffix = (suffix_)
/* The yes/no prompt suffix of VCD's POPE protocol (its sampling baselines use it too). */
#define ML_ONE_WORD_SUFFIX " Please answer this question with one word."

/* .params and .n_params of an MlMethod from a static array. */
#define ML_METHOD_PARAMS(array) .params = (array), .n_params = (int)(sizeof(array) / sizeof((array)[0]))

/* NULL when no method has that name. */
const MlMethod *ml_method_find(const char *name);
size_t ml_method_count(void);
const MlMethod *ml_method_at(size_t i);
/* "greedy, sample, apc, vcd" into buf, for messages. */
void ml_method_names(char *buf, size_t cap);

void ml_method_defaults(MlMethodConfig *c, const MlMethod *m);
/* Applies "name=value"; ML_ERR_ARG naming the method's parameters for an
   unknown name, and the range for a bad value. */
int ml_method_set(MlMethodConfig *c, const char *assignment, MlError *err);
/* A parameter's value; NaN when the method has no such parameter. */
double ml_method_param(const MlMethodConfig *c, const char *name);

/* The sampler settings: temperature, top_p, top_k when the method has them,
   greedy otherwise or when its decode parameter says greedy; seed as given. */
void ml_method_sampler(const MlMethodConfig *c, uint64_t seed, MlSamplerConfig *out);

/* A pass's declaration (the clean image and the same prompt when the method lists none). */
MlPass ml_method_pass(const MlMethod *m, int pass);
/* The hooks run's method wants for pass and step (NULL: none). */
const MlHooks *ml_method_hooks(MlMethodRun *run, int pass, int64_t step);

/* The combiner VCD and ICD share: s = (1+alpha) l - alpha l' on passes 0 and
   1, then APC with beta on pass 0 (decode/contrast.h); user is the MlMethodRun *. */
void ml_method_combine_contrast(float *scores, const float *const *logits, int n_passes, int64_t vocab, int64_t step,
                                void *user);

/* {"alpha": 1, "beta": 0.2, "decode": "greedy", ...} in the method's order (a
   choice parameter by its name); NULL when out of memory. */
cJSON *ml_method_params_json(const MlMethodConfig *c);

#endif
