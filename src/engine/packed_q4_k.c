/* packed_q4_k.c - the packed layout of Q4_K matrices (see packed.h), packing
 * and dequantization; the kernel is packed_q4_k_avx512.c.
 *
 * A Q4_K row is super-blocks of 256 weights (144 bytes): f16 d, f16 dmin,
 * 12 bytes holding eight 6-bit scales sc_j and mins m_j, 128 bytes of
 * nibbles; weight i of sub-block j (32 weights) is d*sc_j*q - dmin*m_j.
 *
 * A packed group of PACK_ROWS = 16 rows is cols/256 super-block records of
 * Q4K_REC_BYTES = 2368 bytes (a multiple of 64, so every part below stays
 * 64-byte aligned when the group is), r being the row in the group:
 *   off    0: u16 d[16]         the rows' f16 d
 *   off   32: u16 dmin[16]      the rows' f16 dmin
 *   off   64: u8  sc[8][16]     sc[j][r], decoded 6-bit scales
 *   off  192: u8  m[8][16]      m[j][r], decoded 6-bit mins
 *   off  320: u8  q[8][4][64]   levels of sub-block j, chunk c (of 8 levels):
 *             byte 4r+b of the chunk holds level 8c+b of row r (of the
 *             sub-block) in its low nibble and level 8c+4+b in its high one.
 * So `and 0x0F` of a chunk is 16 rows x 4 consecutive levels, the operand
 * VPDPBUSD wants against 4 broadcast activation bytes, and `>> 4` is the
 * next 4. The scales and mins are unpacked here once instead of per call;
 * the record is 64 bytes (3%) bigger than the 16 rows it holds.
 */
#include <string.h>

#include "engine/packed.h"
#include "engine/packed_layout.h"

/* Sub-block j's 6-bit scale and min from a row's 12 packed bytes. */
static void scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | (s[j - 4] >> 6) << 4);
        *m = (uint8_t)((s[j + 4] >> 4) | (s[j] >> 6) << 4);
    }
}

/* Writes every byte of each record (no clearing needed): a model load
 * packs a gigabyte through here. */
void packed_q4_k_pack_group(const void *src, size_t src_stride, void *dst, int64_t cols) {
    uint8_t *out = dst;
    for (int64_t b = 0; b < cols / 256; b++, out += Q4K_REC_BYTES) {
        for (int r = 0; r < PACK_ROWS; r++) {
            const uint8_t *blk = (const uint8_t *)src + r * src_stride + b * 144, *qs = blk + 16;
            memcpy(out + 2 * r, blk, 2);
            memcpy(out + Q4K_OFF_DMIN + 2 * r, blk + 2, 2);
            for (int j = 0; j < 8; j++) scale_min(blk + 4, j, &out[Q4K_OFF_SC + 16 * j + r], &out[Q4K_OFF_M + 16 * j + r]);
            /* the GGUF order: sub-blocks 2g and 2g+1 are the low and high
             * nibbles of the same 32 bytes qs[32g..] */
            for (int j = 0; j < 8; j++) {
                const uint8_t *in = qs + 32 * (j / 2);
                int sh = 4 * (j & 1);
                for (int c = 0; c < 4; c++)
                    for (int k = 0; k < 4; k++)
                        out[Q4K_OFF_Q + 256 * j + 64 * c + 4 * r + k] =
                            (uint8_t)(((in[8 * c + k] >> sh) & 0xF) | ((in[8 * c + 4 + k] >> sh) & 0xF) << 4);
            }
        }
    }
}

void packed_q4_k_get_row(const void *group, int r, float *out, int64_t cols) {
    const uint8_t *p = group;
    for (int64_t b = 0; b < cols / 256; b++, p += Q4K_REC_BYTES) {
        uint16_t dh, mh;
        memcpy(&dh, p + 2 * r, 2);
        memcpy(&mh, p + Q4K_OFF_DMIN + 2 * r, 2);
        float d = fp16_to_f32(dh), dmin = fp16_to_f32(mh);
        for (int j = 0; j < 8; j++) {
            /* the same expression as dequantize_row, so the same bits */
            float dl = d * (float)p[Q4K_OFF_SC + 16 * j + r], ml = dmin * (float)p[Q4K_OFF_M + 16 * j + r];
            for (int l = 0; l < 32; l++) {
                int k = l % 8, q = (p[Q4K_OFF_Q + 256 * j + 64 * (l / 8) + 4 * r + k % 4] >> (k / 4 * 4)) & 0xF;
                *out++ = dl * (float)q - ml;
            }
        }
    }
}
