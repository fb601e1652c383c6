/* matmul.h - y = x W^T for a weight matrix of any supported element type.
 *
 * W is a 2-D tensor view with ne = {cols, rows} (PyTorch [rows, cols]); x is
 * n row-vectors of cols floats; y receives n row-vectors of rows floats.
 * matmul splits the rows of W over the pool's threads and uses the CPU's best
 * kernels; matmul_ref is the plain scalar reference the fast path is tested
 * against (double accumulation for float weights; for quantized weights the
 * scalar integer dot of quant_dot.h, the same math as llama.cpp: bit for bit
 * the fast path's for matrices as stored, to float rounding for packed
 * ones). Shapes are checked when the model is loaded, so the only failure
 * is memory for the converted inputs (quantized, packed or BF16 rows,
 * dequantized tiles): every function here returns 0, or -1 with err set
 * (QVL_E_NOMEM) and y undefined.
 */
#ifndef QVL_MATMUL_H
#define QVL_MATMUL_H

#include "base/error.h"
#include "engine/tensor.h"
#include "engine/threadpool.h"

int matmul(threadpool *tp, const qvl_tensor *w, const float *x, int n, float *y, qvl_error *err);

/* How float weights may be multiplied. MATMUL_EXACT_F32 is matmul's: f32
 * activations. MATMUL_BF16_ACT lets BF16 weights meet activations rounded to
 * BF16 on CPUs with AVX512_BF16 (twice the f32 rate; about 2^-9 relative
 * error per activation, the precision of running the BF16 model natively):
 * for the vision tower, whose tolerance allows it. Quantized weights ignore
 * it. */
typedef enum matmul_precision { MATMUL_EXACT_F32, MATMUL_BF16_ACT } matmul_precision;
int matmul_prec(threadpool *tp, const qvl_tensor *w, const float *x, int n, float *y, matmul_precision prec,
                qvl_error *err);
int matmul_ref(const qvl_tensor *w, const float *x, int n, float *y, qvl_error *err);

/* y[i] = x w[i]^T for nw matrices of the same cols that share their input
 * (a layer's q, k, v; gate and up). When all are packed with one activation
 * format (Q4_K and Q6_K share Q8_K) the input is quantized once and one
 * pass of the pool covers every matrix: fewer synchronisations per token.
 * Otherwise, and for nw > MATMUL_MANY_MAX, it is nw matmul calls. Either
 * way each y[i] is bit for bit matmul's. */
#define MATMUL_MANY_MAX 3
int matmul_many(threadpool *tp, const qvl_tensor *const *w, int nw, const float *x, int n, float *const *y,
                qvl_error *err);

/* Dequantizes row r of a 2-D weight into out[cols]. Cannot fail. */
void tensor_get_row(const qvl_tensor *w, int64_t r, float *out);

#endif
