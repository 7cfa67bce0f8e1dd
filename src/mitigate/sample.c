/* sample.c: the sampling baseline (VCD's "regular" decoding): the model's
   logits, sampled with temperature 1 and top_p 1 by default, VCD's prompt. */
#include "mitigate/method.h"

static const MlParamSpec params[] = {ML_SAMPLING_PARAMS(1)};

const MlMethod ml_method_sample = {
    ML_METHOD_ID("sample", "plain sampling (VCD's regular baseline): temperature 1, top_p 1", ML_ONE_WORD_SUFFIX),
    ML_METHOD_PARAMS(params),
    .n_passes = 1,
};
