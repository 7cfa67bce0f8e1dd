/* optim.c: AdamW, warm-up + cosine schedule, global-norm clipping (see optim.h). */
#include "train/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN_FLOATS 16     /* 64 bytes */
#define NORM_CHUNK 65536    /* fixed reduction blocks: thread count never changes the sum */
#define PARALLEL_MIN 32768  /* below this, threads cost more than they save */

static size_t round_up(size_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

int ml_param_block_alloc(MlParamBlock *b, size_t n, MlError *err) {
    memset(b, 0, sizeof *b);
    if (n == 0 || n > SIZE_MAX / 4 / sizeof(float) - ALIGN_FLOATS)
        return ml_error_set(err, ML_ERR_NOMEM, "param block: %zu parameters is not a valid size", n);
    size_t stride = round_up(n), bytes = 4 * stride * sizeof(float);
    float *mem = aligned_alloc(64, bytes);
    if (!mem) return ml_error_set(err, ML_ERR_NOMEM, "param block: out of memory for %zu parameters", n);
    memset(mem, 0, bytes);
    b->memory = mem;
    b->params = mem;
    b->grads = mem + stride;
    b->m = mem + 2 * stride;
    b->v = mem + 3 * stride;
    b->n = n;
    return ML_OK;
}

void ml_param_block_free(MlParamBlock *b) {
    free(b->memory);
    memset(b, 0, sizeof *b);
}

void ml_param_block_zero_grad(MlParamBlock *b) { memset(b->grads, 0, b->n * sizeof *b->grads); }

MlAdamWConfig ml_adamw_defaults(void) {
    return (MlAdamWConfig){.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01};
}

void ml_adamw_step(const MlAdamWConfig *cfg, double lr, int64_t step, const MlParamGroup *groups, int n_groups,
                   MlParamBlock *b) {
    ML_ASSERT(step >= 1);
    double bc1 = 1.0 - pow(cfg->beta1, (double)step);
    double bc2 = 1.0 - pow(cfg->beta2, (double)step);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float w1 = (float)(1.0 - cfg->beta1), b2 = (float)cfg->beta2, w2 = (float)(1.0 - cfg->beta2);
    float eps = (float)cfg->eps;
    for (int gi = 0; gi < n_groups; gi++) {
        const MlParamGroup *g = &groups[gi];
        ML_ASSERT(g->offset <= b->n && g->count <= b->n - g->offset);
        float keep = g->decay ? (float)(1.0 - lr * cfg->weight_decay) : 1.0f;
        float *p = b->params + g->offset, *m = b->m + g->offset, *v = b->v + g->offset;
        const float *grad = b->grads + g->offset;
        int64_t count = (int64_t)g->count;
#pragma omp parallel for schedule(static) if (count >= PARALLEL_MIN)
        for (int64_t i = 0; i < count; i++) {
            float gr = grad[i];
            float pi = p[i] * keep;
            float mi = m[i] + w1 * (gr - m[i]);
            float vi = b2 * v[i] + w2 * gr * gr;
            m[i] = mi;
            v[i] = vi;
            p[i] = pi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
        }
    }
}

double ml_lr_at(const MlLrSchedule *s, int64_t step) {
    double floor_lr = s->lr_max * s->min_ratio;
    if (step < s->warmup_steps) return s->lr_max * (double)(step + 1) / (double)s->warmup_steps;
    if (step >= s->total_steps) return floor_lr;
    double progress = (double)(step - s->warmup_steps) / (double)(s->total_steps - s->warmup_steps);
    return floor_lr + 0.5 * (1.0 + cos(M_PI * progress)) * (s->lr_max - floor_lr);
}

double ml_grad_norm(const float *g, size_t n) {
    enum { BATCH = 256 }; /* chunks per parallel pass: partial sums stay on the stack */
    double partial[BATCH], sum = 0;
    size_t n_chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    for (size_t first = 0; first < n_chunks; first += BATCH) {
        int64_t count = (int64_t)(n_chunks - first < BATCH ? n_chunks - first : BATCH);
#pragma omp parallel for schedule(static) if (count > 1)
        for (int64_t c = 0; c < count; c++) {
            size_t begin = (first + (size_t)c) * NORM_CHUNK, end = begin + NORM_CHUNK < n ? begin + NORM_CHUNK : n;
            double s = 0;
            for (size_t i = begin; i < end; i++) s += (double)g[i] * g[i];
            partial[c] = s;
        }
        for (int64_t c = 0; c < count; c++) sum += partial[c];
    }
    return sqrt(sum);
}

double ml_grad_clip(float *g, size_t n, float max_norm) {
    double norm = ml_grad_norm(g, n);
    if (!isfinite(norm) || norm <= max_norm) return norm;
    float scale = (float)(max_norm / (norm + 1e-6));
    int64_t count = (int64_t)n;
#pragma omp parallel for schedule(static) if (count >= PARALLEL_MIN)
    for (int64_t i = 0; i < count; i++) g[i] *= scale;
    return norm;
}
