/* kernels_avx512.c - AVX-512 versions of kernels.h: the tables of the two
 * AVX-512 tiers. This file is built with F/BW/DQ/VL/VNNI and without BF16,
 * so everything kernels_avx512 runs is sure to exist on Ice Lake, Tiger Lake
 * and Cascade Lake; kernels_avx512bf16 adds the BF16 entries compiled in
 * kernels_avx512bf16.c and gemm_bf16_avx512bf16.c. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/attn_avx512.h"
#include "engine/attn_prompt.h"
#include "engine/kernels.h"
#include "engine/ops.h"
#include "engine/packed.h"

/* VNNI: vpdpbusd / vpdpwssd accumulate the i32 lanes in one instruction. */
#define QS_DOT_US(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define QS_DOT_I16(acc, p, c) _mm256_dpwssd_epi32((acc), (p), (c))
#define QS_ROWS kz_dot_rows
static inline __attribute__((always_inline)) void kz_dot_rows(qvl_dtype w, const uint8_t *wr, const uint8_t *ar,
                                                              size_t as, int nt, float *out, int64_t n);
#include "engine/quant_simd.h"

/* The K-quant bodies in zmm registers: each 512-bit operation does the work
 * of two of quant_simd.h's 256-bit ones (fewer instructions per byte of
 * weights is what decode needs: it is compute-bound, not memory-bound).
 * Two 32-element chunks share a register, chunk c in the low half and
 * chunk c' in the high one; adding the halves at the end gives every i32
 * lane the same integer as the 256-bit body (integer sums are exact), and
 * the float part is quant_simd.h's, so results stay the reference's. */

/* Shuffle controls, read from memory at each use (cheaper than building
 * them in registers once per row). Each i16 picks one i16 of its 128-bit
 * lane: kz_pick_q4[i] scale 2i in the low 256 bits and 2i+1 in the high
 * ones; kz_pair_q4[k] the pairs (4k, 4k+2) low and (4k+1, 4k+3) high;
 * kz_pick_q6[p] scale 4p + j in 128-bit lane j. */
#define KZ_PICK(e) (uint16_t)(0x0100 + 0x0202 * (e))
#define KZ_X8(v) v, v, v, v, v, v, v, v
#define KZ_Q4(i) {KZ_X8(KZ_PICK(2 * i)), KZ_X8(KZ_PICK(2 * i)), KZ_X8(KZ_PICK(2 * i + 1)), KZ_X8(KZ_PICK(2 * i + 1))}
#define KZ_Q6(p) {KZ_X8(KZ_PICK(4 * p)), KZ_X8(KZ_PICK(4 * p + 1)), KZ_X8(KZ_PICK(4 * p + 2)), KZ_X8(KZ_PICK(4 * p + 3))}
static const uint16_t kz_pick_q4[4][32] __attribute__((aligned(64))) = {KZ_Q4(0), KZ_Q4(1), KZ_Q4(2), KZ_Q4(3)};
#define KZ_PAIRS(a, b) KZ_PICK(a), KZ_PICK(b), KZ_PICK(a), KZ_PICK(b), KZ_PICK(a), KZ_PICK(b), KZ_PICK(a), KZ_PICK(b)
#define KZ_Q4P(a, b, c, d) {KZ_PAIRS(a, b), KZ_PAIRS(a, b), KZ_PAIRS(c, d), KZ_PAIRS(c, d)}
static const uint16_t kz_pair_q4[2][32] __attribute__((aligned(64))) = {KZ_Q4P(0, 2, 1, 3), KZ_Q4P(4, 6, 5, 7)};
static const uint16_t kz_pick_q6[2][32] __attribute__((aligned(64))) = {KZ_Q6(0), KZ_Q6(1)};

QS_INLINE __m512i kz_pick(const uint16_t *ctl) { return _mm512_load_si512(ctl); }

QS_INLINE __m256i kz_fold(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* Q4_K: the 32 nibble bytes of step i hold sub-block 2i (low nibbles) and
 * 2i+1 (high), whose 64 activations are adjacent: one broadcast load, a
 * per-half shift and a mask give all 64 levels. kz_q4_k_ints leaves the
 * integer lanes of super-block wr for nt tokens in sumi and its mins. */
QS_INLINE void kz_q4_k_ints(const uint8_t *wr, const uint8_t *ar, size_t as, int nt, __m256i *sumi, __m128i *mins) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), nib_shift = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    __m128i sm = qs_k4_scales_v(wr + 4);
    *mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
    __m512i scales = _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(sm)), s[QS_MAXT];
    QS_UNROLL for (int t = 0; t < nt; t++) s[t] = _mm512_setzero_si512();
    __m512i lv[4];
    QS_UNROLL for (int i = 0; i < 4; i++)
        lv[i] = _mm512_and_si512(_mm512_srlv_epi64(_mm512_broadcast_i64x4(qs_load(wr + 16 + 32 * i)), nib_shift), m4);
    if (nt < 4) {
        QS_UNROLL for (int i = 0; i < 4; i++) {
            __m512i sc = _mm512_shuffle_epi8(scales, kz_pick(kz_pick_q4[i]));
            QS_UNROLL for (int t = 0; t < nt; t++) {
                __m512i q8 = _mm512_loadu_si512(ar + (size_t)t * as + 4 + 64 * i);
                s[t] = _mm512_dpwssd_epi32(s[t], _mm512_maddubs_epi16(lv[i], q8), sc);
            }
        }
    } else {
        /* Many tokens: the multiplier ports limit, so each step's 4-sums
         * come from one vpdpbusd (|sum| <= 4 * 15 * 128 fits an i16) and
         * two steps' sums, paired as i16 in each i32 lane, meet their two
         * scales in one vpdpwssd: 6 multiplies per token, not 8. */
        __m512i sc01 = _mm512_shuffle_epi8(scales, kz_pick(kz_pair_q4[0]));
        __m512i sc23 = _mm512_shuffle_epi8(scales, kz_pick(kz_pair_q4[1]));
        QS_UNROLL for (int t = 0; t < nt; t++) {
            const uint8_t *q8 = ar + (size_t)t * as + 4;
            __m512i p[4];
            QS_UNROLL for (int i = 0; i < 4; i++)
                p[i] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lv[i], _mm512_loadu_si512(q8 + 64 * i));
            __m512i p01 = _mm512_mask_blend_epi16(0xAAAAAAAA, p[0], _mm512_slli_epi32(p[1], 16));
            __m512i p23 = _mm512_mask_blend_epi16(0xAAAAAAAA, p[2], _mm512_slli_epi32(p[3], 16));
            s[t] = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(s[t], p01, sc01), p23, sc23);
        }
    }
    QS_UNROLL for (int t = 0; t < nt; t++) sumi[t] = kz_fold(s[t]);
}

/* Q6_K: register p of half h holds chunks 2p and 2p+1 of the half; the
 * scales of its four 16-element groups are one per 128-bit lane. Levels are
 * unsigned (0..63) for maddubs. With few tokens the -32 offset is taken off
 * per pair as 32 * (a0 + a1); with more, once per weight row: the signed
 * levels w = level - 32 meet a + 128 (unsigned), and the row's
 * 128 * sum(w) terms are subtracted at the end (pairs stay below 2 * 255
 * * 32, no saturation, and exact for any a). kz_q6_k_ints leaves the
 * integer lanes of super-block wr for nt tokens in sumi. */
QS_INLINE void kz_q6_k_ints(const uint8_t *wr, const uint8_t *ar, size_t as, int nt, __m256i *sumi) {
    const int per_row_offset = nt >= 3;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30), k32 = _mm512_set1_epi8(32);
    const __m512i k128 = _mm512_set1_epi8((char)0x80);
    const __m512i up = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2), down = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    __m512i s[QS_MAXT], corr = _mm512_setzero_si512();
    QS_UNROLL for (int t = 0; t < nt; t++) s[t] = _mm512_setzero_si512();
    QS_UNROLL for (int h = 0; h < 2; h++) {
        __m512i lo = _mm512_loadu_si512(wr + 64 * h), hb = _mm512_broadcast_i64x4(qs_load(wr + 128 + 32 * h));
        __m512i lv[2], sc[2];
        /* imm 0xF8: a | (b & c) */
        lv[0] = _mm512_ternarylogic_epi32(_mm512_and_si512(lo, m4), _mm512_sllv_epi64(hb, up), m30, 0xF8);
        lv[1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi64(lo, 4), m4),
                                          _mm512_srlv_epi64(hb, down), m30, 0xF8);
        __m512i s16 = _mm512_broadcast_i32x4(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(wr + 192 + 8 * h))));
        QS_UNROLL for (int p = 0; p < 2; p++) {
            sc[p] = _mm512_shuffle_epi8(s16, kz_pick(kz_pick_q6[p]));
            if (per_row_offset) {
                lv[p] = _mm512_sub_epi8(lv[p], k32);
                corr = _mm512_dpwssd_epi32(corr, _mm512_maddubs_epi16(k128, lv[p]), sc[p]);
            }
        }
        QS_UNROLL for (int t = 0; t < nt; t++)
            QS_UNROLL for (int p = 0; p < 2; p++) {
                __m512i q = _mm512_loadu_si512(ar + (size_t)t * as + 4 + 128 * h + 64 * p), d;
                if (per_row_offset) d = _mm512_maddubs_epi16(_mm512_xor_si512(q, k128), lv[p]);
                else d = _mm512_sub_epi16(_mm512_maddubs_epi16(lv[p], q), _mm512_maddubs_epi16(k32, q));
                s[t] = _mm512_dpwssd_epi32(s[t], d, sc[p]);
            }
    }
    QS_UNROLL for (int t = 0; t < nt; t++) sumi[t] = kz_fold(per_row_offset ? _mm512_sub_epi32(s[t], corr) : s[t]);
}

/* One K-quant super-block's integer lanes for nt tokens (and its mins,
 * Q4_K), then its float part for one token: w is a constant at each use. */
QS_INLINE void kz_ints(qvl_dtype w, const uint8_t *wr, const uint8_t *ar, size_t as, int nt, __m256i *sumi,
                       __m128i *mins) {
    if (w == DT_Q4_K) kz_q4_k_ints(wr, ar, as, nt, sumi, mins);
    else kz_q6_k_ints(wr, ar, as, nt, sumi);
}

QS_INLINE void kz_accum(qvl_dtype w, __m256 *acc, __m128 *acc_m, __m256i sumi, __m128i mins, const uint8_t *at,
                        const uint8_t *wr) {
    if (w == DT_Q4_K) qs_q4_k_accum(acc, acc_m, sumi, mins, at, wr);
    else *acc = _mm256_fmadd_ps(_mm256_set1_ps(qs_f32(at) * qs_f16(wr + 208)), _mm256_cvtepi32_ps(sumi), *acc);
}

/* Q4_K or Q6_K weights. With one or two tokens a super-block's work is one
 * long dependency chain that the out-of-order window barely overlaps with
 * the next one (measured: a tenth slower for Q4_K), so two super-blocks are
 * computed side by side; their float parts still run in order. */
QS_INLINE void kz_dot_k(qvl_dtype w, const uint8_t *wr, const uint8_t *ar, size_t as, int nt, float *out,
                        int64_t n) {
    const size_t wb = w == DT_Q4_K ? 144 : 210;
    __m256 acc[QS_MAXT];
    __m128 acc_m[QS_MAXT];
    QS_UNROLL for (int t = 0; t < nt; t++) {
        acc[t] = _mm256_setzero_ps();
        acc_m[t] = _mm_setzero_ps();
    }
    int64_t nb = n / 256, b = 0;
    if (nt <= 2)
        for (; b + 1 < nb; b += 2, wr += 2 * wb, ar += 2 * 292) {
            __m256i s0[QS_MAXT], s1[QS_MAXT];
            __m128i m0 = _mm_setzero_si128(), m1 = m0;
            kz_ints(w, wr, ar, as, nt, s0, &m0);
            kz_ints(w, wr + wb, ar + 292, as, nt, s1, &m1);
            QS_UNROLL for (int t = 0; t < nt; t++) {
                kz_accum(w, &acc[t], &acc_m[t], s0[t], m0, ar + (size_t)t * as, wr);
                kz_accum(w, &acc[t], &acc_m[t], s1[t], m1, ar + (size_t)t * as + 292, wr + wb);
            }
        }
    for (; b < nb; b++, wr += wb, ar += 292) {
        __m256i s0[QS_MAXT];
        __m128i m0 = _mm_setzero_si128();
        kz_ints(w, wr, ar, as, nt, s0, &m0);
        QS_UNROLL for (int t = 0; t < nt; t++) kz_accum(w, &acc[t], &acc_m[t], s0[t], m0, ar + (size_t)t * as, wr);
    }
    /* Q6_K has no min term: adding a zero would turn a -0 result into +0 */
    QS_UNROLL for (int t = 0; t < nt; t++)
        out[t] = w == DT_Q4_K ? qs_hsum8(acc[t]) + qs_hsum4(acc_m[t]) : qs_hsum8(acc[t]);
}

static inline __attribute__((always_inline)) void kz_dot_rows(qvl_dtype w, const uint8_t *wr, const uint8_t *ar,
                                                              size_t as, int nt, float *out, int64_t n) {
    if (w == DT_Q4_K) kz_dot_k(DT_Q4_K, wr, ar, as, nt, out, n);
    else if (w == DT_Q6_K) kz_dot_k(DT_Q6_K, wr, ar, as, nt, out, n);
    else qs_dot_legacy_typed(w, wr, ar, as, nt, out, n);
}

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

static float dot_lanes16(const float *a, const float *b, int n) {
    __m512 s = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    /* the reference tree: halves first, then the 8-lane order */
    float r = qs_hsum8(_mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1)));
    for (; i < n; i++) r = fmaf(a[i], b[i], r);
    return r;
}

/* Four keys at a time: four independent FMA chains instead of one, each
 * key's the same operations as dot_lanes16's. */
static void attn_scores_rows(const float *q, const float *k, size_t ks, int n, int hd, float scale, float *s) {
    int p = 0;
    if (hd % 16 == 0)
        for (; p + 4 <= n; p += 4) {
            const float *k0 = k + (size_t)p * ks;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int i = 0; i < hd; i += 16) {
                __m512 x = _mm512_loadu_ps(q + i);
                a0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(k0 + i), a0);
                a1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(k0 + ks + i), a1);
                a2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(k0 + 2 * ks + i), a2);
                a3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(k0 + 3 * ks + i), a3);
            }
            __m512 acc[4] = {a0, a1, a2, a3};
            for (int r = 0; r < 4; r++)
                s[p + r] = qs_hsum8(_mm256_add_ps(_mm512_castps512_ps256(acc[r]), _mm512_extractf32x8_ps(acc[r], 1))) *
                           scale;
        }
    for (; p < n; p++) s[p] = dot_lanes16(q, k + (size_t)p * ks, hd) * scale;
}

/* The output row stays in registers over all keys (up to 256 values). */
static void attn_pv_rows(float *o, const float *v, size_t vs, const float *w, int n, int hd) {
    if (hd % 16 || hd > 256) {
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int p = 0; p < n; p++) axpy_f32(o, v + (size_t)p * vs, w[p], hd);
        return;
    }
    __m512 acc[16];
    int nc = hd / 16;
    for (int c = 0; c < nc; c++) acc[c] = _mm512_setzero_ps();
    for (int p = 0; p < n; p++) {
        __m512 a = _mm512_set1_ps(w[p]);
        const float *vp = v + (size_t)p * vs;
        for (int c = 0; c < nc; c++) acc[c] = _mm512_fmadd_ps(a, _mm512_loadu_ps(vp + 16 * c), acc[c]);
    }
    for (int c = 0; c < nc; c++) _mm512_storeu_ps(o + 16 * c, acc[c]);
}

static void exp_poly(float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, av_exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void softmax_fast(float *x, int n) {
    __m512 vmax = av_row_max(x, n), sum = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        __m512 e = av_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax));
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(m, e));
        _mm512_mask_storeu_ps(x + i, m, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

/* ops.h's reference code with exp_poly for its polynomial exps, which
 * gives their bits. */
static void softmax_masked_fast(float *x, int n, int n_row) { softmax_masked_exp(x, n, n_row, exp_poly); }
static void swiglu_fast(float *gate, const float *up, int n) { swiglu_exp(gate, up, n, exp_poly); }

static void attn_scores(const float *q, size_t qs, int nq, const float *kt, size_t kts, int n, int hd, float scale,
                        float *s, size_t ss) {
    av_scores(AV_F32, q, qs, nq, kt, kts, n, hd, scale, s, ss);
}

static void attn_pv(const float *p, size_t ps, int nq, const float *v, size_t vs, int n, int hd, float *o, size_t os) {
    if (hd % 16 || hd > 64) kernels_attn_pv_scalar(p, ps, nq, v, vs, n, hd, o, os);
    else av_pv(AV_F32, p, ps, nq, v, vs, n, hd, o, os);
}

/* The BF16 attention entries without BF16 instructions (attn_avx512.h's
 * AV_BF16_EMU): for the tier without AVX512_BF16. */
static void attn_scores_bf16_emu(const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n, int hd,
                                 float scale, float *s, size_t ss) {
    av_scores_bf16(AV_BF16_EMU, q, qs, nq, kp, kps, n, hd, scale, s, ss);
}

static void attn_pv_bf16_emu(const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n, int hd,
                             float *o, size_t os) {
    av_pv_bf16(AV_BF16_EMU, p, ps, nq, vp, vps, n, hd, o, os);
}

/* Both tables round in integers: vcvtneps2bf16 would flush subnormals to
 * zero, and the contract is dtype.h f32_to_bf16's bits. */
static float softmax_bf16(const float *x, uint16_t *p, int n) { return av_softmax_bf16(x, p, n); }

static void round_bf16(const float *x, void *out, int64_t n) {
    uint16_t *o = out;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask((int)(n - i < 16 ? n - i : 16));
        _mm256_mask_storeu_epi16(o + i, m, av_round_bf16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* Two passes over the row (mean, then squared deviations) keep the variance
 * free of the cancellation a one-pass sum of squares has; f32 lanes of at
 * most n/16 terms each are within 1e-6 of ops.c's double sums. */
static void layernorm_fast(float *y, const float *x, const float *w, const float *b, int n, float eps) {
    __m512 s = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(av_tail_mask(n - i), x + i));
    __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(s) / (float)n);
    __m512 v = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mean);
        v = _mm512_fmadd_ps(d, d, v);
    }
    __m512 r = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(v) / (float)n + eps));
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mean), r);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, b + i)));
    }
}

/* ops.c gelu_tanh's x / (1 + exp(-2y)), operation for operation (no
 * fused cube: its rounding differs by several ulp near small x): no
 * cancellation near y = 0, and exp16's overflow to inf gives the -0 of
 * very negative x. */
static void add_gelu_tanh(float *x, const float *b, int n) {
    const __m512 k2 = _mm512_set1_ps(-(2.0f * 0.7978845608028654f)), c = _mm512_set1_ps(0.044715f);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, b + i));
        __m512 cube = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(c, v), v), v);
        __m512 y = _mm512_mul_ps(k2, _mm512_add_ps(v, cube));
        _mm512_mask_storeu_ps(x + i, m, _mm512_div_ps(v, _mm512_add_ps(one, av_exp16(y))));
    }
}

static void vec_add_fast(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i));
        _mm512_mask_storeu_ps(y + i, m, sum);
    }
}

static void add_residual(float *y, const float *x, const float *b, int n) {
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = av_tail_mask(n - i);
        __m512 xb = _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), xb));
    }
}

/* F16 -> BF16 without rounding (dtype.h f16_to_bf16_exact), 16 halves per
 * instruction; the row stops at the first inexact value, since the caller
 * then keeps the F16 weights and discards dst. */
static bool f16_to_bf16_exact_fast(const void *src, void *dst, int64_t n) {
    const uint8_t *s = src;
    uint8_t *d = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i f = _mm512_castps_si512(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + 2 * i))));
        if (_mm512_test_epi32_mask(f, _mm512_set1_epi32(0xffff))) return false;
        _mm256_storeu_si256((__m256i *)(d + 2 * i), _mm512_cvtepi32_epi16(_mm512_srli_epi32(f, 16)));
    }
    return f16_to_bf16_exact(s + 2 * i, d + 2 * i, n - i);
}

/* The entries both AVX-512 tables share. */
#define AVX512_ENTRIES                                                                                            \
    .dot_f32 = dot_f32, .axpy_f32 = axpy_f32, .dot_f32_lanes16 = dot_lanes16,                                     \
    .quant_dot = qs_quant_dot, .quant_dot_multi = qs_dot_multi,                                                   \
    .exp_poly = exp_poly, .softmax = softmax_fast, .softmax_masked = softmax_masked_fast, .swiglu = swiglu_fast, \
    .attn_scores = attn_scores, .attn_pv = attn_pv,                                                               \
    .gemm_act_bytes = gemm_avx512_act_bytes, .gemm_pack_act = gemm_avx512_pack_act, .gemm_tile = gemm_avx512_tile, \
    .layernorm = layernorm_fast, .add_gelu_tanh = add_gelu_tanh, .vec_add = vec_add_fast,                         \
    .add_residual = add_residual, .quantize_act = quantize_act_avx2,                                              \
    .attn_scores_rows = attn_scores_rows, .attn_pv_rows = attn_pv_rows,                                           \
    .attn_prompt_ok = attn_prompt_supported, .attn_prompt_scores = attn_prompt_scores,                            \
    .attn_prompt_pv = attn_prompt_pv, .packed_matmul = packed_matmul_avx512,                                      \
    .f16_to_bf16_exact = f16_to_bf16_exact_fast, .round_bf16 = round_bf16, .softmax_bf16 = softmax_bf16

/* Without BF16 the vision matrices take matmul's float path (OpenBLAS). */
const kernels kernels_avx512 = {
    .name = "avx512",
    AVX512_ENTRIES,
    .attn_scores_bf16 = attn_scores_bf16_emu, .attn_pv_bf16 = attn_pv_bf16_emu,
};

const kernels kernels_avx512bf16 = {
    .name = "avx512bf16",
    AVX512_ENTRIES,
    .gemm_bf16_ok = gemm_bf16_supported, .gemm_bf16_pack_x = gemm_bf16_pack_x, .gemm_bf16_tile = gemm_bf16_tile,
    .attn_scores_bf16 = avx512bf16_attn_scores_bf16, .attn_pv_bf16 = avx512bf16_attn_pv_bf16,
};
