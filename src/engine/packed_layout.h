/* packed_layout.h - byte offsets of the packed records and of the
 * activation rows they meet, shared by the packing code (packed_<type>.c,
 * where each layout is described) and the kernels (packed_<type>_avx2.c,
 * _avxvnni.c, _avx512.c, and quant_simd.h's shared parts), so that a layout
 * changes in one place. Private to those files; callers use packed.h.
 */
#ifndef QVL_PACKED_LAYOUT_H
#define QVL_PACKED_LAYOUT_H

#include "engine/packed.h"

/* Q4_K: one record per 256 columns of a group (packed_q4_k.c) */
#define Q4K_REC_BYTES 2368
#define Q4K_OFF_DMIN 32
#define Q4K_OFF_SC 64
#define Q4K_OFF_M 192
#define Q4K_OFF_Q 320

/* Q6_K: one record per 256 columns of a group (packed_q6_k.c) */
#define Q6K_REC_BYTES 3392    /* scales 256, d 32, padding 32, levels 3072 */
#define Q6K_OFF_SCALES 0
#define Q6K_OFF_D 256
#define Q6K_OFF_LEVELS 320
#define Q6K_PAIR_L 128        /* a pair's L0 (its Ha is at 0, Hb at 64) */

/* Q8_K activations (Q4_K and Q6_K): one block per 256 columns, f32 d,
 * int8 q[256], int16 bsums[16] */
#define Q8K_ACT_BYTES 292
#define Q8K_ACT_Q 4
#define Q8K_ACT_BSUMS 260

/* Q8_0: one packed block per 32 columns of a group (packed_q8_0.c), and
 * the activation block it meets: f32 d, int32 -128 * sum, int8 q[32] */
#define Q80_QK 32
#define Q80_SCALE_BYTES (PACK_ROWS * 2)
#define Q80_PBLOCK_BYTES (Q80_SCALE_BYTES + Q80_QK * PACK_ROWS)
#define Q80_ACT_BYTES 40
#define Q80_ACT_Q 8

#endif
