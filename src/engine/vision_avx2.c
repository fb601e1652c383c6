/* vision_avx2.c - see vision_avx2.h.
 *
 * Both attention products are one small GEMM, c (rows x cols) = scale *
 * a (rows x len) . b (len x cols): scores take a = queries, b = the keys
 * transposed; p v takes a = probabilities, b = values. A tile is MR rows x
 * 16 columns in 10 accumulators: per step along len, two vectors of b and
 * one broadcast per row feed 10 FMAs (Zen 3 runs two FMAs per cycle; 10
 * chains cover their latency). The BF16 layouts hold rows t and t + 1 of
 * b in the two halves of a pair, so one load serves two steps: a shift
 * widens the low half, an and the high half. Rows of a are copied (BF16:
 * widened) into an f32 block on the stack, so the tile broadcasts straight
 * from memory; blocks of b are packed into contiguous 16-column tiles that
 * stay in L1 while all rows pass (b's own row stride is often a multiple
 * of 4 KB, whose rows would all fall into the same few L1 sets). Measured
 * on Zen 3: 85-90% of the FMA peak of a core.
 *
 * Row work (softmaxes, norms, GELU, additions) runs 8 lanes at a time, the
 * tail through lane masks. The exp is ops.c's expf_poly on 8 lanes, the
 * same operations (within 1.5 ulp of expf); the GELU is ops.c's formula on
 * it, operation for operation.
 */
#include "engine/vision_avx2.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/kernels.h"
#include "engine/ops.h"
#include "engine/quant_simd.h"

/* ---- lanes --------------------------------------------------------------- */

static const int32_t lane_ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1};

/* All ones in the first `left` lanes (clamped to 0..8). */
QS_INLINE __m256i tail_mask(int left) {
    left = left < 0 ? 0 : left > 8 ? 8 : left;
    return _mm256_loadu_si256((const __m256i *)(lane_ones + 8 - left));
}

/* 8 floats, or (full = 0) only the lanes of m, zeros elsewhere: masked
 * lanes are never touched, so rows need no padding. */
QS_INLINE __m256 load8(const float *p, int full, __m256i m) {
    return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m);
}

QS_INLINE void store8(float *p, __m256 v, int full, __m256i m) {
    if (full) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, m, v);
}

/* The two BF16 values of 8 pairs (loaded as floats), widened to f32. */
QS_INLINE __m256 bf_lo(__m256 pairs) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(pairs), 16));
}

QS_INLINE __m256 bf_hi(__m256 pairs) {
    return _mm256_and_ps(pairs, _mm256_castsi256_ps(_mm256_set1_epi32((int)0xFFFF0000u)));
}

/* dtype.h f32_to_bf16 on 8 lanes: nearest even, NaN kept NaN (quieted). */
QS_INLINE __m128i bf16x8(__m256 v) {
    __m256i x = _mm256_castps_si256(v), hi = _mm256_srli_epi32(x, 16);
    __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb), 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));   /* no lane exceeds 0xFFFF */
}

/* dst[t] = the BF16 value src[t] for t < n. */
static void widen_bf16(float *dst, const uint16_t *src, int n) {
    int t = 0;
    for (; t + 8 <= n; t += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + t)));
        _mm256_storeu_ps(dst + t, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; t < n; t++) dst[t] = bf16_to_f32(src[t]);
}

/* ops.c expf_poly on 8 lanes, the same fused operations in the same order.
 * ldexpf(j, n) is two power-of-two products, 2^(n/2) then the rest: both
 * factors are normal for |n| <= 192 and the first product is exact, so the
 * one rounding (to a subnormal, or to inf) is the second, as in ldexpf. */
static inline __m256 exp8(__m256 v) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    __m256 nn = _mm256_sub_ps(_mm256_fmadd_ps(v, _mm256_set1_ps(0x1.715476p+0f), shift), shift);
    __m256 b = _mm256_fnmadd_ps(nn, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                _mm256_fnmadd_ps(nn, _mm256_set1_ps(0x1.62e4p-1f), v));
    __m256 u = _mm256_mul_ps(b, b);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f));
    __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f));
    __m256 j = _mm256_fmadd_ps(_mm256_fmadd_ps(p, u, q), u,
                               _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    __m256i n = _mm256_cvtps_epi32(nn), n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    __m256 r = _mm256_mul_ps(_mm256_mul_ps(j, s1), s2);
    /* |n| > 192 (and +-inf): inf or 0, as the scalar code; NaN stays NaN */
    __m256 absn = _mm256_and_ps(nn, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
    __m256 big = _mm256_cmp_ps(absn, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    __m256 inf = _mm256_and_ps(_mm256_cmp_ps(nn, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(INFINITY));
    return _mm256_blendv_ps(r, inf, big);
}

void vision_avx2_exp_poly(float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, exp8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) x[i] = expf_poly(x[i]);
}

/* The maximum of x[0..n), n >= 1, in every lane. */
static __m256 row_max(const float *x, int n) {
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
    }
    for (; i < n; i += 8) {
        __m256i m = tail_mask(n - i);
        m0 = _mm256_max_ps(m0, _mm256_blendv_ps(m0, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m)));
    }
    m0 = _mm256_max_ps(m0, m1);
    m0 = _mm256_max_ps(m0, _mm256_permute2f128_ps(m0, m0, 1));
    m0 = _mm256_max_ps(m0, _mm256_permute_ps(m0, 0x4E));
    return _mm256_max_ps(m0, _mm256_permute_ps(m0, 0xB1));
}

/* e = exp(x[i..i+8) - mx) (full; else the first `left` lanes, zeros in
 * the others), written to p + i as BF16 (bf) or to xo + i as f32, added to
 * *sum. */
QS_INLINE void exp_step(int bf, int full, const float *x, int i, __m256 mx, int left, float *xo, uint16_t *p,
                        __m256 *sum) {
    __m256i m = tail_mask(left);
    __m256 e = exp8(_mm256_sub_ps(load8(x + i, full, m), mx));
    if (!full) e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
    *sum = _mm256_add_ps(*sum, e);
    if (!bf) {
        store8(xo + i, e, full, m);
    } else if (full) {
        _mm_storeu_si128((__m128i *)(p + i), bf16x8(e));
    } else {   /* 16-bit lanes have no masked store */
        uint16_t t[8];
        _mm_storeu_si128((__m128i *)t, bf16x8(e));
        memcpy(p + i, t, (size_t)left * sizeof *p);
    }
}

/* e[i] = exp(x[i] - max over x) for i < n, written to p as BF16 (bf) or to
 * xo as f32; returns the sum of the (unrounded) e. */
QS_INLINE float exp_row(int bf, const float *x, int n, float *xo, uint16_t *p) {
    __m256 mx = row_max(x, n), sum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) exp_step(bf, 1, x, i, mx, 8, xo, p, &sum);
    if (i < n) exp_step(bf, 0, x, i, mx, n - i, xo, p, &sum);
    return qs_hsum8(sum);
}

/* ---- attention products ------------------------------------------------- */

#define MR 5     /* rows per tile: 10 accumulators, 4 b vectors, 2 broadcasts: the 16 registers */
#define KC 128   /* len per pass over c */
#define AB 5120  /* floats of a copied (widened) per group of rows: 20 KB on the stack */
#define NC 64    /* columns per packed block of b: KC / 2 rows (f32) or pair rows (BF16), 16 KB */

/* acc[i] += a[i * lda + t] * (x0, x1) for each row i. */
QS_INLINE void fma_rows(__m256 acc[MR][2], const float *a, size_t lda, int t, __m256 x0, __m256 x1) {
    QS_UNROLL for (int i = 0; i < MR; i++) {
        __m256 at = _mm256_broadcast_ss(a + i * lda + t);
        acc[i][0] = _mm256_fmadd_ps(at, x0, acc[i][0]);
        acc[i][1] = _mm256_fmadd_ps(at, x1, acc[i][1]);
    }
}

/* Steps t (b row x) and t + 1 (b row y), row by row, so that only the
 * four b vectors and two broadcasts live beside the accumulators (taking
 * all of step t first needs more registers: the compiler then spills
 * accumulators, and their chains run through memory). */
QS_INLINE void fma_rows2(__m256 acc[MR][2], const float *a, size_t lda, int t, __m256 x0, __m256 x1, __m256 y0,
                         __m256 y1) {
    QS_UNROLL for (int i = 0; i < MR; i++) {
        __m256 at = _mm256_broadcast_ss(a + i * lda + t), at1 = _mm256_broadcast_ss(a + i * lda + t + 1);
        acc[i][0] = _mm256_fmadd_ps(at1, y0, _mm256_fmadd_ps(at, x0, acc[i][0]));
        acc[i][1] = _mm256_fmadd_ps(at1, y1, _mm256_fmadd_ps(at, x1, acc[i][1]));
    }
}

/* Columns c0..c0+15 (full; else the lanes of m0, m1) of the MR rows c[i]
 * (NULL: a tail row past the matrix, not stored): c[i] = ((first ? 0 : c[i]) +
 * sum over t < len of a[i * lda + t] b[t]) * sc, b[t] from the packed
 * column tile bp (see pack_b): row t at bp + 16 t, or (bf) the pair of rows
 * t, t + 1 at bp + 8 t with len even. */
QS_INLINE void tile(int bf, int full, const float *a, size_t lda, const float *bp, int len, int c0, __m256i m0,
                    __m256i m1, int first, __m256 sc, float *const c[MR]) {
    __m256 acc[MR][2];
    QS_UNROLL for (int i = 0; i < MR; i++) {
        int load = !first && c[i];
        acc[i][0] = load ? load8(c[i] + c0, full, m0) : _mm256_setzero_ps();
        acc[i][1] = load ? load8(c[i] + c0 + 8, full, m1) : _mm256_setzero_ps();
    }
    int t = 0;
    for (; t + 1 < len; t += 2, bp += bf ? 16 : 32) {
        __m256 x0 = _mm256_load_ps(bp), x1 = _mm256_load_ps(bp + 8);
        if (bf) fma_rows2(acc, a, lda, t, bf_lo(x0), bf_lo(x1), bf_hi(x0), bf_hi(x1));
        else fma_rows2(acc, a, lda, t, x0, x1, _mm256_load_ps(bp + 16), _mm256_load_ps(bp + 24));
    }
    if (t < len) fma_rows(acc, a, lda, t, _mm256_load_ps(bp), _mm256_load_ps(bp + 8));
    QS_UNROLL for (int i = 0; i < MR; i++) {
        if (!c[i]) continue;
        store8(c[i] + c0, _mm256_mul_ps(acc[i][0], sc), full, m0);
        store8(c[i] + c0 + 8, _mm256_mul_ps(acc[i][1], sc), full, m1);
    }
}

/* Copies columns j0..j1 (at most NC) of nrow rows of b (row r at b + r *
 * bs) into bp as tiles of 16 columns, row r of tile k at bp + (k * nrow +
 * r) * 16, zeros past j1: the tile reads one contiguous stream, and b's
 * row stride (often a multiple of 4 KB, whose rows share the same few L1
 * sets) no longer matters. */
static void pack_b(float *bp, const float *b, size_t bs, int nrow, int j0, int j1) {
    for (int c = j0; c < j1; c += 16) {
        int full = j1 - c >= 16;
        __m256i m0 = tail_mask(j1 - c), m1 = tail_mask(j1 - c - 8);
        for (int r = 0; r < nrow; r++, bp += 16) {
            _mm256_store_ps(bp, load8(b + (size_t)r * bs + c, full, m0));
            _mm256_store_ps(bp + 8, load8(b + (size_t)r * bs + c + 8, full, m1));
        }
    }
}

/* c[i * cs + j] = scale * sum over t < len of a[i][t] b[t][j] for i < nr,
 * j < nc: a rows at a + i * as, f32 or (bf) BF16; b rows at b + t * bs, or
 * (bf) pairs of rows t, t + 1 at b + (t / 2) * bs, len even. Per pass of
 * KC (f32: KC / 2) along len, groups of rows of a (as many as AB floats
 * hold: all the queries of a vision work item for the scores) are copied
 * (widened) once, and blocks of NC columns of b are packed: the tiles then
 * read b from L1 while every row block of the group passes. A single
 * column block (p v) is packed once per pass, not once per group. Rows
 * past nr in the last tile are zeros, computed but not stored. */
QS_INLINE void gemm(int bf, const void *a, size_t as, int nr, const float *b, size_t bs, int len, int nc, float scale,
                    float *c, size_t cs) {
    float ab[AB], bp[KC / 2 * NC] __attribute__((aligned(32)));
    const __m256i m0 = tail_mask(nc % 16), m1 = tail_mask(nc % 16 - 8);
    int kc = bf ? KC : KC / 2;
    for (int t0 = 0; t0 == 0 || t0 < len; t0 += kc) {   /* len 0 still stores its zero sums */
        int tl = len - t0 < kc ? len - t0 : kc, nrow = bf ? tl / 2 : tl, packed = -1;
        size_t lda = tl > 8 ? (size_t)(tl + 7) / 8 * 8 : 8;
        int rg = (int)(AB / lda) / MR * MR;
        __m256 sc = _mm256_set1_ps(t0 + tl == len ? scale : 1.0f);   /* partial sums stay unscaled */
        for (int g0 = 0; g0 < nr; g0 += rg) {
            int g1 = nr - g0 < rg ? nr : g0 + rg;
            for (int r = g0; r < g1; r++) {
                float *dst = ab + (size_t)(r - g0) * lda;
                if (bf) widen_bf16(dst, (const uint16_t *)a + (size_t)r * as + t0, tl);
                else memcpy(dst, (const float *)a + (size_t)r * as + t0, (size_t)tl * sizeof *ab);
            }
            int padded = g0 + (g1 - g0 + MR - 1) / MR * MR;
            memset(ab + (size_t)(g1 - g0) * lda, 0, (size_t)(padded - g1) * lda * sizeof *ab);
            for (int j0 = 0; j0 < nc; j0 += NC) {
                int j1 = nc - j0 < NC ? nc : j0 + NC;
                if (packed != j0) pack_b(bp, b + (size_t)(bf ? t0 / 2 : t0) * bs, bs, nrow, j0, j1);
                packed = j0;
                for (int i0 = g0; i0 < g1; i0 += MR) {
                    float *cr[MR];
                    for (int i = 0; i < MR; i++) cr[i] = i0 + i < g1 ? c + (size_t)(i0 + i) * cs : NULL;
                    const float *ai = ab + (size_t)(i0 - g0) * lda, *bk = bp;
                    int c0 = j0;
                    for (; c0 + 16 <= j1; c0 += 16, bk += (size_t)nrow * 16)
                        tile(bf, 1, ai, lda, bk, tl, c0, m0, m1, t0 == 0, sc, cr);
                    if (c0 < j1) tile(bf, 0, ai, lda, bk, tl, c0, m0, m1, t0 == 0, sc, cr);
                }
            }
        }
    }
}

void vision_avx2_attn_scores(const float *q, size_t qs, int nq, const float *kt, size_t kts, int n, int hd,
                             float scale, float *s, size_t ss) {
    gemm(0, q, qs, nq, kt, kts, hd, n, scale, s, ss);
}

void vision_avx2_attn_pv(const float *p, size_t ps, int nq, const float *v, size_t vs, int n, int hd, float *o,
                         size_t os) {
    gemm(0, p, ps, nq, v, vs, n, hd, 1.0f, o, os);
}

/* A pair is a float's size: the pair arrays are read as floats and split
 * by bf_lo / bf_hi. Odd lengths break the contract's pairing; they get the
 * scalar code rather than a read past the pairs. */
void vision_avx2_attn_scores_bf16(const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n,
                                  int hd, float scale, float *s, size_t ss) {
    if (hd % 2) kernels_attn_scores_bf16_scalar(q, qs, nq, kp, kps, n, hd, scale, s, ss);
    else gemm(1, q, qs, nq, (const float *)kp, kps, hd, n, scale, s, ss);
}

void vision_avx2_attn_pv_bf16(const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n, int hd,
                              float *o, size_t os) {
    if (n % 2) kernels_attn_pv_bf16_scalar(p, ps, nq, vp, vps, n, hd, o, os);
    else gemm(1, p, ps, nq, (const float *)vp, vps, n, hd, 1.0f, o, os);
}

/* ---- rows ---------------------------------------------------------------- */

void vision_avx2_softmax(float *x, int n) {
    __m256 inv = _mm256_set1_ps(1.0f / exp_row(0, x, n, x, NULL));
    for (int i = 0; i < n; i += 8) {
        int full = n - i >= 8;
        __m256i m = tail_mask(n - i);
        store8(x + i, _mm256_mul_ps(load8(x + i, full, m), inv), full, m);
    }
}

float vision_avx2_softmax_bf16(const float *x, uint16_t *p, int n) { return 1.0f / exp_row(1, x, n, NULL, p); }

void vision_avx2_round_bf16(const float *x, void *out, int64_t n) {
    uint16_t *o = out;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(o + i), bf16x8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) o[i] = f32_to_bf16(x[i]);
}

/* Two passes (mean, then squared deviations) keep the variance free of
 * the cancellation of a one-pass sum of squares; two 8-lane accumulators
 * of n/16 terms each stay within 1e-6 of ops.c's double sums. */
void vision_avx2_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
    }
    for (; i < n; i += 8) s0 = _mm256_add_ps(s0, _mm256_maskload_ps(x + i, tail_mask(n - i)));
    __m256 mean = _mm256_set1_ps(qs_hsum8(_mm256_add_ps(s0, s1)) / (float)n);
    s0 = s1 = _mm256_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(x + i), mean), d1 = _mm256_sub_ps(_mm256_loadu_ps(x + i + 8), mean);
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; i < n; i += 8) {
        __m256i m = tail_mask(n - i);
        __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), mean), _mm256_castsi256_ps(m));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    __m256 r = _mm256_set1_ps(1.0f / sqrtf(qs_hsum8(_mm256_add_ps(s0, s1)) / (float)n + eps));
    for (i = 0; i < n; i += 8) {
        int full = n - i >= 8;
        __m256i m = tail_mask(n - i);
        __m256 d = _mm256_mul_ps(_mm256_sub_ps(load8(x + i, full, m), mean), r);
        store8(y + i, _mm256_fmadd_ps(d, load8(w + i, full, m), load8(b + i, full, m)), full, m);
    }
}

/* ops.c gelu_tanh's x / (1 + exp(-2y)) with exp8, operation for operation:
 * no cancellation near y = 0, and exp8's overflow to inf gives the -0 of
 * very negative x. */
void vision_avx2_add_gelu_tanh(float *x, const float *b, int n) {
    const __m256 neg_k2 = _mm256_set1_ps(-(2.0f * 0.7978845608028654f)), c = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < n; i += 8) {
        int full = n - i >= 8;
        __m256i m = tail_mask(n - i);
        __m256 v = _mm256_add_ps(load8(x + i, full, m), load8(b + i, full, m));
        __m256 cube = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(c, v), v), v);
        __m256 e = exp8(_mm256_mul_ps(neg_k2, _mm256_add_ps(v, cube)));
        store8(x + i, _mm256_div_ps(v, _mm256_add_ps(one, e)), full, m);
    }
}

void vision_avx2_vec_add(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 8) {
        int full = n - i >= 8;
        __m256i m = tail_mask(n - i);
        store8(y + i, _mm256_add_ps(load8(y + i, full, m), load8(x + i, full, m)), full, m);
    }
}

void vision_avx2_add_residual(float *y, const float *x, const float *b, int n) {
    for (int i = 0; i < n; i += 8) {
        int full = n - i >= 8;
        __m256i m = tail_mask(n - i);
        __m256 xb = _mm256_add_ps(load8(x + i, full, m), load8(b + i, full, m));
        store8(y + i, _mm256_add_ps(load8(y + i, full, m), xb), full, m);
    }
}
