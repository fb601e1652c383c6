/* ops.h - element-wise and row-wise float32 operations of transformer layers.
 *
 * All work in place or from src to dst on contiguous float rows; none
 * allocate or fail. They are the same for every model: the model code names
 * the math, these do it.
 */
#ifndef QVL_OPS_H
#define QVL_OPS_H

/* y = w * x / sqrt(mean(x^2) + eps)   (w may be NULL = all ones). x may equal y. */
void rmsnorm(float *y, const float *x, const float *w, int n, float eps);

/* y = (x - mean) / sqrt(var + eps) * w + b   (biased variance, as PyTorch). */
void layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps);

/* In-place numerically stable softmax over n values. */
void softmax(float *x, int n);

/* Dot product with 16 lanes of fused multiply-adds summed as a 512-bit
 * horizontal add: the order llama.cpp's f32 GEMM uses for attention scores. */
float dot_f32_lanes16(const float *a, const float *b, int n);

/* Softmax over the first n of a row of n_row entries whose entries n.. are
 * masked out (causal attention). Numerically the same as llama.cpp's CPU
 * softmax for such a row (see ops.c). */
void softmax_masked(float *x, int n, int n_row);

/* exp(x) by llama.cpp's AVX-512 polynomial (see ops.c); the scalar
 * reference of kernels.h exp_poly. */
float expf_poly(float x);

/* gate[i] = silu(gate[i]) * up[i] */
void swiglu(float *gate, const float *up, int n);

/* In place: GELU with the tanh approximation (PyTorch "gelu_pytorch_tanh"). */
void gelu_tanh(float *x, int n);

/* In place: exact GELU, 0.5 x (1 + erf(x / sqrt 2)). */
void gelu_erf(float *x, int n);

/* y[i] += x[i] */
void vec_add(float *y, const float *x, int n);

#endif
