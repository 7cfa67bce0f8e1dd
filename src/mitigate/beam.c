/* beam.c: beam search as a method (transformers' generate with num_beams;
   defaults B 5, length_penalty 1, early_stopping False as OPERA runs it). */
#include "decode/beam.h"
#include "mitigate/beam_search.h"
#include "mitigate/method.h"

static const MlParamSpec params[] = {
    {"beams", 5, 1, ML_BEAM_MAX, 1, "beams kept each step; 1 = greedy", NULL},
    {"length_penalty", 1, -10, 10, 0, "a finished hypothesis scores sum log p / generated tokens ^ this", NULL},
    {"early_stopping", ML_BEAM_STOP_HEURISTIC, 0, 2, 1, "when the search ends (transformers' False, True, \"never\")",
     "false|true|never"},
};

static int beam_generate(MlMethodRun *run, float *const *logits, float *scores, MlSampler *sampler, int64_t max_tokens,
                         int32_t eos_id, int32_t *out, int64_t *n_out, MlError *err) {
    (void)scores, (void)sampler;
    *n_out = 0;
    if (max_tokens < 1) return ML_OK;
    const MlMethodConfig *c = run->cfg;
    MlBeamConfig bc = {.beams = (int)ml_method_param(c, "beams"),
                       .length_penalty = ml_method_param(c, "length_penalty"),
                       .early_stopping = (MlBeamStop)ml_method_param(c, "early_stopping"),
                       .max_tokens = max_tokens,
                       .eos_id = eos_id};
    MlBeamSearchHooks h = {0};
    double score;
    return ml_beam_search(run->session[0], logits[0], &bc, &h, out, n_out, &score, err);
}

const MlMethod ml_method_beam = {
    ML_METHOD_ID("beam", "beam search (transformers' semantics): 5 beams, length_penalty 1, early_stopping false", ""),
    .n_passes = 1,
    ML_METHOD_PARAMS(params),
    .generate = beam_generate,
};
