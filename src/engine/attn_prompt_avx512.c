/* attn_prompt_avx512.c - see attn_prompt.h. Compiled with the AVX-512
 * flags (the Makefile's *_avx512.c rule). */
#include <immintrin.h>
#include <string.h>

#include "engine/attn_prompt.h"

#define QB ATTN_PROMPT_QB
#define KB 4   /* keys per score tile: QB x KB = 16 accumulators */
#define UNROLL _Pragma("GCC unroll 16")

int attn_prompt_supported(int hd) { return hd > 0 && hd % 16 == 0; }

/* dot_f32_lanes16's tree for 16 accumulators at once: lanes i and i + 8,
 * then i and i + 4, then the 8-lane order (0+2)+(1+3) of what is left.
 * acc[4i + j] belongs to (query i, key j); lane 4j + i of the result holds
 * its sum. */
static inline __m512 tree16(const __m512 acc[16]) {
    __m512 h[8], t[4], u[2];
    UNROLL for (int k = 0; k < 8; k++)   /* low 256 bits: acc[2k]'s h, high: acc[2k+1]'s */
        h[k] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2 * k], acc[2 * k + 1], 0x44),
                             _mm512_shuffle_f32x4(acc[2 * k], acc[2 * k + 1], 0xEE));
    UNROLL for (int k = 0; k < 4; k++)   /* 128-bit block c: acc[4k + c]'s t */
        t[k] = _mm512_add_ps(_mm512_shuffle_f32x4(h[2 * k], h[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(h[2 * k], h[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    UNROLL for (int k = 0; k < 2; k++)   /* block c: u0, u1 of acc[8k + c], then of acc[8k + 4 + c] */
        u[k] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* block c, lane e: acc[4e + c] */
    return _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

void attn_prompt_scores(const float *q, size_t qs, int nq, const float *k, size_t ks, int nk, int hd, float scale,
                        float *s, size_t ss) {
    const float *qr[QB];
    for (int i = 0; i < QB; i++) qr[i] = q + (size_t)(i < nq ? i : nq - 1) * qs;   /* missing: repeat, unused */
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int j0 = 0; j0 < nk; j0 += KB) {
        const float *kr[KB];
        for (int j = 0; j < KB; j++) kr[j] = k + (size_t)(j0 + j < nk ? j0 + j : nk - 1) * ks;
        __m512 acc[QB * KB];
        UNROLL for (int m = 0; m < QB * KB; m++) acc[m] = _mm512_setzero_ps();
        for (int d = 0; d < hd; d += 16) {
            __m512 qv[QB], kv[KB];
            UNROLL for (int i = 0; i < QB; i++) qv[i] = _mm512_loadu_ps(qr[i] + d);
            UNROLL for (int j = 0; j < KB; j++) kv[j] = _mm512_loadu_ps(kr[j] + d);
            UNROLL for (int i = 0; i < QB; i++)
                UNROLL for (int j = 0; j < KB; j++) acc[KB * i + j] = _mm512_fmadd_ps(qv[i], kv[j], acc[KB * i + j]);
        }
        float r[QB * KB];
        _mm512_storeu_ps(r, _mm512_mul_ps(tree16(acc), vscale));
        for (int i = 0; i < nq; i++)
            for (int j = 0; j < KB && j0 + j < nk; j++) s[(size_t)i * ss + j0 + j] = r[QB * j + i];
    }
}

/* One slice of NC (constant, <= 4) 16-float chunks of the outputs: QB x NC
 * accumulators, the keys every query uses first, then each query's own
 * last keys. */
static inline __attribute__((always_inline)) void pv_slice(int NC, const float *const pr[QB], const int len[QB],
                                                           const float *v, size_t vs, float *const orow[QB]) {
    __m512 acc[QB][4];
    UNROLL for (int i = 0; i < QB; i++)
        UNROLL for (int c = 0; c < NC; c++) acc[i][c] = _mm512_setzero_ps();
    int common = len[0];
    for (int i = 1; i < QB; i++) common = len[i] < common ? len[i] : common;
    for (int j = 0; j < common; j++) {
        __m512 vv[4];
        UNROLL for (int c = 0; c < NC; c++) vv[c] = _mm512_loadu_ps(v + (size_t)j * vs + 16 * c);
        UNROLL for (int i = 0; i < QB; i++) {
            __m512 b = _mm512_set1_ps(pr[i][j]);
            UNROLL for (int c = 0; c < NC; c++) acc[i][c] = _mm512_fmadd_ps(b, vv[c], acc[i][c]);
        }
    }
    UNROLL for (int i = 0; i < QB; i++) {
        for (int j = common; j < len[i]; j++) {
            __m512 b = _mm512_set1_ps(pr[i][j]);
            UNROLL for (int c = 0; c < NC; c++)
                acc[i][c] = _mm512_fmadd_ps(b, _mm512_loadu_ps(v + (size_t)j * vs + 16 * c), acc[i][c]);
        }
        if (orow[i])
            UNROLL for (int c = 0; c < NC; c++) _mm512_storeu_ps(orow[i] + 16 * c, acc[i][c]);
    }
}

void attn_prompt_pv(const float *p, size_t ps, const int *len, int nq, const float *v, size_t vs, int hd, float *o,
                    size_t os) {
    const float *pr[QB];
    int ln[QB];
    for (int i = 0; i < QB; i++) {   /* missing queries: repeat the last, store nothing */
        int src = i < nq ? i : nq - 1;
        pr[i] = p + (size_t)src * ps;
        ln[i] = len[src];
    }
    for (int d0 = 0; d0 < hd; d0 += 64) {
        float *orow[QB];
        for (int i = 0; i < QB; i++) orow[i] = i < nq ? o + (size_t)i * os + d0 : NULL;
        switch (hd - d0 >= 64 ? 4 : (hd - d0) / 16) {
        case 1: pv_slice(1, pr, ln, v + d0, vs, orow); break;
        case 2: pv_slice(2, pr, ln, v + d0, vs, orow); break;
        case 3: pv_slice(3, pr, ln, v + d0, vs, orow); break;
        default: pv_slice(4, pr, ln, v + d0, vs, orow); break;
        }
    }
}
