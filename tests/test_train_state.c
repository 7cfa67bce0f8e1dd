/* test_train_state.c: save and resume (train/checkpoint_io.h).  A small
   softmax-regression run (data drawn from the run's RNG, masked cross-entropy,
   clipping, warm-up + cosine AdamW) stopped and resumed at step 4 must end
   bit-identical to the run that never stopped; bad files are refused cleanly. */
#include <stdint.h>

#include "core/file.h"
#include "io/safetensors.h"
#include "scene/rng.h"
#include "test.h"
#include "train/checkpoint_io.h"
#include "train/loss.h"
#include "train/optim.h"

enum { F = 6, C = 5, B = 8, STEPS = 8, N_PARAMS = C * F + C };
static const char *LAYOUT = "{\"model\": \"softmax-regression\", \"W\": [5, 6], \"b\": [5]}";

/* One step on a batch drawn from rng: x random, class = argmax of a fixed
   projection, one example in four masked out.  Returns the mean loss. */
static float train_step(MlParamBlock *blk, MlRng *rng, int64_t step) {
    float x[B * F], logits[B * C], dlogits[B * C], losses[B];
    int32_t targets[B];
    for (int i = 0; i < B; i++) {
        int best = 0;
        float best_v = -1e9f;
        for (int k = 0; k < F; k++) x[i * F + k] = (float)(2 * ml_rng_uniform(rng) - 1);
        for (int c = 0; c < C; c++) {
            float v = x[i * F + c % F] - 0.5f * x[i * F + (c + 2) % F];
            if (v > best_v) best_v = v, best = c;
        }
        targets[i] = ml_rng_below(rng, 4) == 0 ? ML_LOSS_IGNORE : best;
    }
    const float *W = blk->params, *bias = blk->params + C * F;
    for (int i = 0; i < B; i++)
        for (int c = 0; c < C; c++) {
            float acc = bias[c];
            for (int k = 0; k < F; k++) acc += W[c * F + k] * x[i * F + k];
            logits[i * C + c] = acc;
        }
    int64_t n = ml_cross_entropy_forward(losses, logits, targets, B, C);
    float mean = 0;
    for (int i = 0; i < B; i++) mean += losses[i];
    mean = n ? mean / (float)n : 0;
    ml_param_block_zero_grad(blk);
    memset(dlogits, 0, sizeof dlogits);
    if (n) ml_cross_entropy_backward(dlogits, logits, targets, 1.0f / (float)n, B, C);
    float *dW = blk->grads, *db = blk->grads + C * F;
    for (int i = 0; i < B; i++)
        for (int c = 0; c < C; c++) {
            db[c] += dlogits[i * C + c];
            for (int k = 0; k < F; k++) dW[c * F + k] += dlogits[i * C + c] * x[i * F + k];
        }
    ml_grad_clip(blk->grads, blk->n, 1.0f);
    MlAdamWConfig cfg = ml_adamw_defaults();
    MlParamGroup groups[2] = {{0, C * F, 1}, {C * F, C, 0}};
    MlLrSchedule sched = {.lr_max = 0.05, .min_ratio = 0.1, .warmup_steps = 2, .total_steps = STEPS};
    ml_adamw_step(&cfg, ml_lr_at(&sched, step), step + 1, groups, 2, blk);
    return mean;
}

static void init_run(MlParamBlock *blk, MlRng *rng) {
    MlError err = {0};
    CHECK_OK(ml_param_block_alloc(blk, N_PARAMS, &err), &err);
    ml_rng_init(rng, 42, 0, 0, 0);
    for (int i = 0; i < C * F; i++) blk->params[i] = (float)(0.1 * (2 * ml_rng_uniform(rng) - 1));
}

static const char *state_path(const char *name) {
    static char path[700];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir("train_state"), name);
    return path;
}

static void test_resume_bit_identical(void) {
    MlParamBlock full, part;
    MlRng rng_full, rng_part;
    MlError err = {0};
    float loss_full[STEPS], loss_part[STEPS];
    init_run(&full, &rng_full);
    for (int64_t s = 0; s < STEPS; s++) loss_full[s] = train_step(&full, &rng_full, s);
    CHECK(loss_full[STEPS - 1] < loss_full[0]); /* it does learn */

    init_run(&part, &rng_part);
    for (int64_t s = 0; s < 4; s++) loss_part[s] = train_step(&part, &rng_part, s);
    const char *path = state_path("run.safetensors");
    CHECK_OK(ml_train_state_save(path, &part, 4, rng_part.s, LAYOUT, &err), &err);
    ml_param_block_free(&part);

    /* A fresh process would start here: new block, state from the file. */
    MlParamBlock resumed;
    MlRng rng_resumed = {{0}};
    int64_t step = -1;
    CHECK_OK(ml_param_block_alloc(&resumed, N_PARAMS, &err), &err);
    CHECK_OK(ml_train_state_load(path, &resumed, &step, rng_resumed.s, LAYOUT, &err), &err);
    CHECK(step == 4);
    for (int64_t s = step; s < STEPS; s++) loss_part[s] = train_step(&resumed, &rng_resumed, s);
    CHECK(!memcmp(loss_full + 4, loss_part + 4, 4 * sizeof(float)));
    CHECK(!memcmp(full.params, resumed.params, N_PARAMS * sizeof(float)));
    CHECK(!memcmp(full.m, resumed.m, N_PARAMS * sizeof(float)));
    CHECK(!memcmp(full.v, resumed.v, N_PARAMS * sizeof(float)));
    CHECK(!memcmp(rng_full.s, rng_resumed.s, sizeof rng_full.s));
    ml_param_block_free(&full);
    ml_param_block_free(&resumed);
}

/* The file is a plain safetensors file with the documented names and metadata. */
static void test_file_contents(void) {
    MlParamBlock b;
    MlError err = {0};
    CHECK_OK(ml_param_block_alloc(&b, 3, &err), &err);
    for (int i = 0; i < 3; i++) b.params[i] = (float)i, b.m[i] = 10.0f + i, b.v[i] = 20.0f + i;
    const uint64_t rng[4] = {1, 0xfedcba9876543210ull, 0, UINT64_MAX};
    const char *path = state_path("small.safetensors");
    CHECK_OK(ml_train_state_save(path, &b, 123456789012LL, rng, "L", &err), &err);
    MlSafetensors *st = NULL;
    CHECK_OK(ml_safetensors_open(&st, path, &err), &err);
    if (st) {
        CHECK_STR(ml_safetensors_metadata(st, "misalign.train_state"), "1");
        CHECK_STR(ml_safetensors_metadata(st, "step"), "123456789012");
        CHECK_STR(ml_safetensors_metadata(st, "rng"),
                  "0000000000000001 fedcba9876543210 0000000000000000 ffffffffffffffff");
        CHECK_STR(ml_safetensors_metadata(st, "layout"), "L");
        MlTensor t;
        CHECK(ml_safetensors_find(st, "adam_v", &t) && t.dtype == ML_F32 && t.shape[0] == 3);
        CHECK(((const float *)t.data)[2] == 22.0f);
        ml_safetensors_close(st);
    }
    uint64_t back[4];
    int64_t step;
    b.grads[0] = 5;
    CHECK_OK(ml_train_state_load(path, &b, &step, back, "L", &err), &err);
    CHECK(step == 123456789012LL && !memcmp(back, rng, sizeof back) && b.grads[0] == 0);
    ml_param_block_free(&b);
}

/* Writes a safetensors file shaped like a train state with chosen metadata. */
static void write_fake(const char *path, const char *version, const char *step, const char *rng, int64_t n,
                       MlDType dtype) {
    static float data[64];
    const char *md[10];
    int k = 0;
    if (version) md[k++] = "misalign.train_state", md[k++] = version;
    md[k++] = "step", md[k++] = step;
    md[k++] = "rng", md[k++] = rng;
    md[k++] = "layout", md[k++] = "L";
    md[k] = NULL;
    MlNamedTensor t[3] = {{"params", {0}}, {"adam_m", {0}}, {"adam_v", {0}}};
    for (int i = 0; i < 3; i++)
        t[i].tensor = (MlTensor){.dtype = dtype, .ndim = 1, .shape = {n}, .data = data,
                                 .nbytes = (size_t)n * ml_dtype_size(dtype)};
    MlSafetensorsWriteOpts o = {.metadata = md};
    MlError err = {0};
    CHECK_OK(ml_safetensors_write_ex(path, t, 3, &o, &err), &err);
}

static void test_refused(void) {
    const char *good_rng = "0000000000000001 0000000000000002 0000000000000003 0000000000000004";
    MlParamBlock b;
    MlError err = {0};
    CHECK_OK(ml_param_block_alloc(&b, 4, &err), &err);
    b.params[0] = 7.0f;
    int64_t step = -5;
    uint64_t rng[4];
    const char *p = state_path("fake.safetensors");
    struct {
        const char *version, *step, *rng;
        int64_t n;
        MlDType dtype;
        const char *layout;
        int code;
        const char *msg;
    } cases[] = {
        {"1", "3", good_rng, 4, ML_F32, "L", ML_OK, ""},
        {"1", "3", good_rng, 4, ML_F32, "other", ML_ERR_FORMAT, "saved by another run"},
        {"1", "3", good_rng, 5, ML_F32, "L", ML_ERR_SHAPE, "params: expected F32 [4], found F32 [5]"},
        {"1", "3", good_rng, 4, ML_BF16, "L", ML_ERR_SHAPE, "found BF16"},
        {"2", "3", good_rng, 4, ML_F32, "L", ML_ERR_UNSUPPORTED, "version '2'"},
        {NULL, "3", good_rng, 4, ML_F32, "L", ML_ERR_FORMAT, "not a misalign train state"},
        {"1", "3x", good_rng, 4, ML_F32, "L", ML_ERR_FORMAT, "step"},
        {"1", "-3", good_rng, 4, ML_F32, "L", ML_ERR_FORMAT, "step"},
        {"1", "99999999999999999999", good_rng, 4, ML_F32, "L", ML_ERR_FORMAT, "step"},
        {"1", "3", "0000000000000001 0000000000000002", 4, ML_F32, "L", ML_ERR_FORMAT, "rng"},
        {"1", "3", "000000000000000g 0000000000000002 0000000000000003 0000000000000004", 4, ML_F32, "L",
         ML_ERR_FORMAT, "rng"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_fake(p, cases[i].version, cases[i].step, cases[i].rng, cases[i].n, cases[i].dtype);
        b.params[0] = 7.0f;
        err = (MlError){0};
        int rc = ml_train_state_load(p, &b, &step, rng, cases[i].layout, &err);
        if (rc != cases[i].code || !strstr(err.msg, cases[i].msg))
            fprintf(stderr, "  case %zu: rc %d, '%s'\n", i, rc, err.msg);
        CHECK(rc == cases[i].code && strstr(err.msg, cases[i].msg));
        if (rc) CHECK(b.params[0] == 7.0f && step == 3); /* untouched on failure (3 from case 0) */
        if (i == 0) CHECK(step == 3 && rng[3] == 4 && b.params[0] == 0.0f);
    }
    /* A truncated file and a missing one. */
    char *data;
    size_t size;
    write_fake(p, "1", "3", good_rng, 4, ML_F32);
    CHECK_OK(ml_file_read(p, &data, &size, &err), &err);
    CHECK_OK(ml_file_write(p, data, size - 5, &err), &err);
    free(data);
    CHECK(ml_train_state_load(p, &b, &step, rng, "L", &err) == ML_ERR_FORMAT && strstr(err.msg, "fake.safetensors"));
    CHECK(ml_train_state_load(state_path("none.safetensors"), &b, &step, rng, "L", &err) == ML_ERR_IO);
    CHECK(ml_train_state_save(p, &b, -1, rng, "L", &err) == ML_ERR_ARG);
    ml_param_block_free(&b);
}

int main(void) {
    RUN(test_resume_bit_identical);
    RUN(test_file_contents);
    RUN(test_refused);
    return test_summary("test_train_state");
}
