/* kernels_scalar.c - the plain-C reference table: every SIMD kernel is
 * tested against these, and CPUs without AVX2 run them. */
#include "engine/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/quant_dot.h"

static float dot_f32_scalar(const float *a, const float *b, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy_f32_scalar(float *y, const float *x, float a, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void quant_dot_multi_scalar(qvl_dtype w, const void *wrow, const void *arow, size_t astride, int nt,
                                   float *out, int64_t n) {
    for (int t = 0; t < nt; t++) out[t] = quant_dot_ref(w, wrow, (const uint8_t *)arow + (size_t)t * astride, n);
}

void kernels_attn_scores_scalar(const float *q, size_t qs, int nq, const float *kt, size_t kts, int n, int hd,
                                float scale, float *s, size_t ss) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < n; j++) {
            float a = 0;
            for (int d = 0; d < hd; d++) a += q[(size_t)i * qs + d] * kt[(size_t)d * kts + j];
            s[(size_t)i * ss + j] = a * scale;
        }
}

void kernels_attn_pv_scalar(const float *p, size_t ps, int nq, const float *v, size_t vs, int n, int hd, float *o,
                            size_t os) {
    for (int i = 0; i < nq; i++)
        for (int d = 0; d < hd; d++) {
            float a = 0;
            for (int j = 0; j < n; j++) a += p[(size_t)i * ps + j] * v[(size_t)j * vs + d];
            o[(size_t)i * os + d] = a;
        }
}

void kernels_add_gelu_tanh_scalar(float *x, const float *b, int n) {
    vec_add(x, b, n);
    gelu_tanh(x, n);
}

void kernels_add_residual_scalar(float *y, const float *x, const float *b, int n) {
    for (int i = 0; i < n; i++) y[i] += x[i] + b[i];
}

void kernels_round_bf16_scalar(const float *x, void *out, int64_t n) {
    uint16_t *o = out;
    for (int64_t i = 0; i < n; i++) o[i] = f32_to_bf16(x[i]);
}

float kernels_softmax_bf16_scalar(const float *x, uint16_t *p, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        float e = expf(x[i] - mx);
        sum += e;
        p[i] = f32_to_bf16(e);
    }
    return (float)(1.0 / sum);
}

/* One value of a BF16 pair: the low half holds the even index. */
static float pair_half(uint32_t pair, int odd) { return bf16_to_f32((uint16_t)(pair >> (16 * odd))); }

void kernels_attn_scores_bf16_scalar(const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n,
                                     int hd, float scale, float *s, size_t ss) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < n; j++) {
            float a = 0;
            for (int d = 0; d < hd; d++)
                a += bf16_to_f32(q[(size_t)i * qs + d]) * pair_half(kp[(size_t)(d / 2) * kps + j], d % 2);
            s[(size_t)i * ss + j] = a * scale;
        }
}

void kernels_attn_pv_bf16_scalar(const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n, int hd,
                                 float *o, size_t os) {
    for (int i = 0; i < nq; i++)
        for (int d = 0; d < hd; d++) {
            float a = 0;
            for (int j = 0; j < n; j++)
                a += bf16_to_f32(p[(size_t)i * ps + j]) * pair_half(vp[(size_t)(j / 2) * vps + d], j % 2);
            o[(size_t)i * os + d] = a;
        }
}

const kernels kernels_scalar = {
    .name = "scalar",
    .dot_f32 = dot_f32_scalar, .axpy_f32 = axpy_f32_scalar, .dot_f32_lanes16 = dot_f32_lanes16,
    .quant_dot = quant_dot_ref, .quant_dot_multi = quant_dot_multi_scalar,
    .exp_poly = expf_poly_row, .softmax_masked = softmax_masked, .swiglu = swiglu,
    .quantize_act = quant_dot_quantize_act, .f16_to_bf16_exact = f16_to_bf16_exact, .softmax = softmax,
    .attn_scores = kernels_attn_scores_scalar, .attn_pv = kernels_attn_pv_scalar,
    .layernorm = layernorm, .add_gelu_tanh = kernels_add_gelu_tanh_scalar, .vec_add = vec_add,
    .add_residual = kernels_add_residual_scalar,
    .round_bf16 = kernels_round_bf16_scalar, .softmax_bf16 = kernels_softmax_bf16_scalar,
    .attn_scores_bf16 = kernels_attn_scores_bf16_scalar, .attn_pv_bf16 = kernels_attn_pv_bf16_scalar,
};
