/* packed_q6_k_avx512.c - the AVX-512 VNNI kernel for packed Q6_K matrices
 * (packed.h; the layout is described in packed_q6_k.c) against Q8_K
 * activations (f32 d, int8 q[256], int16 bsums[16] per 256 columns).
 *
 * Per group, block pair and token, with E/O the even/odd block's level
 * vectors (values q and 4q), y the activation levels and bsum their sums per
 * 16, for the 16 rows at once (one int32 lane per row):
 *   S += 4 sc_even (E . y) + sc_odd (O . y) - 128 (sc_even bsum_even +
 *        sc_odd bsum_odd)
 * which is 4 x sum over the pair of sc (q - 32) y: the integer sum of the
 * reference, exact (|S| <= 4 * 16 * 128 * 16 * 32 * 127 < 2^31; VPDPBUSD adds
 * 4 products of at most 252 * 127 into int32, no saturation). Per
 * super-block the float accumulator takes S * (d / 4 * dy), one FMA.
 *
 * The level vectors of a pair are unpacked once into registers and used by
 * every token of a block of up to TB tokens; a token's operations are the
 * same whatever the others are, so results do not depend on nt or grouping.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "engine/packed.h"
#include "engine/packed_layout.h"

#define TB 8            /* tokens sharing one unpacking */
/* From 3 tokens on the kernel consumes a record too slowly for the hardware
 * prefetcher to keep ahead: out of cache, one core, 5 tokens went from
 * 12.7 to 18.5 GB/s with records fetched two ahead into L2 (24 from L2).
 * With 1-2 tokens the prefetcher keeps up and the hints only cost slots. */
#define PF_MIN_TOKENS 3
#define PF_AHEAD (2 * Q6K_REC_BYTES)

/* VPTERNLOGD immediates: with A, B, C the three operands, "C ? A : B" and
 * "C ? B : A". */
#define SEL_C_A_B 0xE4
#define SEL_C_B_A 0xD8

static inline __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* One block's 16 rows x 4 level-vector dot with the token's 16 levels at y,
 * times the rows' int32 scales. */
static inline __attribute__((always_inline)) __m512i block_dot(__m512i v0, __m512i v1, __m512i v2, __m512i v3,
                                                                const uint8_t *y, __m512i sc) {
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v0, bcast4(y));
    s = _mm512_dpbusd_epi32(s, v1, bcast4(y + 4));
    s = _mm512_dpbusd_epi32(s, v2, bcast4(y + 8));
    s = _mm512_dpbusd_epi32(s, v3, bcast4(y + 12));
    return _mm512_mullo_epi32(s, sc);
}

/* Group at grp against n (a constant after inlining, <= TB) tokens. */
static inline __attribute__((always_inline)) void group_tokens(const uint8_t *grp, int64_t nsb, const uint8_t *act,
                                                                size_t astride, float *y, size_t ystride,
                                                                const int n) {
    const __m512i m3c = _mm512_set1_epi8(0x3C), m0f = _mm512_set1_epi8(0x0F), neg128 = _mm512_set1_epi16(-128);
    __m512 accf[TB];
#pragma GCC unroll 8
    for (int t = 0; t < n; t++) accf[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < nsb; s++) {
        const uint8_t *a = act + s * Q8K_ACT_BYTES, *sb = grp + s * Q6K_REC_BYTES;
        /* as an integer: past the last group it points outside the matrix
         * (prefetches never fault) */
        uintptr_t ahead = (uintptr_t)sb + PF_AHEAD;
        if (n >= PF_MIN_TOKENS)
            for (int l = 0; l < Q6K_REC_BYTES; l += 64) _mm_prefetch((const char *)(ahead + l), _MM_HINT_T1);
        __m512i acci[TB];
#pragma GCC unroll 8
        for (int t = 0; t < n; t++) acci[t] = _mm512_setzero_si512();
        for (int p = 0; p < 8; p++) {
            const uint8_t *pv = sb + Q6K_OFF_LEVELS + p * 384;
            __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const void *)(sb + Q6K_OFF_SCALES + p * 32)));
            __m512i sce = _mm512_srai_epi32(_mm512_slli_epi32(w, 16), 14);   /* 4 sc_even */
            __m512i sco = _mm512_srai_epi32(w, 16);
            __m512i off = _mm512_mullo_epi16(w, neg128);
            __m512i ha = _mm512_loadu_si512((const void *)pv);
            __m512i hb = _mm512_loadu_si512((const void *)(pv + 64));
            __m512i h0 = _mm512_and_si512(ha, m3c), h1 = _mm512_and_si512(_mm512_rol_epi32(ha, 4), m3c);
            __m512i h2 = _mm512_and_si512(hb, m3c), h3 = _mm512_and_si512(_mm512_rol_epi32(hb, 4), m3c);
            __m512i l0 = _mm512_loadu_si512((const void *)(pv + Q6K_PAIR_L));
            __m512i l1 = _mm512_loadu_si512((const void *)(pv + Q6K_PAIR_L + 64));
            __m512i l2 = _mm512_loadu_si512((const void *)(pv + Q6K_PAIR_L + 128));
            __m512i l3 = _mm512_loadu_si512((const void *)(pv + Q6K_PAIR_L + 192));
            __m512i e0 = _mm512_ternarylogic_epi32(l0, h0, m0f, SEL_C_A_B);
            __m512i e1 = _mm512_ternarylogic_epi32(l1, h1, m0f, SEL_C_A_B);
            __m512i e2 = _mm512_ternarylogic_epi32(l2, h2, m0f, SEL_C_A_B);
            __m512i e3 = _mm512_ternarylogic_epi32(l3, h3, m0f, SEL_C_A_B);
#pragma GCC unroll 8
            for (int t = 0; t < n; t++) {
                const uint8_t *at = a + t * astride;
                acci[t] = _mm512_add_epi32(acci[t], block_dot(e0, e1, e2, e3, at + 4 + 32 * p, sce));
                acci[t] = _mm512_dpwssd_epi32(acci[t], off, bcast4(at + 4 + 256 + 4 * p));
            }
            __m512i o0 = _mm512_ternarylogic_epi32(l0, h0, m0f, SEL_C_B_A);
            __m512i o1 = _mm512_ternarylogic_epi32(l1, h1, m0f, SEL_C_B_A);
            __m512i o2 = _mm512_ternarylogic_epi32(l2, h2, m0f, SEL_C_B_A);
            __m512i o3 = _mm512_ternarylogic_epi32(l3, h3, m0f, SEL_C_B_A);
#pragma GCC unroll 8
            for (int t = 0; t < n; t++)
                acci[t] = _mm512_add_epi32(acci[t], block_dot(o0, o1, o2, o3, a + t * astride + 4 + 32 * p + 16, sco));
        }
        __m512 dq = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const void *)(sb + Q6K_OFF_D))),
                                  _mm512_set1_ps(0.25f));
#pragma GCC unroll 8
        for (int t = 0; t < n; t++) {
            float dy;
            memcpy(&dy, a + t * astride, 4);
            accf[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acci[t]), _mm512_mul_ps(dq, _mm512_set1_ps(dy)), accf[t]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < n; t++) _mm512_storeu_ps(y + t * ystride, accf[t]);
}

void packed_q6_k_matmul_avx512(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                               size_t ystride, int64_t cols) {
    int64_t nsb = cols / 256;
    size_t gb = (size_t)nsb * Q6K_REC_BYTES;
    for (int g = 0; g < ng; g++) {
        const uint8_t *grp = (const uint8_t *)groups + g * gb;
        for (int t0 = 0; t0 < nt; t0 += TB) {
            const uint8_t *a = (const uint8_t *)act + t0 * astride;
            float *yt = y + t0 * ystride + g * PACK_ROWS;
            switch (nt - t0 < TB ? nt - t0 : TB) {
            case 1: group_tokens(grp, nsb, a, astride, yt, ystride, 1); break;
            case 2: group_tokens(grp, nsb, a, astride, yt, ystride, 2); break;
            case 3: group_tokens(grp, nsb, a, astride, yt, ystride, 3); break;
            case 4: group_tokens(grp, nsb, a, astride, yt, ystride, 4); break;
            case 5: group_tokens(grp, nsb, a, astride, yt, ystride, 5); break;
            case 6: group_tokens(grp, nsb, a, astride, yt, ystride, 6); break;
            case 7: group_tokens(grp, nsb, a, astride, yt, ystride, 7); break;
            default: group_tokens(grp, nsb, a, astride, yt, ystride, TB); break;
            }
        }
    }
}
