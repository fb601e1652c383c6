/* kernels_avxvnni.c - the int8 row-order dot products of the "avxvnni" tier
 * (AVX2 + AVX-VNNI: Alder Lake and later, Zen 5), compiled with -mavxvnni:
 * quant_simd.h's bodies with VPDPBUSD / VPDPWSSD (VEX forms) in place of
 * AVX2's maddubs + madd + add. Everything else of the tier is AVX2's; the
 * table is in kernels_avx2.c. Same results as quant_dot_ref, bit for bit
 * (quant_simd.h's promise: the integer sums are exact either way). */
#include "engine/kernels.h"
#include "engine/quant_simd.h"   /* its dot macros take VNNI's form under -mavxvnni */

float quant_dot_avxvnni(qvl_dtype w, const void *wrow, const void *arow, int64_t n) {
    return qs_quant_dot(w, wrow, arow, n);
}

void quant_dot_multi_avxvnni(qvl_dtype w, const void *wrow, const void *arow, size_t astride, int nt, float *out,
                             int64_t n) {
    qs_dot_multi(w, wrow, arow, astride, nt, out, n);
}
