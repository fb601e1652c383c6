/* dtype.h - element types of weight tensors and their exact (de)quantization.
 *
 * Type ids are ggml's (they are written into GGUF files as-is). Quantized
 * types store fixed-size blocks of `block_size` weights in `block_bytes`
 * bytes; a row of n weights (n a multiple of block_size) takes
 * n / block_size * block_bytes bytes. Dequantization follows the formats'
 * definitions bit for bit (ggml-common.h / ggml-quants.c semantics).
 *
 * Nothing here allocates; all functions are pure and thread-safe.
 */
#ifndef QVL_DTYPE_H
#define QVL_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum qvl_dtype {
    DT_F32  = 0,
    DT_F16  = 1,
    DT_Q4_0 = 2,
    DT_Q4_1 = 3,
    DT_Q5_0 = 6,
    DT_Q5_1 = 7,
    DT_Q8_0 = 8,
    DT_Q8_1 = 9,
    DT_Q2_K = 10,
    DT_Q3_K = 11,
    DT_Q4_K = 12,
    DT_Q5_K = 13,
    DT_Q6_K = 14,
    DT_Q8_K = 15,
    DT_BF16 = 30,
    DT_COUNT = 40    /* one past the largest id we know */
} qvl_dtype;

typedef struct dtype_info {
    const char *name;     /* "F32", "Q4_K", ... as llama.cpp prints them */
    int block_size;       /* weights per block (1 for scalar types) */
    int block_bytes;      /* bytes per block */
    bool can_dequantize;  /* dequantize_row supports it */
    bool can_quantize;    /* quantize_row supports it */
} dtype_info;

/* Info for a type id, or NULL for an id we do not know (unknown ids come from
 * untrusted files: callers must check). */
const dtype_info *dtype_get(uint32_t type);

/* Bytes taken by a row of n elements; 0 if n is not a multiple of the block
 * size, the type is unknown or the size does not fit in a size_t. */
size_t dtype_row_bytes(qvl_dtype type, int64_t n);

/* Parses "q8_0", "Q4_K", "bf16" ... (case-insensitive). Returns -1 if unknown. */
int dtype_from_name(const char *name);

/* Converts n elements of `type` at src into f32. n must be a multiple of the
 * block size and the type must have can_dequantize. */
void dequantize_row(qvl_dtype type, const void *src, float *dst, int64_t n);

/* Quantizes n f32 values into `type` (must have can_quantize; n a multiple of
 * the block size). Writes dtype_row_bytes(type, n) bytes. */
void quantize_row(qvl_dtype type, const float *src, void *dst, int64_t n);

/* Scalar conversions. f32->f16/bf16 round to nearest even; NaN stays NaN. */
float    fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float    bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

/* Converts n F16 values at src into BF16 at dst (2n bytes each) when every
 * one is exactly representable in BF16 (F16 files converted from BF16
 * checkpoints are). Returns true when all were; false at the first that is
 * not, with dst partly written: discard it and keep the F16 values. Plain
 * C; kernels.h has the fast version. */
bool f16_to_bf16_exact(const void *src, void *dst, int64_t n);

#endif
