/* kernels_avx512bf16.c - the vision attention entries of kernels_avx512bf16
 * that multiply with vdpbf16ps (built with -mavx512bf16; the table itself
 * is in kernels_avx512.c). */
#include "engine/attn_avx512.h"
#include "engine/kernels.h"

void avx512bf16_attn_scores_bf16(const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n, int hd,
                                 float scale, float *s, size_t ss) {
    av_scores_bf16(AV_BF16, q, qs, nq, kp, kps, n, hd, scale, s, ss);
}

void avx512bf16_attn_pv_bf16(const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n, int hd,
                             float *o, size_t os) {
    av_pv_bf16(AV_BF16, p, ps, nq, vp, vps, n, hd, o, os);
}
