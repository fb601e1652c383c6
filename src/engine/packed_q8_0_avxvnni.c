/* packed_q8_0_avxvnni.c - the AVX-VNNI kernel for packed Q8_0 matrices
 * (Alder Lake and later without AVX-512; layout in packed_q8_0.c, contract in
 * packed.h, shared parts in quant_simd.h).
 *
 * The AVX-512 kernel's method at 256 bits: the stored levels w + 128 are
 * unsigned bytes, so one VPDPBUSD (VEX form) per half and token adds 8 rows
 * x 4 level products of an activation broadcast into int32 lanes, no
 * saturation; each lane starts at the activation block's -128 * sum, which
 * undoes the +128. That replaces the AVX2 kernel's abs / sign / maddubs /
 * madd / add per half and chunk with one instruction.
 * The block sum is exact (below 2^24) and the float chain per (row, token)
 * is the AVX2 kernel's, acc = fma(float(sum), d_w * d_y, acc) over the
 * blocks in order from 0: the same bits as both other kernels.
 */
#include "engine/quant_simd.h"
#include "engine/packed_layout.h"

/* Tokens per block. One core of a Zen 5 (the tier forced), 64 tokens,
 * 512 x 2048 from L2, us per token: 2 7.5, 3 6.1, 4 5.9-6.2, 5 5.8-6.2,
 * 6 5.7, 8 6.7 (the AVX2 kernel 15.1). The prefetch distance is the AVX2
 * kernel's (not measured apart). */
#define TB 6
#define PF_AHEAD 8192

QS_INLINE void record(const uint8_t *blk, const uint8_t *const *a, int n, __m256 (*facc)[QS_MAX_TB]) {
    __m256i acc[2][QS_MAX_TB];
    QS_UNROLL for (int t = 0; t < n; t++) {
        int32_t corr;
        memcpy(&corr, a[t] + 4, 4);
        acc[0][t] = acc[1][t] = _mm256_set1_epi32(corr);
    }
    QS_UNROLL for (int c = 0; c < 8; c++) {
        __m256i w0 = qs_load(blk + Q80_SCALE_BYTES + 64 * c), w1 = qs_load(blk + Q80_SCALE_BYTES + 64 * c + 32);
        QS_UNROLL for (int t = 0; t < n; t++) {
            __m256i y = qs_bcast32(a[t] + Q80_ACT_Q + 4 * c);
            acc[0][t] = _mm256_dpbusd_avx_epi32(acc[0][t], w0, y);
            acc[1][t] = _mm256_dpbusd_avx_epi32(acc[1][t], w1, y);
        }
    }
    qs_q80_finish(blk, a, n, acc, facc);
}

QS_PACKED_KERNEL(packed_q8_0_matmul_avxvnni, record, Q80_PBLOCK_BYTES, Q80_QK, Q80_ACT_BYTES, PF_AHEAD, TB)
