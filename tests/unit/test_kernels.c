/* test_kernels.c - every SIMD kernel table this CPU supports against the
 * scalar reference: quantized dots bit for bit (on quantized random data and
 * on raw random level bytes), float kernels to rounding, matmul against
 * matmul_ref. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/kernels.h"
#include "engine/matmul.h"
#include "engine/ops.h"
#include "engine/quant_dot.h"

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}
static float rndf(void) { return (float)rnd() / 2147483648.0f - 1.0f; }

/* Activations with outliers, so block scales and clamps vary. */
static void fill(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = rndf() * (rnd() % 17 == 0 ? 8.0f : 1.0f);
}

/* Raw random bytes for the level parts of a row, keeping the scale fields
 * the quantizer wrote (random f16 scales would be inf/NaN): exercises level
 * patterns (e.g. -128 in Q8_0, all 63s in Q6_K) a quantizer rarely makes. */
static void scramble_levels(qvl_dtype w, uint8_t *row, int n) {
    int bs = dtype_get(w)->block_size, bb = dtype_get(w)->block_bytes;
    for (int b = 0; b < n / bs; b++) {
        uint8_t *p = row + (size_t)b * bb;
        int lo = 2, hi = bb;                        /* legacy: f16 d first */
        if (w == DT_Q4_K) lo = 16, hi = 144;        /* d, dmin, 12 scale bytes, then levels */
        if (w == DT_Q6_K) lo = 0, hi = 192;         /* levels, then scales and d */
        for (int i = lo; i < hi; i++) p[i] = (uint8_t)rnd();
    }
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_quant_type(const kernels *k, qvl_dtype w, int n) {
    enum { NT = 13 };   /* every group size 1..8 alone, then 8 plus each rest 1..5 */
    qvl_dtype a = quant_dot_act_type(w);
    size_t rb = dtype_row_bytes(w, n), ab = quant_dot_act_bytes(a, n);
    float *x = malloc((size_t)n * sizeof *x);
    uint8_t *wrow = malloc(rb), *act = malloc(ab * NT);
    for (int t = 0; t < NT; t++) {
        fill(x, n);
        quant_dot_quantize_act(a, x, act + (size_t)t * ab, n);
    }
    int bad = 0;
    for (int trial = 0; trial < 40 && !bad; trial++) {
        fill(x, n);
        quantize_row(w, x, wrow, n);
        if (trial % 2) scramble_levels(w, wrow, n);
        float out[NT];
        for (int nt = 1; nt <= NT && !bad; nt++) {
            k->quant_dot_multi(w, wrow, act, ab, nt, out, n);
            for (int t = 0; t < nt; t++) {
                float ref = quant_dot_ref(w, wrow, act + (size_t)t * ab, n);
                if (!same_bits(out[t], ref)) {
                    CHECK_MSG(0, "%s %s n=%d trial %d nt=%d t=%d: %.9g != ref %.9g", k->name, dtype_get(w)->name, n,
                              trial, nt, t, out[t], ref);
                    bad = 1;
                    break;
                }
            }
        }
        float one = k->quant_dot(w, wrow, act, n);
        if (!bad) CHECK_MSG(same_bits(one, quant_dot_ref(w, wrow, act, n)), "%s %s quant_dot", k->name,
                            dtype_get(w)->name);
    }
    free(x), free(wrow), free(act);
}

static void check_float(const kernels *k) {
    for (int n = 1; n < 300; n += 37) {
        float a[300], b[300], y[300], yr[300];
        fill(a, n), fill(b, n), fill(y, n);
        double ref = 0, mag = 0;
        for (int i = 0; i < n; i++) ref += (double)a[i] * b[i], mag += fabs((double)a[i] * b[i]);
        float got = k->dot_f32(a, b, n);
        CHECK_MSG(fabs(got - ref) <= 1e-5 * (mag + 1), "%s dot_f32 n=%d: %g vs %g", k->name, n, got, ref);
        CHECK_MSG(same_bits(k->dot_f32_lanes16(a, b, n), dot_f32_lanes16(a, b, n)), "%s dot_f32_lanes16 n=%d",
                  k->name, n);
        memcpy(yr, y, sizeof y);
        k->axpy_f32(y, a, 0.75f, n);
        for (int i = 0; i < n; i++) yr[i] += 0.75f * a[i];
        int ok = 1;
        for (int i = 0; i < n; i++) ok &= fabsf(y[i] - yr[i]) <= 1e-6f * (fabsf(yr[i]) + 1);
        CHECK_MSG(ok, "%s axpy_f32 n=%d", k->name, n);
    }
}

/* The prompt GEMM of a table (if it has one) against quant_dot_ref, bit for
 * bit: every row count of a tile, token counts around the register tile,
 * quantizer-made and raw random levels. */
static void check_gemm(const kernels *k, qvl_dtype w, int n) {
    if (!k->gemm_act_bytes || !k->gemm_act_bytes(w, n)) return;
    enum { NT = 11 };
    qvl_dtype a = quant_dot_act_type(w);
    size_t rb = dtype_row_bytes(w, n), ab = quant_dot_act_bytes(a, n), pb = k->gemm_act_bytes(w, n);
    float *x = malloc((size_t)n * sizeof *x), y[NT * GEMM_ROWS];
    uint8_t *wr = malloc(rb * GEMM_ROWS), *act = malloc(ab * NT), *packed = aligned_alloc(64, pb * NT);
    CHECK(pb % 64 == 0);
    for (int t = 0; t < NT; t++) {
        fill(x, n);
        /* quantizer edge cases: an all-zero row, a row whose largest
         * magnitude appears with both signs, a row of huge values */
        if (t == 1) memset(x, 0, (size_t)n * sizeof *x);
        if (t == 2) x[5] = 9.0f, x[3] = -9.0f, x[200] = 9.0f;
        if (t == 3)
            for (int i = 0; i < n; i++) x[i] *= 3e6f;
        quant_dot_quantize_act(a, x, act + (size_t)t * ab, n);
        k->gemm_pack_act(w, x, packed + (size_t)t * pb, n);
    }
    int bad = 0;
    for (int trial = 0; trial < 6 && !bad; trial++) {
        for (int r = 0; r < GEMM_ROWS; r++) {
            fill(x, n);
            quantize_row(w, x, wr + (size_t)r * rb, n);
            if (trial % 2) scramble_levels(w, wr + (size_t)r * rb, n);
        }
        for (int nr = 1; nr <= GEMM_ROWS && !bad; nr++)
            for (int nt = 1; nt <= NT && !bad; nt += 1 + (nt > 5)) {
                memset(y, 0, sizeof y);
                k->gemm_tile(w, wr, rb, nr, packed, pb, nt, y, GEMM_ROWS, n);
                for (int t = 0; t < nt && !bad; t++)
                    for (int r = 0; r < nr && !bad; r++) {
                        float ref = quant_dot_ref(w, wr + (size_t)r * rb, act + (size_t)t * ab, n);
                        if (!same_bits(y[t * GEMM_ROWS + r], ref)) {
                            CHECK_MSG(0, "%s gemm %s n=%d trial %d nr=%d nt=%d (r %d, t %d): %.9g != ref %.9g",
                                      k->name, dtype_get(w)->name, n, trial, nr, nt, r, t, y[t * GEMM_ROWS + r], ref);
                            bad = 1;
                        }
                    }
            }
    }
    CHECK(!bad);
    free(x), free(wr), free(act), free(packed);
}

/* exp_poly against the scalar expf_poly, bit for bit, over the range softmax
 * and SiLU see, the under/overflow edges and non-finite inputs. */
static void check_exp_poly(const kernels *k) {
    enum { N = 1000 };
    float x[N], e[N];
    for (int i = 0; i < N; i++) x[i] = rndf() * (i % 3 == 0 ? 120.0f : i % 3 == 1 ? 20.0f : 1.0f);
    const float special[] = {0.0f, -0.0f, 88.7f, 89.0f, -87.5f, -103.0f, -104.5f, 133.0f, -133.5f, 150.0f, -200.0f,
                             INFINITY, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) x[i] = special[i];
    for (int len = 1; len <= N; len += len < 40 ? 1 : 321) {
        memcpy(e, x, sizeof e);
        k->exp_poly(e, len);
        int ok = 1;
        for (int i = 0; i < len && ok; i++) {
            float ref = expf_poly(x[i]);
            ok = same_bits(e[i], ref) || (isnan(e[i]) && isnan(ref));
            CHECK_MSG(ok, "%s exp_poly(%.9g) = %.9g, ref %.9g (len %d)", k->name, x[i], e[i], ref, len);
        }
        CHECK_MSG(len == N || same_bits(e[len], x[len]), "%s exp_poly wrote past n=%d", k->name, len);
    }
}

/* softmax_masked and swiglu against ops.h's, bit for bit: row lengths
 * around the 16-wide polynomial blocks, masked tails of several lengths. */
static void check_text_ops(const kernels *k) {
    enum { N = 600 };
    float x[N], up[N], a[N], b[N];
    for (int i = 0; i < N; i++) x[i] = rndf() * 12.0f, up[i] = rndf();
    for (int n = 1; n <= N; n += n < 40 ? 1 : 113) {
        for (int n_row = n; n_row <= n + 17 && n_row <= N; n_row += 5) {
            memcpy(a, x, sizeof a), memcpy(b, x, sizeof b);
            k->softmax_masked(a, n, n_row);
            softmax_masked(b, n, n_row);
            CHECK_MSG(!memcmp(a, b, (size_t)n * sizeof *a), "%s softmax_masked n=%d n_row=%d differs from ops.h's",
                      k->name, n, n_row);
        }
        memcpy(a, x, sizeof a), memcpy(b, x, sizeof b);
        k->swiglu(a, up, n);
        swiglu(b, up, n);
        CHECK_MSG(!memcmp(a, b, (size_t)n * sizeof *a), "%s swiglu n=%d differs from ops.h's", k->name, n);
    }
}

/* softmax against a double-precision softmax: within a few ulp. */
static void check_softmax(const kernels *k) {
    enum { N = 801 };
    float x[N];
    for (int n = 1; n <= N; n += n < 20 ? 1 : 97) {
        for (int i = 0; i < n; i++) x[i] = rndf() * 30.0f;
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
        float ref0 = (float)(exp((double)x[0] - mx) / sum), refl = (float)(exp((double)x[n - 1] - mx) / sum);
        k->softmax(x, n);
        double got = 0;
        for (int i = 0; i < n; i++) got += x[i];
        CHECK_MSG(fabs(got - 1) < 1e-5 && fabsf(x[0] - ref0) <= 1e-5f * ref0 + 1e-30f &&
                      fabsf(x[n - 1] - refl) <= 1e-5f * refl + 1e-30f,
                  "%s softmax n=%d: sum %.9g, x0 %.9g vs %.9g", k->name, n, got, x[0], ref0);
    }
}

/* The vision attention products against double sums, for the head sizes
 * the kernels special-case and one they do not, odd query and key counts
 * (register-tile tails) and strided rows. */
static void check_attn(const kernels *k) {
    enum { NQ = 19, NK = 77, LD = 80 };
    static float q[NQ * LD], kt[LD * NK], v[NK * LD], s[NQ * NK], o[NQ * LD];
    for (int i = 0; i < NQ * LD; i++) q[i] = rndf();
    for (int i = 0; i < LD * NK; i++) kt[i] = rndf(), v[i] = rndf();
    const int hds[] = {16, 64, 24};
    for (size_t hi = 0; hi < sizeof hds / sizeof *hds; hi++) {
        int hd = hds[hi], ok = 1;
        k->attn_scores(q, LD, NQ, kt, NK, NK, hd, 0.5f, s, NK);
        for (int i = 0; i < NQ && ok; i++)
            for (int j = 0; j < NK && ok; j++) {
                double ref = 0;
                for (int d = 0; d < hd; d++) ref += (double)q[i * LD + d] * kt[d * NK + j];
                ok = fabs(s[i * NK + j] - 0.5 * ref) <= 1e-5 * (hd + fabs(ref));
            }
        CHECK_MSG(ok, "%s attn_scores hd=%d", k->name, hd);
        for (int i = 0; i < NQ * NK; i++) s[i] = rndf();
        k->attn_pv(s, NK, NQ, v, LD, NK, hd, o, LD);
        for (int i = 0; i < NQ && ok; i++)
            for (int d = 0; d < hd && ok; d++) {
                double ref = 0;
                for (int j = 0; j < NK; j++) ref += (double)s[i * NK + j] * v[j * LD + d];
                ok = fabs(o[i * LD + d] - ref) <= 1e-5 * (NK + fabs(ref));
            }
        CHECK_MSG(ok, "%s attn_pv hd=%d", k->name, hd);
    }
}

/* matmul (threaded, tiled, token groups) against matmul_ref: identical for
 * quantized weights, within float rounding for float weights. */
static void check_matmul(qvl_dtype w, int rows, int cols, int n) {
    size_t rb = dtype_row_bytes(w, cols);
    uint8_t *data = malloc(rb * (size_t)rows);
    float *x = malloc((size_t)n * cols * sizeof *x), *row = malloc((size_t)cols * sizeof *row);
    for (int r = 0; r < rows; r++) {
        fill(row, cols);
        if (w == DT_F32) memcpy(data + rb * (size_t)r, row, rb);
        else quantize_row(w, row, data + rb * (size_t)r, cols);
    }
    fill(x, n * cols);
    qvl_tensor t = {0};
    t.type = w;
    t.ne[0] = cols, t.ne[1] = rows, t.ne[2] = t.ne[3] = t.ne[4] = 1;
    t.data = data;
    float *y = malloc((size_t)n * rows * sizeof *y), *yr = malloc((size_t)n * rows * sizeof *yr);
    threadpool *tp = threadpool_create(2);
    CHECK(matmul(tp, &t, x, n, y, NULL) == 0);
    CHECK(matmul_ref(&t, x, n, yr, NULL) == 0);
    int quant = quant_dot_act_type(w) != DT_F32, ok = 1;
    for (size_t i = 0; i < (size_t)n * rows && ok; i++)
        ok = quant ? same_bits(y[i], yr[i]) : fabsf(y[i] - yr[i]) <= 1e-4f * (fabsf(yr[i]) + 1);
    CHECK_MSG(ok, "matmul %s %dx%d n=%d differs from matmul_ref", dtype_get(w)->name, rows, cols, n);
    /* BF16-rounded activations: each product off by at most 2^-8 relative */
    CHECK(matmul_prec(tp, &t, x, n, y, MATMUL_BF16_ACT, NULL) == 0);
    for (int r = 0; r < rows && ok; r++) {
        tensor_get_row(&t, r, row);
        for (int tk = 0; tk < n && ok; tk++) {
            double mag = 0;
            for (int c = 0; c < cols; c++) mag += fabs((double)row[c] * x[(size_t)tk * cols + c]);
            size_t i = (size_t)tk * rows + r;
            ok = fabs((double)y[i] - yr[i]) <= mag / 256 + 1e-6;
        }
    }
    CHECK_MSG(ok, "matmul_prec BF16_ACT %s %dx%d n=%d too far from matmul_ref", dtype_get(w)->name, rows, cols, n);
    threadpool_free(tp);
    free(data), free(x), free(row), free(y), free(yr);
}

/* The decode-attention entries equal the per-key loops bit for bit. */
static void check_attn_rows(const kernels *k) {
    if (!k->attn_scores_rows) return;
    enum { MAXN = 37, STRIDE = 272 };
    static const int hds[] = {32, 64, 128, 80, 256};
    float q[256], kv[MAXN * STRIDE], w[MAXN], s1[MAXN], s2[MAXN], o1[256], o2[256];
    fill(q, 256), fill(kv, MAXN * STRIDE), fill(w, MAXN);
    int bad = 0;
    for (int h = 0; h < 5; h++)
        for (int n = 1; n <= MAXN; n += n < 9 ? 1 : 28) {
            int hd = hds[h];
            k->attn_scores_rows(q, kv, STRIDE, n, hd, 0.125f, s1);
            for (int p = 0; p < n; p++) s2[p] = k->dot_f32_lanes16(q, kv + (size_t)p * STRIDE, hd) * 0.125f;
            for (int p = 0; p < n; p++) bad += !same_bits(s1[p], s2[p]);
            k->attn_pv_rows(o1, kv, STRIDE, w, n, hd);
            memset(o2, 0, sizeof o2);
            for (int p = 0; p < n; p++) k->axpy_f32(o2, kv + (size_t)p * STRIDE, w[p], hd);
            for (int d = 0; d < hd; d++) bad += !same_bits(o1[d], o2[d]);
        }
    CHECK_MSG(!bad, "%s: attention rows differ from the per-key loops in %d values", k->name, bad);
}

/* The table's activation quantizer writes the scalar one's bytes, on values
 * with outliers, ties of magnitude with both signs, and all-zero blocks. */
static void check_quantize_act(const kernels *k) {
    enum { N = 1024 };
    float x[N];
    uint8_t a[N * 2], b[N * 2];
    const qvl_dtype acts[] = {DT_Q8_0, DT_Q8_K};
    for (int trial = 0; trial < 20; trial++) {
        fill(x, N);
        if (trial % 4 == 1) x[300] = 9.0f, x[290] = -9.0f;   /* tie: the first of largest magnitude decides */
        if (trial % 4 == 2) memset(x + 256, 0, 256 * sizeof *x);
        if (trial % 4 == 3) for (int i = 0; i < N; i++) x[i] = (float)(i % 9) * 0.5f - 2.0f;   /* exact .5 ties */
        for (int ai = 0; ai < 2; ai++) {
            size_t nb = quant_dot_act_bytes(acts[ai], N);
            quant_dot_quantize_act(acts[ai], x, a, N);
            k->quantize_act(acts[ai], x, b, N);
            CHECK_MSG(!memcmp(a, b, nb), "%s: quantize_act %s differs from the scalar one (trial %d)", k->name,
                      dtype_get(acts[ai])->name, trial);
        }
    }
}

/* ---- every tier first-class ---------------------------------------------- */

#define ALL_ENTRIES(X)                                                                                             \
    X(dot_f32) X(axpy_f32) X(dot_f32_lanes16) X(quant_dot) X(quant_dot_multi) X(exp_poly) X(softmax)              \
    X(softmax_masked) X(swiglu) X(attn_scores) X(attn_pv) X(gemm_act_bytes) X(gemm_pack_act) X(gemm_tile)          \
    X(gemm_bf16_ok) X(gemm_bf16_pack_x) X(gemm_bf16_tile) X(layernorm) X(add_gelu_tanh) X(vec_add)                 \
    X(add_residual) X(round_bf16) X(softmax_bf16) X(attn_scores_bf16) X(attn_pv_bf16) X(quantize_act)              \
    X(attn_scores_rows) X(attn_pv_rows) X(attn_prompt_ok) X(attn_prompt_scores) X(attn_prompt_pv)                  \
    X(packed_matmul) X(f16_to_bf16_exact)
#define COUNT_ENTRY(f) +1
enum { N_ENTRIES = 0 ALL_ENTRIES(COUNT_ENTRY) };

/* The entries a SIMD table may leave NULL, each for a reason its ISA
 * explains; anything else NULL, or pointing at the scalar table's code,
 * fails: a tier must not quietly run scalar loops where it has vectors. */
static const struct {
    const char *table, *entries, *why;
} may_be_null[] = {
    {"avx2", " gemm_act_bytes gemm_pack_act gemm_tile ",
     "prompts go through packed_matmul: the int8 GEMM tiles need VNNI to beat it"},
    {"avx2", " gemm_bf16_ok gemm_bf16_pack_x gemm_bf16_tile ", "no BF16 instructions: matmul's float path"},
    {"avx2", " attn_scores_rows attn_pv_rows attn_prompt_ok attn_prompt_scores attn_prompt_pv ",
     "the text attention loops over the AVX2 dot_f32_lanes16 and axpy_f32 (bit-matched), not blocked"},
    {"avxvnni", " gemm_act_bytes gemm_pack_act gemm_tile ",
     "the quantized text weights are packed (Q4_K, Q6_K, Q8_0: packed_matmul); other types take quant_dot_multi"},
    {"avxvnni", " gemm_bf16_ok gemm_bf16_pack_x gemm_bf16_tile ", "no BF16 instructions: matmul's float path"},
    {"avxvnni", " attn_scores_rows attn_pv_rows attn_prompt_ok attn_prompt_scores attn_prompt_pv ",
     "as avx2: the text attention loops over dot_f32_lanes16 and axpy_f32"},
    {"avx512", " gemm_bf16_ok gemm_bf16_pack_x gemm_bf16_tile ", "no AVX512_BF16: matmul's float path"},
};

static bool null_allowed(const char *table, const char *entry) {
    char key[64];
    snprintf(key, sizeof key, " %s ", entry);
    for (size_t i = 0; i < sizeof may_be_null / sizeof *may_be_null; i++)
        if (!strcmp(may_be_null[i].table, table) && strstr(may_be_null[i].entries, key)) return true;
    return false;
}

static void check_table_complete(const kernels *k) {
    CHECK_MSG(sizeof(kernels) == sizeof(const char *) + N_ENTRIES * sizeof(void (*)(void)),
              "kernels.h has entries this test does not list: add them to ALL_ENTRIES");
    if (k == &kernels_scalar) return;
#define CHECK_ENTRY(f)                                                                                             \
    CHECK_MSG(k->f ? (void (*)(void))k->f != (void (*)(void))kernels_scalar.f : null_allowed(k->name, #f),       \
              "%s: entry " #f " is %s", k->name, k->f ? "the scalar code" : "NULL");
    ALL_ENTRIES(CHECK_ENTRY)
#undef CHECK_ENTRY
}

int main(void) {
    int n_tables;
    const kernels *const *tables = kernels_list(&n_tables);
    const qvl_dtype types[] = {DT_Q8_0, DT_Q4_0, DT_Q5_0, DT_Q4_1, DT_Q5_1, DT_Q4_K, DT_Q5_K, DT_Q6_K};
    int tested = 0;
    for (int i = 0; i < n_tables; i++) {
        if (kernels_force(tables[i]->name) != 0) continue;
        const kernels *k = kernels_get();
        tested++;
        check_table_complete(k);
        check_float(k);
        check_exp_poly(k);
        check_text_ops(k);
        check_softmax(k);
        check_attn(k);
        check_quantize_act(k);
        check_attn_rows(k);
        for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
            check_quant_type(k, types[ti], 256);
            check_quant_type(k, types[ti], 2048);
            check_quant_type(k, types[ti], 768);   /* an odd count of K-quant super-blocks */
            check_gemm(k, types[ti], 256);
            check_gemm(k, types[ti], 2048);
            check_gemm(k, types[ti], 768);
        }
        /* the AVX-512 tables must not silently drop a type from their GEMM */
        const qvl_dtype gemm_types[] = {DT_Q8_0, DT_Q4_0, DT_Q5_0, DT_Q4_K, DT_Q6_K};
        for (size_t g = 0; g < sizeof gemm_types / sizeof *gemm_types && !strncmp(k->name, "avx512", 6); g++)
            CHECK_MSG(k->gemm_act_bytes && k->gemm_act_bytes(gemm_types[g], 2048) > 0, "%s: no GEMM for %s",
                      k->name, dtype_get(gemm_types[g])->name);
        const qvl_dtype mm[] = {DT_Q8_0, DT_Q4_K, DT_Q6_K, DT_F32, DT_F16, DT_BF16};
        for (size_t m = 0; m < sizeof mm / sizeof *mm; m++) {
            check_matmul(mm[m], 37, 512, 1);
            for (int n = 2; n < 8; n++) check_matmul(mm[m], 45, 512, n);   /* batched decode of n streams */
            check_matmul(mm[m], 70, 256, 11);
            check_matmul(mm[m], 37, 512, 70);   /* several token chunks of the GEMM */
        }
    }
    CHECK(tested >= 1);
    return check_summary();
}
