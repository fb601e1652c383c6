/* packed_avx2.h - what the AVX2 kernels for packed matrices share
 * (packed_<type>_avx2.c; include only from files built with AVX2 flags).
 *
 * A packed 64-byte level vector is, for AVX2, two 32-byte halves: rows 0-7
 * and rows 8-15 (byte 4r + b = row r, level b). Without VPDPBUSD a dot of 4
 * levels is maddubs (u8 weights x s8 activations, int16 pair sums,
 * saturating) then madd (int16 pairs to int32); each kernel bounds its pair
 * sums so that nothing saturates and every integer stays exact.
 *
 * A token's operations never depend on the other tokens of its block, so
 * the block size (PA_MAX_TB at most) changes speed, never bits.
 */
#ifndef QVL_PACKED_AVX2_H
#define QVL_PACKED_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "engine/packed.h"

#define PA_INLINE static inline __attribute__((always_inline))
#define PA_UNROLL _Pragma("GCC unroll 8")
#define PA_MAX_TB 8

PA_INLINE __m256i pa_bcast32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

PA_INLINE float pa_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}

PA_INLINE __m256i pa_load(const uint8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* 8 f16 values (one half's rows) widened to f32. */
PA_INLINE __m256 pa_f16x8(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* The 8 bytes x[8h .. 8h+7] of a 16-byte per-row array as int16 pairs
 * (x_r, x_r), one dword per row: a madd operand that multiplies both int16
 * halves of a row's maddubs result by the row's byte. */
PA_INLINE __m256i pa_dup_rows(const uint8_t *x, int h) {
    const __m256i idx = _mm256_setr_epi8(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1,
                                         4, -1, 4, -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7, -1);
    /* +8 in each index byte; the -1 bytes (0xFF, "zero") stay negative */
    const __m256i sel = h ? _mm256_add_epi16(idx, _mm256_set1_epi16(8)) : idx;
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x)), sel);
}

/* u8 weights w (any values the caller allows) x 4 s8 activation bytes at
 * y broadcast: int16 pair sums per row. */
PA_INLINE __m256i pa_dot4(__m256i w, const uint8_t *y) { return _mm256_maddubs_epi16(w, pa_bcast32(y)); }

/* One group (pointer g) against n tokens (act, act + astride, ...), the 16
 * rows' results of token t into y + t * ystride. */
typedef void (*pa_group_fn)(const uint8_t *g, int64_t nblk, const uint8_t *act, size_t astride, float *y,
                            size_t ystride);

/* Defines pa_group_fns[n], n = 1..PA_MAX_TB, for a format whose group is
 * nblk records of rec_bytes, each meeting an activation block of act_bytes:
 * rec(record, a, n, facc) adds to facc[h][t] the record's contribution to
 * rows 8h..8h+7 for the token whose block is at a[t]. One function per n, a
 * constant in it, so that each keeps its per-token state in registers; the
 * float accumulators start at 0 per group. With pf_ahead > 0, blocks of
 * PA_PF_MIN_TOKENS or more tokens fetch the record pf_ahead bytes ahead
 * into L2 (as the AVX-512 kernels: a kernel that consumes a record slowly
 * falls behind the hardware prefetcher; each format says what it measured). */
#define PA_PF_MIN_TOKENS 3
#define PA_GROUP_FNS(rec, rec_bytes, act_bytes, pf_ahead)                                                         \
    PA_INLINE void pa_group(const uint8_t *g, int64_t nblk, const uint8_t *act, size_t astride, float *y,        \
                            size_t ystride, const int n) {                                                       \
        __m256 facc[2][PA_MAX_TB];                                                                               \
        PA_UNROLL for (int t = 0; t < n; t++) facc[0][t] = facc[1][t] = _mm256_setzero_ps();                     \
        for (int64_t b = 0; b < nblk; b++, g += (rec_bytes)) {                                                   \
            const uint8_t *a[PA_MAX_TB];                                                                         \
            /* as an integer: past the last group it points outside the matrix (prefetches never fault) */     \
            uintptr_t ahead = (uintptr_t)g + (pf_ahead);                                                         \
            if ((pf_ahead) > 0 && n >= PA_PF_MIN_TOKENS)                                                         \
                for (int l = 0; l < (rec_bytes); l += 64) _mm_prefetch((const char *)(ahead + l), _MM_HINT_T1);  \
            PA_UNROLL for (int t = 0; t < n; t++) a[t] = act + t * astride + (size_t)b * (act_bytes);            \
            rec(g, a, n, facc);                                                                                  \
        }                                                                                                        \
        PA_UNROLL for (int t = 0; t < n; t++) {                                                                  \
            _mm256_storeu_ps(y + t * ystride, facc[0][t]);                                                       \
            _mm256_storeu_ps(y + t * ystride + 8, facc[1][t]);                                                   \
        }                                                                                                        \
    }                                                                                                            \
    PA_GROUP_N(1) PA_GROUP_N(2) PA_GROUP_N(3) PA_GROUP_N(4) PA_GROUP_N(5) PA_GROUP_N(6) PA_GROUP_N(7)           \
    PA_GROUP_N(8)                                                                                                \
    static const pa_group_fn pa_group_fns[PA_MAX_TB + 1] = {NULL,       pa_group_1, pa_group_2, pa_group_3,      \
                                                            pa_group_4, pa_group_5, pa_group_6, pa_group_7,      \
                                                            pa_group_8};

#define PA_GROUP_N(n)                                                                                             \
    static void pa_group_##n(const uint8_t *g, int64_t nb, const uint8_t *a, size_t as, float *y, size_t ys) {   \
        pa_group(g, nb, a, as, y, ys, n);                                                                        \
    }

/* packed.h's matmul contract over per-token-count group functions: each
 * group of gb bytes (nblk records) against the tokens in blocks of up to tb. */
PA_INLINE void pa_matmul(const pa_group_fn *fns, int tb, const void *groups, size_t gb, int64_t nblk, int ng,
                         const void *act, size_t astride, int nt, float *y, size_t ystride) {
    for (int gi = 0; gi < ng; gi++) {
        const uint8_t *g = (const uint8_t *)groups + (size_t)gi * gb;
        for (int t0 = 0; t0 < nt; t0 += tb) {
            int n = nt - t0 < tb ? nt - t0 : tb;
            fns[n](g, nblk, (const uint8_t *)act + (size_t)t0 * astride, astride,
                   y + (size_t)t0 * ystride + (size_t)gi * PACK_ROWS, ystride);
        }
    }
}

#endif
