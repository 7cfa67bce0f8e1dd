/* greedy.c: the greedy baseline: argmax of the model's logits, one pass, no parameters. */
#include "mitigate/method.h"

const MlMethod ml_method_greedy = {
    .name = "greedy",
    .summary = "argmax decoding: the baseline every comparison needs",
    .prompt_suffix = "",
    .params = NULL,
    .n_params = 0,
    .n_passes = 1,
    .pass_pixels = NULL,
    .combine = NULL,
};
