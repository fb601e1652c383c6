/* test_packed.c - packed weight matrices (packed.h) for every format:
 * packing is lossless (each row dequantizes to the original's floats), and
 * the kernel agrees with the scalar reference quant_dot_ref to float
 * rounding on quantizer-made and on raw random levels, for every token count
 * and group range; a token's result is the same bit for bit whatever else
 * the call computes (alone, in a batch, in a sub-range of groups), and
 * matmul_many over several packed matrices equals matmul on each. The
 * kernel checks run for every table this CPU has with packed kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels.h"
#include "engine/matmul.h"
#include "engine/packed.h"
#include "engine/quant_dot.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static float rndf(void) { return (float)rnd() / 2147483648.0f - 1.0f; }

/* Values with outliers and a per-row magnitude, so scales and mins vary. */
static void fill(float *x, int n, float mag) {
    for (int i = 0; i < n; i++) x[i] = mag * rndf() * (rnd() % 17 == 0 ? 8.0f : 1.0f) + (rnd() % 5 == 0 ? mag : 0);
}

/* Overwrites the level bytes (not the float scales) with raw random bytes:
 * level patterns a quantizer rarely makes (all 15s, -128, 63s). */
static void raw_levels(qvl_dtype w, uint8_t *row, int n) {
    int bs = dtype_get(w)->block_size, bb = dtype_get(w)->block_bytes;
    for (int b = 0; b < n / bs; b++) {
        uint8_t *p = row + (size_t)b * bb;
        int lo = w == DT_Q4_K ? 4 : w == DT_Q6_K ? 0 : 2;   /* Q4_K: scales too (6-bit, any byte is valid) */
        int hi = w == DT_Q4_K ? 144 : w == DT_Q6_K ? 208 : 34;   /* Q6_K: levels and int8 scales, not d */
        for (int i = lo; i < hi; i++) p[i] = (uint8_t)rnd();
    }
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_format(qvl_dtype w, int cols, int raw) {
    enum { NG = 3, ROWS = NG * PACK_ROWS, NT = 13 };
    size_t rb = dtype_row_bytes(w, cols), gb = packed_group_bytes(w, cols);
    size_t ab = packed_act_bytes(w, cols), qb = quant_dot_act_bytes(quant_dot_act_type(w), cols);
    uint8_t *orig = malloc(rb * ROWS), *pk = malloc(gb * NG), *act = malloc(ab * NT), *qact = malloc(qb * NT);
    float *x = malloc((size_t)cols * sizeof *x), *a = malloc((size_t)cols * sizeof *a);
    float *b = malloc((size_t)cols * sizeof *b);
    for (int r = 0; r < ROWS; r++) {
        fill(x, cols, r % 7 == 0 ? 0.01f : 1.0f);
        quantize_row(w, x, orig + (size_t)r * rb, cols);
        if (raw) raw_levels(w, orig + (size_t)r * rb, cols);
    }
    for (int g = 0; g < NG; g++) packed_pack_group(w, orig + (size_t)g * PACK_ROWS * rb, rb, pk + (size_t)g * gb, cols);

    int bad = 0;
    for (int r = 0; r < ROWS && !bad; r++) {
        dequantize_row(w, orig + (size_t)r * rb, a, cols);
        packed_get_row(w, pk + (size_t)(r / PACK_ROWS) * gb, r % PACK_ROWS, b, cols);
        for (int i = 0; i < cols && !bad; i++) bad = !same_bits(a[i], b[i]);
        CHECK_MSG(!bad, "%s cols %d row %d: get_row differs from the original", dtype_get(w)->name, cols, r);
    }

    for (int t = 0; t < NT; t++) {
        fill(x, cols, t == 3 ? 100.0f : 1.0f);
        packed_quantize_act(w, x, act + (size_t)t * ab, cols, kernels_get()->quantize_act);
        quant_dot_quantize_act(quant_dot_act_type(w), x, qact + (size_t)t * qb, cols);
    }
    const kernels *k = kernels_get();
    if (!k->packed_matmul) {
        printf("test_packed: %s table has no packed kernels: packing checked only\n", k->name);
        goto out;
    }
    const char *kn = k->name;
    float ref[NT][ROWS], all[NT][ROWS], one[ROWS], part[NT][PACK_ROWS];
    float big = 0;
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < ROWS; r++) {
            ref[t][r] = quant_dot_ref(w, orig + (size_t)r * rb, qact + (size_t)t * qb, cols);
            big = fmaxf(big, fabsf(ref[t][r]));
        }
    k->packed_matmul(w, pk, NG, act, ab, NT, &all[0][0], ROWS, cols);
    double worst = 0;
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < ROWS; r++) {
            double tol = 1e-5 * big + 1e-4 * fabsf(ref[t][r]), d = fabs((double)all[t][r] - ref[t][r]);
            if (!(d <= tol)) bad++;
            if (d / (big + 1e-30) > worst) worst = d / (big + 1e-30);
        }
    CHECK_MSG(!bad, "%s: %s cols %d%s: %d of %d outputs off the reference (worst %.3g of the largest)", kn,
              dtype_get(w)->name, cols, raw ? " raw levels" : "", bad, NT * ROWS, worst);
    /* every token count alone: a token's result does not depend on the call */
    for (int nt = 1; nt <= NT && !bad; nt++) {
        float got[NT][ROWS];
        k->packed_matmul(w, pk, NG, act, ab, nt, &got[0][0], ROWS, cols);
        for (int t = 0; t < nt; t++)
            for (int r = 0; r < ROWS; r++) bad += !same_bits(got[t][r], all[t][r]);
        CHECK_MSG(!bad, "%s: %s cols %d: %d tokens give other bits than %d", kn, dtype_get(w)->name, cols, nt, NT);
    }
    for (int t = 0; t < NT && !bad; t++) {
        k->packed_matmul(w, pk, NG, act + (size_t)t * ab, ab, 1, one, ROWS, cols);
        for (int r = 0; r < ROWS; r++) bad += !same_bits(one[r], all[t][r]);
        CHECK_MSG(!bad, "%s: %s cols %d: token %d alone gives other bits", kn, dtype_get(w)->name, cols, t);
    }
    k->packed_matmul(w, pk + gb, 1, act, ab, NT, &part[0][0], PACK_ROWS, cols);
    for (int t = 0; t < NT && !bad; t++)
        for (int r = 0; r < PACK_ROWS; r++) bad += !same_bits(part[t][r], all[t][PACK_ROWS + r]);
    CHECK_MSG(!bad, "%s: %s cols %d: the middle group alone gives other bits", kn, dtype_get(w)->name, cols);
    /* the 256-bit kernels promise the AVX-512 ones' bits (packed.h): the
     * judge is avx512 where the CPU has it, else avx2 for avxvnni */
    const char *judge = kernels_force("avx512") == 0 ? "avx512" : "avx2";
    CHECK(kernels_force(kn) == 0);
    if (!bad && (!strcmp(kn, "avx2") || !strcmp(kn, "avxvnni")) && strcmp(kn, judge) &&
        kernels_force(judge) == 0) {
        kernels_get()->packed_matmul(w, pk, NG, act, ab, NT, &ref[0][0], ROWS, cols);
        for (int t = 0; t < NT; t++)
            for (int r = 0; r < ROWS; r++) bad += !same_bits(ref[t][r], all[t][r]);
        CHECK_MSG(!bad, "%s: %s cols %d%s: %d outputs differ from %s's", kn, dtype_get(w)->name, cols,
                  raw ? " raw levels" : "", bad, judge);
        CHECK(kernels_force(kn) == 0);
    }
out:
    free(orig), free(pk), free(act), free(qact), free(x), free(a), free(b);
}

static void test_supported(void) {
    CHECK(packed_supported(DT_Q4_K, 2048, 2048));
    CHECK(packed_supported(DT_Q6_K, 151936, 2048));
    CHECK(packed_supported(DT_Q8_0, 16, 96));
    CHECK(!packed_supported(DT_Q4_K, 2048, 96));    /* not whole super-blocks */
    CHECK(!packed_supported(DT_Q8_0, 24, 2048));    /* not whole groups */
    CHECK(!packed_supported(DT_Q4_0, 2048, 2048));
    CHECK(!packed_supported(DT_F16, 2048, 2048));
}

/* A rows x 512 matrix of type w with random weights, packed when
 * supported; free data and packed. */
static qvl_tensor make_matrix(qvl_dtype w, int rows) {
    enum { COLS = 512 };
    size_t rb = dtype_row_bytes(w, COLS);
    qvl_tensor t = {.type = w, .ne = {COLS, rows, 1, 1, 1}};
    uint8_t *data = malloc(rb * (size_t)rows);
    float x[COLS];
    for (int r = 0; r < rows; r++) {
        fill(x, COLS, 1.0f);
        quantize_row(w, x, data + (size_t)r * rb, COLS);
    }
    t.data = data;
    if (packed_supported(w, rows, COLS)) {
        size_t gb = packed_group_bytes(w, COLS);
        uint8_t *pk = malloc(gb * (size_t)(rows / PACK_ROWS));
        for (int g = 0; g < rows / PACK_ROWS; g++)
            packed_pack_group(w, data + (size_t)g * PACK_ROWS * rb, rb, pk + (size_t)g * gb, COLS);
        t.packed = pk;
    }
    return t;
}

/* matmul_many: one pass over matrices of mixed formats sharing the input
 * (Q4_K with Q6_K share an activation format; with Q8_0 it falls back to
 * separate calls) gives each matrix matmul's bits, for any thread count. */
static void test_matmul_many(void) {
    enum { N = 20 };
    static const qvl_dtype sets[][3] = {{DT_Q4_K, DT_Q6_K, DT_Q4_K}, {DT_Q8_0, DT_Q8_0, DT_Q8_0},
                                        {DT_Q4_K, DT_Q8_0, DT_Q6_K}};
    static const int rows[3] = {64, 32, 48};
    float x[N * 512];
    fill(x, N * 512, 1.0f);
    for (int s = 0; s < 3; s++) {
        qvl_tensor t[3];
        float *y[3], *want[3];
        for (int i = 0; i < 3; i++) {
            t[i] = make_matrix(sets[s][i], rows[i]);
            y[i] = malloc(sizeof(float) * N * rows[i]);
            want[i] = malloc(sizeof(float) * N * rows[i]);
        }
        for (int threads = 1; threads <= 3; threads++) {
            threadpool *tp = threadpool_create(threads);
            for (int n = 1; n <= N; n += 4) {
                for (int i = 0; i < 3; i++) CHECK(matmul(tp, &t[i], x, n, want[i], NULL) == 0);
                CHECK(matmul_many(tp, (const qvl_tensor *[]){&t[0], &t[1], &t[2]}, 3, x, n, y, NULL) == 0);
                int bad = 0;
                for (int i = 0; i < 3; i++)
                    for (int k = 0; k < n * rows[i]; k++) bad += !same_bits(y[i][k], want[i][k]);
                CHECK_MSG(!bad, "%s: matmul_many %s/%s/%s, %d threads, %d tokens: %d outputs differ from matmul",
                          kernels_get()->name, dtype_get(sets[s][0])->name, dtype_get(sets[s][1])->name,
                          dtype_get(sets[s][2])->name, threads, n, bad);
            }
            threadpool_free(tp);
        }
        for (int i = 0; i < 3; i++) free((void *)t[i].data), free((void *)t[i].packed), free(y[i]), free(want[i]);
    }
}

/* Everything that uses the active kernels table. */
static void test_table(void) {
    static const qvl_dtype types[] = {DT_Q4_K, DT_Q6_K, DT_Q8_0};
    static const int cols[] = {256, 768, 2048};
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 3; c++)
            for (int raw = 0; raw < 2; raw++) check_format(types[i], cols[c], raw);
    check_format(DT_Q8_0, 96, 0);
    test_matmul_many();
}

int main(void) {
    test_supported();
    const kernels *best = kernels_get();
    int n_tables, tested = 0;
    const kernels *const *tables = kernels_list(&n_tables);
    for (int i = 0; i < n_tables; i++) {
        if (kernels_force(tables[i]->name) != 0 || !kernels_get()->packed_matmul) continue;
        tested++;
        test_table();
    }
    CHECK(kernels_force(best->name) == 0);
    if (!tested) test_table();   /* packing and matmul_many without packed kernels */
    return check_summary();
}
