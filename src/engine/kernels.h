/* kernels.h - the innermost loops, one implementation per instruction set.
 *
 * kernels_get() returns the best table this CPU supports (chosen once from
 * CPUID); kernels_scalar is the plain-C reference every SIMD version is tested
 * against. Adding an ISA = adding a file with a table and one line in
 * kernels.c.
 */
#ifndef QVL_KERNELS_H
#define QVL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"

typedef struct kernels {
    const char *name;                                            /* "scalar", "avx2", "avx512" */
    float (*dot_f32)(const float *a, const float *b, int n);     /* sum a[i]*b[i] */
    void (*axpy_f32)(float *y, const float *x, float a, int n);  /* y += a*x */
    /* Bit-identical to ops.h dot_f32_lanes16 (attention scores). */
    float (*dot_f32_lanes16)(const float *a, const float *b, int n);
    /* Weight row of type w (a quantized type) . activation row quantized by
     * quant_dot_quantize_act (see quant_dot.h); same result as quant_dot_ref. */
    float (*quant_dot)(qvl_dtype w, const void *wrow, const void *arow, int64_t n);
    /* One weight row against nt activation rows at arow + t*astride:
     * out[t] = quant_dot(w, wrow, row t, n). Reads the weight row once for
     * several tokens (prefill); bit-identical to quant_dot_ref per output. */
    void (*quant_dot_multi)(qvl_dtype w, const void *wrow, const void *arow, size_t astride, int nt, float *out,
                            int64_t n);
} kernels;

extern const kernels kernels_scalar;
extern const kernels kernels_avx2;
extern const kernels kernels_avx512;

const kernels *kernels_get(void);

/* Forces a table by name ("scalar", "avx2", "avx512") for tests/benchmarks;
 * returns -1 if unknown or unsupported by this CPU. Not thread-safe: call
 * before starting work. */
int kernels_force(const char *name);

#endif
