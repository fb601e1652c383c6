/* quant_dot.h - dot products of quantized weight rows with quantized
 * activations, the way llama.cpp's CPU backend computes them.
 *
 * A weight type is paired with an activation type (Q8_0 for Q4_0/Q5_0/Q8_0,
 * Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants); the activation row is
 * quantized once per matmul and every weight row is dotted with it in
 * integer arithmetic. This is both the fast path (int8 SIMD) and what makes
 * our logits agree with llama.cpp-made reference outputs on quantized files.
 * Float weight types (F32, F16, BF16) pair with DT_F32: no quantization.
 *
 * Activation quantization follows the reference rounding: Q8_0/Q8_1 scale
 * d = amax/127 stored as f16, values rounded to nearest even; Q8_K scale from
 * the signed value of largest magnitude (-127/max), f32, with 16-wide sums.
 */
#ifndef QVL_QUANT_DOT_H
#define QVL_QUANT_DOT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"

/* The activation type weights of type w are dotted with; DT_F32 if none. */
qvl_dtype quant_dot_act_type(qvl_dtype w);

/* Bytes of an activation row of n values in act type a. */
size_t quant_dot_act_bytes(qvl_dtype a, int64_t n);

/* Quantizes n floats (n a multiple of the block size) into act type a. */
void quant_dot_quantize_act(qvl_dtype a, const float *x, void *out, int64_t n);

/* Reference (scalar) dot of one weight row of type w with an activation row
 * quantized by quant_dot_quantize_act(quant_dot_act_type(w)). */
float quant_dot_ref(qvl_dtype w, const void *wrow, const void *arow, int64_t n);

#endif
