/*
** method.h: decoding-time mitigation methods, registered by name, each with
** its published defaults (docs/mitigation.md, from the team's notes MITIGATIONS.md).
**
** A method says how many passes it runs in lockstep (decode/contrast.h),
** what each contrast pass sees instead of the image, how the passes' logits
** become the scores the sampler draws from, and its parameters.  Registered
** now:
**   greedy   argmax decoding, no parameters (the baseline every table needs)
**   sample   plain sampling (VCD's "regular" baseline): temperature, top_p, top_k
**   apc      the APC-only control (ustc-hyin/cd_rethink): APC with beta on the
**            normal pass, then the same sampling; no contrast pass
**   vcd      Visual Contrastive Decoding (DAMO-NLP-SG/VCD): a second pass on
**            the diffusion-noised image, s = (1+alpha) l - alpha l', APC, sampling
**
**     const MlMethod *m = ml_method_find("vcd");
**     MlMethodConfig c; ml_method_defaults(&c, m);
**     if (ml_method_set(&c, "alpha=0.5", &err)) ...        // --param alpha=0.5
**     MlSamplerConfig sc; ml_method_sampler(&c, seed, &sc);
**     ... pass p >= 1 gets pixels from m->pass_pixels(&c, p, dst, clean, n, image_seed, &err)
**     ml_lockstep_generate(passes, m->n_passes, logits, m->combine, &c, ...);
**
** Adding a method: one file src/mitigate/<name>.c defining
** `const MlMethod ml_method_<name>` and one line ML_METHOD(<name>) in
** src/mitigate/methods.def.  Parameter names shared by methods mean the
** same thing everywhere: temperature, top_p, top_k (sampling), alpha
** (contrast weight), beta (APC).  Methods are constant data; a config is
** a plain value the caller owns.
*/
#ifndef ML_MITIGATE_METHOD_H
#define ML_MITIGATE_METHOD_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "decode/contrast.h"
#include "decode/sampler.h"

#define ML_METHOD_MAX_PARAMS 16

typedef struct MlParamSpec {
    const char *name;
    double def, lo, hi; /* default and the accepted range (inclusive) */
    int integer;        /* the value must be integral */
    const char *help;
} MlParamSpec;

typedef struct MlMethodConfig MlMethodConfig;

typedef struct MlMethod {
    const char *name;
    const char *summary;       /* one line for --help */
    const char *prompt_suffix; /* appended to yes/no questions by its published protocol ("" = none) */
    const MlParamSpec *params;
    int n_params;
    int n_passes; /* 1 = plain decoding; each further pass is a contrast pass */
    /* Pixels contrast pass `pass` (>= 1) sees, from the clean ones (n
       floats, the normalised tensor); seed is fixed per image so every
       question about it sees the same.  NULL: the clean image. */
    int (*pass_pixels)(const MlMethodConfig *c, int pass, float *dst, const float *clean, int64_t n, uint64_t seed,
                       MlError *err);
    /* The scores to sample from, given every pass's logits; user is the
       const MlMethodConfig *.  NULL: pass 0's logits unchanged. */
    MlCombineFn combine;
} MlMethod;

struct MlMethodConfig {
    const MlMethod *method;
    double value[ML_METHOD_MAX_PARAMS]; /* in the order of method->params */
};

/* The sampling parameters every sampling method lists, with its default temperature. */
#define ML_SAMPLING_PARAMS(default_temperature)                                                                   \
    {"temperature", (default_temperature), 0, 100, 0, "softmax temperature; 0 = greedy (argmax)"},                \
    {"top_p", 1, 0, 1, 0, "nucleus sampling: keep the best tokens up to this mass; 1 = off"},                   \
    {"top_k", 0, 0, 1e9, 1, "keep the k best tokens; 0 = off"}

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
   greedy otherwise; seed as given. */
void ml_method_sampler(const MlMethodConfig *c, uint64_t seed, MlSamplerConfig *out);

/* {"alpha": 1, "beta": 0.2, ...} in the method's order; NULL when out of memory. */
cJSON *ml_method_params_json(const MlMethodConfig *c);

#endif
