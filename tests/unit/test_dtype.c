/* test_dtype.c - element types: f16/bf16 conversions, dequantization of
 * hand-built blocks, quantization error bounds, and bit-exactness of our
 * quantizers against llama-quantize's output in the shared GGUF files. */
#include "check.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "engine/dtype.h"
#include "format/gguf.h"
#include "load/test_weights.h"

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* ---------------------------------------------------------------- */

static void test_fp16(void) {
    CHECK(fp16_to_f32(0x3c00) == 1.0f);
    CHECK(fp16_to_f32(0xc000) == -2.0f);
    CHECK(fp16_to_f32(0x7bff) == 65504.0f);
    CHECK(fp16_to_f32(0x0400) == ldexpf(1, -14));        /* smallest normal */
    CHECK(fp16_to_f32(0x0001) == ldexpf(1, -24));        /* smallest subnormal */
    CHECK(fp16_to_f32(0x03ff) == ldexpf(1023, -24));     /* largest subnormal */
    CHECK(fp16_to_f32(0x8001) == -ldexpf(1, -24));
    CHECK(bits(fp16_to_f32(0x8000)) == 0x80000000u);     /* -0 */
    CHECK(isinf(fp16_to_f32(0x7c00)) && fp16_to_f32(0x7c00) > 0);
    CHECK(isinf(fp16_to_f32(0xfc00)) && fp16_to_f32(0xfc00) < 0);
    CHECK(isnan(fp16_to_f32(0x7e00)) && isnan(fp16_to_f32(0x7c01)) && isnan(fp16_to_f32(0xfe00)));

    CHECK_EQ_INT(f32_to_fp16(1.0f), 0x3c00);
    CHECK_EQ_INT(f32_to_fp16(-0.0f), 0x8000);
    CHECK_EQ_INT(f32_to_fp16(65504.0f), 0x7bff);
    CHECK_EQ_INT(f32_to_fp16(65519.0f), 0x7bff);          /* below the halfway point to 65536 */
    CHECK_EQ_INT(f32_to_fp16(65520.0f), 0x7c00);          /* tie, 0x7bff is odd -> inf */
    CHECK_EQ_INT(f32_to_fp16(1e10f), 0x7c00);
    CHECK_EQ_INT(f32_to_fp16(-INFINITY), 0xfc00);
    CHECK_EQ_INT(f32_to_fp16(1.0f + ldexpf(1, -11)), 0x3c00);     /* tie -> even (1.0) */
    CHECK_EQ_INT(f32_to_fp16(1.0f + 3 * ldexpf(1, -11)), 0x3c02); /* tie -> even (up) */
    CHECK_EQ_INT(f32_to_fp16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)), 0x3c01); /* above tie */
    CHECK_EQ_INT(f32_to_fp16(ldexpf(1, -24)), 0x0001);
    CHECK_EQ_INT(f32_to_fp16(ldexpf(1, -25)), 0x0000);            /* subnormal tie -> 0 */
    CHECK_EQ_INT(f32_to_fp16(3 * ldexpf(1, -25)), 0x0002);        /* subnormal tie -> 2 */
    CHECK_EQ_INT(f32_to_fp16(ldexpf(1, -25) * 1.0001f), 0x0001);
    CHECK_EQ_INT(f32_to_fp16(ldexpf(1023.5f, -24)), 0x0400);      /* rounds up into the normals */
    CHECK_EQ_INT(f32_to_fp16(ldexpf(1, -30)), 0x0000);
    CHECK_EQ_INT(f32_to_fp16(-ldexpf(1, -30)), 0x8000);
    uint16_t n = f32_to_fp16(NAN);
    CHECK((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);
    n = f32_to_fp16(from_bits(0x7f800001));   /* signalling NaN with a low payload */
    CHECK((n & 0x7c00) == 0x7c00 && (n & 0x3ff) != 0);

    /* Every half survives the round trip (NaNs stay NaNs). */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_f32((uint16_t)h);
        uint16_t back = f32_to_fp16(f);
        if (isnan(f) ? !((back & 0x7c00) == 0x7c00 && (back & 0x3ff)) : back != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_bf16(void) {
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(bf16_to_f32(0xc040) == -3.0f);
    CHECK(bf16_to_f32(0x0001) == ldexpf(1, -133));   /* subnormal */
    CHECK_EQ_INT(f32_to_bf16(1.0f), 0x3f80);
    CHECK_EQ_INT(f32_to_bf16(from_bits(0x3f808000)), 0x3f80);  /* tie -> even */
    CHECK_EQ_INT(f32_to_bf16(from_bits(0x3f818000)), 0x3f82);  /* tie -> even (up) */
    CHECK_EQ_INT(f32_to_bf16(from_bits(0x3f808001)), 0x3f81);
    CHECK_EQ_INT(f32_to_bf16(from_bits(0x3f807fff)), 0x3f80);
    CHECK_EQ_INT(f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80);  /* FLT_MAX rounds to inf */
    CHECK_EQ_INT(f32_to_bf16(INFINITY), 0x7f80);
    CHECK_EQ_INT(f32_to_bf16(from_bits(0x00008000)), 0x0000);  /* subnormal tie -> even */
    CHECK_EQ_INT(f32_to_bf16(from_bits(0x7f800001)), 0x7fc0);  /* sNaN is quieted, stays NaN */
    CHECK_EQ_INT(f32_to_bf16(from_bits(0xffc12345)), 0xffc1);
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bf16_to_f32((uint16_t)h);
        uint16_t back = f32_to_bf16(f);
        if (isnan(f) ? !isnan(bf16_to_f32(back)) : back != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_table(void) {
    static const struct { int id; int bs, bytes; const char *name; } want[] = {
        {DT_F32, 1, 4, "f32"},      {DT_F16, 1, 2, "F16"},     {DT_BF16, 1, 2, "bf16"},
        {DT_Q4_0, 32, 18, "q4_0"},  {DT_Q4_1, 32, 20, "Q4_1"}, {DT_Q5_0, 32, 22, "q5_0"},
        {DT_Q5_1, 32, 24, "q5_1"},  {DT_Q8_0, 32, 34, "Q8_0"}, {DT_Q8_1, 32, 36, "q8_1"},
        {DT_Q2_K, 256, 84, "q2_k"}, {DT_Q3_K, 256, 110, "Q3_K"}, {DT_Q4_K, 256, 144, "q4_K"},
        {DT_Q5_K, 256, 176, "q5_k"}, {DT_Q6_K, 256, 210, "Q6_k"}, {DT_Q8_K, 256, 292, "q8_k"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const dtype_info *ti = dtype_get((uint32_t)want[i].id);
        CHECK(ti != NULL);
        if (!ti) continue;
        CHECK_EQ_INT(ti->block_size, want[i].bs);
        CHECK_EQ_INT(ti->block_bytes, want[i].bytes);
        CHECK(ti->can_dequantize);
        CHECK_EQ_INT(dtype_from_name(want[i].name), want[i].id);
    }
    CHECK(dtype_get(4) == NULL && dtype_get(16) == NULL && dtype_get(39) == NULL && dtype_get(1u << 31) == NULL);
    CHECK_EQ_INT(dtype_from_name("q4_k_m"), -1);
    CHECK_EQ_INT(dtype_from_name(""), -1);
    CHECK_EQ_INT(dtype_from_name("iq2_xxs"), -1);
    CHECK_EQ_INT(dtype_row_bytes(DT_Q4_K, 512), 288);
    CHECK_EQ_INT(dtype_row_bytes(DT_Q4_K, 100), 0);
    CHECK_EQ_INT(dtype_row_bytes(DT_BF16, 7), 14);
    CHECK_EQ_INT(dtype_row_bytes((qvl_dtype)5, 32), 0);
    int quantizable[] = {DT_F32, DT_F16, DT_BF16, DT_Q8_0, DT_Q4_0, DT_Q5_0, DT_Q4_K, DT_Q6_K, DT_Q8_K};
    for (size_t i = 0; i < sizeof quantizable / sizeof quantizable[0]; i++)
        CHECK(dtype_get((uint32_t)quantizable[i])->can_quantize);
}

/* ---------------------------------------------------------------- */
/* Hand-built blocks. Expected values come from the format definitions
 * (spec section 9.3), written per element rather than per loop, plus a
 * few values worked out by hand. */

static int check_block(qvl_dtype t, const uint8_t *blk, const float *want, int n) {
    float got[256];
    dequantize_row(t, blk, got, n);
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) {
            if (bad++ < 3)
                fprintf(stderr, "%s[%d]: got %g want %g\n", dtype_get(t)->name, i, got[i], want[i]);
        }
    CHECK_MSG(bad == 0, "%s: %d wrong values", dtype_get(t)->name, bad);
    return bad;
}

static void test_legacy_blocks(void) {
    uint8_t b[64];
    float want[32], got[32];

    /* Q4_0: d = 0.5; byte j = j | (15-j) << 4 */
    put16(b, 0x3800);
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | (15 - j) << 4);
    for (int j = 0; j < 16; j++) {
        want[j] = (float)(j - 8) * 0.5f;
        want[j + 16] = (float)(7 - j) * 0.5f;
    }
    check_block(DT_Q4_0, b, want, 32);
    dequantize_row(DT_Q4_0, b, got, 32);
    CHECK(got[0] == -4.0f && got[15] == 3.5f && got[16] == 3.5f && got[31] == -4.0f);

    /* Q4_1: d = 0.5, m = -1 */
    put16(b, 0x3800);
    put16(b + 2, 0xbc00);
    for (int j = 0; j < 16; j++) b[4 + j] = (uint8_t)(j | (15 - j) << 4);
    for (int j = 0; j < 16; j++) {
        want[j] = (float)j * 0.5f - 1;
        want[j + 16] = (float)(15 - j) * 0.5f - 1;
    }
    check_block(DT_Q4_1, b, want, 32);

    /* Q5_0: d = 0.25, qh = 0xA5A5F00F (LE); fifth bit of weight i = bit i */
    uint32_t qh = 0xA5A5F00Fu;
    put16(b, 0x3400);
    memcpy(b + 2, &qh, 4);
    for (int j = 0; j < 16; j++) b[6 + j] = (uint8_t)(j | (15 - j) << 4);
    for (int i = 0; i < 32; i++) {
        int lo = i < 16 ? i : 15 - (i - 16);
        int q = lo | (int)((qh >> i) & 1) << 4;
        want[i] = (float)(q - 16) * 0.25f;
    }
    check_block(DT_Q5_0, b, want, 32);
    dequantize_row(DT_Q5_0, b, got, 32);
    /* by hand: w0 = (0|16)-16 = 0; w4: bit 4 clear -> (4-16)/4 = -3; w16: bit 16 set -> (15|16)-16 = 15 -> 3.75 */
    CHECK(got[0] == 0.0f && got[4] == -3.0f && got[16] == 3.75f);

    /* Q5_1: d = 0.25, m = 2, same bits */
    put16(b, 0x3400);
    put16(b + 2, 0x4000);
    memcpy(b + 4, &qh, 4);
    for (int j = 0; j < 16; j++) b[8 + j] = (uint8_t)(j | (15 - j) << 4);
    for (int i = 0; i < 32; i++) {
        int lo = i < 16 ? i : 15 - (i - 16);
        want[i] = (float)(lo | (int)((qh >> i) & 1) << 4) * 0.25f + 2;
    }
    check_block(DT_Q5_1, b, want, 32);

    /* Q8_0: d = 0.125, q = 8j - 128 -> j - 16 */
    put16(b, 0x3000);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)(8 * j - 128);
    for (int j = 0; j < 32; j++) want[j] = (float)(j - 16);
    check_block(DT_Q8_0, b, want, 32);

    /* Q8_1: as Q8_0 after a 4-byte header (d, s) */
    put16(b, 0x3000);
    put16(b + 2, 0x1234);
    for (int j = 0; j < 32; j++) b[4 + j] = (uint8_t)(int8_t)(8 * j - 128);
    check_block(DT_Q8_1, b, want, 32);
}

/* Packs eight 6-bit scales and mins the way Q4_K/Q5_K store them. */
static void pack_k4(uint8_t s[12], const int sc[8], const int m[8]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | (m[j + 4] & 0xF) << 4);
    }
}

static void test_kquant_blocks(void) {
    uint8_t b[292];
    float want[256], got[256];
    static const int sc[8] = {1, 2, 3, 63, 5, 40, 17, 33}, mn[8] = {0, 4, 62, 7, 8, 50, 1, 20};

    /* Q4_K: d = 1, dmin = 0.5; sub-block s uses byte 32*(s/2)+l, low
     * nibble for even s, high for odd s. */
    put16(b, 0x3c00);
    put16(b + 2, 0x3800);
    pack_k4(b + 4, sc, mn);
    for (int l = 0; l < 128; l++) b[16 + l] = (uint8_t)(l * 7);
    for (int i = 0; i < 256; i++) {
        int s = i / 32, l = i % 32;
        uint8_t byte = b[16 + 32 * (s / 2) + l];
        int q = s % 2 ? byte >> 4 : byte & 0xF;
        want[i] = 1.0f * (float)sc[s] * (float)q - 0.5f * (float)mn[s];
    }
    check_block(DT_Q4_K, b, want, 256);
    dequantize_row(DT_Q4_K, b, got, 256);
    /* by hand: w1 = 1*1*7 - 0 = 7; w96 = byte 32 (224 = 0xE0) high nibble 14: 63*14 - 0.5*7 = 878.5;
     * w160 = byte 64 (448 & 255 = 0xC0) high 12: 40*12 - 0.5*50 = 455 */
    CHECK(got[1] == 7.0f && got[96] == 878.5f && got[160] == 455.0f);

    /* Q5_K: as Q4_K plus fifth bit (qh[l] >> s) & 1 */
    put16(b, 0x3c00);
    put16(b + 2, 0x3800);
    pack_k4(b + 4, sc, mn);
    for (int l = 0; l < 32; l++) b[16 + l] = (uint8_t)(l * 37 + 11);
    for (int l = 0; l < 128; l++) b[48 + l] = (uint8_t)(l * 7);
    for (int i = 0; i < 256; i++) {
        int s = i / 32, l = i % 32;
        uint8_t byte = b[48 + 32 * (s / 2) + l];
        int q = (s % 2 ? byte >> 4 : byte & 0xF) + ((b[16 + l] >> s) & 1) * 16;
        want[i] = (float)sc[s] * (float)q - 0.5f * (float)mn[s];
    }
    check_block(DT_Q5_K, b, want, 256);

    /* Q6_K: ql[128], qh[64], int8 scales[16], d = 0.125 last */
    static const int8_t s6[16] = {-128, 127, -1, 5, 9, -17, 33, 64, 1, 2, -3, -4, 100, -100, 7, 8};
    for (int k = 0; k < 128; k++) b[k] = (uint8_t)(k * 13 + 5);
    for (int k = 0; k < 64; k++) b[128 + k] = (uint8_t)(k * 29 + 3);
    memcpy(b + 192, s6, 16);
    put16(b + 208, 0x3000);
    for (int i = 0; i < 256; i++) {
        int h = i / 128, r = i % 128, k = r / 32, l = r % 32;
        uint8_t lbyte = b[64 * h + l + 32 * (k & 1)];
        int nib = k < 2 ? lbyte & 0xF : lbyte >> 4;
        int hb = (b[128 + 32 * h + l] >> (2 * k)) & 3;
        want[i] = 0.125f * (float)s6[8 * h + l / 16 + 2 * k] * (float)((nib | hb << 4) - 32);
    }
    check_block(DT_Q6_K, b, want, 256);
    dequantize_row(DT_Q6_K, b, got, 256);
    /* by hand: w0: ql[0]=5, qh[0]=3 -> bits 0-1 = 3 -> q = 5|48 = 53-32 = 21; 0.125*-128*21 = -336 */
    CHECK(got[0] == -336.0f);

    /* Q2_K: scales[16] (scale | min << 4), qs[64], d = 0.5, dmin = 0.25 */
    for (int k = 0; k < 16; k++) b[k] = (uint8_t)(((k * 5) & 0xF) | ((k * 3) & 0xF) << 4);
    for (int k = 0; k < 64; k++) b[16 + k] = (uint8_t)(k * 57 + 1);
    put16(b + 80, 0x3800);
    put16(b + 82, 0x3400);
    for (int i = 0; i < 256; i++) {
        int h = i / 128, r = i % 128, p = r / 32, w = r % 32;
        int q = (b[16 + 32 * h + w] >> (2 * p)) & 3;
        uint8_t s = b[8 * h + 2 * p + w / 16];
        want[i] = 0.5f * (float)(s & 0xF) * (float)q - 0.25f * (float)(s >> 4);
    }
    check_block(DT_Q2_K, b, want, 256);

    /* Q3_K: hmask[32], qs[64], 16 6-bit scales (offset 32) in 12 bytes, d = 0.5 */
    static const int s3[16] = {0, 63, 32, 31, 1, 50, 17, 40, 33, 2, 60, 10, 45, 20, 5, 35};
    for (int k = 0; k < 32; k++) b[k] = (uint8_t)(k * 71 + 9);
    for (int k = 0; k < 64; k++) b[32 + k] = (uint8_t)(k * 19 + 7);
    memset(b + 96, 0, 12);
    for (int j = 0; j < 16; j++) {
        b[96 + j % 8] |= (uint8_t)((s3[j] & 0xF) << (j < 8 ? 0 : 4));
        b[96 + 8 + j % 4] |= (uint8_t)((s3[j] >> 4) << (2 * (j / 4)));
    }
    put16(b + 108, 0x3800);
    for (int i = 0; i < 256; i++) {
        int h = i / 128, r = i % 128, p = r / 32, w = r % 32;
        int q = (b[32 + 32 * h + w] >> (2 * p)) & 3;
        int high = (b[w] >> (4 * h + p)) & 1;
        want[i] = 0.5f * (float)(s3[8 * h + 2 * p + w / 16] - 32) * (float)(q - (high ? 0 : 4));
    }
    check_block(DT_Q3_K, b, want, 256);

    /* Q8_K: f32 d = 0.25, qs = j - 128 */
    float d = 0.25f;
    memcpy(b, &d, 4);
    for (int j = 0; j < 256; j++) b[4 + j] = (uint8_t)(int8_t)(j - 128);
    for (int j = 0; j < 256; j++) want[j] = (float)(j - 128) * 0.25f;
    check_block(DT_Q8_K, b, want, 256);
}

/* ---------------------------------------------------------------- */
/* Quantization quality on Gaussian rows */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double uniform01(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static float gaussian(void) {
    return (float)(sqrt(-2 * log(uniform01())) * cos(6.283185307179586 * uniform01()));
}

static void test_quant_error(void) {
    static const struct { int type; double max_rel_rms; } cases[] = {
        {DT_F32, 0}, {DT_F16, 5e-4}, {DT_BF16, 4e-3}, {DT_Q8_0, 6e-3}, {DT_Q8_1, 6e-3},
        {DT_Q4_0, 0.12}, {DT_Q4_1, 0.11}, {DT_Q5_0, 0.06}, {DT_Q5_1, 0.055},
        {DT_Q4_K, 0.1}, {DT_Q5_K, 0.05}, {DT_Q6_K, 0.025}, {DT_Q8_K, 8e-3},
    };
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 4 + 64];
    for (int i = 0; i < N; i++) x[i] = gaussian();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        qvl_dtype t = (qvl_dtype)cases[c].type;
        memset(q, 0xAB, sizeof q);
        quantize_row(t, x, q, N);
        dequantize_row(t, q, y, N);
        double err = 0, sig = 0;
        for (int i = 0; i < N; i++) {
            err += (double)(y[i] - x[i]) * (y[i] - x[i]);
            sig += (double)x[i] * x[i];
        }
        double rel = sqrt(err / sig);
        fprintf(stderr, "  %-5s relative RMS error %.5f (bound %.4f)\n", dtype_get(t)->name, rel, cases[c].max_rel_rms);
        CHECK_MSG(rel <= cases[c].max_rel_rms, "%s: %g", dtype_get(t)->name, rel);
        /* Only the row's bytes are written. */
        CHECK(q[dtype_row_bytes(t, N)] == 0xAB);
    }
    /* Zero rows quantize to zeros; a Q8_0 block of multiples of d is exact. */
    static const int all[] = {DT_Q8_0, DT_Q4_0, DT_Q5_0, DT_Q4_1, DT_Q5_1, DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_Q8_K};
    memset(x, 0, 256 * sizeof x[0]);
    for (size_t c = 0; c < sizeof all / sizeof all[0]; c++) {
        quantize_row((qvl_dtype)all[c], x, q, 256);
        dequantize_row((qvl_dtype)all[c], q, y, 256);
        int nonzero = 0;
        for (int i = 0; i < 256; i++) nonzero += y[i] != 0;
        CHECK_MSG(nonzero == 0, "%s", dtype_get((uint32_t)all[c])->name);
    }
    for (int i = 0; i < 32; i++) x[i] = (float)((i * 37) % 255 - 127) / 64.0f;
    x[5] = 127.0f / 64;
    quantize_row(DT_Q8_0, x, q, 32);
    dequantize_row(DT_Q8_0, q, y, 32);
    CHECK(memcmp(x, y, 32 * sizeof x[0]) == 0);
}

/* ---------------------------------------------------------------- */
/* Bit-exactness against llama-quantize */

/* GGUF name -> Hugging Face name for the text tensors we re-quantize. */
static int hf_name(const char *gguf, char *out, size_t cap) {
    static const struct { const char *g, *hf; } map[] = {
        {"attn_q", "self_attn.q_proj"}, {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"},
        {"attn_output", "self_attn.o_proj"}, {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"},
        {"ffn_down", "mlp.down_proj"},
    };
    if (!strcmp(gguf, "token_embd.weight")) {
        snprintf(out, cap, "model.language_model.embed_tokens.weight");
        return 0;
    }
    int layer, n = 0;
    char part[32];
    if (sscanf(gguf, "blk.%d.%31[a-z_].weight%n", &layer, part, &n) != 2 || gguf[n]) return -1;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(part, map[i].g)) {
            snprintf(out, cap, "model.language_model.layers.%d.%s.weight", layer, map[i].hf);
            return 0;
        }
    return -1;
}

typedef struct match_stats {
    long blocks, exact;
    double err2, sig2;
} match_stats;

/* Re-quantizes the formula values of the first max_rows rows of t and
 * compares with the file's bytes block by block. */
static void compare_tensor(const qvl_tensor *t, int64_t max_rows, match_stats *st) {
    char name[128];
    if (hf_name(t->name, name, sizeof name) < 0) return;
    const dtype_info *ti = dtype_get(t->type);
    int64_t shape[2] = {t->ne[1], t->ne[0]}, rows = t->ne[1] < max_rows ? t->ne[1] : max_rows;
    size_t row_bytes = dtype_row_bytes(t->type, t->ne[0]);
    float x[1024], y[1024];
    uint8_t q[1024];
    if (t->ne[0] > 1024) return;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *file_row = (const uint8_t *)t->data + r * row_bytes;
        test_weights_fill(name, shape, 2, r * t->ne[0], t->ne[0], x);
        quantize_row(t->type, x, q, t->ne[0]);
        for (int64_t b = 0; b < t->ne[0] / ti->block_size; b++) {
            st->blocks++;
            st->exact += !memcmp(q + b * ti->block_bytes, file_row + b * ti->block_bytes, (size_t)ti->block_bytes);
        }
        dequantize_row(t->type, file_row, y, t->ne[0]);
        for (int64_t i = 0; i < t->ne[0]; i++) {
            st->err2 += (double)(y[i] - x[i]) * (y[i] - x[i]);
            st->sig2 += (double)x[i] * x[i];
        }
    }
}

static void test_against_llama_quantize(void) {
    char path[512];
    gguf_file g;
    qvl_error err = {0};

    snprintf(path, sizeof path, "%s/gguf/tiny-Q8_0.gguf", testdata_dir());
    CHECK_MSG(gguf_open(&g, path, &err) == 0, "%s", err.msg);
    if (g.map.data) {
        const qvl_tensor *emb = gguf_find_tensor(&g, "token_embd.weight");
        CHECK(emb && emb->type == DT_Q8_0 && emb->ne[0] == 128 && emb->ne[1] == 151936);
        match_stats st = {0};
        if (emb) compare_tensor(emb, 2000, &st);
        fprintf(stderr, "  Q8_0 token_embd: %ld/%ld blocks bit-exact\n", st.exact, st.blocks);
        CHECK(st.blocks == 2000 * 4 && st.exact == st.blocks);
        match_stats all = {0};
        for (size_t i = 0; i < g.n_tensors; i++)
            if (g.tensors[i].type == DT_Q8_0 && strcmp(g.tensors[i].name, "token_embd.weight"))
                compare_tensor(&g.tensors[i], 1 << 30, &all);
        fprintf(stderr, "  Q8_0 layer weights: %ld/%ld blocks bit-exact\n", all.exact, all.blocks);
        CHECK(all.blocks > 0 && all.exact == all.blocks);
        gguf_close(&g);
    }

    snprintf(path, sizeof path, "%s/gguf/tiny-Q4_K_M.gguf", testdata_dir());
    CHECK_MSG(gguf_open(&g, path, &err) == 0, "%s", err.msg);
    if (!g.map.data) return;
    static const struct { int type; double max_rel_rms; } types[] = {
        {DT_Q8_0, 5e-3}, {DT_Q5_0, 0.06}, {DT_Q4_K, 0.1}, {DT_Q6_K, 0.025},
    };
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        match_stats st = {0};
        for (size_t i = 0; i < g.n_tensors; i++)
            if ((int)g.tensors[i].type == types[k].type) compare_tensor(&g.tensors[i], 2000, &st);
        double rel = st.sig2 > 0 ? sqrt(st.err2 / st.sig2) : 1;
        fprintf(stderr, "  Q4_K_M file, %s tensors: %ld/%ld blocks bit-exact, file vs formula rel RMS %.4f\n",
                dtype_get((uint32_t)types[k].type)->name, st.exact, st.blocks, rel);
        CHECK(st.blocks > 0);
        CHECK(rel < types[k].max_rel_rms);
        CHECK_MSG(st.exact == st.blocks, "%s: %ld of %ld blocks differ", dtype_get((uint32_t)types[k].type)->name,
                  st.blocks - st.exact, st.blocks);
    }
    gguf_close(&g);
}

int main(void) {
    test_fp16();
    test_bf16();
    test_table();
    test_legacy_blocks();
    test_kquant_blocks();
    test_quant_error();
    test_against_llama_quantize();
    return check_summary();
}
