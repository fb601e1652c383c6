/* ops.h - element-wise and row-wise float32 operations of transformer layers.
 *
 * All work in place or from src to dst on contiguous float rows; none
 * allocate or fail. They are the same for every model: the model code names
 * the math, these do it. This is the plain-C reference: nothing here
 * dispatches to SIMD (kernels.h holds the fast versions, tested against
 * these); the *_exp variants only take a vector exp as a parameter.
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

/* exp(x) by llama.cpp's AVX-512 polynomial (see ops.c). */
float expf_poly(float x);

/* In place x[i] = expf_poly(x[i]) for i < n: the scalar reference of
 * kernels.h exp_poly. */
void expf_poly_row(float *x, int n);

/* A row exp with expf_poly_row's contract and bits (expf_poly_row or a
 * kernels.h exp_poly entry). */
typedef void (*ops_exp_fn)(float *x, int n);

/* Softmax over the first n of a row of n_row entries whose entries n.. are
 * masked out (causal attention). Numerically the same as llama.cpp's CPU
 * softmax for such a row (see ops.c). softmax_masked_exp takes its
 * polynomial exps from exp_n, which gives the same bits. */
void softmax_masked(float *x, int n, int n_row);
void softmax_masked_exp(float *x, int n, int n_row, ops_exp_fn exp_n);

/* gate[i] = silu(gate[i]) * up[i]; swiglu_exp as softmax_masked_exp. */
void swiglu(float *gate, const float *up, int n);
void swiglu_exp(float *gate, const float *up, int n, ops_exp_fn exp_n);

/* In place: GELU with the tanh approximation (PyTorch "gelu_pytorch_tanh"). */
void gelu_tanh(float *x, int n);

/* In place: exact GELU, 0.5 x (1 + erf(x / sqrt 2)). */
void gelu_erf(float *x, int n);

/* y[i] += x[i] */
void vec_add(float *y, const float *x, int n);

#endif
