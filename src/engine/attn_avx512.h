/* attn_avx512.h - the AVX-512 bodies of the vision tower's attention and
 * its exps, shared by the two AVX-512 tables: kernels_avx512.c (F/BW/DQ/VL/
 * VNNI, for CPUs without BF16 such as Ice Lake and Tiger Lake) and
 * kernels_avx512bf16.c (Zen 4, Sapphire Rapids). Include only from files
 * built with the AVX-512 flags; everything is static inline, so each
 * includer compiles what it uses for its own instruction set, and only a
 * file built with -mavx512bf16 can instantiate AV_BF16.
 *
 * The bodies take a mode, a compile-time constant at every call:
 *   AV_F32      f32 queries / probabilities and f32 keys / values;
 *   AV_BF16     BF16 operands as kernels.h's *_bf16 entries lay them out
 *               (pairs), multiplied by vdpbf16ps;
 *   AV_BF16_EMU the same operands widened to f32 in registers (a BF16
 *               value is the top half of an f32) and multiplied by FMAs:
 *               the same products, summed in a different order.
 */
#ifndef QVL_ATTN_AVX512_H
#define QVL_ATTN_AVX512_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/kernels.h"

#define AV_INLINE static inline __attribute__((always_inline))
#define AV_UNROLL _Pragma("GCC unroll 8")

enum { AV_F32, AV_BF16, AV_BF16_EMU };

AV_INLINE __mmask16 av_tail_mask(int left) {
    return left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

/* ops.c expf_poly on 16 lanes: the same fused operations in the same order;
 * vscalefps is ldexpf for the integral n used here. */
AV_INLINE __m512 av_exp16(__m512 v) {
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

/* The row's maximum (broadcast), for a softmax that cannot overflow. */
AV_INLINE __m512 av_row_max(const float *x, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, x + i));
    }
    return _mm512_set1_ps(_mm512_reduce_max_ps(mx));
}

/* dtype.h f32_to_bf16 on 16 lanes: round to nearest even, NaN kept quiet
 * (vcvtneps2bf16 would flush subnormals). */
AV_INLINE __m256i av_round_bf16(__m512 x) {
    __m512i b = _mm512_castps_si512(x);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7fff)), odd), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

/* The two f32 values of 16 BF16 pairs: the lower-index one (low half
 * shifted up) and the higher-index one (high half, low bits cleared). */
AV_INLINE __m512 av_pair_lo(__m512 pairs) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(pairs), 16));
}
AV_INLINE __m512 av_pair_hi(__m512 pairs) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(pairs), _mm512_set1_epi32((int)0xffff0000u)));
}
AV_INLINE float av_bf16_f32(uint32_t h16) {
    uint32_t b = h16 << 16;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* acc += the pair (a0, a1) broadcast times the 16 pairs v: vdpbf16ps, or
 * its two FMAs. */
AV_INLINE __m512 av_pair_fma(int mode, __m512 acc, uint32_t pair, __m512 v) {
#ifdef __AVX512BF16__
    if (mode == AV_BF16)
        return _mm512_dpbf16_ps(acc, (__m512bh)_mm512_set1_epi32((int)pair), (__m512bh)v);
#endif
    acc = _mm512_fmadd_ps(_mm512_set1_ps(av_bf16_f32(pair & 0xffff)), av_pair_lo(v), acc);
    return _mm512_fmadd_ps(_mm512_set1_ps(av_bf16_f32(pair >> 16)), av_pair_hi(v), acc);
}

/* kernels.h attn_scores (AV_F32: q rows, kt the keys transposed) and
 * attn_scores_bf16 (BF16 rows, kp key pairs) for AQ queries x 32 keys at a
 * time: 16 accumulators, per head dimension (BF16: pair of dimensions) two
 * key loads and AQ broadcasts. Key blocks are the outer loop so a block of
 * keys stays in L1 while all queries pass. BF16 modes need an even hd. */
#define AQ 8
AV_INLINE void av_scores(int mode, const void *q, size_t qs, int nq, const void *k, size_t ks, int n, int hd,
                         float scale, float *s, size_t ss) {
    const int bf = mode != AV_F32;
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int j0 = 0; j0 < n; j0 += 32) {
        __mmask16 m0 = av_tail_mask(n - j0), m1 = av_tail_mask(n - j0 - 16);
        for (int i0 = 0; i0 < nq; i0 += AQ) {
            const char *qr[AQ];   /* tail: repeats the last query */
            for (int i = 0; i < AQ; i++)
                qr[i] = (const char *)q + (size_t)(i0 + i < nq ? i0 + i : nq - 1) * qs * (bf ? 2 : 4);
            __m512 acc[AQ][2];
            AV_UNROLL for (int i = 0; i < AQ; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
            for (int d = 0; d < hd; d += bf ? 2 : 1) {
                const char *kr = (const char *)k + ((size_t)(bf ? d / 2 : d) * ks + j0) * 4;
                __m512 k0 = _mm512_maskz_loadu_ps(m0, kr), k1 = _mm512_maskz_loadu_ps(m1, kr + 64);
                AV_UNROLL for (int i = 0; i < AQ; i++) {
                    if (bf) {
                        uint32_t pair;
                        memcpy(&pair, qr[i] + 2 * d, sizeof pair);
                        acc[i][0] = av_pair_fma(mode, acc[i][0], pair, k0);
                        acc[i][1] = av_pair_fma(mode, acc[i][1], pair, k1);
                    } else {
                        float qd;
                        memcpy(&qd, qr[i] + 4 * d, sizeof qd);
                        __m512 b = _mm512_set1_ps(qd);
                        acc[i][0] = _mm512_fmadd_ps(b, k0, acc[i][0]);
                        acc[i][1] = _mm512_fmadd_ps(b, k1, acc[i][1]);
                    }
                }
            }
            AV_UNROLL for (int i = 0; i < AQ; i++) {   /* constant indices keep acc in registers */
                if (i0 + i >= nq) break;
                _mm512_mask_storeu_ps(s + (size_t)(i0 + i) * ss + j0, m0, _mm512_mul_ps(acc[i][0], vscale));
                _mm512_mask_storeu_ps(s + (size_t)(i0 + i) * ss + j0 + 16, m1, _mm512_mul_ps(acc[i][1], vscale));
            }
        }
    }
}

/* p v for AP queries over keys j0..j1 with hd = 16 HV, added to the rows'
 * partial sums (first: start from zero): AP * HV accumulators; per key (BF16:
 * pair of keys) HV loads of v and AP broadcasts of p. vs counts elements
 * (BF16: pairs) between v rows (pair rows). */
#define AP 6
#define PV_KEYS 64   /* keys per pass: their v rows stay in L1 while all queries pass */
AV_INLINE void av_pv_block(int mode, int HV, const char *const pr[AP], const void *v, size_t vs, int j0, int j1,
                           int first, float *const orow[AP]) {
    const int bf = mode != AV_F32;
    __m512 acc[AP][4];
    AV_UNROLL for (int i = 0; i < AP; i++)
        AV_UNROLL for (int c = 0; c < HV; c++)
            acc[i][c] = first || !orow[i] ? _mm512_setzero_ps() : _mm512_loadu_ps(orow[i] + 16 * c);
    for (int j = j0; j < j1; j += bf ? 2 : 1) {
        __m512 vv[4];
        const float *vr = (const float *)v + (size_t)(bf ? j / 2 : j) * vs;   /* a pair is a float's size */
        AV_UNROLL for (int c = 0; c < HV; c++) vv[c] = _mm512_loadu_ps(vr + 16 * c);
        AV_UNROLL for (int i = 0; i < AP; i++) {
            if (bf) {
                uint32_t pair;
                memcpy(&pair, pr[i] + 2 * j, sizeof pair);
                AV_UNROLL for (int c = 0; c < HV; c++) acc[i][c] = av_pair_fma(mode, acc[i][c], pair, vv[c]);
            } else {
                float pj;
                memcpy(&pj, pr[i] + 4 * j, sizeof pj);
                __m512 b = _mm512_set1_ps(pj);
                AV_UNROLL for (int c = 0; c < HV; c++) acc[i][c] = _mm512_fmadd_ps(b, vv[c], acc[i][c]);
            }
        }
    }
    AV_UNROLL for (int i = 0; i < AP; i++)
        if (orow[i])
            AV_UNROLL for (int c = 0; c < HV; c++) _mm512_storeu_ps(orow[i] + 16 * c, acc[i][c]);
}

/* kernels.h attn_pv (AV_F32) and attn_pv_bf16; hd a multiple of 16 up to
 * 64, n even in the BF16 modes (the callers check). */
AV_INLINE void av_pv(int mode, const void *p, size_t ps, int nq, const void *v, size_t vs, int n, int hd, float *o,
                     size_t os) {
    const int bf = mode != AV_F32;
    if (n <= 0)   /* a sum over no keys */
        for (int i = 0; i < nq; i++) memset(o + (size_t)i * os, 0, (size_t)hd * sizeof *o);
    for (int j0 = 0; j0 < n; j0 += PV_KEYS) {
        int j1 = n - j0 < PV_KEYS ? n : j0 + PV_KEYS;
        for (int i0 = 0; i0 < nq; i0 += AP) {
            const char *pr[AP];
            float *orow[AP];
            for (int i = 0; i < AP; i++) {   /* tail: repeat the last query, store nothing */
                pr[i] = (const char *)p + (size_t)(i0 + i < nq ? i0 + i : nq - 1) * ps * (bf ? 2 : 4);
                orow[i] = i0 + i < nq ? o + (size_t)(i0 + i) * os : NULL;
            }
            switch (hd / 16) {
            case 1: av_pv_block(mode, 1, pr, v, vs, j0, j1, j0 == 0, orow); break;
            case 2: av_pv_block(mode, 2, pr, v, vs, j0, j1, j0 == 0, orow); break;
            case 3: av_pv_block(mode, 3, pr, v, vs, j0, j1, j0 == 0, orow); break;
            default: av_pv_block(mode, 4, pr, v, vs, j0, j1, j0 == 0, orow); break;
            }
        }
    }
}

/* The *_bf16 entries of kernels.h for a BF16 mode: the shapes the bodies
 * do not take go to the scalar code. */
AV_INLINE void av_scores_bf16(int mode, const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n,
                              int hd, float scale, float *s, size_t ss) {
    if (hd % 2) kernels_attn_scores_bf16_scalar(q, qs, nq, kp, kps, n, hd, scale, s, ss);
    else av_scores(mode, q, qs, nq, kp, kps, n, hd, scale, s, ss);
}

AV_INLINE void av_pv_bf16(int mode, const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n,
                          int hd, float *o, size_t os) {
    if (hd % 16 || hd > 64 || n % 2) kernels_attn_pv_bf16_scalar(p, ps, nq, vp, vps, n, hd, o, os);
    else av_pv(mode, p, ps, nq, vp, vps, n, hd, o, os);
}

/* kernels.h softmax_bf16: one pass after the maximum, the exps go straight
 * to BF16, their sum (of the unrounded values) is the normaliser. */
AV_INLINE float av_softmax_bf16(const float *x, uint16_t *p, int n) {
    __m512 vmax = av_row_max(x, n), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        __m512 e = _mm512_maskz_mov_ps(m, av_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax)));
        sum = _mm512_add_ps(sum, e);
        _mm256_mask_storeu_epi16(p + i, m, av_round_bf16(e));
    }
    return 1.0f / _mm512_reduce_add_ps(sum);
}

#endif
