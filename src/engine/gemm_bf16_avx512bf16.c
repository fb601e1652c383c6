/* gemm_bf16_avx512.c - y = x W^T for BF16 weights with AVX512_BF16 dot
 * products (vdpbf16ps: 32 multiply-adds per instruction, twice FP32 FMA),
 * used by matmul for prompts and image patches (kernels_avx512 entries).
 *
 * Numerics: the weights are used exactly; the activations are rounded to
 * BF16 (nearest even) once per matmul, products are exact in f32 and summed
 * in f32. That is the precision of running the BF16 model natively, a
 * relative error of about 2^-9 per activation, not the f32 reference's.
 *
 * Layout: a tile of up to BF_ROWS weight rows is repacked so that one
 * 64-byte load holds the k, k+1 pair of 16 consecutive rows; a token's
 * (x[k], x[k+1]) pair is broadcast; each f32 lane accumulates one row. The
 * tile is reused for every token; BF_T tokens share each weight load. The
 * repack is a 16 x 16 dword register transpose, since it is redone on every
 * call (callers pass a few hundred tokens per call: a scalar repack cost a
 * sixth of the tile's time).
 * Memory: the repacked tile is a per-thread static buffer (1 MB, bounded by
 * BF_MAX_K); nothing is allocated.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels.h"

#define BF_ROWS 32        /* weight rows per tile: two 16-lane accumulators per token */
#define BF_T 12           /* tokens per register tile */
#define BF_MAX_K 16384
#define BF_INLINE static inline __attribute__((always_inline))
#define BF_UNROLL _Pragma("GCC unroll 16")

int gemm_bf16_supported(int64_t k) { return k > 0 && k % 2 == 0 && k <= BF_MAX_K; }

void gemm_bf16_pack_x(const float *x, void *outv, int64_t k) {
    uint16_t *out = outv;
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(out + i, (__m512i)v);
    }
    for (; i < k; i++) {   /* the same rounding, one at a time */
        __m256bh v = _mm512_cvtneps_pbh(_mm512_set1_ps(x[i]));
        uint16_t h[16];
        memcpy(h, &v, sizeof h);
        out[i] = h[0];
    }
}

/* T tokens (rows of xp, kp pairs each) against the repacked tile wt. */
BF_INLINE void bf_kernel(int T, const uint32_t *wt, const uint8_t *xp, int64_t kp_n, float *y, size_t ys, int nr) {
    __m512 acc[BF_T][2];
    BF_UNROLL for (int t = 0; t < T; t++) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
    for (int64_t kp = 0; kp < kp_n; kp++) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(wt + kp * BF_ROWS);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(wt + kp * BF_ROWS + 16);
        BF_UNROLL for (int t = 0; t < T; t++) {
            int32_t pair;
            memcpy(&pair, xp + 4 * ((size_t)t * kp_n + kp), 4);
            __m512bh xb = (__m512bh)_mm512_set1_epi32(pair);
            acc[t][0] = _mm512_dpbf16_ps(acc[t][0], w0, xb);
            acc[t][1] = _mm512_dpbf16_ps(acc[t][1], w1, xb);
        }
    }
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    BF_UNROLL for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + (size_t)t * ys, m0, acc[t][0]);
        _mm512_mask_storeu_ps(y + (size_t)t * ys + 16, m1, acc[t][1]);
    }
}

/* In-register transpose of 16 x 16 dwords: v[i] lane j -> v[j] lane i. */
BF_INLINE void bf_transpose16(__m512i v[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {   /* 2x2 blocks of dwords */
        t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {    /* 4x4 blocks: qwords */
        v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 16; i += 8)      /* 8x8 blocks: 128-bit lanes 0,2 / 1,3 */
        for (int h = 0; h < 4; h++) {
            t[i + h] = _mm512_shuffle_i32x4(v[i + h], v[i + 4 + h], 0x88);
            t[i + 4 + h] = _mm512_shuffle_i32x4(v[i + h], v[i + 4 + h], 0xdd);
        }
    for (int h = 0; h < 8; h++) {         /* 16x16: 256-bit halves */
        v[h] = _mm512_shuffle_i32x4(t[h], t[h + 8], 0x88);
        v[h + 8] = _mm512_shuffle_i32x4(t[h], t[h + 8], 0xdd);
    }
}

/* wt[kp][r] = the (k, k+1) pair of weight row r (a dword), for the 32 rows
 * of a tile; missing rows (r >= nr) are zeros. Full groups of 16 rows go
 * 16 pairs at a time through a register transpose: the repack is redone
 * for every call, so a scalar one costs as much as a few tokens' compute. */
static void bf_repack(const uint8_t *w, size_t wstride, int nr, int64_t kp_n, uint32_t *wt) {
    for (int g = 0; g < BF_ROWS; g += 16) {
        int64_t kp = 0;
        if (g + 16 <= nr)
            for (; kp + 16 <= kp_n; kp += 16) {
                __m512i v[16];
                for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_si512(w + (size_t)(g + i) * wstride + 4 * kp);
                bf_transpose16(v);
                for (int i = 0; i < 16; i++) _mm512_storeu_si512(wt + (kp + i) * BF_ROWS + g, v[i]);
            }
        for (; kp < kp_n; kp++)
            for (int r = g; r < g + 16; r++) {
                uint32_t pair = 0;
                if (r < nr) memcpy(&pair, w + (size_t)r * wstride + 4 * kp, 4);
                wt[kp * BF_ROWS + r] = pair;
            }
    }
}

void gemm_bf16_tile(const void *w, size_t wstride, int nr, const void *xb, int nt, int64_t k, float *y,
                    size_t ystride) {
    static _Thread_local uint32_t wt[BF_MAX_K / 2 * BF_ROWS];
    int64_t kp_n = k / 2;
    bf_repack(w, wstride, nr, kp_n, wt);
    const uint8_t *xp = xb;
    int t = 0;
    for (; t + BF_T <= nt; t += BF_T) bf_kernel(BF_T, wt, xp + (size_t)t * 4 * kp_n, kp_n, y + (size_t)t * ystride, ystride, nr);
    for (; t + 4 <= nt; t += 4) bf_kernel(4, wt, xp + (size_t)t * 4 * kp_n, kp_n, y + (size_t)t * ystride, ystride, nr);
    for (; t < nt; t++) bf_kernel(1, wt, xp + (size_t)t * 4 * kp_n, kp_n, y + (size_t)t * ystride, ystride, nr);
}
