/* packed_q4_k_avx512.c - the AVX-512 VNNI kernel for packed Q4_K matrices
 * (layout in packed_q4_k.c, contract in packed.h).
 *
 * Per group and block of up to TB tokens, per super-block: each 64-byte
 * level chunk is split into its two nibble vectors once and fed to every
 * token's VPDPBUSD (16 rows x 4 levels against 4 broadcast activation
 * bytes), so a sub-block costs a token 8 VPDPBUSD and one VPMULLD by the 16
 * rows' scales. The mins term sum_j m_j * (bsum_2j + bsum_2j+1) is one
 * VPDPWSSD per sub-block: lanes (m_j, m_j) against the token's int16 pair of
 * block sums, read straight from the Q8_K row.
 * Integers are exact: a sub-block sum is at most 32*15*128 = 61440, times
 * sc <= 63, times 8 sub-blocks, < 2^25 (float() of it may round: above
 * 2^24 that is the only deviation from exact, 6e-8 relative); the mins sum
 * is < 2^22. Floats, per (row, token) and super-block, in this order
 * whatever nt and the other tokens are: v = d*float(isum) - dmin*float(msum)
 * (fmsub), acc = v*dy + acc (fma); acc starts at 0 for each group.
 * Measured on Zen 4 the kernel is bound by VPDPBUSD throughput (64 per token
 * and super-block, the minimum for 16 rows x 256 levels): the nibble
 * unpacking runs beside it for free, so it is redone per token block rather
 * than stored; f16 d/dmin cost nothing over f32 and save 64 bytes a record.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "engine/packed.h"
#include "engine/packed_layout.h"

#define TB 8            /* tokens per register block */
/* From 3 tokens on, the kernel consumes weights too slowly for the hardware
 * prefetcher to run ahead on its own: out of cache, 5 tokens took 3x one
 * token's time, 1.7x with records fetched two ahead into L2. With 1-2
 * tokens the prefetches only cost load slots (measured 5-15% slower). */
#define PF_MIN_TOKENS 3
#define PF_AHEAD (2 * Q4K_REC_BYTES)

#define KI static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 8")

KI __m512i bcast32(const uint8_t *p) {
    int v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Rows' outputs of group g for the nt (<= TB, a constant after inlining)
 * tokens at act: y[t * ystride + r]. */
KI void group_block(const uint8_t *g, int nsb, const uint8_t *act, size_t astride, int nt, float *y, size_t ystride) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    /* in each 128-bit lane (rows 4L..4L+3): dword i = bytes (m[4L+i], 0, m[4L+i], 0) */
    const __m512i dup = _mm512_set_epi8(
        -128, 15, -128, 15, -128, 14, -128, 14, -128, 13, -128, 13, -128, 12, -128, 12,
        -128, 11, -128, 11, -128, 10, -128, 10, -128, 9, -128, 9, -128, 8, -128, 8,
        -128, 7, -128, 7, -128, 6, -128, 6, -128, 5, -128, 5, -128, 4, -128, 4,
        -128, 3, -128, 3, -128, 2, -128, 2, -128, 1, -128, 1, -128, 0, -128, 0);
    __m512 facc[TB];
    UNROLL for (int t = 0; t < nt; t++) facc[t] = _mm512_setzero_ps();
    for (int b = 0; b < nsb; b++, g += Q4K_REC_BYTES) {
        /* as an integer: past the last group it points outside the matrix
         * (prefetches never fault) */
        uintptr_t ahead = (uintptr_t)g + PF_AHEAD;
        if (nt >= PF_MIN_TOKENS)
            for (int l = 0; l < Q4K_REC_BYTES; l += 64) _mm_prefetch((const char *)(ahead + l), _MM_HINT_T1);
        const uint8_t *a[TB];
        UNROLL for (int t = 0; t < nt; t++) a[t] = act + t * astride + (size_t)b * Q8K_ACT_BYTES;
        __m512i isum[TB], msum[TB];
        UNROLL for (int t = 0; t < nt; t++) isum[t] = msum[t] = _mm512_setzero_si512();
        /* The mins first: the record is then read front to back, which keeps
         * the hardware prefetcher streaming (1 token out of cache: 29 -> 31
         * GB/s on one core). Lanes (m_j, m_j) as int16 meet the token's
         * (bsum_2j, bsum_2j+1). */
        for (int j = 0; j < 8; j++) {
            __m512i m = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(g + Q4K_OFF_M + 16 * j)));
            m = _mm512_shuffle_epi8(m, dup);
            UNROLL for (int t = 0; t < nt; t++) {
                __m512i s = bcast32(a[t] + Q8K_ACT_BSUMS + 4 * j);
                msum[t] = _mm512_dpwssd_epi32(msum[t], m, s);
            }
        }
        for (int j = 0; j < 8; j++) {
            const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(g + Q4K_OFF_SC + 16 * j)));
            __m512i acc[TB];
            UNROLL for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_si512();
            UNROLL for (int c = 0; c < 4; c++) {
                __m512i v = _mm512_loadu_si512(g + Q4K_OFF_Q + 256 * j + 64 * c);
                __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                UNROLL for (int t = 0; t < nt; t++) {
                    const uint8_t *q = a[t] + Q8K_ACT_Q + 32 * j + 8 * c;
                    acc[t] = _mm512_dpbusd_epi32(acc[t], lo, bcast32(q));
                    acc[t] = _mm512_dpbusd_epi32(acc[t], hi, bcast32(q + 4));
                }
            }
            UNROLL for (int t = 0; t < nt; t++) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(acc[t], sc));
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g + Q4K_OFF_DMIN)));
        UNROLL for (int t = 0; t < nt; t++) {
            float dy;
            memcpy(&dy, a[t], 4);
            __m512 mins = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(msum[t]));
            __m512 v = _mm512_fmsub_ps(d, _mm512_cvtepi32_ps(isum[t]), mins);
            facc[t] = _mm512_fmadd_ps(v, _mm512_set1_ps(dy), facc[t]);
        }
    }
    UNROLL for (int t = 0; t < nt; t++) _mm512_storeu_ps(y + t * ystride, facc[t]);
}

/* One function per token count, so each has its accumulators in registers. */
#define BLOCK_FN(n)                                                                                          \
    static void group_block##n(const uint8_t *g, int nsb, const uint8_t *act, size_t astride, float *y,     \
                               size_t ystride) {                                                             \
        group_block(g, nsb, act, astride, n, y, ystride);                                                   \
    }
BLOCK_FN(1)
BLOCK_FN(2)
BLOCK_FN(3)
BLOCK_FN(4)
BLOCK_FN(5)
BLOCK_FN(6)
BLOCK_FN(7)
BLOCK_FN(8)

typedef void (*block_fn)(const uint8_t *, int, const uint8_t *, size_t, float *, size_t);
static const block_fn blocks[TB + 1] = {NULL,         group_block1, group_block2, group_block3, group_block4,
                                        group_block5, group_block6, group_block7, group_block8};

void packed_q4_k_matmul_avx512(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                               size_t ystride, int64_t cols) {
    int nsb = (int)(cols / 256);
    size_t gb = (size_t)nsb * Q4K_REC_BYTES;
    for (int gi = 0; gi < ng; gi++) {
        const uint8_t *g = (const uint8_t *)groups + gi * gb;
        for (int t0 = 0; t0 < nt; t0 += TB) {
            int n = nt - t0 < TB ? nt - t0 : TB;
            blocks[n](g, nsb, (const uint8_t *)act + t0 * astride, astride, y + t0 * ystride + gi * PACK_ROWS, ystride);
        }
    }
}
