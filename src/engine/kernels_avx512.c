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

/* ops.c expf_poly on 16 lanes: the same fused operations in the same order;
 * vscalefps is ldexpf for the integral n used here. */
static inline __m512 exp16(__m512 v) {
    const __m512 shift = _mm512_set1_ps(0x1.8p23f);
    __m512 nn = _mm512_sub_ps(_mm512_fmadd_ps(v, _mm512_set1_ps(0x1.715476p+0f), shift), shift);
    __m512 b = _mm512_fnmadd_ps(nn, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(nn, _mm512_set1_ps(0x1.62e4p-1f), v));
    __m512 u = _mm512_mul_ps(b, b);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f));
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f));
    __m512 j = _mm512_fmadd_ps(_mm512_fmadd_ps(p, u, q), u,
                               _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    __m512 r = _mm512_scalef_ps(j, nn);
    /* |n| > 192: overflow to inf or underflow to 0, as the scalar code */
    __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(nn), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    __mmask16 pos = _mm512_cmp_ps_mask(nn, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_mask_blend_ps(big, r, _mm512_maskz_mov_ps(pos, _mm512_set1_ps(INFINITY)));
}

static inline __mmask16 tail_mask(int left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

static void exp_poly(float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void softmax_fast(float *x, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, x + i));
    }
    __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax));
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

/* Scores for AQ queries x 32 keys at a time: 16 accumulators, per head
 * dimension two key loads and AQ broadcasts feed 2 AQ FMAs. Key blocks are
 * the outer loop so a block of kt stays in L1 while all queries pass. */
#define AQ 8
static void attn_scores(const float *q, size_t qs, int nq, const float *kt, size_t kts, int n, int hd, float scale,
                        float *s, size_t ss) {
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int j0 = 0; j0 < n; j0 += 32) {
        __mmask16 m0 = tail_mask(n - j0), m1 = tail_mask(n - j0 - 16);
        for (int i0 = 0; i0 < nq; i0 += AQ) {
            const float *qr[AQ];
            for (int i = 0; i < AQ; i++) qr[i] = q + (size_t)(i0 + i < nq ? i0 + i : nq - 1) * qs;   /* tail: repeats */
            __m512 acc[AQ][2];
            QS_UNROLL for (int i = 0; i < AQ; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
            for (int d = 0; d < hd; d++) {
                __m512 k0 = _mm512_maskz_loadu_ps(m0, kt + (size_t)d * kts + j0);
                __m512 k1 = _mm512_maskz_loadu_ps(m1, kt + (size_t)d * kts + j0 + 16);
                QS_UNROLL for (int i = 0; i < AQ; i++) {
                    __m512 b = _mm512_set1_ps(qr[i][d]);
                    acc[i][0] = _mm512_fmadd_ps(b, k0, acc[i][0]);
                    acc[i][1] = _mm512_fmadd_ps(b, k1, acc[i][1]);
                }
            }
            QS_UNROLL for (int i = 0; i < AQ; i++) {   /* constant indices keep acc in registers */
                if (i0 + i >= nq) break;
                _mm512_mask_storeu_ps(s + (size_t)(i0 + i) * ss + j0, m0, _mm512_mul_ps(acc[i][0], vscale));
                _mm512_mask_storeu_ps(s + (size_t)(i0 + i) * ss + j0 + 16, m1, _mm512_mul_ps(acc[i][1], vscale));
            }
        }
    }
}

/* p v for AP queries over keys j0..j1 with hd = 16 HV, added to the rows'
 * partial sums (first: start from zero): AP * HV accumulators; per key HV
 * loads of v and AP broadcasts of p. */
#define AP 6
#define PV_KEYS 64   /* keys per pass: their v rows stay in L1 while all queries pass */
static inline __attribute__((always_inline)) void pv_block(int HV, const float *const pr[AP], const float *v, size_t vs,
                                                           int j0, int j1, int first, float *const orow[AP]) {
    __m512 acc[AP][4];
    QS_UNROLL for (int i = 0; i < AP; i++)
        QS_UNROLL for (int c = 0; c < HV; c++)
            acc[i][c] = first || !orow[i] ? _mm512_setzero_ps() : _mm512_loadu_ps(orow[i] + 16 * c);
    for (int j = j0; j < j1; j++) {
        __m512 vv[4];
        QS_UNROLL for (int c = 0; c < HV; c++) vv[c] = _mm512_loadu_ps(v + (size_t)j * vs + 16 * c);
        QS_UNROLL for (int i = 0; i < AP; i++) {
            __m512 b = _mm512_set1_ps(pr[i][j]);
            QS_UNROLL for (int c = 0; c < HV; c++) acc[i][c] = _mm512_fmadd_ps(b, vv[c], acc[i][c]);
        }
    }
    QS_UNROLL for (int i = 0; i < AP; i++)
        if (orow[i])
            QS_UNROLL for (int c = 0; c < HV; c++) _mm512_storeu_ps(orow[i] + 16 * c, acc[i][c]);
}

static void attn_pv(const float *p, size_t ps, int nq, const float *v, size_t vs, int n, int hd, float *o, size_t os) {
    if (hd % 16 || hd > 64) {
        kernels_attn_pv_scalar(p, ps, nq, v, vs, n, hd, o, os);
        return;
    }
    for (int j0 = 0; j0 < n; j0 += PV_KEYS) {
        int j1 = n - j0 < PV_KEYS ? n : j0 + PV_KEYS;
        for (int i0 = 0; i0 < nq; i0 += AP) {
            const float *pr[AP];
            float *orow[AP];
            for (int i = 0; i < AP; i++) {   /* tail: repeat the last query, store nothing */
                pr[i] = p + (size_t)(i0 + i < nq ? i0 + i : nq - 1) * ps;
                orow[i] = i0 + i < nq ? o + (size_t)(i0 + i) * os : NULL;
            }
            switch (hd / 16) {
            case 1: pv_block(1, pr, v, vs, j0, j1, j0 == 0, orow); break;
            case 2: pv_block(2, pr, v, vs, j0, j1, j0 == 0, orow); break;
            case 3: pv_block(3, pr, v, vs, j0, j1, j0 == 0, orow); break;
            default: pv_block(4, pr, v, vs, j0, j1, j0 == 0, orow); break;
            }
        }
    }
}

const kernels kernels_avx512 = {"avx512", dot_f32, axpy_f32, dot_f32_lanes16, qs_quant_dot, qs_dot_multi, exp_poly, softmax_fast,
                                 attn_scores, attn_pv,
                                 gemm_avx512_act_bytes, gemm_avx512_pack_act, gemm_avx512_tile,
                                 gemm_bf16_supported, gemm_bf16_pack_x, gemm_bf16_tile};
