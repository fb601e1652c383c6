/* gemm_avx512.c - register-blocked quantized GEMM for prompts (AVX-512 VNNI
 * machines; compiled with the AVX-512 flags, used through kernels_avx512).
 *
 * Promise: every output equals quant_dot_ref for its (row, token) bit for
 * bit. The integer part of each 32-element chunk is exact in any order; the
 * float part is the reference's: per block one fused multiply-add of
 * float(8 int32 lanes) with the scale product dw * dx, lanes in block order,
 * then the reference's horizontal-add order. Only the work around it is
 * reorganised:
 *  - activations are quantized as quant_dot_quantize_act does (bit for bit)
 *    and packed once per matmul (gemm_pack_act): levels, their per-lane sums
 *    for the unsigned trick (Q8_0) or the sub-block sums (Q8_K), and the f32
 *    scale, each in its own contiguous array;
 *  - a tile of GEMM_ROWS weight rows is unpacked once per call into plain
 *    levels (unsigned bytes) with per-block scales, then reused for every
 *    token;
 *  - GT_R rows x GT_T tokens are computed together, so each weight and
 *    activation vector loaded from cache feeds GT_T or GT_R products, and the
 *    scale products for the tile are made 16 at a time before the main loop.
 * Q8_0/Q5_0/Q4_0 use vpdpbusd with weights offset to unsigned (w + 128); the
 * offset's contribution, 128 * (sum of 4 activations) per lane, is removed by
 * starting each lane at minus that sum. Q4_K and Q6_K use maddubs + vpdpwssd
 * with the sub-block scales, as quant_simd.h does. Q6_K turns it around:
 * signed levels (-32..31) meet activations offset to unsigned (a + 128), and
 * the offset's share, 128 * scale * (sum of levels) per lane, depends on the
 * weights only: it is made when the tile is unpacked and starts each lane.
 * Memory: the unpacked tile and the products live in per-thread static
 * buffers (about 0.5 MB, bounded by GEMM_MAX_K); nothing is allocated.
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels.h"

#define QS_DOT_US(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define QS_DOT_I16(acc, p, c) _mm256_dpwssd_epi32((acc), (p), (c))
#include "engine/quant_simd.h"

#define GT_R 4           /* weight rows per register tile */
#define GT_G (GEMM_ROWS / GT_R)   /* register row groups per call */
#define GT_T 4          /* tokens per register tile */
#define GEMM_MAX_K 16384

/* ---- packed activation rows ---------------------------------------------- */

/* Q8_0 row of nb blocks: levels [nb][32] i8 | lane corrections [nb][8] i32 |
 * scales [nb] f32. Q8_K row: levels [nb][256] i8 | sub-block sums [nb][8]
 * i16 | scales [nb] f32. Rows are padded to 64 bytes. */
static size_t pack_bytes(qvl_dtype w, int64_t n) {
    if (n <= 0 || n > GEMM_MAX_K) return 0;
    size_t raw;
    if ((w == DT_Q8_0 || w == DT_Q5_0 || w == DT_Q4_0) && n % 32 == 0) raw = (size_t)(n / 32) * 68;
    else if ((w == DT_Q4_K || w == DT_Q6_K) && n % 256 == 0) raw = (size_t)(n / 256) * 276;
    else return 0;
    return (raw + 63) / 64 * 64;
}

size_t gemm_avx512_act_bytes(qvl_dtype w, int64_t n) { return pack_bytes(w, n); }

/* Largest |x| of 16k floats; NaNs are skipped like fmaxf does. */
static inline float pack_amax(const float *x, int k16) {
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < k16; i++) m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * i)), m);
    return _mm512_reduce_max_ps(m);
}

/* The reference's Q8_K quantization of 256 floats (quant_dot.c), straight
 * into the packed layout: levels, the 8 sub-block sums, the scale. */
static void pack_q8_k(const float *x, uint8_t *lv, uint8_t *sums, float *scale) {
    float amax = pack_amax(x, 16), max = 0;
    int32_t bsum[16] = {0};
    if (amax == 0) {   /* also all-NaN rows: the reference's zero block */
        memset(lv, 0, 256);
        *scale = 0;
    } else {
        /* the first element of largest magnitude gives the sign */
        for (int i = 0; i < 16; i++) {
            __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * i)), _mm512_set1_ps(amax),
                                               _CMP_EQ_OQ);
            if (hit) {
                max = x[16 * i + __builtin_ctz(hit)];
                break;
            }
        }
        float iscale = -127.0f / max;
        for (int i = 0; i < 16; i++) {
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_set1_ps(iscale), _mm512_loadu_ps(x + 16 * i)));
            v = _mm512_min_epi32(v, _mm512_set1_epi32(127));
            _mm_storeu_si128((__m128i *)(lv + 16 * i), _mm512_cvtepi32_epi8(v));
            bsum[i] = _mm512_reduce_add_epi32(v);
        }
        *scale = 1.0f / iscale;
    }
    int16_t s16[8];
    for (int sub = 0; sub < 8; sub++) s16[sub] = (int16_t)((int16_t)bsum[2 * sub] + (int16_t)bsum[2 * sub + 1]);
    memcpy(sums, s16, sizeof s16);
}

/* The reference's Q8_0 quantization of 32 floats, packed: levels, minus 128
 * times each lane's 4-sum (the unsigned-weight correction), the scale as
 * rounded through f16. */
static void pack_q8_0(const float *x, uint8_t *lv, uint8_t *corr, float *scale) {
    float amax = pack_amax(x, 2);
    float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;   /* as quant_dot.c */
    __m128i q[2];
    for (int i = 0; i < 2; i++)
        q[i] = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * i), _mm512_set1_ps(id))));
    __m256i lv32 = _mm256_set_m128i(q[1], q[0]);
    _mm256_storeu_si256((__m256i *)lv, lv32);
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), lv32);
    _mm256_storeu_si256((__m256i *)corr, _mm256_sub_epi32(_mm256_setzero_si256(), s));
    *scale = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void gemm_avx512_pack_act(qvl_dtype w, const float *x, void *out, int64_t n) {
    uint8_t *o = out;
    int kq = w == DT_Q4_K || w == DT_Q6_K, bs = kq ? 256 : 32, side = kq ? 16 : 32;   /* level, side bytes per block */
    int64_t nb = n / bs;
    for (int64_t b = 0; b < nb; b++) {
        float d;
        if (kq) pack_q8_k(x + bs * b, o + bs * b, o + bs * nb + side * b, &d);
        else pack_q8_0(x + bs * b, o + bs * b, o + bs * nb + side * b, &d);
        memcpy(o + (bs + side) * nb + 4 * b, &d, 4);
    }
}

/* ---- weight tiles ---------------------------------------------------------- */

/* Unpacked legacy rows: levels + 128 as u8 [GEMM_ROWS][nb][32]; dw16[g][nb]
 * has row 4g + r's scale at 4r..4r+3 (the layout of the scale products). */
typedef struct legacy_tile {
    uint8_t lv[GEMM_ROWS][GEMM_MAX_K];
    float dw16[GT_G][GEMM_MAX_K / 32][16];
} legacy_tile;

/* Unpacked Q4_K rows: levels u8 [GT_R][nb][256] in element order; per
 * sub-block scale as an i16 pair (for vpdpwssd); mins as i16 [8]; d and dmin
 * in the products layout. */
typedef struct q4k_tile {
    uint8_t lv[GEMM_ROWS][GEMM_MAX_K];
    uint32_t sc[GEMM_ROWS][GEMM_MAX_K / 32];
    int16_t mins[GEMM_ROWS][GEMM_MAX_K / 32];
    float dw16[GT_G][GEMM_MAX_K / 256][16], dm16[GT_G][GEMM_MAX_K / 256][16];
} q4k_tile;

/* Unpacked Q6_K rows: levels - 32 as i8 [GT_R][nb][256] in element order;
 * the scale of each 16 weights as an i16 pair; per super-block the 8 lanes'
 * starting values, minus 128 * scale * levels; d in the products layout. */
typedef struct q6k_tile {
    int8_t lv[GEMM_ROWS][GEMM_MAX_K];
    uint32_t sc[GEMM_ROWS][GEMM_MAX_K / 16];
    int32_t start[GEMM_ROWS][GEMM_MAX_K / 256][8];
    float dw16[GT_G][GEMM_MAX_K / 256][16];
} q6k_tile;

/* The scales of a 32-weight chunk per lane: lanes 0..3 take the first
 * 16-weight scale (pair at two[0]), lanes 4..7 the second. */
static inline __m256i q6k_chunk_scales(const uint32_t *two) {
    __m128i s = _mm_loadl_epi64((const __m128i *)two);
    return _mm256_permutevar8x32_epi32(_mm256_castsi128_si256(s), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
}

static void unpack_legacy(qvl_dtype w, const uint8_t *wr, size_t ws, int nr, int64_t nb, legacy_tile *t) {
    int bb = w == DT_Q8_0 ? 34 : w == DT_Q5_0 ? 22 : 18;
    const __m256i off = _mm256_set1_epi8((char)0x80);
    for (int r = 0; r < GEMM_ROWS; r++) {
        const uint8_t *p = wr + (size_t)(r < nr ? r : 0) * ws;   /* missing rows: repeat row 0, results unused */
        for (int64_t b = 0; b < nb; b++, p += bb) {
            _mm256_storeu_si256((__m256i *)(t->lv[r] + 32 * b), _mm256_xor_si256(qs_legacy_levels(w, p), off));
            float d = qs_f16(p);
            for (int k = 0; k < 4; k++) t->dw16[r / GT_R][b][4 * (r % GT_R) + k] = d;
        }
    }
}

static void unpack_q4_k(const uint8_t *wr, size_t ws, int nr, int64_t nb, q4k_tile *t) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int r = 0; r < GEMM_ROWS; r++) {
        const uint8_t *p = wr + (size_t)(r < nr ? r : 0) * ws;
        for (int64_t b = 0; b < nb; b++, p += 144) {
            for (int i = 0; i < 4; i++) {
                __m256i raw = qs_load(p + 16 + 32 * i);
                _mm256_storeu_si256((__m256i *)(t->lv[r] + 256 * b + 64 * i), _mm256_and_si256(raw, m4));
                _mm256_storeu_si256((__m256i *)(t->lv[r] + 256 * b + 64 * i + 32),
                                    _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
            }
            uint32_t u[4];
            qs_k4_scales(p + 4, u);
            const uint8_t *s8 = (const uint8_t *)u;
            for (int sub = 0; sub < 8; sub++) {
                t->sc[r][8 * b + sub] = (uint32_t)s8[sub] * 0x10001u;
                t->mins[r][8 * b + sub] = s8[8 + sub];
            }
            float d = qs_f16(p), dm = qs_f16(p + 2);
            for (int k = 0; k < 4; k++) {
                t->dw16[r / GT_R][b][4 * (r % GT_R) + k] = d;
                t->dm16[r / GT_R][b][4 * (r % GT_R) + k] = dm;
            }
        }
    }
}

/* A Q6_K super-block stores, per half h, low nibbles of elements 128h + 0..63
 * in 64 bytes (elements 128h + 64..127 in their high nibbles) and 2 high bits
 * of each group of 4 elements 32 apart in one byte of 32. */
static void unpack_q6_k(const uint8_t *wr, size_t ws, int nr, int64_t nb, q6k_tile *t) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30), k32 = _mm256_set1_epi8(32),
                  k128 = _mm256_set1_epi8((char)0x80);
    for (int r = 0; r < GEMM_ROWS; r++) {
        const uint8_t *p = wr + (size_t)(r < nr ? r : 0) * ws;
        for (int64_t b = 0; b < nb; b++, p += 210) {
            const int8_t *s8 = (const int8_t *)p + 192;
            for (int s = 0; s < 16; s++) t->sc[r][16 * b + s] = (uint16_t)s8[s] * 0x10001u;
            __m256i offset = _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                __m256i hb = qs_load(p + 128 + 32 * h);
                for (int q = 0; q < 4; q++) {   /* quarter q: elements 128h + 32q .. + 31 */
                    __m256i low = qs_load(p + 64 * h + 32 * (q & 1));
                    if (q >= 2) low = _mm256_srli_epi16(low, 4);
                    __m256i high = q == 0 ? _mm256_slli_epi16(hb, 4) : q == 1 ? _mm256_slli_epi16(hb, 2)
                                 : q == 2 ? hb : _mm256_srli_epi16(hb, 2);   /* bits 2q, 2q+1 to 4, 5 */
                    __m256i lv = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(low, m4), _mm256_and_si256(high, m30)),
                                                 k32);
                    _mm256_storeu_si256((__m256i *)(t->lv[r] + 256 * b + 128 * h + 32 * q), lv);
                    offset = _mm256_dpwssd_epi32(offset, _mm256_maddubs_epi16(k128, lv),
                                                 q6k_chunk_scales(&t->sc[r][16 * b + 8 * h + 2 * q]));
                }
            }
            _mm256_storeu_si256((__m256i *)t->start[r][b], _mm256_sub_epi32(_mm256_setzero_si256(), offset));
            float d = qs_f16(p + 208);
            for (int k = 0; k < 4; k++) t->dw16[r / GT_R][b][4 * (r % GT_R) + k] = d;
        }
    }
}

/* prod[b][4r + t] = dw16[b][4r + t] * dx4[b][t], the scale of token t in
 * block b (the reference's dw * dx, one rounding); neg negates (the K-quant
 * min term). */
static void tile_products(const float (*dw16)[16], const float (*dx4)[4], int64_t nb, int neg, float (*prod)[16]) {
    for (int64_t b = 0; b < nb; b++) {
        __m512 x = _mm512_broadcast_f32x4(_mm_loadu_ps(dx4[b]));
        __m512 p = _mm512_mul_ps(_mm512_loadu_ps(dw16[b]), x);
        if (neg) p = _mm512_xor_ps(p, _mm512_set1_ps(-0.0f));   /* (-dx) * dw, exactly */
        _mm512_storeu_ps(prod[b], p);
    }
}

/* ---- micro-kernels: GT_R rows x GT_T tokens --------------------------------- */

static void kernel_legacy(const uint8_t (*lv)[GEMM_MAX_K], const uint8_t *const act[GT_T], int64_t nb,
                          const float (*prod)[16], float out[GT_R][GT_T]) {
    __m256 acc[GT_R][GT_T];
    QS_UNROLL for (int r = 0; r < GT_R; r++)
        QS_UNROLL for (int t = 0; t < GT_T; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i a[GT_T], c[GT_T];
        QS_UNROLL for (int t = 0; t < GT_T; t++) {
            a[t] = qs_load(act[t] + 32 * b);
            c[t] = qs_load(act[t] + 32 * nb + 32 * b);
        }
        QS_UNROLL for (int r = 0; r < GT_R; r++) {
            __m256i w = qs_load(lv[r] + 32 * b);
            QS_UNROLL for (int t = 0; t < GT_T; t++) {
                __m256i s = _mm256_dpbusd_epi32(c[t], w, a[t]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(prod[b][4 * r + t]), _mm256_cvtepi32_ps(s), acc[r][t]);
            }
        }
    }
    QS_UNROLL for (int r = 0; r < GT_R; r++)
        QS_UNROLL for (int t = 0; t < GT_T; t++) out[r][t] = qs_hsum8(acc[r][t]);
}

/* The float accumulators stay in memory (touched once per 256 weights): in
 * registers they would crowd out the 16 integer tile sums. */
static void kernel_q4_k(const q4k_tile *wt, int g, const uint8_t *const act[GT_T], int64_t nb,
                        const float (*prod)[16], const float (*prodm)[16], float out[GT_R][GT_T]) {
    float acc[GT_R][GT_T][8] __attribute__((aligned(32))) = {{{0}}};
    float acc_m[GT_R][GT_T][4] __attribute__((aligned(16))) = {{{0}}};
    for (int64_t b = 0; b < nb; b++) {
        __m256i sumi[GT_R][GT_T];
        QS_UNROLL for (int r = 0; r < GT_R; r++)
            QS_UNROLL for (int t = 0; t < GT_T; t++) sumi[r][t] = _mm256_setzero_si256();
        QS_UNROLL for (int sub = 0; sub < 8; sub++) {
            __m256i a[GT_T];
            QS_UNROLL for (int t = 0; t < GT_T; t++) a[t] = qs_load(act[t] + 256 * b + 32 * sub);
            QS_UNROLL for (int r = 0; r < GT_R; r++) {
                __m256i w = qs_load(wt->lv[GT_R * g + r] + 256 * b + 32 * sub);
                __m256i sc = _mm256_set1_epi32((int)wt->sc[GT_R * g + r][8 * b + sub]);
                QS_UNROLL for (int t = 0; t < GT_T; t++)
                    sumi[r][t] = _mm256_dpwssd_epi32(sumi[r][t], _mm256_maddubs_epi16(w, a[t]), sc);
            }
        }
        QS_UNROLL for (int r = 0; r < GT_R; r++) {
            __m128i mins = _mm_loadu_si128((const __m128i *)&wt->mins[GT_R * g + r][8 * b]);
            QS_UNROLL for (int t = 0; t < GT_T; t++) {
                __m128i s = _mm_loadu_si128((const __m128i *)(act[t] + 256 * nb + 16 * b));
                _mm256_store_ps(acc[r][t], _mm256_fmadd_ps(_mm256_set1_ps(prod[b][4 * r + t]),
                                                           _mm256_cvtepi32_ps(sumi[r][t]), _mm256_load_ps(acc[r][t])));
                _mm_store_ps(acc_m[r][t], _mm_fmadd_ps(_mm_set1_ps(prodm[b][4 * r + t]),
                                                       _mm_cvtepi32_ps(_mm_madd_epi16(mins, s)), _mm_load_ps(acc_m[r][t])));
            }
        }
    }
    QS_UNROLL for (int r = 0; r < GT_R; r++)
        QS_UNROLL for (int t = 0; t < GT_T; t++)
            out[r][t] = qs_hsum8(_mm256_load_ps(acc[r][t])) + qs_hsum4(_mm_load_ps(acc_m[r][t]));
}

/* As kernel_q4_k without the min term: maddubs of (a + 128) with the signed
 * levels (|pair| <= 2 * 255 * 32, no saturation), lanes started at minus the
 * offset's share (exact integers, so the lane sums are the reference's). */
static void kernel_q6_k(const q6k_tile *wt, int g, const uint8_t *const act[GT_T], int64_t nb,
                        const float (*prod)[16], float out[GT_R][GT_T]) {
    float acc[GT_R][GT_T][8] __attribute__((aligned(32))) = {{{0}}};
    const __m256i k128 = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        __m256i sumi[GT_R][GT_T];
        QS_UNROLL for (int r = 0; r < GT_R; r++) {
            __m256i start = qs_load(wt->start[GT_R * g + r][b]);
            QS_UNROLL for (int t = 0; t < GT_T; t++) sumi[r][t] = start;
        }
        QS_UNROLL for (int c = 0; c < 8; c++) {
            __m256i a[GT_T];
            QS_UNROLL for (int t = 0; t < GT_T; t++) a[t] = _mm256_xor_si256(qs_load(act[t] + 256 * b + 32 * c), k128);
            QS_UNROLL for (int r = 0; r < GT_R; r++) {
                __m256i w = qs_load(wt->lv[GT_R * g + r] + 256 * b + 32 * c);
                __m256i sc = q6k_chunk_scales(&wt->sc[GT_R * g + r][16 * b + 2 * c]);
                QS_UNROLL for (int t = 0; t < GT_T; t++)
                    sumi[r][t] = _mm256_dpwssd_epi32(sumi[r][t], _mm256_maddubs_epi16(a[t], w), sc);
            }
        }
        QS_UNROLL for (int r = 0; r < GT_R; r++)
            QS_UNROLL for (int t = 0; t < GT_T; t++)
                _mm256_store_ps(acc[r][t], _mm256_fmadd_ps(_mm256_set1_ps(prod[b][4 * r + t]),
                                                           _mm256_cvtepi32_ps(sumi[r][t]), _mm256_load_ps(acc[r][t])));
    }
    QS_UNROLL for (int r = 0; r < GT_R; r++)
        QS_UNROLL for (int t = 0; t < GT_T; t++) out[r][t] = qs_hsum8(_mm256_load_ps(acc[r][t]));
}

/* ---- the tile entry -------------------------------------------------------- */

void gemm_avx512_tile(qvl_dtype w, const void *wrows, size_t wstride, int nr, const void *pact, size_t pstride,
                      int nt, float *y, size_t ystride, int64_t n) {
    const uint8_t *wr = wrows, *pa = pact;
    int legacy = w != DT_Q4_K && w != DT_Q6_K;
    int64_t nb = legacy ? n / 32 : n / 256;
    /* Static per thread: too big for small worker stacks, reused by every call. */
    static _Thread_local union {
        legacy_tile l;
        q4k_tile k;
        q6k_tile k6;
    } wt;
    static _Thread_local float prod[GEMM_MAX_K / 32][16], prodm[GEMM_MAX_K / 256][16], dx4[GEMM_MAX_K / 32][4];
    if (legacy) unpack_legacy(w, wr, wstride, nr, nb, &wt.l);
    else if (w == DT_Q4_K) unpack_q4_k(wr, wstride, nr, nb, &wt.k);
    else unpack_q6_k(wr, wstride, nr, nb, &wt.k6);
    size_t soff = legacy ? (size_t)nb * 64 : (size_t)nb * 272;   /* the scales array of a packed row */
    for (int t0 = 0; t0 < nt; t0 += GT_T) {
        const uint8_t *act[GT_T];
        for (int t = 0; t < GT_T; t++) {   /* missing tokens: repeat the last, results unused */
            act[t] = pa + (size_t)(t0 + t < nt ? t0 + t : nt - 1) * pstride;
            for (int64_t b = 0; b < nb; b++) memcpy(&dx4[b][t], act[t] + soff + 4 * b, 4);
        }
        for (int g = 0; g * GT_R < nr; g++) {
            float out[GT_R][GT_T];
            if (legacy) {
                tile_products(wt.l.dw16[g], dx4, nb, 0, prod);
                kernel_legacy(wt.l.lv + GT_R * g, act, nb, prod, out);
            } else if (w == DT_Q4_K) {
                tile_products(wt.k.dw16[g], dx4, nb, 0, prod);
                tile_products(wt.k.dm16[g], dx4, nb, 1, prodm);
                kernel_q4_k(&wt.k, g, act, nb, prod, prodm, out);
            } else {
                tile_products(wt.k6.dw16[g], dx4, nb, 0, prod);
                kernel_q6_k(&wt.k6, g, act, nb, prod, out);
            }
            for (int t = 0; t < GT_T && t0 + t < nt; t++)
                for (int r = 0; r < GT_R && GT_R * g + r < nr; r++)
                    y[(size_t)(t0 + t) * ystride + GT_R * g + r] = out[r][t];
        }
    }
}
