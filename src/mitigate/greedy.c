/* greedy.c: the greedy baseline: argmax of the model's logits, one pass, no parameters. */
#include "mitigate/method.h"

const MlMethod ml_method_greedy = {
    ML_METHOD_ID("greedy", "argmax decoding: the baseline every comparison needs", ""),
    .n_passes = 1,
};
