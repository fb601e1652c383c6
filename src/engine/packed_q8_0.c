/* packed_q8_0.c - the packed layout of Q8_0 matrices and their activation
 * rows (see packed.h); the kernel is packed_q8_0_avx512.c.
 *
 * A group of PACK_ROWS = 16 rows of nb = cols / 32 blocks is nb packed
 * blocks of 544 bytes back to back; packed block b is
 *
 *   bytes   0..31   the 16 rows' block scales d (f16), row order
 *   bytes  32..543  8 chunks of 64 bytes: byte 4r + k of chunk c is level
 *                   4c + k of row r, stored as w + 128 (w xor 0x80, unsigned)
 *
 * so a chunk is one VPDPBUSD operand giving 16 rows' sums of 4 levels. That
 * is the GGUF rows' 34 bytes per 32 weights, and one sequential stream:
 * decode from DRAM measured ~30% slower with the scales in a separate array
 * (a second stream). Every other block's chunks straddle cache lines (544
 * is 8.5 lines); from L1/L2 that measured as fast as the 64-aligned
 * separate-array layout, so no padding.
 *
 * An activation row is nb blocks of 40 bytes: f32 d (quant_dot_quantize_act's
 * f16 scale, widened), i32 -128 * (sum of the 32 levels), then the 32 int8
 * levels (quant_dot_quantize_act's). The second field starts the integer
 * accumulator: sum (w + 128) y - 128 sum y = sum w y, exactly.
 */
#include <string.h>

#include "engine/packed.h"
#include "engine/packed_layout.h"

#define BLOCK_BYTES 34           /* GGUF Q8_0 block: f16 d, i8 q[32] */
#define QUANT_CHUNK 64           /* blocks quantized per call into the stack buffer */

void packed_q8_0_pack_group(const void *src, size_t src_stride, void *dst, int64_t cols) {
    int64_t nb = cols / Q80_QK;
    for (int r = 0; r < PACK_ROWS; r++) {
        const uint8_t *row = (const uint8_t *)src + (size_t)r * src_stride;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = row + b * BLOCK_BYTES;
            uint8_t *out = (uint8_t *)dst + b * Q80_PBLOCK_BYTES;
            memcpy(out + 2 * r, blk, 2);
            out += Q80_SCALE_BYTES + 4 * r;
            for (int j = 0; j < Q80_QK; j++) out[(j / 4) * 64 + j % 4] = blk[2 + j] ^ 0x80;
        }
    }
}

void packed_q8_0_get_row(const void *group, int r, float *out, int64_t cols) {
    int64_t nb = cols / Q80_QK;
    for (int64_t b = 0; b < nb; b++) {
        uint16_t h;
        const uint8_t *in = (const uint8_t *)group + b * Q80_PBLOCK_BYTES;
        memcpy(&h, in + 2 * r, 2);
        float d = fp16_to_f32(h);
        in += Q80_SCALE_BYTES + 4 * r;
        for (int j = 0; j < Q80_QK; j++) out[b * Q80_QK + j] = (float)((int)in[(j / 4) * 64 + j % 4] - 128) * d;
    }
}

void packed_q8_0_quantize_act(const float *x, void *out, int64_t cols, packed_quantizer q) {
    uint8_t q8[QUANT_CHUNK * BLOCK_BYTES], *o = out;
    for (int64_t b0 = 0; b0 < cols / Q80_QK; b0 += QUANT_CHUNK) {
        int64_t n = cols / Q80_QK - b0 < QUANT_CHUNK ? cols / Q80_QK - b0 : QUANT_CHUNK;
        q(DT_Q8_0, x + b0 * Q80_QK, q8, n * Q80_QK);
        for (int64_t b = 0; b < n; b++, o += Q80_ACT_BYTES) {
            const uint8_t *blk = q8 + b * BLOCK_BYTES;
            uint16_t h;
            memcpy(&h, blk, 2);
            float d = fp16_to_f32(h);
            int32_t sum = 0;
            for (int j = 0; j < Q80_QK; j++) sum += (int8_t)blk[2 + j];
            sum *= -128;
            memcpy(o, &d, 4);
            memcpy(o + 4, &sum, 4);
            memcpy(o + 8, blk + 2, Q80_QK);
        }
    }
}
