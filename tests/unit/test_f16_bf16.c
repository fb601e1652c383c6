/* test_f16_bf16.c - the two pieces that let F16 vision weights run on the
 * BF16 GEMM:
 *   1. f16_to_bf16_exact (dtype.h, and each kernel table's entry) over
 *      every F16 value: which ones BF16 holds (counted from the formats'
 *      definitions), the values it writes, and that one inexact value
 *      anywhere (vector body or tail) refuses the row;
 *   2. gemm_bf16_tile (kernels.h) on small integers, whose sums f32 holds
 *      exactly, against an integer reference: full and partial tiles, row
 *      lengths with and without a tail after the 16-pair blocks, strided
 *      weight rows, every token-count remainder.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/dtype.h"
#include "engine/kernels.h"

/* Independent exactness: the BF16 rounding of the value gives it back. */
static int bf16_holds(uint16_t h) {
    float f = fp16_to_f32(h);
    if (f != f) return -1;   /* NaN: compared by bits below */
    return bf16_to_f32(f32_to_bf16(f)) == f;
}

static void check_all_halves(const char *name, bool (*f16_to_bf16)(const void *, void *, int64_t)) {
    uint16_t *exact = malloc(65536 * sizeof *exact), *out = malloc(65536 * sizeof *out);
    int n_exact = 0, n_nan_exact = 0, wrong = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        uint16_t v = (uint16_t)h, b;
        int holds = bf16_holds(v);
        bool got = f16_to_bf16(&v, &b, 1);
        if (holds < 0) {   /* NaN: exact when the payload's 3 low bits (dropped by BF16) are zero */
            wrong += got != !(h & 7);
            n_nan_exact += got;
            continue;
        }
        wrong += got != (holds == 1) || (got && bf16_to_f32(b) != fp16_to_f32(v));
        if (got) exact[n_exact++] = v;
    }
    CHECK_MSG(wrong == 0, "%s: %d halves converted or judged wrongly", name, wrong);
    /* Normals: 2 signs x 30 exponents x 2^7 mantissas with 3 zero low bits;
     * subnormals m * 2^-24 with at most 8 significant bits: m < 256, even
     * m < 512, m % 4 == 0 below 1024 (255 + 128 + 128 per sign); zeros and
     * infinities. NaNs: payloads 1..1023 with 3 zero low bits, per sign. */
    CHECK_EQ_INT(n_exact, 2 * 30 * 128 + 2 * 511 + 2 + 2);
    CHECK_EQ_INT(n_nan_exact, 2 * 127);

    /* The whole row at once (vector body and a 0..15 tail), and the same
     * row made inexact by one value at several places. */
    memset(out, 0, 65536 * sizeof *out);
    CHECK_MSG(f16_to_bf16(exact, out, n_exact), "%s: exact row refused", name);
    int same = 1;
    for (int i = 0; i < n_exact; i++) same &= bf16_to_f32(out[i]) == fp16_to_f32(exact[i]);
    CHECK_MSG(same, "%s: row conversion differs from the one-by-one conversion", name);
    const uint16_t inexact = 0x3c01;   /* 1 + 2^-10: needs 10 mantissa bits */
    CHECK(bf16_holds(inexact) == 0);
    int places[] = {0, 5, 15, 16, 31, 1000, n_exact - 17, n_exact - 1};
    for (size_t k = 0; k < sizeof places / sizeof *places; k++) {
        uint16_t keep = exact[places[k]];
        exact[places[k]] = inexact;
        CHECK_MSG(!f16_to_bf16(exact, out, n_exact), "%s: inexact value at %d not seen", name, places[k]);
        exact[places[k]] = keep;
    }
    free(exact), free(out);
}

/* Small integers in [-8, 8]: products and sums are exact in f32. */
static int small_int(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return (int)(*s >> 27) % 17 - 8;
}

static void check_bf16_tile(const kernels *k, int nr, int64_t kk, int nt, size_t pad) {
    size_t wstride = (size_t)kk * 2 + pad;
    uint8_t *w = calloc((size_t)nr * wstride + 1, 1);
    uint16_t *xb = malloc((size_t)nt * kk * sizeof *xb);
    int *wi = malloc((size_t)nr * kk * sizeof *wi), *xi = malloc((size_t)nt * kk * sizeof *xi);
    float *y = malloc((size_t)nt * 40 * sizeof *y);
    uint32_t seed = (uint32_t)(nr * 131 + kk * 7 + nt);
    for (int r = 0; r < nr; r++)
        for (int64_t c = 0; c < kk; c++) {
            uint16_t b = f32_to_bf16((float)(wi[r * kk + c] = small_int(&seed)));
            memcpy(w + r * wstride + 2 * c, &b, 2);
        }
    for (int64_t i = 0; i < nt * kk; i++) xb[i] = f32_to_bf16((float)(xi[i] = small_int(&seed)));
    for (int i = 0; i < nt * 40; i++) y[i] = -12345.0f;
    k->gemm_bf16_tile(w, wstride, nr, xb, nt, kk, y, 40);
    int ok = 1;
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < 40; r++) {
            long want = 0;
            for (int64_t c = 0; r < nr && c < kk; c++) want += (long)wi[r * kk + c] * xi[t * kk + c];
            ok &= y[t * 40 + r] == (r < nr ? (float)want : -12345.0f);   /* rows past nr stay untouched */
        }
    CHECK_MSG(ok, "gemm_bf16_tile nr=%d k=%lld nt=%d pad=%zu differs from the integer sums", nr, (long long)kk, nt,
              pad);
    free(w), free(xb), free(wi), free(xi), free(y);
}

int main(void) {
    check_all_halves("dtype.h", f16_to_bf16_exact);
    int n_tables;
    const kernels *const *tables = kernels_list(&n_tables);
    for (int i = 0; i < n_tables; i++) {
        const char *name = tables[i]->name;
        if (kernels_force(name) == 0) check_all_halves(name, kernels_get()->f16_to_bf16_exact);
        else fprintf(stderr, "this CPU cannot run the %s table: its f16_to_bf16_exact not tested\n", name);
    }
    if (kernels_force("avx512bf16") == 0 && kernels_get()->gemm_bf16_ok) {
        const kernels *k = kernels_get();
        int nrs[] = {32, 31, 17, 16, 15, 1};
        int64_t ks[] = {2, 30, 32, 64, 1000, 1024};
        for (size_t a = 0; a < sizeof nrs / sizeof *nrs; a++)
            for (size_t b = 0; b < sizeof ks / sizeof *ks; b++) check_bf16_tile(k, nrs[a], ks[b], 17, 0);
        for (int nt = 1; nt <= 13; nt++) check_bf16_tile(k, 32, 96, nt, 64);
    } else {
        fprintf(stderr, "this CPU has no AVX512_BF16: gemm_bf16_tile not tested\n");
    }
    return check_summary();
}
