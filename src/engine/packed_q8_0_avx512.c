/* packed_q8_0_avx512.c - the AVX-512 VNNI kernel for packed Q8_0 matrices
 * (layouts in packed_q8_0.c, contract in packed.h).
 *
 * Per group, tokens go in register tiles of up to TILE_T. Per block, each
 * 64-byte level chunk is loaded once and fed to one VPDPBUSD per token of
 * the tile, with that token's 4 activation bytes broadcast; the int32
 * accumulator starts at the activation block's -128 * sum (undoing the +128
 * of the stored levels), so after 8 chunks it holds the exact block dot of
 * 16 rows. It is then converted and fused-multiply-added with d_w * d_y
 * into the token's float accumulator. A group is walked once per token tile
 * (a prompt re-reads it from L2 per tile): splitting the blocks into
 * L1-sized ranges, with the float accumulators parked in y in between,
 * measured slower.
 *
 * Numerics: per (row, token) the float result is the same chain whatever
 * the tile: acc = fma(float(exact block sum), d_w * d_y, acc) over blocks in
 * order, from 0. Partial sums stay below 32 * 255 * 128 in magnitude and
 * the block sum below 32 * 128 * 127 < 2^24, so int32 and the float
 * conversion are exact, and d_w * d_y (two f16 values)
 * is exact in f32: each block's term equals quant_dot_ref's; only the order
 * of adding the blocks differs from its 8-lane one. Small tiles split the
 * integer chain into independent partial sums to hide the VPDPBUSD latency;
 * integer addition keeps that exact.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "engine/packed.h"
#include "engine/packed_layout.h"

#define TILE_T 8   /* tokens per register tile: 16 accumulators; more measured no faster */
/* From 3 tokens on, blocks are consumed too slowly for the hardware
 * prefetcher to stay ahead: out of cache, one core, 5 tokens went from 15
 * to 22 GB/s, 8 tokens from 12 to 21, with blocks fetched ~8 KB ahead into
 * L2 (2-4 KB ahead gained little). */
#define PF_MIN_TOKENS 3
#define PF_AHEAD 8192

static inline int32_t ld32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline float ldf(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* The nb blocks of the group at blk against T tokens (a compile-time
 * constant after inlining): 16 rows' results per token into y. */
static inline __attribute__((always_inline)) void tile(const uint8_t *blk, int64_t nb, const uint8_t *act,
                                                       size_t astride, int T, float *y, size_t ystride) {
    /* independent integer chains per token: enough in flight for T < 4 */
    enum { MAX_CH = 4 };
    const int nch = T == 1 ? 4 : T == 2 ? 2 : 1;
    __m512 facc[TILE_T];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) facc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *w = blk + b * Q80_PBLOCK_BYTES + Q80_SCALE_BYTES, *a = act + b * Q80_ACT_BYTES;
        /* as an integer: past the last group it points outside the matrix
         * (prefetches never fault) */
        uintptr_t ahead = (uintptr_t)blk + b * Q80_PBLOCK_BYTES + PF_AHEAD;
        if (T >= PF_MIN_TOKENS)
            for (int l = 0; l < Q80_PBLOCK_BYTES; l += 64) _mm_prefetch((const char *)(ahead + l), _MM_HINT_T1);
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(blk + b * Q80_PBLOCK_BYTES)));
        __m512i acc[TILE_T][MAX_CH];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            acc[t][0] = _mm512_set1_epi32(ld32(a + t * astride + 4));
#pragma GCC unroll 4
            for (int k = 1; k < nch; k++) acc[t][k] = _mm512_setzero_si512();
        }
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m512i wv = _mm512_loadu_si512(w + 64 * c);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                acc[t][c % nch] = _mm512_dpbusd_epi32(acc[t][c % nch], wv,
                                                      _mm512_set1_epi32(ld32(a + t * astride + 8 + 4 * c)));
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            __m512i s = acc[t][0];
#pragma GCC unroll 4
            for (int k = 1; k < nch; k++) s = _mm512_add_epi32(s, acc[t][k]);
            __m512 d = _mm512_mul_ps(dw, _mm512_set1_ps(ldf(a + t * astride)));
            facc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, facc[t]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) _mm512_storeu_ps(y + t * ystride, facc[t]);
}

void packed_q8_0_matmul_avx512(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                               size_t ystride, int64_t cols) {
    int64_t nb = cols / Q80_QK;
    size_t gb = (size_t)nb * Q80_PBLOCK_BYTES;
    for (int g = 0; g < ng; g++) {
        const uint8_t *blk = (const uint8_t *)groups + g * gb;
        for (int t0 = 0; t0 < nt; t0 += TILE_T) {
            const uint8_t *a = (const uint8_t *)act + t0 * astride;
            float *yt = y + t0 * ystride + g * PACK_ROWS;
            switch (nt - t0 < TILE_T ? nt - t0 : TILE_T) {
#define TILE_CASE(T) case T: tile(blk, nb, a, astride, T, yt, ystride); break;
            TILE_CASE(1) TILE_CASE(2) TILE_CASE(3) TILE_CASE(4) TILE_CASE(5) TILE_CASE(6) TILE_CASE(7)
            default: tile(blk, nb, a, astride, TILE_T, yt, ystride); break;
            }
        }
    }
}
