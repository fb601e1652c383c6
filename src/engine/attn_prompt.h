/* attn_prompt.h - blocked causal attention for prompts (AVX-512 machines;
 * attn_prompt_avx512.c, entries attn_prompt_* of kernels_avx512: callers go
 * through kernels_get(), whose entries are NULL where this cannot run).
 *
 * Promise: bit for bit the per-pair kernels the decode path uses, so prompt
 * logits stay identical to llama.cpp's: every score is ops.h
 * dot_f32_lanes16(q, k, hd) * scale (16 fused-multiply-add lanes, then the
 * same addition tree), every output row is memset 0 + axpy_f32 over the
 * keys in order (one fused multiply-add per element and key). Only the
 * work is regrouped: ATTN_PROMPT_QB queries share every key and value load,
 * and the score trees of 16 (query, key) pairs are summed together.
 * Nothing is allocated; nothing fails.
 */
#ifndef QVL_ATTN_PROMPT_H
#define QVL_ATTN_PROMPT_H

#include <stddef.h>

#define ATTN_PROMPT_QB 4   /* queries per call */

/* Whether head dimension hd is handled (a multiple of 16). */
int attn_prompt_supported(int hd);

/* For nq <= ATTN_PROMPT_QB queries at q + i * qs and nk >= 1 keys at
 * k + j * ks: s[i * ss + j] = dot_f32_lanes16(q_i, k_j, hd) * scale. */
void attn_prompt_scores(const float *q, size_t qs, int nq, const float *k, size_t ks, int nk, int hd, float scale,
                        float *s, size_t ss);

/* For nq <= ATTN_PROMPT_QB rows of weights p + i * ps, each over len[i] >= 1
 * values at v + j * vs: o[i * os + d] = sum over j < len[i] of p_i[j] v_j[d],
 * accumulated from zero in j order as axpy_f32 does. */
void attn_prompt_pv(const float *p, size_t ps, const int *len, int nq, const float *v, size_t vs, int hd, float *o,
                    size_t os);

#endif
