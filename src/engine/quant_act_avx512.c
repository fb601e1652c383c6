/* quant_act_avx512.c - the activation quantizers of quant_dot.h in AVX-512,
 * bit for bit the scalar ones (test_kernels compares them): every matmul of
 * a decode step quantizes its input once, which the scalar code did at
 * ~2 ns per value (a few percent of a token).
 *
 * Exactness: the products are the scalar code's single multiplications;
 * _mm512_cvtps_epi32 rounds in the current mode, nearest-even, as
 * nearbyintf; the Q8_K scale takes the sign of the first value of largest
 * magnitude, as the scalar loop's strict '>' does; block sums are integer. */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels.h"
#include "engine/quant_dot.h"

/* Q8_K: f32 d, i8 q[256], i16 bsums[16] per 256 values. */
static void quantize_q8_k(const float *x, uint8_t *out, int64_t n) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 256; b++, x += 256, out += 292) {
        __m512 m = _mm512_setzero_ps();
        for (int i = 0; i < 256; i += 16) m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(x + i)));
        float amax = _mm512_reduce_max_ps(m), max = 0, d = 0;
        int8_t *q = (int8_t *)out + 4;
        int16_t sums[16];
        if (amax == 0) {
            memset(q, 0, 256);
            memset(sums, 0, sizeof sums);
        } else {
            for (int i = 0; i < 256; i += 16) {
                __mmask16 hit = _mm512_cmp_ps_mask(_mm512_andnot_ps(sign, _mm512_loadu_ps(x + i)),
                                                   _mm512_set1_ps(amax), _CMP_EQ_OQ);
                if (hit) {
                    max = x[i + __builtin_ctz(hit)];
                    break;
                }
            }
            float iscale = -127.0f / max;
            __m512 is = _mm512_set1_ps(iscale);
            for (int g = 0; g < 16; g++) {
                __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(x + 16 * g)));
                v = _mm512_min_epi32(v, _mm512_set1_epi32(127));
                _mm_storeu_si128((__m128i *)(q + 16 * g), _mm512_cvtsepi32_epi8(v));
                sums[g] = (int16_t)_mm512_reduce_add_epi32(v);
            }
            d = 1.0f / iscale;
        }
        memcpy(out, &d, 4);
        memcpy(out + 4 + 256, sums, sizeof sums);
    }
}

/* Q8_0: f16 d = amax / 127, i8 q[32] = x * (127 / amax) per 32 values. */
static void quantize_q8_0(const float *x, uint8_t *out, int64_t n) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int64_t b = 0; b < n / 32; b++, x += 32, out += 34) {
        __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
        float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m512 is = _mm512_set1_ps(id);
        _mm_storeu_si128((__m128i *)(out + 2), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(is, x0))));
        _mm_storeu_si128((__m128i *)(out + 18), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(is, x1))));
        uint16_t dh = f32_to_fp16(d);
        memcpy(out, &dh, 2);
    }
}

void quantize_act_avx512(qvl_dtype a, const float *x, void *out, int64_t n) {
    switch (a) {
    case DT_Q8_K: quantize_q8_k(x, out, n); break;
    case DT_Q8_0: quantize_q8_0(x, out, n); break;
    default: quant_dot_quantize_act(a, x, out, n); break;
    }
}
