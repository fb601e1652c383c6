/* packed_q6_k_avxvnni.c - the AVX-VNNI kernel for packed Q6_K matrices
 * (layout in packed_q6_k.c, contract in packed.h, shared parts in
 * quant_simd.h) against Q8_K activations (f32 d, int8 q[256], int16
 * bsums[16]).
 *
 * The AVX-512 kernel's method at 256 bits, one half (8 rows) at a time: the
 * level vectors are used as stored, E as q and O as 4q (VPDPBUSD adds 4
 * products of at most 252 * 127 into int32: no saturation, unlike AVX2's
 * maddubs, which needs O shifted back to q), so per row
 *   S += 4 sc_even (E . y) + sc_odd (O . y) - 128 (sc_even bsum_even +
 *        sc_odd bsum_odd)
 * is 4 x the reference's integer sum, exact (|S| < 2^31), and the float
 * accumulator takes S * (d / 4 * dy) per super-block: the AVX-512 kernel's
 * operations lane for lane, so the same bits as it and as the AVX2 kernel.
 * The bit-selects of the layout notes are xor/and (no VPTERNLOGD here).
 */
#include "engine/quant_simd.h"
#include "engine/packed_layout.h"

/* Tokens sharing one unpacking. One core of a Zen 5 (the tier forced),
 * 512 x 2048 from L2, us per token at 64 tokens: 4 11.0, 6 10.0, 8 11.7
 * (the AVX2 kernel 10.9); 1 token 18.4 (AVX2 23.4). */
#define TB 6
#define PF_AHEAD (2 * Q6K_REC_BYTES)

/* 8 rows x 16 levels of one block (4 level vectors) against the token's 16
 * levels at y, times the rows' int32 scales. */
QS_INLINE __m256i block_dot(const __m256i v[4], const uint8_t *y, __m256i sc) {
    __m256i s = _mm256_setzero_si256();
    QS_UNROLL for (int i = 0; i < 4; i++) s = _mm256_dpbusd_avx_epi32(s, v[i], qs_bcast32(y + 4 * i));
    return _mm256_mullo_epi32(s, sc);
}

/* Rows 8h..8h+7 of the super-block record sb against the n tokens at a[]:
 * adds each token's float contribution to facc[t]. */
QS_INLINE void half_sb(const uint8_t *sb, int h, const uint8_t *const *a, int n, __m256 *facc) {
    const __m256i m3c = _mm256_set1_epi8(0x3C), mf0 = _mm256_set1_epi8((char)0xF0);
    __m256i acc[QS_MAX_TB];
    QS_UNROLL for (int t = 0; t < n; t++) acc[t] = _mm256_setzero_si256();
    for (int p = 0; p < 8; p++) {
        const uint8_t *pv = sb + Q6K_OFF_LEVELS + p * 384 + 32 * h;
        /* dword r: row r's (sc_even, sc_odd) as int16 */
        __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(sb + Q6K_OFF_SCALES + p * 32 + 16 * h)));
        __m256i sce = _mm256_srai_epi32(_mm256_slli_epi32(w, 16), 14);   /* 4 sc_even */
        __m256i sco = _mm256_srai_epi32(w, 16);
        __m256i off = _mm256_mullo_epi16(w, _mm256_set1_epi16(-128));
        __m256i ha = qs_load(pv), hb = qs_load(pv + 64);
        __m256i hq[4] = {_mm256_and_si256(ha, m3c), _mm256_and_si256(qs_rotl32_4(ha), m3c), _mm256_and_si256(hb, m3c),
                         _mm256_and_si256(qs_rotl32_4(hb), m3c)};
        __m256i x[4], v[4];
        QS_UNROLL for (int i = 0; i < 4; i++) {
            __m256i l = qs_load(pv + Q6K_PAIR_L + 64 * i);
            x[i] = _mm256_xor_si256(l, hq[i]);
            v[i] = _mm256_xor_si256(l, _mm256_and_si256(x[i], mf0));   /* E: q */
        }
        QS_UNROLL for (int t = 0; t < n; t++) {
            const uint8_t *y = a[t] + Q8K_ACT_Q + 32 * p;
            acc[t] = _mm256_add_epi32(acc[t], block_dot(v, y, sce));
            acc[t] = _mm256_dpwssd_avx_epi32(acc[t], off, qs_bcast32(a[t] + Q8K_ACT_BSUMS + 4 * p));
        }
        QS_UNROLL for (int i = 0; i < 4; i++) v[i] = _mm256_xor_si256(x[i], v[i]);   /* O: 4q */
        QS_UNROLL for (int t = 0; t < n; t++)
            acc[t] = _mm256_add_epi32(acc[t], block_dot(v, a[t] + Q8K_ACT_Q + 32 * p + 16, sco));
    }
    const __m256 dq = _mm256_mul_ps(qs_f16x8(sb + Q6K_OFF_D + 16 * h), _mm256_set1_ps(0.25f));
    QS_UNROLL for (int t = 0; t < n; t++)
        facc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_mul_ps(dq, _mm256_set1_ps(qs_f32(a[t]))),
                                  facc[t]);
}

QS_INLINE void record(const uint8_t *sb, const uint8_t *const *a, int n, __m256 (*facc)[QS_MAX_TB]) {
    half_sb(sb, 0, a, n, facc[0]);
    half_sb(sb, 1, a, n, facc[1]);
}

QS_PACKED_KERNEL(packed_q6_k_matmul_avxvnni, record, Q6K_REC_BYTES, 256, Q8K_ACT_BYTES, PF_AHEAD, TB)
