/* kernels.h - the innermost loops, one implementation per instruction set.
 *
 * kernels_get() returns the best table this CPU supports (chosen once from
 * CPUID, or the one the environment variable QVL_KERNELS names). The tiers,
 * best first: "avx512bf16" (AVX-512 F/BW/DQ/VL/VNNI + BF16: Zen 4, Sapphire
 * Rapids), "avx512" (the same without BF16: Ice Lake, Tiger Lake, Cascade
 * Lake), "avxvnni" (AVX2 + FMA + F16C + AVX-VNNI: Alder Lake and later
 * Intel cores without AVX-512), "avx2" (AVX2 + FMA + F16C: Haswell .. Zen 3),
 * "scalar". kernels_scalar is the plain-C reference every SIMD
 * version is tested against (ops.h's functions and kernels.c's, none of
 * which dispatch). Code that wants speed calls through the table; code
 * outside src/engine never names a table: what a table offers shows in its
 * entries.
 * Adding an ISA = adding a file with a table and one line in kernels.c.
 * Optional entries (the GEMMs, blocked attention) are NULL where an ISA has
 * none; callers fall back to the per-row kernels. None allocate or fail.
 */
#ifndef QVL_KERNELS_H
#define QVL_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"

typedef struct kernels {
    const char *name;                                            /* "scalar", "avx2", ... */
    float (*dot_f32)(const float *a, const float *b, int n);     /* sum a[i]*b[i] */
    void (*axpy_f32)(float *y, const float *x, float a, int n);  /* y += a*x */
    /* Bit-identical to ops.h dot_f32_lanes16 (attention scores). */
    float (*dot_f32_lanes16)(const float *a, const float *b, int n);
    /* Weight row of type w (a quantized type) . activation row quantized by
     * quant_dot_quantize_act (see quant_dot.h); same result as quant_dot_ref. */
    float (*quant_dot)(qvl_dtype w, const void *wrow, const void *arow, int64_t n);
    /* One weight row against nt activation rows at arow + t*astride:
     * out[t] = quant_dot(w, wrow, row t, n). Reads the weight row once for
     * several tokens (prefill); bit-identical to quant_dot_ref per output. */
    void (*quant_dot_multi)(qvl_dtype w, const void *wrow, const void *arow, size_t astride, int nt, float *out,
                            int64_t n);
    /* In place x[i] = expf_poly(x[i]) (ops.h), bit for bit. */
    void (*exp_poly)(float *x, int n);
    /* In-place softmax of n >= 1 values in any summation order (not
     * bit-matched to anything): for the vision tower's attention. */
    void (*softmax)(float *x, int n);
    /* ops.h softmax_masked and swiglu, bit for bit (the text decoder's
     * attention rows and feed-forward gate). */
    void (*softmax_masked)(float *x, int n, int n_row);
    void (*swiglu)(float *gate, const float *up, int n);
    /* Vision attention blocks, f32 in any summation order. attn_scores:
     * s[i * ss + j] = scale * sum over d < hd of q[i * qs + d] * kt[d * kts + j]
     * for nq queries and n keys (kt: the head's keys transposed). attn_pv:
     * o[i * os + d] = sum over j < n of p[i * ps + j] * v[j * vs + d], d < hd. */
    void (*attn_scores)(const float *q, size_t qs, int nq, const float *kt, size_t kts, int n, int hd, float scale,
                        float *s, size_t ss);
    void (*attn_pv)(const float *p, size_t ps, int nq, const float *v, size_t vs, int n, int hd, float *o, size_t os);
    /* Prompt GEMM; gemm_act_bytes is NULL in tables without one. It returns
     * the bytes of one packed activation row (a multiple of 64), or 0 when the
     * table has no GEMM for weight type w and row length n. gemm_pack_act
     * quantizes one row of n floats exactly as quant_dot_quantize_act does and
     * packs it. gemm_tile
     * writes y[t * ystride + r] = quant_dot_ref(w, weight row r, token t), bit
     * for bit, for nr <= GEMM_ROWS weight rows at wrows + r * wstride and nt
     * packed tokens at pact + t * pstride (64-byte aligned). */
    size_t (*gemm_act_bytes)(qvl_dtype w, int64_t n);
    void (*gemm_pack_act)(qvl_dtype w, const float *x, void *out, int64_t n);
    void (*gemm_tile)(qvl_dtype w, const void *wrows, size_t wstride, int nr, const void *pact, size_t pstride,
                      int nt, float *y, size_t ystride, int64_t n);
    /* BF16 weights, BF16-rounded activations (see gemm_bf16_avx512.c);
     * gemm_bf16_ok is NULL in tables without it and says whether rows of k
     * values are supported. gemm_bf16_pack_x rounds one row of k floats into
     * out (2k bytes). gemm_bf16_tile writes y[t * ystride + r] = sum over i of
     * x[t][i] w[r][i] for nr <= 32 weight rows at w + r * wstride bytes and nt
     * packed rows at xb + t * 2k bytes. */
    int (*gemm_bf16_ok)(int64_t k);
    void (*gemm_bf16_pack_x)(const float *x, void *out, int64_t k);
    void (*gemm_bf16_tile)(const void *w, size_t wstride, int nr, const void *xb, int nt, int64_t k, float *y,
                           size_t ystride);
    /* The vision tower's element work, f32 in any summation order (not
     * bit-matched to anything). layernorm: as ops.h layernorm (x may equal
     * y). add_gelu_tanh: x[i] = gelu_tanh(x[i] + b[i]), ops.h's tanh GELU.
     * vec_add: y[i] += x[i]. add_residual: y[i] += x[i] + b[i]. */
    void (*layernorm)(float *y, const float *x, const float *w, const float *b, int n, float eps);
    void (*add_gelu_tanh)(float *x, const float *b, int n);
    void (*vec_add)(float *y, const float *x, int n);
    void (*add_residual)(float *y, const float *x, const float *b, int n);
    /* The vision tower's attention on BF16 operands with f32 sums (any
     * order), half the instructions of the f32 products above. A "pair" is
     * a uint32 holding two BF16 values, the lower index in the low half.
     * round_bf16: out[i] = x[i] rounded to BF16, nearest even (as dtype.h
     * f32_to_bf16). softmax_bf16: p[j] = exp(x[j] - max over x) rounded to
     * BF16 for j < n; returns 1 / the sum of those exps (p times it is the
     * softmax: the caller scales the p v product instead of every p).
     * attn_scores_bf16: s[i * ss + j] = scale * sum
     * over d < hd of q[i * qs + d] * k_j[d] for nq BF16 query rows and n keys,
     * kp[(d / 2) * kps + j] the pair (k_j[d], k_j[d + 1]); hd is even.
     * attn_pv_bf16: o[i * os + d] = sum over j < n of p[i * ps + j] * v_j[d],
     * d < hd, for BF16 rows p and vp[(j / 2) * vps + d] the pair (v_j[d],
     * v_j+1[d]); n is even (pad p and v with a zero key). */
    void (*round_bf16)(const float *x, void *out, int64_t n);
    float (*softmax_bf16)(const float *x, uint16_t *p, int n);
    void (*attn_scores_bf16)(const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n, int hd,
                             float scale, float *s, size_t ss);
    void (*attn_pv_bf16)(const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n, int hd,
                         float *o, size_t os);
    /* quant_dot_quantize_act, bit for bit. */
    void (*quantize_act)(qvl_dtype a, const float *x, void *out, int64_t n);
    /* Decode attention of one query head over n cached keys, bit for bit
     * the per-key loops of the two entries above (NULL in tables without
     * them: callers loop): attn_scores_rows: s[p] = dot_f32_lanes16(q,
     * k + p * ks, hd) * scale; attn_pv_rows: o = 0, then for p = 0 .. n-1
     * in order axpy_f32(o, v + p * vs, w[p], hd). */
    void (*attn_scores_rows)(const float *q, const float *k, size_t ks, int n, int hd, float scale, float *s);
    void (*attn_pv_rows)(float *o, const float *v, size_t vs, const float *w, int n, int hd);
    /* Blocked causal attention for prompts (attn_prompt.h's contract: bit
     * for bit the per-pair kernels); NULL in tables without it.
     * attn_prompt_ok says whether head dimension hd is handled. */
    int (*attn_prompt_ok)(int hd);
    void (*attn_prompt_scores)(const float *q, size_t qs, int nq, const float *k, size_t ks, int nk, int hd,
                               float scale, float *s, size_t ss);
    void (*attn_prompt_pv)(const float *p, size_t ps, const int *len, int nq, const float *v, size_t vs, int hd,
                           float *o, size_t os);
    /* Packed weight matrices (packed.h: packed_matmul_avx512's contract);
     * NULL in tables without them: such tables use the unpacked rows. */
    void (*packed_matmul)(qvl_dtype w, const void *groups, int ng, const void *act, size_t astride, int nt,
                          float *y, size_t ystride, int64_t cols);
    /* dtype.h f16_to_bf16_exact: the same result and the same dst for
     * every value up to the first inexact one. */
    bool (*f16_to_bf16_exact)(const void *src, void *dst, int64_t n);
} kernels;

#define GEMM_ROWS 16

#define GEMM_BF16_ROWS 32

/* The AVX-512 BF16 GEMM (gemm_bf16_avx512bf16.c) and BF16 attention
 * (kernels_avx512bf16.c), entries of kernels_avx512bf16. */
int gemm_bf16_supported(int64_t k);
void gemm_bf16_pack_x(const float *x, void *out, int64_t k);
void gemm_bf16_tile(const void *w, size_t wstride, int nr, const void *xb, int nt, int64_t k, float *y,
                    size_t ystride);
void avx512bf16_attn_scores_bf16(const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n, int hd,
                                 float scale, float *s, size_t ss);
void avx512bf16_attn_pv_bf16(const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n, int hd,
                             float *o, size_t os);

/* Scalar entries shared by tables without SIMD versions (besides ops.h's). */
void kernels_attn_scores_scalar(const float *q, size_t qs, int nq, const float *kt, size_t kts, int n, int hd,
                                float scale, float *s, size_t ss);
void kernels_attn_pv_scalar(const float *p, size_t ps, int nq, const float *v, size_t vs, int n, int hd, float *o,
                            size_t os);
void kernels_add_gelu_tanh_scalar(float *x, const float *b, int n);
void kernels_add_residual_scalar(float *y, const float *x, const float *b, int n);
void kernels_round_bf16_scalar(const float *x, void *out, int64_t n);
float kernels_softmax_bf16_scalar(const float *x, uint16_t *p, int n);
void kernels_attn_scores_bf16_scalar(const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n,
                                     int hd, float scale, float *s, size_t ss);
void kernels_attn_pv_bf16_scalar(const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n, int hd,
                                 float *o, size_t os);

/* The activation quantizer of the AVX2 and AVX-512 tables (256-bit: it is
 * a small part of a token either way) and AVX2's f16_to_bf16_exact
 * (quant_act_avx2.c). */
void quantize_act_avx2(qvl_dtype a, const float *x, void *out, int64_t n);
bool f16_to_bf16_exact_avx2(const void *src, void *dst, int64_t n);

/* The int8 dot products of the avxvnni tier (kernels_avxvnni.c). */
float quant_dot_avxvnni(qvl_dtype w, const void *wrow, const void *arow, int64_t n);
void quant_dot_multi_avxvnni(qvl_dtype w, const void *wrow, const void *arow, size_t astride, int nt, float *out,
                             int64_t n);

/* The AVX-512 int8 GEMM (gemm_avx512.c), entries of both AVX-512 tables. */
size_t gemm_avx512_act_bytes(qvl_dtype w, int64_t n);
void gemm_avx512_pack_act(qvl_dtype w, const float *x, void *out, int64_t n);
void gemm_avx512_tile(qvl_dtype w, const void *wrows, size_t wstride, int nr, const void *pact, size_t pstride, int nt,
                      float *y, size_t ystride, int64_t n);

extern const kernels kernels_scalar;
extern const kernels kernels_avx2;
extern const kernels kernels_avxvnni;
extern const kernels kernels_avx512;
extern const kernels kernels_avx512bf16;

/* Every table, best first; *n gets their number. */
const kernels *const *kernels_list(int *n);

/* Whether this CPU can execute table k. */
bool kernels_supported(const kernels *k);

/* The active table: on first use the one QVL_KERNELS names (a name this CPU
 * cannot run gets a warning on stderr), else the best this CPU supports. */
const kernels *kernels_get(void);

/* Forces a table by name (kernels_list's names) for tests/benchmarks;
 * returns -1 if unknown or unsupported by this CPU. Not thread-safe: call
 * before starting work. */
int kernels_force(const char *name);

#endif
