/* quant_dot.c - see quant_dot.h. The scalar reference kernels; SIMD
 * versions live in kernels_<isa>.c and are tested against these. */
#include "engine/quant_dot.h"

#include <math.h>
#include <string.h>

#define QK 32      /* legacy block size */
#define QKK 256    /* K-quant super-block size */

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline float rdf16(const uint8_t *p) { return fp16_to_f32(rd16(p)); }
static inline void wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

qvl_dtype quant_dot_act_type(qvl_dtype w) {
    switch (w) {
    case DT_Q4_0: case DT_Q5_0: case DT_Q8_0: return DT_Q8_0;
    case DT_Q4_1: case DT_Q5_1: return DT_Q8_1;
    case DT_Q4_K: case DT_Q5_K: case DT_Q6_K: return DT_Q8_K;
    default: return DT_F32;
    }
}

size_t quant_dot_act_bytes(qvl_dtype a, int64_t n) {
    switch (a) {
    case DT_Q8_0: return (size_t)(n / QK) * 34;
    case DT_Q8_1: return (size_t)(n / QK) * 36;
    case DT_Q8_K: return (size_t)(n / QKK) * 292;
    default: return (size_t)n * sizeof(float);
    }
}

/* Q8_0 block: f16 d, i8 q[32]. Q8_1 block: f16 d, f16 s = d*sum(q), i8 q[32]. */
static void quantize_q8_01(const float *x, uint8_t *out, int64_t n, int with_sum) {
    int bb = with_sum ? 36 : 34;
    for (int64_t b = 0; b < n / QK; b++, x += QK, out += bb) {
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        /* id is 127/amax, not 1/d: the reference's x86 quantizer computes it so,
         * and that last bit flips a level now and then (a 5e-3 RMS logit shift) */
        float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int8_t *q = (int8_t *)out + (with_sum ? 4 : 2);
        int sum = 0;
        for (int j = 0; j < QK; j++) {
            q[j] = (int8_t)nearbyintf(x[j] * id);   /* ties to even, as the reference */
            sum += q[j];
        }
        uint16_t dh = f32_to_fp16(d);
        wr16(out, dh);
        if (with_sum) wr16(out + 2, f32_to_fp16(fp16_to_f32(dh) * (float)sum));
    }
}

/* Q8_K block: f32 d, i8 q[256], i16 bsums[16]. */
static void quantize_q8_k(const float *x, uint8_t *out, int64_t n) {
    for (int64_t b = 0; b < n / QKK; b++, x += QKK, out += 292) {
        float amax = 0, max = 0;
        for (int j = 0; j < QKK; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        int8_t *q = (int8_t *)out + 4;
        float d = 0;
        if (amax) {
            float iscale = -127.0f / max;
            for (int j = 0; j < QKK; j++) {
                int v = (int)nearbyintf(iscale * x[j]);
                q[j] = (int8_t)(v > 127 ? 127 : v);
            }
            d = 1.0f / iscale;
        } else {
            memset(q, 0, QKK);
        }
        memcpy(out, &d, 4);
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += q[16 * g + j];
            int16_t s16 = (int16_t)s;
            memcpy(out + 4 + QKK + 2 * g, &s16, 2);
        }
    }
}

void quant_dot_quantize_act(qvl_dtype a, const float *x, void *out, int64_t n) {
    switch (a) {
    case DT_Q8_0: quantize_q8_01(x, out, n, 0); break;
    case DT_Q8_1: quantize_q8_01(x, out, n, 1); break;
    case DT_Q8_K: quantize_q8_k(x, out, n); break;
    default: memcpy(out, x, (size_t)n * sizeof *x); break;
    }
}

/* ---- legacy 32-blocks --------------------------------------------------- */

/* Integer levels of one 32-weight block (signed for Q4_0/Q5_0/Q8_0, unsigned
 * for Q4_1/Q5_1), its scale and (type _1) min. Returns the block bytes. */
static int unpack_legacy(qvl_dtype w, const uint8_t *b, int *lv, float *d, float *m) {
    *d = rdf16(b);
    *m = 0;
    switch (w) {
    case DT_Q8_0:
        for (int j = 0; j < QK; j++) lv[j] = ((const int8_t *)b)[2 + j];
        return 34;
    case DT_Q4_0:
    case DT_Q4_1: {
        int off = w == DT_Q4_1 ? 4 : 2, bias = w == DT_Q4_1 ? 0 : 8;
        if (w == DT_Q4_1) *m = rdf16(b + 2);
        for (int j = 0; j < 16; j++) {
            lv[j] = (b[off + j] & 0xF) - bias;
            lv[j + 16] = (b[off + j] >> 4) - bias;
        }
        return w == DT_Q4_1 ? 20 : 18;
    }
    default: {   /* Q5_0, Q5_1 */
        int one = w == DT_Q5_1, off = one ? 4 : 2, bias = one ? 0 : 16;
        if (one) *m = rdf16(b + 2);
        uint32_t qh = (uint32_t)b[off] | (uint32_t)b[off + 1] << 8 | (uint32_t)b[off + 2] << 16 |
                      (uint32_t)b[off + 3] << 24;
        const uint8_t *qs = b + off + 4;
        for (int j = 0; j < 16; j++) {
            lv[j] = ((qs[j] & 0xF) | (int)((qh >> j) & 1) << 4) - bias;
            lv[j + 16] = ((qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - bias;
        }
        return one ? 24 : 22;
    }
    }
}

/* The float accumulation below mirrors llama.cpp's 8-lane AVX2 kernels: lane
 * L holds the integer sum of elements 4L..4L+3 of every 32-element chunk,
 * lanes accumulate with fused multiply-adds, and are summed in the order of
 * its horizontal add. Integer sums are exact in any order; keeping the float
 * order too makes our logits match llama.cpp-made references bit for bit,
 * which matters because the model amplifies last-bit differences. */
static float hsum8(const float *a) {
    float t0 = a[0] + a[4], t1 = a[1] + a[5], t2 = a[2] + a[6], t3 = a[3] + a[7];
    return (t0 + t2) + (t1 + t3);
}

static float dot_legacy(qvl_dtype w, const uint8_t *wr, const uint8_t *ar, int64_t n) {
    int with_sum = w == DT_Q4_1 || w == DT_Q5_1, ab = with_sum ? 36 : 34;
    float acc[8] = {0}, acc_min = 0;
    int lv[QK];
    for (int64_t b = 0; b < n / QK; b++, ar += ab) {
        float dw, mw;
        wr += unpack_legacy(w, wr, lv, &dw, &mw);
        const int8_t *q = (const int8_t *)ar + (with_sum ? 4 : 2);
        float d = dw * rdf16(ar);
        for (int L = 0; L < 8; L++) {
            int sumi = 0;
            for (int k = 0; k < 4; k++) sumi += lv[4 * L + k] * q[4 * L + k];
            acc[L] = fmaf(d, (float)sumi, acc[L]);
        }
        if (with_sum) acc_min += mw * rdf16(ar + 2);
    }
    return hsum8(acc) + acc_min;
}

/* ---- K-quants ------------------------------------------------------------ */

static void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static float dot_q45_k(int five, const uint8_t *wr, const uint8_t *ar, int64_t n) {
    float acc[8] = {0}, acc_m[4] = {0};
    int bb = five ? 176 : 144;
    for (int64_t b = 0; b < n / QKK; b++, wr += bb, ar += 292) {
        float dy;
        memcpy(&dy, ar, 4);
        const int8_t *q8 = (const int8_t *)ar + 4;
        const uint8_t *scales = wr + 4, *qh = wr + 16, *ql = wr + (five ? 48 : 16);
        int sumi[8] = {0}, sc[8], m[8], S[8];
        for (int sub = 0; sub < 8; sub++) {
            scale_min_k4(sub, scales, &sc[sub], &m[sub]);
            int16_t b0, b1;
            memcpy(&b0, ar + 4 + QKK + 4 * sub, 2);
            memcpy(&b1, ar + 4 + QKK + 4 * sub + 2, 2);
            S[sub] = b0 + b1;
            const uint8_t *qq = ql + 32 * (sub / 2);
            int shift = (sub & 1) * 4;
            for (int l = 0; l < 32; l++) {
                int v = (qq[l] >> shift) & 0xF;
                if (five) v += ((qh[l] >> sub) & 1) << 4;
                sumi[l / 4] += sc[sub] * v * q8[32 * sub + l];
            }
        }
        float d = dy * rdf16(wr), dmin = -dy * rdf16(wr + 2);
        for (int L = 0; L < 8; L++) acc[L] = fmaf(d, (float)sumi[L], acc[L]);
        for (int k = 0; k < 4; k++)
            acc_m[k] = fmaf(dmin, (float)(m[2 * k] * S[2 * k] + m[2 * k + 1] * S[2 * k + 1]), acc_m[k]);
    }
    return hsum8(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
}

static float dot_q6_k(const uint8_t *wr, const uint8_t *ar, int64_t n) {
    float acc[8] = {0};
    for (int64_t b = 0; b < n / QKK; b++, wr += 210, ar += 292) {
        float dy;
        memcpy(&dy, ar, 4);
        const int8_t *q8 = (const int8_t *)ar + 4, *sc = (const int8_t *)wr + 192;
        const uint8_t *ql = wr, *qh = wr + 128;
        int sumi[8] = {0};
        for (int half = 0; half < 2; half++) {
            const uint8_t *l4 = ql + 64 * half, *h2 = qh + 32 * half;
            const int8_t *s8 = sc + 8 * half, *y = q8 + 128 * half;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int v1 = ((l4[l] & 0xF) | ((h2[l] >> 0) & 3) << 4) - 32;
                int v2 = ((l4[l + 32] & 0xF) | ((h2[l] >> 2) & 3) << 4) - 32;
                int v3 = ((l4[l] >> 4) | ((h2[l] >> 4) & 3) << 4) - 32;
                int v4 = ((l4[l + 32] >> 4) | ((h2[l] >> 6) & 3) << 4) - 32;
                sumi[l / 4] += s8[is] * v1 * y[l] + s8[is + 2] * v2 * y[l + 32] + s8[is + 4] * v3 * y[l + 64] +
                               s8[is + 6] * v4 * y[l + 96];
            }
        }
        float d = dy * rdf16(wr + 208);
        for (int L = 0; L < 8; L++) acc[L] = fmaf(d, (float)sumi[L], acc[L]);
    }
    return hsum8(acc);
}

float quant_dot_ref(qvl_dtype w, const void *wrow, const void *arow, int64_t n) {
    switch (w) {
    case DT_Q4_K: return dot_q45_k(0, wrow, arow, n);
    case DT_Q5_K: return dot_q45_k(1, wrow, arow, n);
    case DT_Q6_K: return dot_q6_k(wrow, arow, n);
    default: return dot_legacy(w, wrow, arow, n);
    }
}
