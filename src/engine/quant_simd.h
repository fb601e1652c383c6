/* quant_simd.h - the 256-bit SIMD kit of the quantized kernels: the bodies
 * of the row-order quantized dot products (kernels_avx2.c, kernels_avx512.c,
 * gemm_avx512.c) and the parts the 256-bit kernels of packed matrices share
 * (packed_<type>_avx2.c, packed_<type>_avxvnni.c). Include only from files built with the AVX2 or
 * AVX-512 flags; everything here is static inline, so each includer gets
 * the code of what it uses, compiled for its own instruction set.
 *
 * Row-order dot products. Promise: every function returns exactly what
 * quant_dot_ref returns, bit for bit. That holds because each 32-element
 * chunk is reduced to 8 int32 lanes of 4 consecutive products (integer sums
 * are exact), and the float part - one fused multiply-add per lane per
 * block, then the same horizontal-add order - is the reference's, lane for
 * lane. maddubs never saturates here: weight levels are <= 63 (K-quants) or
 * |w| <= 128 times |a| <= 127 activations.
 *
 * The includer may define, for its instruction set (the defaults are AVX2's,
 * or AVX-VNNI's when built with -mavxvnni):
 *   QS_DOT_US(acc, u, s)  acc (8 x i32) += 4-groups of u8 u times i8 s
 *   QS_DOT_I16(acc, p, c) acc (8 x i32) += pairs of i16 p times i16 c
 * Each kernel handles nt activation rows (any of 1..QS_MAXT) per weight row,
 * so a prompt unpacks each weight block once per QS_MAXT tokens and a batch
 * of up to QS_MAXT decode streams reads the weights once; nt is a
 * compile-time constant at every call, which lets the compiler keep the
 * per-token accumulators in registers.
 * The includer may also define QS_ROWS, with qs_dot_rows's signature, to put
 * wider bodies of its own (declared before the include) in qs_dot_multi.
 *
 * Packed matrices (packed.h). A packed 64-byte level vector is, for AVX2,
 * two 32-byte halves: rows 0-7 and rows 8-15 (byte 4r + b = row r, level
 * b). Without VPDPBUSD a dot of 4 levels is maddubs (u8 weights x s8
 * activations, int16 pair sums, saturating) then madd (int16 pairs to
 * int32); each kernel bounds its pair sums so that nothing saturates and
 * every integer stays exact. A token's operations never depend on the other
 * tokens of its block, so the block size (QS_MAX_TB at most) changes speed,
 * never bits.
 */
#ifndef QVL_QUANT_SIMD_H
#define QVL_QUANT_SIMD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/packed.h"
#include "engine/packed_layout.h"
#include "engine/quant_dot.h"

#define QS_MAXT 8
#define QS_INLINE static inline __attribute__((always_inline))
#define QS_UNROLL _Pragma("GCC unroll 8")

/* Built with -mavxvnni (the avxvnni tier's files): VPDPBUSD / VPDPWSSD in
 * their VEX forms. AVX2 has no int8 dot-product instruction: maddubs to i16
 * pairs, then madd with ones (or the scales) to i32 lanes. */
#ifndef QS_DOT_US
#ifdef __AVXVNNI__
#define QS_DOT_US(acc, u, s) _mm256_dpbusd_avx_epi32((acc), (u), (s))
#define QS_DOT_I16(acc, p, c) _mm256_dpwssd_avx_epi32((acc), (p), (c))
#else
#define QS_DOT_US(acc, u, s) \
    _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#define QS_DOT_I16(acc, p, c) _mm256_add_epi32((acc), _mm256_madd_epi16((p), (c)))
#endif
#endif

QS_INLINE float qs_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

QS_INLINE float qs_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

QS_INLINE __m256i qs_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

QS_INLINE __m256i qs_bcast32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* 8 f16 values (one half's rows) widened to f32. */
QS_INLINE __m256 qs_f16x8(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* The reference's hsum8 order: (a0+a4 + a2+a6) + (a1+a5 + a3+a7). */
QS_INLINE float qs_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* (v0+v2) + (v1+v3), the reference's order for the K-quant min terms. */
QS_INLINE float qs_hsum4(__m128 v) {
    __m128 s = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* 0xFF in byte i where bit i of the 32-bit little-endian word at p is set. */
QS_INLINE __m256i qs_bits32(const uint8_t *p) {
    uint32_t bits;
    memcpy(&bits, p, 4);
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i mask = _mm256_set1_epi64x(0x8040201008040201LL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), pick);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask);
}

/* ---- row-order dot products (quant_dot.h) ------------------------------- */

/* Signed levels of one 32-weight block of Q8_0 / Q5_0 / Q4_0, in element order. */
QS_INLINE __m256i qs_legacy_levels(qvl_dtype w, const uint8_t *b) {
    if (w == DT_Q8_0) return qs_load(b + 2);
    const uint8_t *qs = b + (w == DT_Q5_0 ? 6 : 2);
    __m128i raw = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(0x0F);
    __m256i nib = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), m4), _mm_and_si128(raw, m4));
    if (w == DT_Q4_0) return _mm256_sub_epi8(nib, _mm256_set1_epi8(8));
    __m256i high = _mm256_and_si256(qs_bits32(b + 2), _mm256_set1_epi8(0x10));
    return _mm256_sub_epi8(_mm256_or_si256(nib, high), _mm256_set1_epi8(16));
}

/* Q8_0 / Q5_0 / Q4_0 weights with Q8_0 activations (34-byte blocks). */
QS_INLINE void qs_dot_legacy(qvl_dtype w, const uint8_t *wr, const uint8_t *ar, size_t as, int nt, float *out,
                             int64_t n) {
    int wb = w == DT_Q8_0 ? 34 : w == DT_Q5_0 ? 22 : 18;
    __m256 acc[QS_MAXT];
    QS_UNROLL for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++, wr += wb, ar += 34) {
        __m256i q = qs_legacy_levels(w, wr);
        __m256i uq = _mm256_sign_epi8(q, q);   /* |q|, paired with sign(q)*a */
        float dw = qs_f16(wr);
        QS_UNROLL for (int t = 0; t < nt; t++) {
            const uint8_t *at = ar + (size_t)t * as;
            __m256i sa = _mm256_sign_epi8(qs_load(at + 2), q);
            __m256i s = _mm256_setzero_si256();
            s = QS_DOT_US(s, uq, sa);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * qs_f16(at)), _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
    QS_UNROLL for (int t = 0; t < nt; t++) out[t] = qs_hsum8(acc[t]);
}

/* The 6-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K/Q5_K
 * super-block, unpacked from their 12-byte packing. */
QS_INLINE void qs_k4_scales(const uint8_t *p, uint32_t u[4]) {
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    uint32_t a0, a1, a2;
    memcpy(&a0, p, 4);
    memcpy(&a1, p + 4, 4);
    memcpy(&a2, p + 8, 4);
    u[0] = a0 & m6;
    u[1] = (a2 & m4) | (((a0 >> 6) & m2) << 4);
    u[2] = a1 & m6;
    u[3] = ((a2 >> 4) & m4) | (((a1 >> 6) & m2) << 4);
}

/* The float part of one Q4_K super-block (weights wr) for one token (at):
 * sumi holds the 8 integer lanes of the scaled level products, mins the 8
 * sub-block mins as i16. d and dmin convert together; fnmadd by dy * dmin
 * is the reference's fma by -dy * dmin exactly (negation is exact). */
QS_INLINE void qs_q4_k_accum(__m256 *acc, __m128 *acc_m, __m256i sumi, __m128i mins, const uint8_t *at,
                             const uint8_t *wr) {
    uint32_t dd;
    memcpy(&dd, wr, 4);
    __m128 d = _mm_mul_ps(_mm_set1_ps(qs_f32(at)), _mm_cvtph_ps(_mm_cvtsi32_si128((int)dd)));
    *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(d), _mm256_cvtepi32_ps(sumi), *acc);
    /* Sub-block activation sums from the 16-wide bsums, times the mins, pairwise. */
    __m128i s = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)(at + 260)),
                               _mm_loadu_si128((const __m128i *)(at + 276)));
    *acc_m = _mm_fnmadd_ps(_mm_shuffle_ps(d, d, 0x55), _mm_cvtepi32_ps(_mm_madd_epi16(mins, s)), *acc_m);
}

/* qs_k4_scales in a register (no trip through memory, which would stall
 * the load on four narrower stores): scales in bytes 0..7, mins in 8..15.
 * Reads 16 bytes at p (the 12 scale bytes and 4 level bytes after them). */
QS_INLINE __m128i qs_k4_scales_v(const uint8_t *p) {
    __m128i a = _mm_loadu_si128((const __m128i *)p);
    __m128i v = _mm_shuffle_epi32(a, _MM_SHUFFLE(2, 1, 2, 0)), top = _mm_shuffle_epi32(a, _MM_SHUFFLE(1, 1, 0, 0));
    __m128i low = _mm_and_si128(_mm_srlv_epi32(v, _mm_setr_epi32(0, 0, 0, 4)),
                                _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    __m128i high = _mm_and_si128(_mm_srli_epi32(top, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(low, high);
}

/* Q4_K weights with Q8_K activations (292-byte blocks). */
QS_INLINE void qs_dot_q4_k(const uint8_t *wr, const uint8_t *ar, size_t as, int nt, float *out, int64_t n) {
    __m256 acc[QS_MAXT];
    __m128 acc_m[QS_MAXT];
    QS_UNROLL for (int t = 0; t < nt; t++) {
        acc[t] = _mm256_setzero_ps();
        acc_m[t] = _mm_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < n / 256; b++, wr += 144, ar += 292) {
        __m128i sm = qs_k4_scales_v(wr + 4);
        __m128i mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
        /* all 8 scales as i16 in both lanes; shuffles broadcast one at a time */
        __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
        /* two accumulators per token: shorter dependency chains */
        __m256i sumi[QS_MAXT], sumh[QS_MAXT];
        QS_UNROLL for (int t = 0; t < nt; t++) sumi[t] = sumh[t] = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            __m256i raw = qs_load(wr + 16 + 32 * i);
            __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            __m256i sc_lo = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0100 + 0x0202 * 2 * i)));
            __m256i sc_hi = _mm256_shuffle_epi8(scales, _mm256_set1_epi16((short)(0x0302 + 0x0202 * 2 * i)));
            QS_UNROLL for (int t = 0; t < nt; t++) {
                const uint8_t *q8 = ar + (size_t)t * as + 4 + 64 * i;
                sumi[t] = QS_DOT_I16(sumi[t], _mm256_maddubs_epi16(lo, qs_load(q8)), sc_lo);
                sumh[t] = QS_DOT_I16(sumh[t], _mm256_maddubs_epi16(hi, qs_load(q8 + 32)), sc_hi);
            }
        }
        QS_UNROLL for (int t = 0; t < nt; t++)
            qs_q4_k_accum(&acc[t], &acc_m[t], _mm256_add_epi32(sumi[t], sumh[t]), mins, ar + (size_t)t * as, wr);
    }
    QS_UNROLL for (int t = 0; t < nt; t++) out[t] = qs_hsum8(acc[t]) + qs_hsum4(acc_m[t]);
}

/* Q6_K weights with Q8_K activations. Levels are kept unsigned (0..63) for
 * maddubs; the -32 offset is subtracted per pair as 32 * (a0 + a1). */
QS_INLINE void qs_dot_q6_k(const uint8_t *wr, const uint8_t *ar, size_t as, int nt, float *out, int64_t n) {
    __m256 acc[QS_MAXT];
    QS_UNROLL for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30), k32 = _mm256_set1_epi8(32);
    for (int64_t b = 0; b < n / 256; b++, wr += 210, ar += 292) {
        const int8_t *s8 = (const int8_t *)wr + 192;
        __m256i sumi[QS_MAXT], sumh[QS_MAXT];
        QS_UNROLL for (int t = 0; t < nt; t++) sumi[t] = sumh[t] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i la = qs_load(wr + 64 * h), lb = qs_load(wr + 64 * h + 32), hb = qs_load(wr + 128 + 32 * h);
            __m256i c[4], sc[4];
            c[0] = _mm256_or_si256(_mm256_and_si256(la, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
            c[1] = _mm256_or_si256(_mm256_and_si256(lb, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
            c[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4), _mm256_and_si256(hb, m30));
            c[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
            /* elements 0..15 of chunk k use scale 2k, 16..31 scale 2k+1: the
             * half's 8 scales as i16 in both lanes, one shuffle per chunk */
            __m256i s16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(s8 + 8 * h))));
            for (int k = 0; k < 4; k++) {
                short lo = (short)(0x0100 + 0x0202 * 2 * k), hi = (short)(0x0302 + 0x0202 * 2 * k);
                sc[k] = _mm256_shuffle_epi8(s16, _mm256_setr_epi16(lo, lo, lo, lo, lo, lo, lo, lo, hi, hi, hi, hi, hi,
                                                                   hi, hi, hi));
            }
            QS_UNROLL for (int t = 0; t < nt; t++) {
                const uint8_t *y = ar + (size_t)t * as + 4 + 128 * h;
                for (int k = 0; k < 4; k += 2) {
                    __m256i q = qs_load(y + 32 * k), r = qs_load(y + 32 * k + 32);
                    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(c[k], q), _mm256_maddubs_epi16(k32, q));
                    __m256i u = _mm256_sub_epi16(_mm256_maddubs_epi16(c[k + 1], r), _mm256_maddubs_epi16(k32, r));
                    sumi[t] = QS_DOT_I16(sumi[t], p, sc[k]);
                    sumh[t] = QS_DOT_I16(sumh[t], u, sc[k + 1]);
                }
            }
        }
        QS_UNROLL for (int t = 0; t < nt; t++) sumi[t] = _mm256_add_epi32(sumi[t], sumh[t]);
        float dw = qs_f16(wr + 208);
        QS_UNROLL for (int t = 0; t < nt; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(qs_f32(ar + (size_t)t * as) * dw), _mm256_cvtepi32_ps(sumi[t]),
                                     acc[t]);
    }
    QS_UNROLL for (int t = 0; t < nt; t++) out[t] = qs_hsum8(acc[t]);
}

/* The legacy body with the weight type a constant too (a tighter loop:
 * measured, the shared one ran Q8_0 decode up to a fifth slower). */
QS_INLINE void qs_dot_legacy_typed(qvl_dtype w, const uint8_t *wr, const uint8_t *ar, size_t as, int nt, float *out,
                                   int64_t n) {
    if (w == DT_Q8_0) qs_dot_legacy(DT_Q8_0, wr, ar, as, nt, out, n);
    else if (w == DT_Q5_0) qs_dot_legacy(DT_Q5_0, wr, ar, as, nt, out, n);
    else qs_dot_legacy(DT_Q4_0, wr, ar, as, nt, out, n);
}

/* One weight row against nt (constant) activation rows of a type with a
 * SIMD body here (qs_has_simd). */
QS_INLINE void qs_dot_rows(qvl_dtype w, const uint8_t *wr, const uint8_t *ar, size_t as, int nt, float *out,
                           int64_t n) {
    if (w == DT_Q4_K) qs_dot_q4_k(wr, ar, as, nt, out, n);
    else if (w == DT_Q6_K) qs_dot_q6_k(wr, ar, as, nt, out, n);
    else qs_dot_legacy_typed(w, wr, ar, as, nt, out, n);
}

static inline int qs_has_simd(qvl_dtype w) {
    return w == DT_Q8_0 || w == DT_Q5_0 || w == DT_Q4_0 || w == DT_Q4_K || w == DT_Q6_K;
}

#ifndef QS_ROWS
#define QS_ROWS qs_dot_rows
#endif

/* The kernels.h quant_dot_multi entry: groups of QS_MAXT rows, then one
 * group of the rest, each a body unrolled for its count, so nt <= QS_MAXT
 * tokens read a weight row once; types without a SIMD body go to the
 * reference. */
static inline void qs_dot_multi(qvl_dtype w, const void *wrow, const void *arow, size_t as, int nt, float *out,
                                int64_t n) {
    const uint8_t *wr = wrow, *ar = arow;
    if (!qs_has_simd(w)) {
        for (int t = 0; t < nt; t++) out[t] = quant_dot_ref(w, wr, ar + (size_t)t * as, n);
        return;
    }
    for (; nt > 0; nt -= QS_MAXT, ar += QS_MAXT * as, out += QS_MAXT) {
        switch (nt < QS_MAXT ? nt : QS_MAXT) {
        case 1: QS_ROWS(w, wr, ar, as, 1, out, n); break;
        case 2: QS_ROWS(w, wr, ar, as, 2, out, n); break;
        case 3: QS_ROWS(w, wr, ar, as, 3, out, n); break;
        case 4: QS_ROWS(w, wr, ar, as, 4, out, n); break;
        case 5: QS_ROWS(w, wr, ar, as, 5, out, n); break;
        case 6: QS_ROWS(w, wr, ar, as, 6, out, n); break;
        case 7: QS_ROWS(w, wr, ar, as, 7, out, n); break;
        default: QS_ROWS(w, wr, ar, as, QS_MAXT, out, n); break;
        }
    }
}

/* The kernels.h quant_dot entry. */
static inline float qs_quant_dot(qvl_dtype w, const void *wrow, const void *arow, int64_t n) {
    float r;
    qs_dot_multi(w, wrow, arow, 0, 1, &r, n);
    return r;
}

/* ---- packed matrices (packed.h) ---------------------------------------- */

#define QS_MAX_TB 8

/* The 8 bytes x[8h .. 8h+7] of a 16-byte per-row array as int16 pairs
 * (x_r, x_r), one dword per row: a madd operand that multiplies both int16
 * halves of a row's maddubs result by the row's byte. */
QS_INLINE __m256i qs_dup_rows(const uint8_t *x, int h) {
    const __m256i idx = _mm256_setr_epi8(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1,
                                         4, -1, 4, -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7, -1);
    /* +8 in each index byte; the -1 bytes (0xFF, "zero") stay negative */
    const __m256i sel = h ? _mm256_add_epi16(idx, _mm256_set1_epi16(8)) : idx;
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x)), sel);
}

/* u8 weights w (any values the caller allows) x 4 s8 activation bytes at
 * y broadcast: int16 pair sums per row. */
QS_INLINE __m256i qs_dot4(__m256i w, const uint8_t *y) { return _mm256_maddubs_epi16(w, qs_bcast32(y)); }

/* One group (pointer g) against n tokens (act, act + astride, ...), the 16
 * rows' results of token t into y + t * ystride. */
typedef void (*qs_group_fn)(const uint8_t *g, int64_t nblk, const uint8_t *act, size_t astride, float *y,
                            size_t ystride);

/* Defines the packed.h kernel `name` (matmul_fn's signature) for a format
 * whose group is cols / rec_cols records of rec_bytes, each meeting an
 * activation block of act_bytes: rec(record, a, n, facc) adds to facc[h][t]
 * the record's contribution to rows 8h..8h+7 for the token whose block is at
 * a[t]. Tokens go in blocks of up to tb (<= QS_MAX_TB), each block count a
 * function of its own with n a constant in it, so that each keeps its
 * per-token state in registers; the float accumulators start at 0 per group.
 * With pf_ahead > 0, blocks of QS_PF_MIN_TOKENS or more tokens fetch the
 * record pf_ahead bytes ahead into L2 (as the AVX-512 kernels: a kernel that
 * consumes a record slowly falls behind the hardware prefetcher; each format
 * says what it measured). */
#define QS_PF_MIN_TOKENS 3
#define QS_PACKED_KERNEL(name, rec, rec_bytes, rec_cols, act_bytes, pf_ahead, tb)                                 \
    QS_INLINE void qs_group(const uint8_t *g, int64_t nblk, const uint8_t *act, size_t astride, float *y,        \
                            size_t ystride, const int n) {                                                       \
        __m256 facc[2][QS_MAX_TB];                                                                               \
        QS_UNROLL for (int t = 0; t < n; t++) facc[0][t] = facc[1][t] = _mm256_setzero_ps();                     \
        for (int64_t b = 0; b < nblk; b++, g += (rec_bytes)) {                                                   \
            const uint8_t *a[QS_MAX_TB];                                                                         \
            /* as an integer: past the last group it points outside the matrix (prefetches never fault) */     \
            uintptr_t ahead = (uintptr_t)g + (pf_ahead);                                                         \
            if ((pf_ahead) > 0 && n >= QS_PF_MIN_TOKENS)                                                         \
                for (int l = 0; l < (rec_bytes); l += 64) _mm_prefetch((const char *)(ahead + l), _MM_HINT_T1);  \
            QS_UNROLL for (int t = 0; t < n; t++) a[t] = act + t * astride + (size_t)b * (act_bytes);            \
            rec(g, a, n, facc);                                                                                  \
        }                                                                                                        \
        QS_UNROLL for (int t = 0; t < n; t++) {                                                                  \
            _mm256_storeu_ps(y + t * ystride, facc[0][t]);                                                       \
            _mm256_storeu_ps(y + t * ystride + 8, facc[1][t]);                                                   \
        }                                                                                                        \
    }                                                                                                            \
    QS_GROUP_N(1) QS_GROUP_N(2) QS_GROUP_N(3) QS_GROUP_N(4) QS_GROUP_N(5) QS_GROUP_N(6) QS_GROUP_N(7)           \
    QS_GROUP_N(8)                                                                                                \
    static const qs_group_fn qs_group_fns[QS_MAX_TB + 1] = {NULL,       qs_group_1, qs_group_2, qs_group_3,      \
                                                            qs_group_4, qs_group_5, qs_group_6, qs_group_7,      \
                                                            qs_group_8};                                         \
    void name(const void *groups, int ng, const void *act, size_t astride, int nt, float *y, size_t ystride,     \
              int64_t cols) {                                                                                    \
        int64_t nblk = cols / (rec_cols);                                                                        \
        qs_packed_matmul(qs_group_fns, tb, groups, (size_t)nblk * (rec_bytes), nblk, ng, act, astride, nt, y,    \
                         ystride);                                                                               \
    }

#define QS_GROUP_N(n)                                                                                             \
    static void qs_group_##n(const uint8_t *g, int64_t nb, const uint8_t *a, size_t as, float *y, size_t ys) {   \
        qs_group(g, nb, a, as, y, ys, n);                                                                        \
    }

/* packed.h's matmul contract over per-token-count group functions: each
 * group of gb bytes (nblk records) against the tokens in blocks of up to tb. */
QS_INLINE void qs_packed_matmul(const qs_group_fn *fns, int tb, const void *groups, size_t gb, int64_t nblk,
                                int ng, const void *act, size_t astride, int nt, float *y, size_t ystride) {
    for (int gi = 0; gi < ng; gi++) {
        const uint8_t *g = (const uint8_t *)groups + (size_t)gi * gb;
        for (int t0 = 0; t0 < nt; t0 += tb) {
            int n = nt - t0 < tb ? nt - t0 : tb;
            fns[n](g, nblk, (const uint8_t *)act + (size_t)t0 * astride, astride,
                   y + (size_t)t0 * ystride + (size_t)gi * PACK_ROWS, ystride);
        }
    }
}

/* ---- parts of the packed formats' 256-bit kernels ----------------------------- */

/* Q8_0: the block sums acc[h][t] (exact int32) of rows 8h..8h+7 into the
 * float accumulators: facc = fma(float(sum), d_w * d_y, facc), the chain
 * every packed Q8_0 kernel runs. */
QS_INLINE void qs_q80_finish(const uint8_t *blk, const uint8_t *const *a, int n, __m256i (*acc)[QS_MAX_TB],
                             __m256 (*facc)[QS_MAX_TB]) {
    QS_UNROLL for (int h = 0; h < 2; h++) {
        const __m256 dw = qs_f16x8(blk + 16 * h);
        QS_UNROLL for (int t = 0; t < n; t++)
            facc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[h][t]),
                                         _mm256_mul_ps(dw, _mm256_set1_ps(qs_f32(a[t]))), facc[h][t]);
    }
}

/* Q4_K: msum[h][t] = the record's mins times the token's block sums,
 * sum_j m_j (bsum_2j + bsum_2j+1): lanes (m_j, m_j) against the token's
 * int16 pair, one QS_DOT_I16 per sub-block. */
QS_INLINE void qs_q4k_mins(const uint8_t *g, const uint8_t *const *a, int n, __m256i (*msum)[QS_MAX_TB]) {
    QS_UNROLL for (int t = 0; t < n; t++) msum[0][t] = msum[1][t] = _mm256_setzero_si256();
    for (int j = 0; j < 8; j++) {
        __m256i m0 = qs_dup_rows(g + Q4K_OFF_M + 16 * j, 0), m1 = qs_dup_rows(g + Q4K_OFF_M + 16 * j, 1);
        QS_UNROLL for (int t = 0; t < n; t++) {
            __m256i bs = qs_bcast32(a[t] + Q8K_ACT_BSUMS + 4 * j);
            msum[0][t] = QS_DOT_I16(msum[0][t], m0, bs);
            msum[1][t] = QS_DOT_I16(msum[1][t], m1, bs);
        }
    }
}

/* Q4_K: the low and high nibbles of the 32 level bytes at p, as bytes. */
QS_INLINE void qs_nibbles(const uint8_t *p, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256i v = qs_load(p);
    *lo = _mm256_and_si256(v, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
}

/* Q4_K: per (row, token) v = d*float(isum) - dmin*float(msum) (fmsub),
 * facc = v*dy + facc (fma): the AVX-512 kernel's float chain. */
QS_INLINE void qs_q4k_finish(const uint8_t *g, const uint8_t *const *a, int n, __m256i (*isum)[QS_MAX_TB],
                             __m256i (*msum)[QS_MAX_TB], __m256 (*facc)[QS_MAX_TB]) {
    QS_UNROLL for (int h = 0; h < 2; h++) {
        const __m256 d = qs_f16x8(g + 16 * h), dmin = qs_f16x8(g + Q4K_OFF_DMIN + 16 * h);
        QS_UNROLL for (int t = 0; t < n; t++) {
            __m256 mins = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(msum[h][t]));
            __m256 v = _mm256_fmsub_ps(d, _mm256_cvtepi32_ps(isum[h][t]), mins);
            facc[h][t] = _mm256_fmadd_ps(v, _mm256_set1_ps(qs_f32(a[t])), facc[h][t]);
        }
    }
}

/* Q6_K: rotates each 32-bit lane left by 4 (the layout's odd high bits). */
QS_INLINE __m256i qs_rotl32_4(__m256i v) { return _mm256_or_si256(_mm256_slli_epi32(v, 4), _mm256_srli_epi32(v, 28)); }

#endif
