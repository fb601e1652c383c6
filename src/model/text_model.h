/* text_model.h - the Qwen3 text decoder: weights, KV cache, forward pass.
 *
 * The forward pass (text_forward) reads top to bottom like the math:
 * embed -> [RMSNorm -> q/k/v -> per-head q/k RMSNorm -> M-RoPE -> causal GQA
 * attention -> o_proj -> residual -> RMSNorm -> SwiGLU MLP -> residual
 * (-> DeepStack add at image positions after the first layers)] x L ->
 * RMSNorm -> tied lm_head.
 *
 * Weights are read-only after loading, so any number of sequences may run
 * forward passes concurrently, each with its own kv_cache, or together in one
 * pass (text_forward_multi) that reads every weight once for all of them.
 */
#ifndef QVL_TEXT_MODEL_H
#define QVL_TEXT_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "engine/tensor.h"
#include "engine/threadpool.h"
#include "model/config.h"

typedef struct text_layer {
    const float *attn_norm;    /* (d) */
    const float *q_norm;       /* (head_dim) */
    const float *k_norm;       /* (head_dim) */
    const float *ffn_norm;     /* (d) */
    qvl_tensor wq;             /* (n_heads*head_dim, d) */
    qvl_tensor wk, wv;         /* (n_kv_heads*head_dim, d) */
    qvl_tensor wo;             /* (d, n_heads*head_dim) */
    qvl_tensor w_gate, w_up;   /* (ffn, d) */
    qvl_tensor w_down;         /* (d, ffn) */
} text_layer;

typedef struct text_model {
    text_config cfg;
    int n_deepstack;           /* DeepStack slices expected per image token */
    qvl_tensor tok_embd;       /* (vocab, d) */
    qvl_tensor output;         /* (vocab, d); the same bytes as tok_embd when tied */
    const float *output_norm;  /* (d) */
    text_layer *layers;        /* (n_layers) */
    float *inv_freq;           /* (head_dim/2) rotary inverse frequencies */
    uint8_t *rope_axis;        /* (head_dim/2) 0 = t, 1 = h (row), 2 = w (column) */
} text_model;

/* Sets up the rotary tables from m->cfg (call once after filling cfg; the
 * model's owner frees inv_freq and rope_axis). Returns 0, or -1 with err
 * set (QVL_E_NOMEM) and both left NULL. */
int text_model_init_rope(text_model *m, qvl_error *err);

/* Passes of at most this many tokens (decode steps of up to this many
 * sequences, short follow-ups) keep their working memory in the cache for
 * the next pass; a longer prompt's is allocated for that pass alone, so a
 * session does not hold a long prompt's activations (hundreds of MB for
 * the 2B model) for its lifetime. */
#define TEXT_SCRATCH_KEEP_TOKENS 64

/* One sequence's state: keys and values, f32, layout
 * [layer][position][kv_dim], and the working memory of the forward passes
 * it leads (the first sequence of text_forward_multi): allocated by the
 * first pass, grown when a larger one (up to TEXT_SCRATCH_KEEP_TOKENS
 * tokens) comes, reused by every pass that fits, so decode steps allocate
 * nothing here. */
typedef struct kv_cache {
    int n_layers, n_ctx, kv_dim;
    int n;                     /* positions filled */
    float *k, *v;              /* (n_layers, n_ctx, kv_dim) */
    void *scratch;             /* (scratch_bytes), or NULL before the first pass */
    size_t scratch_bytes;
} kv_cache;

/* Allocates room for n_ctx positions. Returns 0 or -1 (out of memory). */
int kv_cache_init(kv_cache *kv, const text_config *cfg, int n_ctx, qvl_error *err);
void kv_cache_free(kv_cache *kv);

/* The bytes of a KV cache of n_ctx positions (keys and values). */
size_t kv_cache_bytes(const text_config *cfg, int n_ctx);

/* The working memory of one forward pass of n_tokens tokens of one
 * sequence against a cache of n_ctx positions on `threads` threads: what
 * the pass allocates besides the cache (the session keeps it when n_tokens
 * <= TEXT_SCRATCH_KEEP_TOKENS). For reserving memory before the work. */
size_t text_pass_bytes(const text_model *m, int n_tokens, int n_ctx, int threads);

/* One forward call's input: n tokens at cache positions kv->n .. kv->n+n-1. */
typedef struct text_batch {
    int n;
    const int32_t *ids;        /* (n) */
    const int32_t *pos;        /* (n, 3) M-RoPE (t, h, w) positions */
    /* Image features for the tokens equal to image_token_id, in order:
     * (n_image_rows, d * (1 + n_deepstack)) - main embedding, then one slice
     * per DeepStack level. NULL when the batch has no image tokens. */
    const float *image_embd;
    int n_image_rows;
    int image_token_id;
} text_batch;

/* Runs the batch, appends its keys/values to kv, and writes the logits of
 * the last token (vocab floats) into logits (if not NULL). Fails (-1, err,
 * nothing appended) if the cache is full, an id is out of range, image rows
 * do not match the image tokens, or memory for the pass's activations
 * runs out (QVL_E_NOMEM). */
int text_forward(const text_model *m, kv_cache *kv, const text_batch *b, float *logits, threadpool *tp,
                 qvl_error *err);

/* Runs several sequences' batches in one pass: embeddings and every matmul
 * over all their tokens together (each weight is read once for all), the
 * attention of each sequence against its own cache kvs[s] (appended to as
 * by text_forward). logits[s] (vocab floats) receives the logits of the last
 * token of sequence s; logits or logits[s] may be NULL when not needed.
 * Per-token results equal separate text_forward calls bit for bit as long
 * as matmul's are independent of the other tokens in the call (quantized
 * weights; float weights below matmul's sgemm threshold of 8 tokens).
 * Fails (-1, err, nothing appended to any cache) like text_forward for any
 * sequence, or if two sequences share a cache. */
int text_forward_multi(const text_model *m, kv_cache *const *kvs, const text_batch *batches, int n_seq,
                       float *const *logits, threadpool *tp, qvl_error *err);

/* The plain reference: one token at a time, scalar matmul_ref, no threads.
 * Same contract as text_forward. Slow; for tests. */
int text_forward_ref(const text_model *m, kv_cache *kv, const text_batch *b, float *logits, qvl_error *err);

/* Text-only positions: pos[i] = (p0+i, p0+i, p0+i). */
void text_positions_1d(int32_t *pos, int n, int p0);

#endif
