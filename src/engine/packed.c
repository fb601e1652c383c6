/* packed.c - see packed.h: the dispatch over the packed formats. */
#include "engine/packed.h"

#include "engine/kernels.h"
#include "engine/quant_dot.h"

bool packed_supported(qvl_dtype w, int64_t rows, int64_t cols) {
    if (rows <= 0 || rows % PACK_ROWS || cols <= 0) return false;
    switch (w) {
    case DT_Q4_K: case DT_Q6_K: return cols % 256 == 0;
    case DT_Q8_0: return cols % 32 == 0;
    default: return false;
    }
}

size_t packed_group_bytes(qvl_dtype w, int64_t cols) {
    switch (w) {
    case DT_Q4_K: return packed_q4_k_group_bytes(cols);
    case DT_Q6_K: return packed_q6_k_group_bytes(cols);
    default: return packed_q8_0_group_bytes(cols);
    }
}

void packed_pack_group(qvl_dtype w, const void *src, size_t src_stride, void *dst, int64_t cols) {
    switch (w) {
    case DT_Q4_K: packed_q4_k_pack_group(src, src_stride, dst, cols); break;
    case DT_Q6_K: packed_q6_k_pack_group(src, src_stride, dst, cols); break;
    default: packed_q8_0_pack_group(src, src_stride, dst, cols); break;
    }
}

void packed_get_row(qvl_dtype w, const void *group, int r, float *out, int64_t cols) {
    switch (w) {
    case DT_Q4_K: packed_q4_k_get_row(group, r, out, cols); break;
    case DT_Q6_K: packed_q6_k_get_row(group, r, out, cols); break;
    default: packed_q8_0_get_row(group, r, out, cols); break;
    }
}

size_t packed_act_bytes(qvl_dtype w, int64_t cols) {
    if (w == DT_Q8_0) return packed_q8_0_act_bytes(cols);
    return quant_dot_act_bytes(quant_dot_act_type(w), cols);
}

void packed_quantize_act(qvl_dtype w, const float *x, void *out, int64_t cols) {
    if (w == DT_Q8_0) packed_q8_0_quantize_act(x, out, cols);
    else kernels_get()->quantize_act(quant_dot_act_type(w), x, out, cols);
}
