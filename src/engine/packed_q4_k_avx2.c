/* packed_q4_k_avx2.c - the AVX2 kernel for packed Q4_K matrices (layout in
 * packed_q4_k.c, contract in packed.h, shared parts in quant_simd.h).
 *
 * Per super-block and sub-block j: the 4 level chunks are split into nibble
 * vectors once for the token block; per token and half (8 rows), the 8
 * maddubs results (per row, two int16 sums of 2 levels times 2 broadcast
 * activation bytes) are summed in int16, and one madd by the rows'
 * (sc_j, sc_j) pairs turns them into int32 sc_j * (sub-block dot). The mins sum_j m_j (bsum_2j +
 * bsum_2j+1) is one madd per j: (m_j, m_j) against the token's int16 pair
 * of block sums, read straight from the Q8_K row.
 * No saturation: a maddubs pair is at most 2 * 15 * 128 = 3840 in
 * magnitude, the 8 of a sub-block 30720 < 2^15; the int32 sums are those of
 * packed_q4_k_avx512.c (< 2^25 and < 2^22), and so is the float chain per
 * (row, token) and super-block: v = d*float(isum) - dmin*float(msum)
 * (fmsub), acc = v*dy + acc (fma) from acc = 0: the same bits as the
 * AVX-512 kernel.
 */
#include "engine/quant_simd.h"
#include "engine/packed_layout.h"

/* Tokens per block. One core, 64 tokens, 512 x 2048 (from L2), us per
 * token: 1 12.6, 2 11.9, 3 11.3, 4 12.1 (spills); 1 token alone 12.7: the
 * per-token maddubs work dominates, the shared unpacking is small. */
#define TB 3
/* No prefetch: out of cache, one core, 3 tokens went 16 -> 14 GB/s with
 * records fetched 1, 2 or 4 ahead. */
#define PF_AHEAD 0

/* Super-block record g against the n tokens at a[]: adds each token's
 * contribution to rows 8h..8h+7 to facc[h][t]. Both halves go together, so
 * each activation broadcast serves 16 rows (1 token: 10% faster than a
 * half at a time). */
QS_INLINE void record(const uint8_t *g, const uint8_t *const *a, int n, __m256 (*facc)[QS_MAX_TB]) {
    __m256i msum[2][QS_MAX_TB], isum[2][QS_MAX_TB];
    qs_q4k_mins(g, a, n, msum);   /* the mins first: the record is then read in address order */
    for (int j = 0; j < 8; j++) {
        __m256i acc[2][QS_MAX_TB];
        QS_UNROLL for (int c = 0; c < 4; c++) {
            const uint8_t *q = g + Q4K_OFF_Q + 256 * j + 64 * c;
            __m256i lo0, hi0, lo1, hi1;
            qs_nibbles(q, &lo0, &hi0);
            qs_nibbles(q + 32, &lo1, &hi1);
            QS_UNROLL for (int t = 0; t < n; t++) {
                const uint8_t *y = a[t] + Q8K_ACT_Q + 32 * j + 8 * c;
                __m256i y0 = qs_bcast32(y), y1 = qs_bcast32(y + 4);
                __m256i p0 = _mm256_add_epi16(_mm256_maddubs_epi16(lo0, y0), _mm256_maddubs_epi16(hi0, y1));
                __m256i p1 = _mm256_add_epi16(_mm256_maddubs_epi16(lo1, y0), _mm256_maddubs_epi16(hi1, y1));
                acc[0][t] = c ? _mm256_add_epi16(acc[0][t], p0) : p0;
                acc[1][t] = c ? _mm256_add_epi16(acc[1][t], p1) : p1;
            }
        }
        QS_UNROLL for (int h = 0; h < 2; h++) {
            __m256i sc = qs_dup_rows(g + Q4K_OFF_SC + 16 * j, h);
            QS_UNROLL for (int t = 0; t < n; t++)
                isum[h][t] = j ? _mm256_add_epi32(isum[h][t], _mm256_madd_epi16(acc[h][t], sc))
                               : _mm256_madd_epi16(acc[h][t], sc);
        }
    }
    qs_q4k_finish(g, a, n, isum, msum, facc);
}

QS_PACKED_KERNEL(packed_q4_k_matmul_avx2, record, Q4K_REC_BYTES, 256, Q8K_ACT_BYTES, PF_AHEAD, TB)
