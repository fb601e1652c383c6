/* packed_q6_k.c - the packed layout of Q6_K matrices (packed.h), plain C:
 * packing, and dequantization of one row back out of a group.
 *
 * A Q6_K row is super-blocks of 256 levels q in 0..63 (weight d * sc * (q -
 * 32)), with an int8 scale sc per 16 levels ("block" k = level / 16) and an
 * f16 d per super-block. A packed group (PACK_ROWS = 16 rows) is its
 * cols / 256 super-blocks back to back, each 3392 bytes (212 per row: Q6_K's
 * 210 plus 32 bytes of padding so that every level vector is 64-byte aligned
 * when the group is). The kernel reads a record in address order, which
 * keeps the hardware prefetcher streaming: with the scales behind the
 * levels (the first layout) one core streamed 19 GB/s, now 30. Layout:
 *
 *      0  scales  8 block pairs x 32 bytes: byte 2r + e = sc of block 2p + e
 *                 of row r (so a sign-extension to int16 gives, in 32-bit
 *                 lane r, the pair of row r's scales: one VPDPWSSD term)
 *    256  d       16 f16, row r at index r
 *    288  zero padding
 *    320  levels  8 block pairs x 384 bytes (below)
 *
 * Block pair p (blocks 2p and 2p + 1, levels 32p .. 32p + 31 of the
 * super-block) is six 64-byte vectors Ha Hb L0 L1 L2 L3. The kernel turns them
 * into eight "level vectors", each holding 4 consecutive levels of each row
 * (byte 4r + b = row r, level 4v + b of the block) for VPDPBUSD: E0..E3 for
 * the even block, as q, and O0..O3 for the odd block, as 4q (both fit a
 * byte; the kernel multiplies the even block's sum by 4 instead, so that
 * each is one bit-select of a nibble vector with a masked high-bit vector):
 *
 *   Lv byte i:   low nibble  = q & 15 of E_v byte i
 *                high nibble = q >> 2 of O_v byte i
 *   Ha, Hb byte i (Ha serves v = 0, 1, Hb v = 2, 3):
 *     bits 4-5 = q >> 4 of E_v byte i      (v even; H & 0x3C puts it in place)
 *     bits 2-3 = q & 3  of O_v byte i      (v even)
 *     bits 0-1 = q >> 4 of E_v+1 byte i    (rotating H's 32-bit lanes left by
 *     bits 6-7 = q & 3  of O_v+1 byte i+1   4 moves these to bits 4-5 and 2-3
 *                (i + 1 within the same    of byte i and i + 1)
 *                 4-byte lane, cyclic)
 *
 * so E_v = (Lv & 0x0F) | (H' & 0x30) and O_v = (Lv & 0xF0) | (H' & 0x0C) with
 * H' = H & 0x3C (v even) or rotl32(H, 4) & 0x3C (v odd).
 */
#include "engine/packed.h"
#include "engine/packed_layout.h"

#include <string.h>

/* The 256 levels (0..63) of one Q6_K super-block, in order. */
static void q6_levels(const uint8_t *b, uint8_t *q) {
    const uint8_t *ql = b, *qh = b + 128;
    for (int half = 0; half < 2; half++, ql += 64, qh += 32, q += 128)
        for (int l = 0; l < 32; l++) {
            q[l] = (uint8_t)((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4);
            q[l + 32] = (uint8_t)((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4);
            q[l + 64] = (uint8_t)((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
            q[l + 96] = (uint8_t)((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4);
        }
}

void packed_q6_k_pack_group(const void *src, size_t src_stride, void *dst, int64_t cols) {
    int64_t nsb = cols / 256;
    memset(dst, 0, (size_t)nsb * Q6K_REC_BYTES);
    for (int r = 0; r < PACK_ROWS; r++) {
        const uint8_t *row = (const uint8_t *)src + (size_t)r * src_stride;
        for (int64_t s = 0; s < nsb; s++) {
            const uint8_t *b = row + s * 210;
            uint8_t q[256], *sb = (uint8_t *)dst + s * Q6K_REC_BYTES;
            q6_levels(b, q);
            memcpy(sb + Q6K_OFF_D + 2 * r, b + 208, 2);
            for (int p = 0; p < 8; p++) {
                uint8_t *pv = sb + Q6K_OFF_LEVELS + p * 384;
                sb[Q6K_OFF_SCALES + p * 32 + 2 * r] = b[192 + 2 * p];
                sb[Q6K_OFF_SCALES + p * 32 + 2 * r + 1] = b[192 + 2 * p + 1];
                for (int v = 0; v < 4; v++) {
                    uint8_t *L = pv + Q6K_PAIR_L + 64 * v, *H = pv + 64 * (v / 2);
                    for (int b4 = 0; b4 < 4; b4++) {
                        int i = 4 * r + b4, iprev = 4 * r + (b4 + 3) % 4;
                        int qe = q[32 * p + 4 * v + b4], qo = q[32 * p + 16 + 4 * v + b4];
                        L[i] = (uint8_t)((qe & 15) | (qo >> 2) << 4);
                        if (v % 2 == 0) {
                            H[i] |= (uint8_t)((qe >> 4) << 4 | (qo & 3) << 2);
                        } else {
                            H[i] |= (uint8_t)(qe >> 4);
                            H[iprev] |= (uint8_t)((qo & 3) << 6);
                        }
                    }
                }
            }
        }
    }
}

void packed_q6_k_get_row(const void *group, int r, float *out, int64_t cols) {
    int64_t nsb = cols / 256;
    for (int64_t s = 0; s < nsb; s++, out += 256) {
        const uint8_t *sb = (const uint8_t *)group + s * Q6K_REC_BYTES;
        uint16_t dh;
        memcpy(&dh, sb + Q6K_OFF_D + 2 * r, 2);
        float d = fp16_to_f32(dh);
        for (int p = 0; p < 8; p++) {
            const uint8_t *pv = sb + Q6K_OFF_LEVELS + p * 384;
            float se = (float)(int8_t)sb[Q6K_OFF_SCALES + p * 32 + 2 * r];
            float so = (float)(int8_t)sb[Q6K_OFF_SCALES + p * 32 + 2 * r + 1];
            for (int v = 0; v < 4; v++) {
                const uint8_t *L = pv + Q6K_PAIR_L + 64 * v, *H = pv + 64 * (v / 2);
                for (int b4 = 0; b4 < 4; b4++) {
                    int i = 4 * r + b4, iprev = 4 * r + (b4 + 3) % 4;
                    int he = v % 2 == 0 ? H[i] >> 4 & 3 : H[i] & 3;
                    int ho = v % 2 == 0 ? H[i] >> 2 & 3 : H[iprev] >> 6;
                    int qe = (L[i] & 15) | he << 4, qo = (L[i] >> 4) << 2 | ho;
                    /* (d * sc) * q, the order of dequantize_row, for the same bits */
                    out[32 * p + 4 * v + b4] = d * se * (float)(qe - 32);
                    out[32 * p + 16 + 4 * v + b4] = d * so * (float)(qo - 32);
                }
            }
        }
    }
}
