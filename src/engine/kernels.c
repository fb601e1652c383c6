/* kernels.c - CPUID dispatch and the scalar reference kernels. */
#include "engine/kernels.h"

#include <math.h>
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

void kernels_exp_poly_scalar(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = expf_poly(x[i]);
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

const kernels kernels_scalar = {"scalar", dot_f32_scalar, axpy_f32_scalar, dot_f32_lanes16, quant_dot_ref,
                                 quant_dot_multi_scalar, kernels_exp_poly_scalar, softmax,
                                 kernels_attn_scores_scalar, kernels_attn_pv_scalar, NULL, NULL, NULL, NULL, NULL, NULL,
                                 layernorm, kernels_add_gelu_tanh_scalar, vec_add, kernels_add_residual_scalar,
                                 kernels_round_bf16_scalar, kernels_softmax_bf16_scalar,
                                 kernels_attn_scores_bf16_scalar, kernels_attn_pv_bf16_scalar,
                              quant_dot_quantize_act, NULL, NULL, NULL};

static const kernels *active;

static int supported(const kernels *k) {
    __builtin_cpu_init();
    if (k == &kernels_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (k == &kernels_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return 1;
}

const kernels *kernels_get(void) {
    if (!active) {
        const kernels *order[] = {&kernels_avx512, &kernels_avx2, &kernels_scalar};
        for (int i = 0; i < 3 && !active; i++)
            if (supported(order[i])) active = order[i];
    }
    return active;
}

int kernels_force(const char *name) {
    const kernels *all[] = {&kernels_avx512, &kernels_avx2, &kernels_scalar};
    for (int i = 0; i < 3; i++)
        if (!strcmp(all[i]->name, name) && supported(all[i])) {
            active = all[i];
            return 0;
        }
    return -1;
}
