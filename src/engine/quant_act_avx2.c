/* quant_act_avx2.c - the activation quantizers of quant_dot.h in AVX2 (also
 * the AVX-512 tables'), bit for bit the scalar ones (test_kernels compares
 * them), and the AVX2 form of dtype.h f16_to_bf16_exact. Every matmul of a
 * decode step quantizes its input once; the scalar code took a few percent
 * of a token.
 *
 * Exactness: the products are the scalar code's
 * single multiplications; _mm256_cvtps_epi32 rounds nearest-even, as
 * nearbyintf; the Q8_K scale takes the sign of the first value of largest
 * magnitude, as the scalar loop's strict '>' does; block sums are integer;
 * packs_epi32 then packs_epi16 saturate to [-128, 127] as the scalar clamp. */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels.h"
#include "engine/quant_dot.h"
#include "engine/quant_simd.h"

static float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

/* 16 int32 (two vectors, in order) to 16 saturated int8 at q. */
static void store_i8x16(int8_t *q, __m256i a, __m256i b) {
    __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);   /* 16 x i16 in order */
    __m128i v = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128((__m128i *)q, v);
}

static int32_t hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1)));
}

/* Q8_K: f32 d, i8 q[256], i16 bsums[16] per 256 values. */
static void quantize_q8_k(const float *x, uint8_t *out, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 256; b++, x += 256, out += 292) {
        __m256 m = _mm256_setzero_ps();
        for (int i = 0; i < 256; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
        float amax = hmax8(m), max = 0, d = 0;
        int8_t *q = (int8_t *)out + 4;
        int16_t sums[16];
        if (amax == 0) {
            memset(q, 0, 256);
            memset(sums, 0, sizeof sums);
        } else {
            for (int i = 0; i < 256; i += 8) {
                int hit = _mm256_movemask_ps(
                    _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), _mm256_set1_ps(amax), _CMP_EQ_OQ));
                if (hit) {
                    max = x[i + __builtin_ctz((unsigned)hit)];
                    break;
                }
            }
            float iscale = -127.0f / max;
            __m256 is = _mm256_set1_ps(iscale);
            for (int g = 0; g < 16; g++) {
                __m256i v0 = _mm256_cvtps_epi32(_mm256_mul_ps(is, _mm256_loadu_ps(x + 16 * g)));
                __m256i v1 = _mm256_cvtps_epi32(_mm256_mul_ps(is, _mm256_loadu_ps(x + 16 * g + 8)));
                v0 = _mm256_min_epi32(v0, _mm256_set1_epi32(127));
                v1 = _mm256_min_epi32(v1, _mm256_set1_epi32(127));
                store_i8x16(q + 16 * g, v0, v1);
                sums[g] = (int16_t)hsum_i32(_mm256_add_epi32(v0, v1));
            }
            d = 1.0f / iscale;
        }
        memcpy(out, &d, 4);
        memcpy(out + 4 + 256, sums, sizeof sums);
    }
}

/* Q8_0: f16 d = amax / 127, i8 q[32] = x * (127 / amax) per 32 values. */
static void quantize_q8_0(const float *x, uint8_t *out, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 34) {
        __m256 v[4], m = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i] = _mm256_loadu_ps(x + 8 * i)));
        float amax = hmax8(m);
        float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m256 is = _mm256_set1_ps(id);
        __m256i q[4];
        for (int i = 0; i < 4; i++) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(is, v[i]));
        store_i8x16((int8_t *)out + 2, q[0], q[1]);
        store_i8x16((int8_t *)out + 18, q[2], q[3]);
        uint16_t dh = f32_to_fp16(d);
        memcpy(out, &dh, 2);
    }
}

void quantize_act_avx2(qvl_dtype a, const float *x, void *out, int64_t n) {
    switch (a) {
    case DT_Q8_K: quantize_q8_k(x, out, n); break;
    case DT_Q8_0: quantize_q8_0(x, out, n); break;
    default: quant_dot_quantize_act(a, x, out, n); break;
    }
}

/* 8 halves per step; the row stops at the first inexact value (the caller
 * then keeps the F16 weights and discards dst). */
bool f16_to_bf16_exact_avx2(const void *src, void *dst, int64_t n) {
    const uint8_t *s = src;
    uint8_t *d = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i f = _mm256_castps_si256(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + 2 * i))));
        if (!_mm256_testz_si256(f, _mm256_set1_epi32(0xffff))) return false;
        __m256i h = _mm256_srli_epi32(f, 16);
        _mm_storeu_si128((__m128i *)(d + 2 * i),
                         _mm_packus_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
    }
    return f16_to_bf16_exact(s + 2 * i, d + 2 * i, n - i);
}
