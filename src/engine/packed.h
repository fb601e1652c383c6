/* packed.h - quantized weight matrices re-laid for the AVX-512 VNNI and the
 * AVX2 kernels.
 *
 * The llama.cpp-order kernels (quant_dot.h) walk one weight row at a time and
 * spend most of their instructions on unpacking and per-row sums. A packed
 * matrix interleaves PACK_ROWS rows: one 64-byte vector holds 4 consecutive
 * levels of each of 16 rows, so a single VPDPBUSD with 4 activation bytes
 * broadcast gives 16 rows' partial dots, block scales are applied to 16 rows
 * at once, and the unpacking of a group is shared by every token of a batch.
 * AVX2 (no VPDPBUSD) takes a vector as two halves of 8 rows, with maddubs +
 * madd in place of VPDPBUSD (quant_simd.h).
 * Each format's layout is documented in its packed_<type>.c.
 *
 * Numerics: per block the integer sums are exact (as in quant_dot_ref); the
 * float combination of blocks is in a different order than llama.cpp's
 * 8-lane one, so results differ from quant_dot_ref by float rounding only
 * (~1e-6 relative). A token's result never depends on the other tokens of
 * the call, on nt, or on which groups a call covers: prompt, decode and
 * batched decode agree bit for bit.
 *
 * Packing is pure data movement (lossless: packed_get_row gives back the
 * dequantized original). Nothing here allocates or fails once
 * packed_supported said yes.
 */
#ifndef QVL_PACKED_H
#define QVL_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"

#define PACK_ROWS 16

/* Whether a rows x cols matrix of type w has a packed layout: Q4_K, Q6_K
 * (cols a multiple of 256) or Q8_0 (cols a multiple of 32), rows a multiple
 * of PACK_ROWS. */
bool packed_supported(qvl_dtype w, int64_t rows, int64_t cols);

/* Bytes of one packed group of PACK_ROWS rows; the packed matrix is
 * rows / PACK_ROWS groups back to back. */
size_t packed_group_bytes(qvl_dtype w, int64_t cols);

/* Packs the PACK_ROWS rows at src (row r at src + r * src_stride, the GGUF
 * layout) into one group at dst. */
void packed_pack_group(qvl_dtype w, const void *src, size_t src_stride, void *dst, int64_t cols);

/* Dequantizes row r (< PACK_ROWS) of a packed group: the same floats as
 * dequantize_row on the original row. */
void packed_get_row(qvl_dtype w, const void *group, int r, float *out, int64_t cols);

/* Activations: bytes of one row, and quantization of cols floats into it.
 * The levels and scales are quant_dot_quantize_act's for
 * quant_dot_act_type(w) (so results are comparable to quant_dot_ref); a
 * format may append what its kernel needs (block sums). */
size_t packed_act_bytes(qvl_dtype w, int64_t cols);

/* A quant_dot_quantize_act: the caller passes its kernel table's
 * (kernels.h quantize_act), so this layer below the tables stays free of
 * dispatch. */
typedef void (*packed_quantizer)(qvl_dtype a, const float *x, void *out, int64_t n);
void packed_quantize_act(qvl_dtype w, const float *x, void *out, int64_t cols, packed_quantizer q);

/* The per-format parts (packed_<type>.c), rows of packed.c's format table;
 * the record and activation sizes are there too (from packed_layout.h). */
void packed_q4_k_pack_group(const void *src, size_t src_stride, void *dst, int64_t cols);
void packed_q4_k_get_row(const void *group, int r, float *out, int64_t cols);
void packed_q6_k_pack_group(const void *src, size_t src_stride, void *dst, int64_t cols);
void packed_q6_k_get_row(const void *group, int r, float *out, int64_t cols);
void packed_q8_0_pack_group(const void *src, size_t src_stride, void *dst, int64_t cols);
void packed_q8_0_get_row(const void *group, int r, float *out, int64_t cols);
void packed_q8_0_quantize_act(const float *x, void *out, int64_t cols, packed_quantizer q);

/* The AVX-512 VNNI kernels (packed_<type>_avx512.c), behind
 * kernels.packed_matmul: for the ng groups at groups (group g at
 * groups + g * packed_group_bytes) and nt activation rows at
 * act + t * astride (packed_quantize_act's), writes
 * y[t * ystride + g * PACK_ROWS + r] = dot(row r of group g, token t).
 * Any ng >= 1, nt >= 1; callers pass token chunks whose activations fit L2. */
void packed_q4_k_matmul_avx512(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                               size_t ystride, int64_t cols);
void packed_q6_k_matmul_avx512(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                               size_t ystride, int64_t cols);
void packed_q8_0_matmul_avx512(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                               size_t ystride, int64_t cols);
void packed_matmul_avx512(qvl_dtype w, const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                          size_t ystride, int64_t cols);

/* The AVX2 + FMA + F16C kernels (packed_<type>_avx2.c), the same contract
 * and the same results, bit for bit, as the AVX-512 ones above. */
void packed_q4_k_matmul_avx2(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                             size_t ystride, int64_t cols);
void packed_q6_k_matmul_avx2(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                             size_t ystride, int64_t cols);
void packed_q8_0_matmul_avx2(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                             size_t ystride, int64_t cols);
/* The AVX-VNNI kernels (packed_<type>_avxvnni.c), the same contract and
 * results again. */
void packed_q4_k_matmul_avxvnni(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                                size_t ystride, int64_t cols);
void packed_q6_k_matmul_avxvnni(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                                size_t ystride, int64_t cols);
void packed_q8_0_matmul_avxvnni(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                                size_t ystride, int64_t cols);
void packed_matmul_avxvnni(qvl_dtype w, const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                           size_t ystride, int64_t cols);

void packed_matmul_avx2(qvl_dtype w, const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                        size_t ystride, int64_t cols);

#endif
