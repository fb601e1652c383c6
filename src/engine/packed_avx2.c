/* packed_avx2.c - the AVX2 kernels table's entry for packed matrices: the
 * dispatch over the per-format kernels (packed.h). */
#include "engine/packed.h"

void packed_matmul_avx2(qvl_dtype w, const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                        size_t ystride, int64_t cols) {
    switch (w) {
    case DT_Q4_K: packed_q4_k_matmul_avx2(groups, ng, act, astride, nt, y, ystride, cols); break;
    case DT_Q6_K: packed_q6_k_matmul_avx2(groups, ng, act, astride, nt, y, ystride, cols); break;
    default: packed_q8_0_matmul_avx2(groups, ng, act, astride, nt, y, ystride, cols); break;
    }
}
