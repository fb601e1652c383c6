/* packed_q6_k_avx2.c - the AVX2 kernel for packed Q6_K matrices (layout in
 * packed_q6_k.c, contract in packed.h, shared parts in quant_simd.h)
 * against Q8_K activations (f32 d, int8 q[256], int16 bsums[16]).
 *
 * Per super-block, half (8 rows) and block pair p, with E/O the even/odd
 * block's level vectors and y the token's levels, per row:
 *   S += sc_even (E . y) + sc_odd (O . y) - 32 (sc_even bsum_even + sc_odd
 *        bsum_odd)
 * which is sum over the pair of sc (q - 32) y, the reference's integer sum.
 * The layout stores O as 4q (up to 252), which would saturate maddubs (two
 * products of 252 * 128 exceed int16), so the kernel unpacks q itself: O's
 * two low bits are always 0, so a 16-bit shift by 2 moves no bit across
 * bytes. With q <= 63 a maddubs pair is at most 2 * 63 * 128 = 16128 in
 * magnitude: two of them (8 levels) still fit int16 before the madd by the
 * rows' (sc, sc) pairs. |S| < 2^29. Per super-block the float accumulator
 * takes S * (d * dy), one FMA: the AVX-512 kernel's 4S * (d / 4 * dy) is the
 * same product, so the results are its bits.
 *
 * Unpacking, with H' the high-bit vector masked to 0x3C (layout notes) and
 * x = L ^ H': E = L ^ (x & 0xF0) (q & 15 from L, q >> 4 from H'), and
 * x ^ E = (L & 0xF0) | (H' & 0x0F), which is O.
 */
#include "engine/quant_simd.h"
#include "engine/packed_layout.h"

/* Tokens sharing one unpacking, which is most of a token's cost here. One
 * core, 64 tokens, 512 x 2048, us per token: 1 20.3, 2 15.0, 3 13.2, 4 11.8,
 * 6 11.0, 8 10.4. */
#define TB 8
/* Out of cache, one core: 3 tokens 16 -> 18 GB/s, 5 tokens 9 -> 12.7, 8
 * tokens 5.9 -> 9.0 with records fetched two ahead; 2 tokens no gain. */
#define PF_AHEAD (2 * Q6K_REC_BYTES)

/* The even and odd level vectors (q, 0..63) of one L vector and its H'. */
QS_INLINE void unpack(const uint8_t *l, __m256i hq, __m256i *e, __m256i *o) {
    __m256i lv = qs_load(l), x = _mm256_xor_si256(lv, hq);
    *e = _mm256_xor_si256(lv, _mm256_and_si256(x, _mm256_set1_epi8((char)0xF0)));
    *o = _mm256_srli_epi16(_mm256_xor_si256(x, *e), 2);
}

/* Rows 8h..8h+7 of the super-block record sb against the n tokens at a[]:
 * adds each token's float contribution to facc[t]. */
QS_INLINE void half_sb(const uint8_t *sb, int h, const uint8_t *const *a, int n, __m256 *facc) {
    const __m256i m3c = _mm256_set1_epi8(0x3C);
    __m256i acc[QS_MAX_TB];
    QS_UNROLL for (int t = 0; t < n; t++) acc[t] = _mm256_setzero_si256();
    for (int p = 0; p < 8; p++) {
        const uint8_t *pv = sb + Q6K_OFF_LEVELS + p * 384 + 32 * h;
        /* dword r: row r's (sc_even, sc_odd) as int16 */
        __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(sb + Q6K_OFF_SCALES + p * 32 + 16 * h)));
        __m256i sce = _mm256_blend_epi16(w, _mm256_slli_epi32(w, 16), 0xAA);
        __m256i sco = _mm256_blend_epi16(_mm256_srli_epi32(w, 16), w, 0xAA);
        __m256i off = _mm256_mullo_epi16(w, _mm256_set1_epi16(-32));
        QS_UNROLL for (int t = 0; t < n; t++)
            acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(off, qs_bcast32(a[t] + Q8K_ACT_BSUMS + 4 * p)));
        /* level vectors v = 2u, 2u + 1 share the high-bit vector u */
        QS_UNROLL for (int u = 0; u < 2; u++) {
            __m256i hv = qs_load(pv + 64 * u), e0, e1, o0, o1;
            unpack(pv + Q6K_PAIR_L + 128 * u, _mm256_and_si256(hv, m3c), &e0, &o0);
            unpack(pv + Q6K_PAIR_L + 128 * u + 64, _mm256_and_si256(qs_rotl32_4(hv), m3c), &e1, &o1);
            QS_UNROLL for (int t = 0; t < n; t++) {
                const uint8_t *y = a[t] + 4 + 32 * p + 8 * u;
                __m256i se = _mm256_add_epi16(qs_dot4(e0, y), qs_dot4(e1, y + 4));
                __m256i so = _mm256_add_epi16(qs_dot4(o0, y + 16), qs_dot4(o1, y + 20));
                acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(se, sce));
                acc[t] = _mm256_add_epi32(acc[t], _mm256_madd_epi16(so, sco));
            }
        }
    }
    const __m256 d = qs_f16x8(sb + Q6K_OFF_D + 16 * h);
    QS_UNROLL for (int t = 0; t < n; t++)
        facc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[t]), _mm256_mul_ps(d, _mm256_set1_ps(qs_f32(a[t]))),
                                  facc[t]);
}

/* Half by half: the unpacked level vectors of both halves would not fit the
 * 16 registers. */
QS_INLINE void record(const uint8_t *sb, const uint8_t *const *a, int n, __m256 (*facc)[QS_MAX_TB]) {
    half_sb(sb, 0, a, n, facc[0]);
    half_sb(sb, 1, a, n, facc[1]);
}

QS_PACKED_KERNEL(packed_q6_k_matmul_avx2, record, Q6K_REC_BYTES, 256, Q8K_ACT_BYTES, PF_AHEAD, TB)
