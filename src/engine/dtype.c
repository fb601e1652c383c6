/* dtype.c - see dtype.h.
 *
 * Map of this file:
 *   1. scalar conversions (f16, bf16)
 *   2. dequantization, one function per block format
 *   3. quantization: the scale searches, then one function per format
 *   4. the type table and the row-level entry points
 *
 * Block layouts are read and written byte by byte (no packed structs), so
 * the only host assumption is little-endian byte order, which every target
 * of this project has. The quantizers reproduce llama.cpp's reference
 * quantizers (ggml-quants.c, *_ref) in their arithmetic, so a file we
 * quantize matches one made by llama-quantize without an importance matrix.
 */
#include "engine/dtype.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

#define QK_K 256

/* ------------------------------------------------------------------ */
/* 1. Scalar conversions                                               */
/* ------------------------------------------------------------------ */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* memcpy rather than byte shifts: compiles to plain loads/stores and lets
 * the compiler vectorize the row conversions (the host is little-endian). */
static inline uint16_t rd16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline void wr16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static inline float rdh(const uint8_t *p) { return fp16_to_f32(rd16(p)); }

float fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t em = h & 0x7fffu;
    /* Placing exponent+mantissa 13 bits up and scaling by 2^(127-15) turns
     * normal and subnormal halves alike into the right f32 (the f32 is then
     * itself subnormal for subnormal halves, which the multiply handles). */
    float finite = bits_f32(em << 13) * 0x1p112f;
    uint32_t infnan = 0x7f800000u | (em & 0x3ffu) << 13;
    uint32_t mag = em >= 0x7c00u ? infnan : f32_bits(finite);
    return bits_f32(sign | mag);
}

uint16_t f32_to_fp16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    /* Normal result: rebias the exponent and round the 13 dropped bits to
     * nearest even; a carry out of the mantissa correctly bumps the exponent
     * (up to infinity for |f| >= 65520). */
    uint32_t normal = ((a + 0x0fffu + ((a >> 13) & 1u)) - 0x38000000u) >> 13;
    /* Subnormal result (|f| < 2^-14): adding 0.5 makes the FPU round |f| to
     * a multiple of 2^-24 (nearest even), which is the subnormal's integer. */
    uint32_t sub = f32_bits(bits_f32(a) + 0.5f) - 0x3f000000u;
    uint32_t nan = 0x7e00u | ((a >> 13) & 0x3ffu);
    uint32_t r = a < 0x38800000u ? sub : normal;
    r = a >= 0x47800000u ? 0x7c00u : r;
    r = a > 0x7f800000u ? nan : r;
    return (uint16_t)(sign | r);
}

float bf16_to_f32(uint16_t h) {
    return bits_f32((uint32_t)h << 16);
}

uint16_t f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    uint32_t quiet_nan = (x >> 16) | 0x40u;
    return (uint16_t)((x & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

/* F16 -> BF16 without rounding: a value is exact when its f32 form has
 * zero low 16 bits. The loop stops at the first inexact value, since the
 * caller then keeps the F16 weights and discards dst. This is the scalar
 * reference; kernels.h f16_to_bf16_exact is the fast one. */
bool f16_to_bf16_exact(const void *src, void *dst, int64_t n) {
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (int64_t i = 0; i < n; i++) {
        uint32_t f = f32_bits(fp16_to_f32(rd16(s + 2 * i)));
        if (f & 0xffffu) return false;
        wr16(d + 2 * i, (uint16_t)(f >> 16));
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* 2. Dequantization (one block -> block_size floats)                  */
/* ------------------------------------------------------------------ */

/* Legacy 32-weight blocks: the low nibbles are weights 0..15, the high
 * nibbles 16..31; Q5 formats keep the fifth bits in a u32 (bit j = weight j). */
static void legacy_unpack(const uint8_t *qs, const uint8_t *qh, int q[32]) {
    uint32_t h = 0;
    if (qh) h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j]      = (qs[j] & 0xF) | (int)((h >> j) & 1u) << 4;
        q[j + 16] = (qs[j] >> 4)  | (int)((h >> (j + 16)) & 1u) << 4;
    }
}

static void deq_q4_0(const uint8_t *b, float *y) {
    int q[32];
    float d = rdh(b);
    legacy_unpack(b + 2, NULL, q);
    for (int j = 0; j < 32; j++) y[j] = (float)(q[j] - 8) * d;
}

static void deq_q4_1(const uint8_t *b, float *y) {
    int q[32];
    float d = rdh(b), m = rdh(b + 2);
    legacy_unpack(b + 4, NULL, q);
    for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + m;
}

static void deq_q5_0(const uint8_t *b, float *y) {
    int q[32];
    float d = rdh(b);
    legacy_unpack(b + 6, b + 2, q);
    for (int j = 0; j < 32; j++) y[j] = (float)(q[j] - 16) * d;
}

static void deq_q5_1(const uint8_t *b, float *y) {
    int q[32];
    float d = rdh(b), m = rdh(b + 2);
    legacy_unpack(b + 8, b + 4, q);
    for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + m;
}

static void deq_q8_0(const uint8_t *b, float *y) {
    float d = rdh(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

static void deq_q8_1(const uint8_t *b, float *y) {
    float d = rdh(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[4 + j] * d;
}

static void deq_q8_k(const uint8_t *b, float *y) {
    float d;
    memcpy(&d, b, 4);
    for (int j = 0; j < QK_K; j++) y[j] = (float)(int8_t)b[4 + j] * d;
}

/* Q2_K: 16 sub-blocks of 16; scales[i] = 4-bit scale | 4-bit min << 4.
 * Each 128-weight half uses 32 bytes of qs, four 2-bit planes deep. */
static void deq_q2_k(const uint8_t *b, float *y) {
    const uint8_t *sc = b, *qs = b + 16;
    float d = rdh(b + 80), dmin = rdh(b + 82);
    int is = 0;
    for (int half = 0; half < 2; half++, qs += 32) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int g = 0; g < 2; g++, is++) {
                float dl = d * (float)(sc[is] & 0xF), ml = dmin * (float)(sc[is] >> 4);
                for (int l = 0; l < 16; l++) *y++ = dl * (float)((qs[16 * g + l] >> shift) & 3) - ml;
            }
        }
    }
}

/* Q3_K: 2-bit planes as Q2_K plus a high bit from hmask (bit clear means
 * subtract 4); sixteen signed 6-bit scales packed into 12 bytes. */
static void deq_q3_k(const uint8_t *b, float *y) {
    const uint8_t *hm = b, *qs = b + 32, *ps = b + 96;
    float d = rdh(b + 108);
    int scale[16];
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? ps[j] & 0xF : ps[j - 8] >> 4;
        int hi = (ps[8 + j % 4] >> (2 * (j / 4))) & 3;
        scale[j] = (lo | hi << 4) - 32;
    }
    int is = 0, bit = 0;
    for (int half = 0; half < 2; half++, qs += 32) {
        for (int shift = 0; shift < 8; shift += 2, bit++) {
            for (int g = 0; g < 2; g++, is++) {
                float dl = d * (float)scale[is];
                for (int l = 0; l < 16; l++) {
                    int q = (qs[16 * g + l] >> shift) & 3;
                    q -= (hm[16 * g + l] >> bit) & 1 ? 0 : 4;
                    *y++ = dl * (float)q;
                }
            }
        }
    }
}

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block. */
static void k4_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* Q4_K and Q5_K share everything but the fifth bit (qh NULL for Q4_K). */
static void deq_k45(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, float *y) {
    float d = rdh(b), dmin = rdh(b + 2);
    const uint8_t *scales = b + 4;
    for (int g = 0; g < 4; g++, qs += 32) {
        for (int k = 0; k < 2; k++) {
            int sc, m;
            k4_scale_min(scales, 2 * g + k, &sc, &m);
            float dl = d * (float)sc, ml = dmin * (float)m;
            int bit = 2 * g + k;
            for (int l = 0; l < 32; l++) {
                int q = k ? qs[l] >> 4 : qs[l] & 0xF;
                if (qh) q += ((qh[l] >> bit) & 1) << 4;
                *y++ = dl * (float)q - ml;
            }
        }
    }
}

static void deq_q4_k(const uint8_t *b, float *y) { deq_k45(b, NULL, b + 16, y); }
static void deq_q5_k(const uint8_t *b, float *y) { deq_k45(b, b + 16, b + 48, y); }

static void deq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = rdh(b + 208);
    for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF)      | ((qh[l] >> 0) & 3) << 4) - 32;
            int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
            int q3 = ((ql[l] >> 4)       | ((qh[l] >> 4) & 3) << 4) - 32;
            int q4 = ((ql[l + 32] >> 4)  | ((qh[l] >> 6) & 3) << 4) - 32;
            y[l]      = d * (float)sc[is + 0] * (float)q1;
            y[l + 32] = d * (float)sc[is + 2] * (float)q2;
            y[l + 64] = d * (float)sc[is + 4] * (float)q3;
            y[l + 96] = d * (float)sc[is + 6] * (float)q4;
        }
    }
}

/* ------------------------------------------------------------------ */
/* 3. Quantization                                                     */
/* ------------------------------------------------------------------ */

/* Round half to even, as ggml's nearest_int (inputs are small). */
static inline int near_int(float v) { return (int)lrintf(v); }

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Index of the element of largest magnitude (the first one on ties). */
static int argmax_abs(const float *x, int n) {
    int best = 0;
    float amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            best = i;
        }
    return best;
}

/* Symmetric scale search (ggml make_qx_quants, weights x^2): codes l in
 * [-nmax, nmax-1] stored as l + nmax in L; tries 19 scales around the one
 * that maps the largest value to -nmax and keeps the weighted least-squares
 * best. Returns the scale (0 for an all-zero group). */
static float fit_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float max = x[argmax_abs(x, n)];
    if (fabsf(max) < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    float scale = 0, best = 0;
    for (int is = 0; is <= 18; is++) {
        /* is == 0 is the plain scale; then the offsets -9..9 without 0. */
        int off = is == 0 ? 0 : is <= 9 ? is - 10 : is - 9;
        float iscale = -((float)nmax + 0.1f * (float)off) / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(near_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        bool take = is == 0 || (suml2 > 0 && sumlx * sumlx > best * suml2);
        if (!take) continue;
        for (int i = 0; i < n; i++)
            L[i] = (int8_t)(nmax + clampi(near_int(iscale * x[i]), -nmax, nmax - 1));
        scale = suml2 > 0 ? sumlx / suml2 : 0;
        best = scale * sumlx;
    }
    return scale;
}

/* Asymmetric scale + min search (ggml make_qkx2_quants, squared error):
 * x ~ scale * L - min with L in [0, nmax]. Tries nstep+1 scales starting
 * at (nmax + rmin) / range in steps of rdelta, refitting scale and min by
 * weighted least squares for each candidate rounding. Returns the scale;
 * *neg_min receives min (>= 0). */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float rmin, float rdelta, int nstep, float *neg_min) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0;
    }
    float iscale = (float)nmax / (max - min), scale = 1 / iscale, best_err = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(near_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        best_err += w[i] * (diff * diff);
    }
    uint8_t cand[QK_K];
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(near_int(iscale * (x[i] - min)), 0, nmax);
            cand[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)l * (float)l;
            sum_xl += w[i] * (float)l * x[i];
        }
        float det = sum_w * sum_l2 - sum_l * sum_l;
        if (!(det > 0)) continue;
        float s = (sum_w * sum_xl - sum_x * sum_l) / det;
        float m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (m > 0) {
            m = 0;
            s = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = s * (float)cand[i] + m - x[i];
            err += w[i] * (diff * diff);
        }
        if (err < best_err) {
            memcpy(L, cand, (size_t)n);
            best_err = err;
            scale = s;
            min = m;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Q8_0 / Q8_1: d = amax/127, q = round-half-away(x/d). Returns sum(q) and
 * the unrounded d. */
static int q8_block(const float *x, uint8_t *d_out, int8_t *q, float *d_f32) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127, id = d != 0 ? 1 / d : 0;
    wr16(d_out, f32_to_fp16(d));
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = (int8_t)roundf(x[j] * id);
        sum += q[j];
    }
    *d_f32 = d;
    return sum;
}

static void qnt_q8_0(const float *x, uint8_t *b) {
    float d;
    q8_block(x, b, (int8_t *)(b + 2), &d);
}

static void qnt_q8_1(const float *x, uint8_t *b) {
    float d;
    int sum = q8_block(x, b, (int8_t *)(b + 4), &d);
    wr16(b + 2, f32_to_fp16((float)sum * d));
}

/* Packs 32 codes of up to 5 bits into nibbles (+ the fifth bits in qh). */
static void legacy_pack(const int q[32], uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
        h |= (uint32_t)(q[j] >> 4 & 1) << j | (uint32_t)(q[j + 16] >> 4 & 1) << (j + 16);
    }
    if (qh)
        for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

/* Q4_0 / Q5_0: d = (value of largest magnitude) / -(2^(bits-1)), so that
 * value gets the extreme code; codes are truncated x/d + half + 0.5. */
static void qnt_sym(const float *x, int bits, uint8_t *d_out, uint8_t *qs, uint8_t *qh) {
    int half = 1 << (bits - 1), top = (1 << bits) - 1;
    float d = x[argmax_abs(x, 32)] / (float)-half, id = d != 0 ? 1 / d : 0;
    wr16(d_out, f32_to_fp16(d));
    int q[32];
    for (int j = 0; j < 32; j++) q[j] = clampi((int)(x[j] * id + ((float)half + 0.5f)), 0, top);
    legacy_pack(q, qs, qh);
}

static void qnt_q4_0(const float *x, uint8_t *b) { qnt_sym(x, 4, b, b + 2, NULL); }
static void qnt_q5_0(const float *x, uint8_t *b) { qnt_sym(x, 5, b, b + 6, b + 2); }

/* Q4_1 / Q5_1: d = (max - min) / (2^bits - 1), m = min. */
static void qnt_affine(const float *x, int bits, uint8_t *b, uint8_t *qs, uint8_t *qh) {
    int top = (1 << bits) - 1;
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; j++) {
        min = fminf(min, x[j]);
        max = fmaxf(max, x[j]);
    }
    float d = (max - min) / (float)top, id = d != 0 ? 1 / d : 0;
    wr16(b, f32_to_fp16(d));
    wr16(b + 2, f32_to_fp16(min));
    int q[32];
    for (int j = 0; j < 32; j++) q[j] = clampi((int)((x[j] - min) * id + 0.5f), 0, top);
    legacy_pack(q, qs, qh);
}

static void qnt_q4_1(const float *x, uint8_t *b) { qnt_affine(x, 4, b, b + 4, NULL); }
static void qnt_q5_1(const float *x, uint8_t *b) { qnt_affine(x, 5, b, b + 8, b + 4); }

/* Q4_K / Q5_K: per 32-weight sub-block a scale/min fit (weights
 * rms + |x|), then the 8 scales and 8 mins quantized to 6 bits against the
 * block maxima, then every weight re-rounded with the stored scales. */
static void qnt_k45(const float *x, int nmax, float rmin, int nstep, uint8_t *b,
                    uint8_t *qh, uint8_t *qs) {
    uint8_t L[QK_K];
    float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, rmin, 0.1f, nstep, &mins[j]);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0, inv_min = max_min > 0 ? 63.f / max_min : 0;
    uint8_t *s = b + 4;
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        /* The uint8_t wrap mirrors the reference for (impossible in practice)
         * negative fits. */
        uint8_t ls = (uint8_t)near_int(inv_scale * scales[j]), lm = (uint8_t)near_int(inv_min * mins[j]);
        ls = ls > 63 ? 63 : ls;
        lm = lm > 63 ? 63 : lm;
        if (j < 4) {
            s[j] = ls;
            s[j + 4] = lm;
        } else {
            s[j + 4] = (uint8_t)((ls & 0xF) | (lm & 0xF) << 4);
            s[j - 4] |= (uint8_t)((ls >> 4) << 6);
            s[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    wr16(b, f32_to_fp16(max_scale / 63.f));
    wr16(b + 2, f32_to_fp16(max_min / 63.f));
    float d = rdh(b), dmin = rdh(b + 2);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(s, j, &sc, &m);
        float dl = d * (float)sc, ml = dmin * (float)m;
        if (dl == 0) continue;   /* keep the fit's codes: they decode to -ml anyway */
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(near_int((x[32 * j + l] + ml) / dl), 0, nmax);
    }
    if (qh) memset(qh, 0, 32);
    for (int g = 0; g < 4; g++) {
        for (int l = 0; l < 32; l++) {
            int lo = L[64 * g + l], hi = L[64 * g + 32 + l];
            qs[32 * g + l] = (uint8_t)((lo & 0xF) | (hi & 0xF) << 4);
            if (qh) qh[l] |= (uint8_t)((lo >> 4) << (2 * g) | (hi >> 4) << (2 * g + 1));
        }
    }
}

static void qnt_q4_k(const float *x, uint8_t *b) { qnt_k45(x, 15, -1.0f, 20, b, NULL, b + 16); }
static void qnt_q5_k(const float *x, uint8_t *b) { qnt_k45(x, 31, -0.5f, 15, b, b + 16, b + 48); }

/* Q6_K: per 16-weight sub-block a symmetric fit, the 16 scales stored as
 * int8 against the largest one (-> -128), then every weight re-rounded. */
static void qnt_q6_k(const float *x, uint8_t *b) {
    int8_t L[QK_K];
    float scales[16], max_scale = 0, max_abs = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = fit_symmetric(16, 32, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > max_abs) {
            max_abs = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(b, 0, 210);
    if (max_abs < 1e-15f) return;
    int8_t *sc = (int8_t *)(b + 192);
    float iscale = -128.f / max_scale;
    wr16(b + 208, f32_to_fp16(1 / iscale));
    float d = rdh(b + 208);
    for (int j = 0; j < 16; j++) {
        int v = near_int(iscale * scales[j]);
        sc[j] = (int8_t)(v > 127 ? 127 : v);
    }
    for (int j = 0; j < 16; j++) {
        float dl = d * (float)sc[j];
        if (dl == 0) continue;
        for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(clampi(near_int(x[16 * j + l] / dl), -32, 31) + 32);
    }
    uint8_t *ql = b, *qh = b + 128;
    for (int half = 0; half < 2; half++, ql += 64, qh += 32) {
        const int8_t *q = L + 128 * half;
        for (int l = 0; l < 32; l++) {
            ql[l]      = (uint8_t)((q[l] & 0xF) | (q[l + 64] & 0xF) << 4);
            ql[l + 32] = (uint8_t)((q[l + 32] & 0xF) | (q[l + 96] & 0xF) << 4);
            qh[l] = (uint8_t)((q[l] >> 4) | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
        }
    }
}

/* Q8_K: f32 d from the signed value of largest magnitude (-> -127), plus the
 * sums of each 16 codes. */
static void qnt_q8_k(const float *x, uint8_t *b) {
    int8_t *q = (int8_t *)(b + 4);
    float max = x[argmax_abs(x, QK_K)], d = 0;
    if (max == 0) {
        memset(b, 0, 292);
        return;
    }
    float iscale = -127.f / max;
    for (int j = 0; j < QK_K; j++) {
        int v = near_int(iscale * x[j]);
        q[j] = (int8_t)(v > 127 ? 127 : v);
    }
    for (int g = 0; g < 16; g++) {
        int16_t sum = 0;
        for (int l = 0; l < 16; l++) sum = (int16_t)(sum + q[16 * g + l]);
        wr16(b + 260 + 2 * g, (uint16_t)sum);
    }
    d = 1 / iscale;
    memcpy(b, &d, 4);
}

/* ------------------------------------------------------------------ */
/* 4. The type table and row entry points                              */
/* ------------------------------------------------------------------ */

typedef void (*deq_fn)(const uint8_t *block, float *y);
typedef void (*qnt_fn)(const float *x, uint8_t *block);

typedef struct dtype_entry {
    dtype_info info;
    deq_fn deq;   /* NULL for scalar types (handled in the row loops) */
    qnt_fn qnt;
} dtype_entry;

#define QTYPE(id, nm, bs, bb, d, q) [id] = {{nm, bs, bb, d != NULL, q != NULL}, d, q}

static const dtype_entry dtype_table[DT_COUNT] = {
    [DT_F32]  = {{"F32", 1, 4, true, true}, NULL, NULL},
    [DT_F16]  = {{"F16", 1, 2, true, true}, NULL, NULL},
    [DT_BF16] = {{"BF16", 1, 2, true, true}, NULL, NULL},
    QTYPE(DT_Q4_0, "Q4_0", 32, 18, deq_q4_0, qnt_q4_0),
    QTYPE(DT_Q4_1, "Q4_1", 32, 20, deq_q4_1, qnt_q4_1),
    QTYPE(DT_Q5_0, "Q5_0", 32, 22, deq_q5_0, qnt_q5_0),
    QTYPE(DT_Q5_1, "Q5_1", 32, 24, deq_q5_1, qnt_q5_1),
    QTYPE(DT_Q8_0, "Q8_0", 32, 34, deq_q8_0, qnt_q8_0),
    QTYPE(DT_Q8_1, "Q8_1", 32, 36, deq_q8_1, qnt_q8_1),
    QTYPE(DT_Q2_K, "Q2_K", QK_K, 84, deq_q2_k, NULL),
    QTYPE(DT_Q3_K, "Q3_K", QK_K, 110, deq_q3_k, NULL),
    QTYPE(DT_Q4_K, "Q4_K", QK_K, 144, deq_q4_k, qnt_q4_k),
    QTYPE(DT_Q5_K, "Q5_K", QK_K, 176, deq_q5_k, qnt_q5_k),
    QTYPE(DT_Q6_K, "Q6_K", QK_K, 210, deq_q6_k, qnt_q6_k),
    QTYPE(DT_Q8_K, "Q8_K", QK_K, 292, deq_q8_k, qnt_q8_k),
};

const dtype_info *dtype_get(uint32_t type) {
    if (type >= DT_COUNT || !dtype_table[type].info.name) return NULL;
    return &dtype_table[type].info;
}

size_t dtype_row_bytes(qvl_dtype type, int64_t n) {
    const dtype_info *ti = dtype_get((uint32_t)type);
    if (!ti || n < 0 || n % ti->block_size) return 0;
    if ((uint64_t)(n / ti->block_size) > SIZE_MAX / (size_t)ti->block_bytes) return 0;
    return (size_t)(n / ti->block_size) * (size_t)ti->block_bytes;
}

int dtype_from_name(const char *name) {
    for (int t = 0; t < DT_COUNT; t++) {
        const char *tn = dtype_table[t].info.name;
        if (!tn) continue;
        size_t i = 0;
        while (tn[i] && name[i] && toupper((unsigned char)name[i]) == tn[i]) i++;
        if (!tn[i] && !name[i]) return t;
    }
    return -1;
}

void dequantize_row(qvl_dtype type, const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    switch (type) {
    case DT_F32:
        memcpy(dst, src, (size_t)n * 4);
        return;
    case DT_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_f32(rd16(s + 2 * i));
        return;
    case DT_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(rd16(s + 2 * i));
        return;
    default: {
        const dtype_entry *e = &dtype_table[type];
        for (int64_t i = 0; i < n / e->info.block_size; i++)
            e->deq(s + i * e->info.block_bytes, dst + i * e->info.block_size);
    }
    }
}

void quantize_row(qvl_dtype type, const float *src, void *dst, int64_t n) {
    uint8_t *d = dst;
    switch (type) {
    case DT_F32:
        memcpy(dst, src, (size_t)n * 4);
        return;
    case DT_F16:
        for (int64_t i = 0; i < n; i++) wr16(d + 2 * i, f32_to_fp16(src[i]));
        return;
    case DT_BF16:
        for (int64_t i = 0; i < n; i++) wr16(d + 2 * i, f32_to_bf16(src[i]));
        return;
    default: {
        const dtype_entry *e = &dtype_table[type];
        for (int64_t i = 0; i < n / e->info.block_size; i++)
            e->qnt(src + i * e->info.block_size, d + i * e->info.block_bytes);
    }
    }
}
