/* greedy.c: the greedy baseline: argmax of the model's logits, one pass, no parameters. */
#include "mitigate/method.h"

const MlMethod ml_method_greedy = {
    .name = "greedy",
    .summary = "argmax decoding: the baseline every comparison needs",
    .prompt_suffix = "",
    .n_passes = 1,
};
