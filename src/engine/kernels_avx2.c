/* kernels_avx2.c - AVX2+FMA versions of kernels.h (compiled with -mavx2 -mfma)
 * and the tables of the two 256-bit tiers: "avx2" and "avxvnni", which is
 * avx2 with the int8 kernels of kernels_avxvnni.c and packed_*_avxvnni.c
 * (defined there, compiled with -mavxvnni; only referenced here). */
#include <immintrin.h>
#include <math.h>

#include "engine/kernels.h"
#include "engine/ops.h"
#include "engine/packed.h"
#include "engine/quant_dot.h"
#include "engine/quant_simd.h"
#include "engine/vision_avx2.h"

static void axpy_f32(float *y, const float *x, float a, int n) {
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* 16 lanes as two 8-lane halves: lane l of the reference is lane l%8 of
 * half l/8; the final tree adds the halves first, like a 512-bit reduce.
 * Also serves as the plain dot_f32, where any order would do. */
static float dot_lanes16(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    float s = qs_hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s = fmaf(a[i], b[i], s);
    return s;
}

/* ops.h's reference code with the vector exps, which give their bits. */
static void softmax_masked_avx2(float *x, int n, int n_row) { softmax_masked_exp(x, n, n_row, vision_avx2_exp_poly); }
static void swiglu_avx2(float *gate, const float *up, int n) { swiglu_exp(gate, up, n, vision_avx2_exp_poly); }

/* The entries both 256-bit tiers share. */
#define AVX2_ENTRIES                                                                                                \
    .dot_f32 = dot_lanes16, .axpy_f32 = axpy_f32, .dot_f32_lanes16 = dot_lanes16, .softmax = vision_avx2_softmax,   \
    .attn_scores = vision_avx2_attn_scores, .attn_pv = vision_avx2_attn_pv, .layernorm = vision_avx2_layernorm,     \
    .add_gelu_tanh = vision_avx2_add_gelu_tanh, .vec_add = vision_avx2_vec_add,                                     \
    .add_residual = vision_avx2_add_residual, .round_bf16 = vision_avx2_round_bf16,                                 \
    .softmax_bf16 = vision_avx2_softmax_bf16, .attn_scores_bf16 = vision_avx2_attn_scores_bf16,                     \
    .attn_pv_bf16 = vision_avx2_attn_pv_bf16, .exp_poly = vision_avx2_exp_poly,                                     \
    .softmax_masked = softmax_masked_avx2, .swiglu = swiglu_avx2, .quantize_act = quantize_act_avx2,                \
    .f16_to_bf16_exact = f16_to_bf16_exact_avx2

const kernels kernels_avx2 = {
    .name = "avx2",
    AVX2_ENTRIES,
    .quant_dot = qs_quant_dot, .quant_dot_multi = qs_dot_multi, .packed_matmul = packed_matmul_avx2,
};

const kernels kernels_avxvnni = {
    .name = "avxvnni",
    AVX2_ENTRIES,
    .quant_dot = quant_dot_avxvnni, .quant_dot_multi = quant_dot_multi_avxvnni,
    .packed_matmul = packed_matmul_avxvnni,
};
