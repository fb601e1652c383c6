/* ops.c - see ops.h. Sums are accumulated in double where the row is long
 * and the result feeds a normalisation, to stay close to PyTorch's fp32
 * reductions whatever the summation order. */
#include "engine/ops.h"

#include <math.h>

void rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    /* mean and scale in float, as llama.cpp does: reference outputs made by
     * it are matched bit for bit, not merely closely */
    float mean = (float)(ss / n);
    float r = 1.0f / sqrtf(mean + eps);
    for (int i = 0; i < n; i++) y[i] = (w ? w[i] : 1.0f) * (x[i] * r);
}

void layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps) {
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    float r = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
    for (int i = 0; i < n; i++) y[i] = (x[i] - m) * r * w[i] + b[i];
}

/* exp(x) by the polynomial llama.cpp's AVX-512 softmax uses (ARM optimized
 * routines' expf: range reduction by ln 2, degree-5 polynomial, scaling by
 * 2^n); within 1.5 ulp of expf. Written out in scalar C with the same fused
 * operations so both give identical bits; kernels.h exp_poly is the SIMD
 * version, tested against this. */
float expf_poly(float x) {
    const float shift = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, shift);
    float n = z - shift;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192.0f) return n > 0 ? INFINITY : 0.0f;
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)), u,
                   fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

void expf_poly_row(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = expf_poly(x[i]);
}

/* Sum of 16 floats in the order of a 512-bit horizontal add. */
static float sum16_tree(const float *v) {
    float t6[4];
    for (int i = 0; i < 4; i++) t6[i] = (v[i] + v[i + 8]) + (v[i + 4] + v[i + 12]);
    return (t6[0] + t6[2]) + (t6[1] + t6[3]);
}

float dot_f32_lanes16(const float *a, const float *b, int n) {
    float acc[16] = {0};
    for (int i = 0; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] = fmaf(a[i + l], b[i + l], acc[l]);
    float s = sum16_tree(acc);
    for (int i = n / 16 * 16; i < n; i++) s = fmaf(a[i], b[i], s);
    return s;
}

void softmax_masked(float *x, int n, int n_row) { softmax_masked_exp(x, n, n_row, expf_poly_row); }

void softmax_masked_exp(float *x, int n, int n_row, ops_exp_fn exp_n) {
    /* Entries n..n_row-1 are masked (-inf): they contribute zeros. Chunks of
     * 16 over the whole row use the polynomial, the tail uses expf, like the
     * reference implementation whose outputs we compare against. */
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    int i = 0;
    for (; i + 16 <= n_row && i < n; i += 16) {
        float v[16];
        for (int k = 0; k < 16; k++) v[k] = i + k < n ? x[i + k] - mx : 0.0f;
        exp_n(v, 16);
        for (int k = 0; k < 16; k++) v[k] = i + k < n ? v[k] : 0.0f;
        for (int k = 0; k < 16 && i + k < n; k++) x[i + k] = v[k];
        sum += (double)sum16_tree(v);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int k = 0; k < n; k++) x[k] *= inv;
}

void softmax(float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void gelu_tanh(float *x, int n) {
    /* 0.5 x (1 + tanh y) = x / (1 + exp(-2y)): the exp by the SIMD kernels'
     * polynomial (within 1.5 ulp), no cancellation near y = 0 */
    const float k2 = 2.0f * 0.7978845608028654f;   /* 2 sqrt(2/pi) */
    for (int i = 0; i < n; i++) {
        float v = x[i];
        x[i] = v / (1.0f + expf_poly(-k2 * (v + 0.044715f * v * v * v)));
    }
}

void gelu_erf(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void vec_add(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += x[i];
}

void swiglu(float *gate, const float *up, int n) { swiglu_exp(gate, up, n, expf_poly_row); }

void swiglu_exp(float *gate, const float *up, int n, ops_exp_fn exp_n) {
    /* chunks of 16 through the polynomial exp, the tail through expf: the
     * reference implementation's split (see softmax_masked) */
    int body = n / 16 * 16;
    float e[256];
    for (int i0 = 0; i0 < body; i0 += 256) {
        int m = body - i0 < 256 ? body - i0 : 256;
        for (int i = 0; i < m; i++) e[i] = -gate[i0 + i];
        exp_n(e, m);
        for (int i = 0; i < m; i++) gate[i0 + i] = gate[i0 + i] / (1.0f + e[i]) * up[i0 + i];
    }
    for (int i = body; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
