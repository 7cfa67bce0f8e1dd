/*
** attention.h: multi-head scaled dot-product attention over a KV cache, with
** GQA (query head h reads kv head h / (n_heads / n_kv_heads), as HF's
** repeat_kv) and an optional causal mask, softmax in float32.
**
** Keys and values are given as spans: consecutive key rows that may live in
** different buffers (a forked session reads its shared prefix from the parent
** cache and its own rows from its own).  Key j is absolute position j.
** Causal: query row i (absolute position pos0 + i) sees keys 0 .. pos0 + i;
** masked scores are -inf.
**
** A tap exposes chosen query rows to the caller between the steps:
** on_scores gets the scaled, masked, pre-softmax scores [n_heads, row_count,
** n_keys] and may change them; on_probs then gets the probabilities (same
** layout, read only).  No tap, no cost.
**
**     MlAttnDims d = {.n_heads = 32, .n_kv_heads = 32, .head_dim = 128, .causal = 1,
**                     .scale = 1/sqrtf(128), .kv_stride = 32 * 128};
**     MlKVSpan span = {k_cache, v_cache, n_keys};
**     ml_attention_forward(out, q, &span, 1, rows, pos0, &d, NULL, scratch, n_threads);
*/
#ifndef ML_KERNELS_ATTENTION_H
#define ML_KERNELS_ATTENTION_H

#include <stdint.h>

typedef struct MlKVSpan {
    const float *k, *v; /* [n, kv_stride] each */
    int64_t n;          /* key rows in this span */
} MlKVSpan;

typedef struct MlAttnDims {
    int n_heads, n_kv_heads, head_dim;
    int causal;
    float scale;       /* usually 1/sqrt(head_dim) */
    int64_t kv_stride; /* floats per key row: n_kv_heads * head_dim */
} MlAttnDims;

typedef struct MlAttnTap {
    int64_t row_first, row_count;              /* query rows of this call (0-based within the call) */
    float *buf;                                /* [n_heads, row_count, n_keys] */
    void (*on_scores)(float *buf, void *ctx);  /* may modify; NULL: not tapped */
    void (*on_probs)(float *buf, void *ctx);   /* must not modify; NULL: not tapped */
    void *ctx;
} MlAttnTap;

/* Calls with at least this many query rows run per head through sgemm
   (prefill); fewer go one (head, row) at a time (decode).  The two round
   differently, as the matmul paths do. */
#define ML_ATTN_BLOCK_MIN_ROWS 8

/* Floats of scratch a forward of up to max_rows rows over up to n_keys keys
   needs with n_threads threads. */
int64_t ml_attention_scratch_floats(int64_t n_keys, int64_t max_rows, int head_dim, int n_threads);

/* out [rows, n_heads*head_dim]; q [rows, n_heads*head_dim] (RoPE applied);
   spans hold n_keys = sum(n) keys; tap may be NULL; scratch from
   ml_attention_scratch_floats, used by at most n_threads threads.  A tap
   that changes nothing leaves every output bit as without it. */
void ml_attention_forward(float *out, const float *q, const MlKVSpan *spans, int n_spans, int64_t rows, int64_t pos0,
                          const MlAttnDims *d, const MlAttnTap *tap, float *scratch, int n_threads);

/* ---- training ----
   Backward of self-attention as training runs it: the keys are the rows
   themselves (one span, pos0 = 0).  q and k as the forward got them (after
   RoPE); dq [rows, n_heads*head_dim], dk, dv [rows, kv_stride] accumulate
   (+=).  The probabilities are recomputed with the forward's prefill code;
   the heads of a GQA group add into their shared kv head in head order, so
   the result is the same for any thread count.  Scratch: */
int64_t ml_attention_backward_scratch_floats(int64_t rows, int head_dim, int n_threads);
void ml_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, int64_t rows, const MlAttnDims *d, float *scratch, int n_threads);

/* Reference: one key at a time, double accumulation, no tap. */
void ml_attention_forward_naive(float *out, const float *q, const MlKVSpan *spans, int n_spans, int64_t rows,
                                int64_t pos0, const MlAttnDims *d);

#endif
