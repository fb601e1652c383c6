/* vision_avx2.h - AVX2+FMA versions of the vision tower's kernels.h entries
 * (kernels_avx2's table): the attention products (f32 and BF16 pairs), the
 * softmaxes, BF16 rounding, layernorm, the tanh GELU and the additions.
 *
 * Each function has the contract of the kernels.h entry of the same name
 * (any summation order, not bit-matched, except round_bf16, which is
 * dtype.h f32_to_bf16 bit for bit). None allocate or fail; callers must
 * check the CPU for AVX2, FMA and F16C first (kernels_get does).
 */
#ifndef QVL_VISION_AVX2_H
#define QVL_VISION_AVX2_H

#include <stddef.h>
#include <stdint.h>

void vision_avx2_attn_scores(const float *q, size_t qs, int nq, const float *kt, size_t kts, int n, int hd,
                             float scale, float *s, size_t ss);
void vision_avx2_attn_pv(const float *p, size_t ps, int nq, const float *v, size_t vs, int n, int hd, float *o,
                         size_t os);
void vision_avx2_attn_scores_bf16(const uint16_t *q, size_t qs, int nq, const uint32_t *kp, size_t kps, int n,
                                  int hd, float scale, float *s, size_t ss);
void vision_avx2_attn_pv_bf16(const uint16_t *p, size_t ps, int nq, const uint32_t *vp, size_t vps, int n, int hd,
                              float *o, size_t os);
void vision_avx2_softmax(float *x, int n);
/* kernels.h exp_poly (ops.h expf_poly bit for bit); the text decoder's too. */
void vision_avx2_exp_poly(float *x, int n);
float vision_avx2_softmax_bf16(const float *x, uint16_t *p, int n);
void vision_avx2_round_bf16(const float *x, void *out, int64_t n);
void vision_avx2_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps);
void vision_avx2_add_gelu_tanh(float *x, const float *b, int n);
void vision_avx2_vec_add(float *y, const float *x, int n);
void vision_avx2_add_residual(float *y, const float *x, const float *b, int n);

#endif
