/* kernels_avx512.c - AVX-512 versions of kernels.h (compiled with -mavx512*). */
#include <immintrin.h>
#include <math.h>

#include "kernels.h"

/* VNNI: vpdpbusd / vpdpwssd accumulate the i32 lanes in one instruction. */
#define QS_DOT_US(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define QS_DOT_I16(acc, p, c) _mm256_dpwssd_epi32((acc), (p), (c))
#include "quant_simd.h"

static float dot_f32(const float *a, const float *b, int n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    if (i + 16 <= n) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        i += 16;
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void axpy_f32(float *y, const float *x, float a, int n) {
    __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i),
                                                        _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static float dot_f32_lanes16(const float *a, const float *b, int n) {
    __m512 s = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    /* the reference tree: halves first, then the 8-lane order */
    float r = qs_hsum8(_mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1)));
    for (; i < n; i++) r = fmaf(a[i], b[i], r);
    return r;
}

const kernels kernels_avx512 = {"avx512", dot_f32, axpy_f32, dot_f32_lanes16, qs_quant_dot, qs_dot_multi};
