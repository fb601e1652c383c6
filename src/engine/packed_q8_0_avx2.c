/* packed_q8_0_avx2.c - the AVX2 kernel for packed Q8_0 matrices (layouts in
 * packed_q8_0.c, contract in packed.h, shared parts in quant_simd.h).
 *
 * The stored levels w + 128 (up to 255) against activations up to 127 would
 * saturate maddubs (a pair up to 64770), so the kernel goes back to the
 * signed w = stored ^ 0x80 and uses the sign trick: |w| (at most 128, fine
 * as u8) times y with w's sign (sign_epi8(y, w); 0 where w is 0) is w * y,
 * and a pair is at most 2 * 128 * 127 = 32512 in magnitude. That is already
 * the signed product, so the activation's -128 * sum field is not read. Each
 * chunk's pairs go to int32 by a madd with ones; a block's sum is exact and
 * below 2^24, as in the AVX-512 kernel, and so is the float chain per (row,
 * token): acc = fma(float(block sum), d_w * d_y, acc) over the blocks in
 * order from 0: the same bits.
 */
#include "engine/quant_simd.h"
#include "engine/packed_layout.h"

/* Tokens per block. One core, 64 tokens, 512 x 2048, us per token: 1 19.6,
 * 2 17.5, 3 16.9, 4 17.0, 6 17.4; 1 token alone 20.2. */
#define TB 3
/* Out of cache, one core, 3 tokens: 15 -> 17.8 GB/s with blocks fetched
 * 8 KB ahead (4 KB: 17, 16 KB: 17.9). */
#define PF_AHEAD 8192

/* The packed block at blk against the n tokens at a[], rows 8h..8h+7 into
 * facc[h][t]. Both halves go together: one activation broadcast serves 16
 * rows (1 token: 5% faster than a half at a time). */
QS_INLINE void record(const uint8_t *blk, const uint8_t *const *a, int n, __m256 (*facc)[QS_MAX_TB]) {
    const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    __m256i acc[2][QS_MAX_TB];
    QS_UNROLL for (int c = 0; c < 8; c++) {
        __m256i w[2], wabs[2];
        QS_UNROLL for (int h = 0; h < 2; h++) {
            w[h] = _mm256_xor_si256(qs_load(blk + Q80_SCALE_BYTES + 64 * c + 32 * h), flip);
            wabs[h] = _mm256_abs_epi8(w[h]);
        }
        QS_UNROLL for (int t = 0; t < n; t++) {
            __m256i y = qs_bcast32(a[t] + Q80_ACT_Q + 4 * c);
            QS_UNROLL for (int h = 0; h < 2; h++) {
                __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(wabs[h], _mm256_sign_epi8(y, w[h])), ones);
                acc[h][t] = c ? _mm256_add_epi32(acc[h][t], p) : p;
            }
        }
    }
    qs_q80_finish(blk, a, n, acc, facc);
}

QS_PACKED_KERNEL(packed_q8_0_matmul_avx2, record, Q80_PBLOCK_BYTES, Q80_QK, Q80_ACT_BYTES, PF_AHEAD, TB)
