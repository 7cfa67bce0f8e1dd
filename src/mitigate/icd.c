/* icd.c: Instruction Contrastive Decoding (p1k0pan/ICD): the contrast pass
   sees the same image under a disturbance instruction that replaces the
   system message; s = (1+alpha) l - alpha l', cut where l < log beta + max l,
   then sampling (the official code only samples; decode=greedy takes the
   argmax of the same scores).  Defaults from its LLaVA POPE script. */
#include <stdlib.h>
#include <string.h>

#include "mitigate/method.h"

/* The disturbance the team's reference notes pick among the five the LLaVA POPE script loops over. */
#define ICD_DISTURBANCE "You are a confused objects detector to provide a fuzzy overview or impression of the image."

static const MlParamSpec params[] = {
    {"alpha", 1, 0, 1000, 0, "contrast weight: s = (1+alpha) l - alpha l'", NULL},
    {"beta", 0.1, 0, 1, 0, "cutoff: keep tokens with p >= beta * max p on the normal pass", NULL},
    ML_DECODE_PARAM(ML_DECODE_SAMPLE),
    ML_SAMPLING_PARAMS(1),
};

static int icd_prompt(const MlMethodConfig *c, int pass, const char *system, const char *question, char **system_out,
                      char **question_out, MlError *err) {
    (void)c, (void)pass, (void)system, (void)question;
    *question_out = NULL;
    if (!(*system_out = strdup(ICD_DISTURBANCE))) return ml_error_set(err, ML_ERR_NOMEM, "icd: out of memory");
    return ML_OK;
}

static const MlPass passes[] = {{ML_PASS_CLEAN, ML_PASS_SAME_PROMPT}, {ML_PASS_CLEAN, ML_PASS_OWN_PROMPT}};

const MlMethod ml_method_icd = {
    ML_METHOD_ID("icd", "Instruction Contrastive Decoding: contrast under a disturbance prompt (alpha 1, beta 0.1)",
                 ""),
    .n_passes = 2,
    .passes = passes,
    ML_METHOD_PARAMS(params),
    .pass_prompt = icd_prompt,
    .combine = ml_method_combine_contrast,
};
