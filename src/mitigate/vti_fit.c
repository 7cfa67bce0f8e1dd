/* vti_fit.c: VTI's offline directions (see vti.h), read from
   shengliu66/VTI vti_utils/utils.py (obtain_textual_vti, obtain_visual_vti,
   mask_patches) and pca.py. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor.h"
#include "decode/session.h"
#include "kernels/norm.h"
#include "mitigate/vti.h"
#include "model/decoder.h"
#include "model/hooks.h"

uint64_t ml_vti_trial_seed(uint64_t seed, int64_t demo, int trial) {
    uint64_t x = seed ^ ((uint64_t)demo * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)trial << 32);
    return ml_splitmix64(&x);
}

int ml_vti_mask_pixels(float *dst, const float *clean, int channels, int side, int patch, double ratio, uint64_t seed,
                       MlError *err) {
    const int per_row = side / patch, n = per_row * per_row, k = (int)(ratio * n);
    const size_t plane = (size_t)side * (size_t)side;
    memmove(dst, clean, sizeof(float) * plane * (size_t)channels);
    int *perm = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!perm) return ml_error_set(err, ML_ERR_NOMEM, "vti: out of memory");
    uint64_t s = seed;
    MlRng r;
    for (int i = 0; i < 4; i++) r.s[i] = ml_splitmix64(&s);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates: a uniform permutation, as torch.randperm */
        int j = ml_rng_below(&r, i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int c = 0; c < channels; c++) {
        double sum = 0; /* dst's plane c is still clean's here */
        for (size_t i = 0; i < plane; i++) sum += dst[plane * (size_t)c + i];
        const float mean = (float)(sum / (double)plane);
        for (int q = 0; q < k; q++) {
            const int y0 = perm[q] / per_row * patch, x0 = perm[q] % per_row * patch;
            for (int y = y0; y < y0 + patch; y++)
                for (int x = x0; x < x0 + patch; x++) dst[plane * (size_t)c + (size_t)y * (size_t)side + (size_t)x] = mean;
        }
    }
    free(perm);
    return ML_OK;
}

/* Eigenvectors of the symmetric a [n, n] (destroyed) into v (columns), by
   cyclic Jacobi rotations; eigenvalues end on a's diagonal. */
static void jacobi(double *a, double *v, int64_t n) {
    for (int64_t i = 0; i < n * n; i++) v[i] = 0;
    for (int64_t i = 0; i < n; i++) v[i * n + i] = 1;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) *(i == j ? &diag : &off) += a[i * n + j] * a[i * n + j];
        if (off <= 1e-30 * diag || off == 0) return;
        for (int64_t p = 0; p < n; p++)
            for (int64_t q = p + 1; q < n; q++) {
                const double apq = a[p * n + q];
                if (apq == 0) continue;
                const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                const double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                const double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int64_t k = 0; k < n; k++) { /* a <- a J (columns p, q) */
                    const double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int64_t k = 0; k < n; k++) { /* a <- J^T a (rows p, q) */
                    const double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for (int64_t k = 0; k < n; k++) {
                    const double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
    }
}

int ml_vti_pca_direction(const float *x, int64_t n, int64_t d, float *out, MlError *err) {
    double *mean = calloc((size_t)d, sizeof(double)), *g = calloc((size_t)(n * n), sizeof(double));
    double *v = malloc(sizeof(double) * (size_t)(n * n)), *axis = calloc((size_t)d, sizeof(double));
    if (!mean || !g || !v || !axis) {
        free(mean), free(g), free(v), free(axis);
        return ml_error_set(err, ML_ERR_NOMEM, "vti: out of memory");
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < d; k++) mean[k] += x[i * d + k];
    for (int64_t k = 0; k < d; k++) mean[k] /= (double)n;
    /* Z Z^T of the centred rows: its top eigenvector is Z's first left singular vector u */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i; j < n; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += (x[i * d + k] - mean[k]) * (x[j * d + k] - mean[k]);
            g[i * n + j] = g[j * n + i] = s;
        }
    jacobi(g, v, n);
    int64_t top = 0;
    for (int64_t i = 1; i < n; i++)
        if (g[i * n + i] > g[top * n + top]) top = i;
    const double sigma = sqrt(fmax(g[top * n + top], 0));
    int64_t big = 0; /* svd_flip: the entry of u largest in magnitude becomes positive (first on ties) */
    for (int64_t i = 1; i < n; i++)
        if (fabs(v[i * n + top]) > fabs(v[big * n + top])) big = i;
    const double sign = v[big * n + top] < 0 ? -1 : 1;
    if (sigma > 0) {
        for (int64_t i = 0; i < n; i++) {
            const double u = sign * v[i * n + top] / sigma;
            for (int64_t k = 0; k < d; k++) axis[k] += u * (x[i * d + k] - mean[k]);
        }
    }
    for (int64_t k = 0; k < d; k++) out[k] = (float)(axis[k] + mean[k]);
    free(mean), free(g), free(v), free(axis);
    return ML_OK;
}

/* Hidden states of one forward: rows of every residual point into buf
   (text: the last row per layer, [L + 1, D]; vision: every row, [Lv + 1, T, Dv]). */
typedef struct Grab {
    float *buf;
    int64_t rows_kept; /* 1: the last row; else every row */
} Grab;

static void grab(const MlHookSite *s, float *x, void *user) {
    Grab *g = user;
    const size_t w = (size_t)s->width;
    if (g->rows_kept == 1) {
        memcpy(g->buf + (size_t)(s->layer + 1) * w, x + (size_t)(s->rows - 1) * w, sizeof(float) * w);
    } else {
        const size_t block = (size_t)g->rows_kept * w;
        memcpy(g->buf + (size_t)(s->layer + 1) * block + (size_t)s->pos0 * w, x, sizeof(float) * (size_t)s->rows * w);
    }
}

static int text_states(MlLvlm *m, const float *feats, int64_t rows, const int32_t *ids, size_t n, float *out,
                       MlError *err) {
    Grab g = {out, 1};
    MlHooks h = {.fn = grab, .user = &g};
    ml_hooks_select_all(&h, ML_TOWER_TEXT, ML_HOOK_RESIDUAL);
    MlSession *s;
    int rc = ml_session_new(&s, m, (int64_t)n, err);
    if (rc) return rc;
    rc = ml_session_prefill(s, ids, (int64_t)n, feats, rows, &h, NULL, err);
    ml_session_free(s);
    if (rc) return rc;
    /* transformers' last hidden state is after the final norm */
    const MlDecoder *dec = ml_lvlm_decoder(m);
    const int64_t D = ml_lvlm_hidden(m);
    float *w = malloc(sizeof(float) * (size_t)D), *last = out + (size_t)ml_lvlm_layers(m) * (size_t)D;
    if (!w) return ml_error_set(err, ML_ERR_NOMEM, "vti: out of memory");
    ml_convert_to_f32(w, dec->norm.data, dec->norm.dtype, (size_t)D);
    ml_rmsnorm_forward(last, last, w, 1, D, dec->cfg.rms_eps);
    free(w);
    return ML_OK;
}

static int vision_states(MlLvlm *m, const float *pixels, float *feats, float *out, MlError *err) {
    Grab g = {out, ml_lvlm_vision_tokens(m)};
    MlHooks h = {.fn = grab, .user = &g};
    ml_hooks_select_all(&h, ML_TOWER_VISION, ML_HOOK_RESIDUAL);
    int64_t rows;
    return ml_lvlm_encode_image(m, feats, pixels, &h, &rows, err);
}

int ml_vti_fit(MlLvlm *m, const MlVtiDemo *demos, int64_t n, const MlVtiFitOptions *o, MlSteer *out, MlError *err) {
    memset(out, 0, sizeof *out);
    if (n < 2) return ml_error_set(err, ML_ERR_ARG, "vti: fitting needs at least 2 demos, got %lld", (long long)n);
    if (o->trials < 1) return ml_error_set(err, ML_ERR_ARG, "vti: trials must be at least 1");
    MlSteerShape shape;
    int rc = ml_steer_shape(m, &shape, err);
    if (rc || (rc = ml_steer_alloc(out, "vti", &shape, err))) return rc;
    out->demos = n;
    const MlVision *vis = ml_lvlm_vision(m);
    const int side = vis->cfg.image_size, patch = vis->cfg.patch_size, channels = vis->cfg.n_channels;
    const int64_t nt = (int64_t)(shape.layers + 1) * shape.hidden;
    const int64_t nv = (int64_t)(shape.vision_layers + 1) * shape.vision_tokens * shape.vision_hidden;
    const int64_t np = ml_lvlm_pixel_floats(m);
    float *tdiff = malloc(sizeof(float) * (size_t)(n * nt)), *vdiff = malloc(sizeof(float) * (size_t)(n * nv));
    float *pos = malloc(sizeof(float) * (size_t)nt), *neg = malloc(sizeof(float) * (size_t)nt);
    float *clean = malloc(sizeof(float) * (size_t)nv), *one = malloc(sizeof(float) * (size_t)nv);
    double *avg = malloc(sizeof(double) * (size_t)nv);
    float *masked = malloc(sizeof(float) * (size_t)np);
    float *feats = malloc(sizeof(float) * (size_t)(ml_lvlm_max_image_tokens(m) * shape.hidden));
    if (!tdiff || !vdiff || !pos || !neg || !clean || !one || !avg || !masked || !feats)
        rc = ml_error_set(err, ML_ERR_NOMEM, "vti: out of memory");
    for (int64_t i = 0; i < n && !rc; i++) {
        const MlVtiDemo *d = &demos[i];
        int64_t rows = 0;
        /* text: clean image, truthful minus hallucinated caption */
        if ((rc = ml_lvlm_encode_image(m, feats, d->pixels, NULL, &rows, err)) ||
            (rc = text_states(m, feats, rows, d->truthful, d->n_truthful, pos, err)) ||
            (rc = text_states(m, feats, rows, d->hallucinated, d->n_hallucinated, neg, err)))
            break;
        for (int64_t k = 0; k < nt; k++) tdiff[i * nt + k] = pos[k] - neg[k];
        /* vision: the mean over masked images minus the clean image */
        if ((rc = vision_states(m, d->pixels, feats, clean, err))) break;
        for (int64_t k = 0; k < nv; k++) avg[k] = 0;
        for (int t = 0; t < o->trials && !rc; t++) {
            rc = ml_vti_mask_pixels(masked, d->pixels, channels, side, patch, o->mask_ratio,
                                    ml_vti_trial_seed(o->seed, i, t), err);
            if (!rc && !(rc = vision_states(m, masked, feats, one, err)))
                for (int64_t k = 0; k < nv; k++) avg[k] += one[k];
        }
        for (int64_t k = 0; k < nv && !rc; k++) vdiff[i * nv + k] = (float)(avg[k] / o->trials) - clean[k];
    }
    if (!rc) rc = ml_vti_pca_direction(tdiff, n, nt, out->text, err);
    /* the official view(n_tokens, -1): T chunks of (Lv + 1) * Dv consecutive floats */
    const int64_t chunk = nv / shape.vision_tokens;
    float *rows = rc ? NULL : malloc(sizeof(float) * (size_t)(n * chunk));
    if (!rc && !rows) rc = ml_error_set(err, ML_ERR_NOMEM, "vti: out of memory");
    for (int64_t c = 0; c < shape.vision_tokens && !rc; c++) {
        for (int64_t i = 0; i < n; i++) memcpy(rows + i * chunk, vdiff + i * nv + c * chunk, sizeof(float) * (size_t)chunk);
        rc = ml_vti_pca_direction(rows, n, chunk, out->vision + c * chunk, err);
    }
    free(rows), free(tdiff), free(vdiff), free(pos), free(neg), free(clean), free(one), free(avg), free(masked),
        free(feats);
    if (rc) ml_steer_free(out);
    return rc;
}
