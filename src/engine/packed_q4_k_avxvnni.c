/* packed_q4_k_avxvnni.c - the AVX-VNNI kernel for packed Q4_K matrices
 * (layout in packed_q4_k.c, contract in packed.h, shared parts in
 * quant_simd.h).
 *
 * The AVX-512 kernel's method at 256 bits: per sub-block j, each half's
 * nibble vectors (8 rows x 4 levels) meet 4 broadcast activation bytes in
 * one VPDPBUSD (VEX form) per token, so a row's int32 lane holds its exact
 * sub-block dot, which one VPMULLD by the rows' scales weights. The mins
 * term is VPDPWSSD of (m_j, m_j) against the token's pair of block sums.
 * The integers are those of the other two kernels (sub-block dot <= 61440,
 * times sc <= 63, 8 sub-blocks: < 2^25), and the float chain is theirs:
 * v = d*float(isum) - dmin*float(msum), acc = v*dy + acc: the same bits.
 */
#include "engine/quant_simd.h"
#include "engine/packed_layout.h"

/* Tokens per block. One core of a Zen 5 (the tier forced), 64 tokens,
 * 512 x 2048 from L2, us per token: 2 7.6, 3 6.8, 4 6.4-6.6, 6 6.6-6.7,
 * 8 7.5 (the AVX2 kernel 11.4). No prefetch, as the AVX2 kernel. */
#define TB 4
#define PF_AHEAD 0

QS_INLINE void record(const uint8_t *g, const uint8_t *const *a, int n, __m256 (*facc)[QS_MAX_TB]) {
    __m256i msum[2][QS_MAX_TB], isum[2][QS_MAX_TB];
    qs_q4k_mins(g, a, n, msum);   /* the mins first: the record is then read in address order */
    for (int j = 0; j < 8; j++) {
        __m256i acc[2][QS_MAX_TB];
        QS_UNROLL for (int t = 0; t < n; t++) acc[0][t] = acc[1][t] = _mm256_setzero_si256();
        QS_UNROLL for (int c = 0; c < 4; c++) {
            const uint8_t *q = g + Q4K_OFF_Q + 256 * j + 64 * c;
            __m256i lo0, hi0, lo1, hi1;
            qs_nibbles(q, &lo0, &hi0);
            qs_nibbles(q + 32, &lo1, &hi1);
            QS_UNROLL for (int t = 0; t < n; t++) {
                const uint8_t *y = a[t] + Q8K_ACT_Q + 32 * j + 8 * c;
                __m256i y0 = qs_bcast32(y), y1 = qs_bcast32(y + 4);
                acc[0][t] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc[0][t], lo0, y0), hi0, y1);
                acc[1][t] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc[1][t], lo1, y0), hi1, y1);
            }
        }
        QS_UNROLL for (int h = 0; h < 2; h++) {
            __m256i sc = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(g + Q4K_OFF_SC + 16 * j + 8 * h)));
            QS_UNROLL for (int t = 0; t < n; t++)
                isum[h][t] = j ? _mm256_add_epi32(isum[h][t], _mm256_mullo_epi32(acc[h][t], sc))
                               : _mm256_mullo_epi32(acc[h][t], sc);
        }
    }
    qs_q4k_finish(g, a, n, isum, msum, facc);
}

QS_PACKED_KERNEL(packed_q4_k_matmul_avxvnni, record, Q4K_REC_BYTES, 256, Q8K_ACT_BYTES, PF_AHEAD, TB)
