/* test_vision_kernels.c - the vision tower's entries of every SIMD kernel
 * table this CPU runs (kernels.h: attention products in f32 and BF16
 * pairs, softmax, softmax_bf16, round_bf16, layernorm, add_gelu_tanh,
 * vec_add, add_residual) against kernels_scalar's: sums within f32
 * rounding in another order, exps within a few ulp, round_bf16 and vec_add
 * bit for bit. Sizes are the awkward ones: row tails of every length,
 * query counts 1..7 and 13 around the register tiles, key counts around
 * the blocks, head sizes 64 and 80 (and tails), strided rows. Nothing may
 * be written outside the outputs, and no vision entry of a SIMD table may
 * still be the scalar code. (test_vision_ops checks every table, the
 * scalar one included, against double-precision definitions.) */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/dtype.h"
#include "engine/kernels.h"

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static float rndf(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

static const float sentinel = -1234.5f;

static void fill_sentinel(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = sentinel;
}

/* ---- attention products ------------------------------------------------- */

/* got against ref over rows x cols at stride cs, each within tol times mag
 * (the sum of the terms' magnitudes: what f32 rounding is relative to);
 * the cells between rows (cols..cs) must still hold the sentinel. */
static void check_block(const char *what, const kernels *k, int nq, int n, int hd, const float *got,
                        const float *ref, const float *mag, int rows, int cols, size_t cs) {
    double worst = 0;
    int outside = 0;
    for (int i = 0; i < rows; i++) {
        for (int c = 0; c < cols; c++) {
            double err = fabs((double)got[i * cs + c] - ref[i * cs + c]) / ((double)mag[i * cs + c] + 1e-30);
            worst = err > worst ? err : worst;
        }
        for (size_t c = (size_t)cols; c < cs; c++) outside += got[i * cs + c] != sentinel;
    }
    CHECK_MSG(worst < 1e-5 && !outside, "%s %s nq=%d n=%d hd=%d: error %.3g of the magnitude, %d cells written outside",
              k->name, what, nq, n, hd, worst, outside);
}

/* Output buffers of one product: the entry's, the scalar one's, and the
 * scalar one's on magnitudes (the same sums of |terms|). */
typedef struct outs {
    float *got, *ref, *mag;
} outs;

static outs outs_alloc(size_t n) {
    outs o = {malloc(n * sizeof(float)), malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    fill_sentinel(o.got, n), fill_sentinel(o.ref, n), fill_sentinel(o.mag, n);
    return o;
}

static void outs_free(outs o) { free(o.got), free(o.ref), free(o.mag); }

/* f32 entries: q (nq, hd) at stride qs, kt (hd, n) at kts, p (nq, n) at
 * ps, v (n, hd) at vs; any n and hd. */
static void check_products_f32(const kernels *k, int nq, int n, int hd) {
    size_t qs = hd + 3, kts = n + 5, ss = n + 7, ps = n + 4, vs = hd + 2, os = hd + 1;
    size_t nqv = nq * qs, nkt = hd * kts, npv = nq * ps, nv = n * vs;
    float *in = malloc(2 * (nqv + nkt + npv + nv) * sizeof *in), *abs_in = in + nqv + nkt + npv + nv;
    for (size_t i = 0; i < nqv + nkt + npv + nv; i++) in[i] = rndf(), abs_in[i] = fabsf(in[i]);
    const float *q = in, *kt = q + nqv, *p = kt + nkt, *v = p + npv;
    const float *aq = abs_in, *akt = aq + nqv, *ap = akt + nkt, *av = ap + npv;
    outs s = outs_alloc(nq * ss), o = outs_alloc(nq * os);
    k->attn_scores(q, qs, nq, kt, kts, n, hd, 0.125f, s.got, ss);
    kernels_scalar.attn_scores(q, qs, nq, kt, kts, n, hd, 0.125f, s.ref, ss);
    kernels_scalar.attn_scores(aq, qs, nq, akt, kts, n, hd, 0.125f, s.mag, ss);
    check_block("attn_scores", k, nq, n, hd, s.got, s.ref, s.mag, nq, n, ss);
    k->attn_pv(p, ps, nq, v, vs, n, hd, o.got, os);
    kernels_scalar.attn_pv(p, ps, nq, v, vs, n, hd, o.ref, os);
    kernels_scalar.attn_pv(ap, ps, nq, av, vs, n, hd, o.mag, os);
    check_block("attn_pv", k, nq, n, hd, o.got, o.ref, o.mag, nq, hd, os);
    free(in), outs_free(s), outs_free(o);
}

/* BF16 entries in kernels.h's pair layouts; hd even, and n even for p v
 * (odd n: the scores only). Values of both signs, so |terms| differ from
 * terms; the sign bits cleared give the magnitudes. */
static void check_products_bf16(const kernels *k, int nq, int n, int hd) {
    size_t qs = hd + 6, kps = n + 5, ss = n + 7, ps = n + 4, vps = hd + 2, os = hd + 1;
    size_t nqv = nq * qs, nkp = hd / 2 * kps, npv = nq * ps, nvp = (n + 1) / 2 * vps;
    uint16_t *q16 = malloc(2 * (nqv + npv) * sizeof *q16), *aq16 = q16 + nqv + npv;
    uint32_t *kv = malloc(2 * (nkp + nvp) * sizeof *kv), *akv = kv + nkp + nvp;
    for (size_t i = 0; i < nqv + npv; i++) q16[i] = f32_to_bf16(rndf()), aq16[i] = q16[i] & 0x7FFF;
    for (size_t i = 0; i < nkp + nvp; i++)
        kv[i] = f32_to_bf16(rndf()) | (uint32_t)f32_to_bf16(rndf()) << 16, akv[i] = kv[i] & 0x7FFF7FFF;
    const uint16_t *q = q16, *p = q16 + nqv, *aq = aq16, *ap = aq16 + nqv;
    const uint32_t *kp = kv, *vp = kv + nkp, *akp = akv, *avp = akv + nkp;
    outs s = outs_alloc(nq * ss), o = outs_alloc(nq * os);
    k->attn_scores_bf16(q, qs, nq, kp, kps, n, hd, 0.125f, s.got, ss);
    kernels_scalar.attn_scores_bf16(q, qs, nq, kp, kps, n, hd, 0.125f, s.ref, ss);
    kernels_scalar.attn_scores_bf16(aq, qs, nq, akp, kps, n, hd, 0.125f, s.mag, ss);
    check_block("attn_scores_bf16", k, nq, n, hd, s.got, s.ref, s.mag, nq, n, ss);
    if (n % 2 == 0) {
        k->attn_pv_bf16(p, ps, nq, vp, vps, n, hd, o.got, os);
        kernels_scalar.attn_pv_bf16(p, ps, nq, vp, vps, n, hd, o.ref, os);
        kernels_scalar.attn_pv_bf16(ap, ps, nq, avp, vps, n, hd, o.mag, os);
        check_block("attn_pv_bf16", k, nq, n, hd, o.got, o.ref, o.mag, nq, hd, os);
    }
    free(q16), free(kv), outs_free(s), outs_free(o);
}

static void check_attention(const kernels *k) {
    static const int nqs[] = {1, 2, 3, 4, 5, 6, 7, 13};
    /* key counts: none (p v: zeros), below, at and past a 16-key tile, the
     * 64-column and 128-row blocks; 784 is a 448x448 image's patch count */
    static const int ns[] = {0, 1, 2, 15, 16, 17, 34, 63, 64, 66, 129, 130, 258, 784};
    static const int hds[] = {64, 80, 20, 8};
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (size_t a = 0; a < sizeof nqs / sizeof *nqs; a++)
            for (size_t b = 0; b < sizeof ns / sizeof *ns; b++) {
                if (ns[b] == 784 && nqs[a] > 3 && nqs[a] != 13) continue;   /* the long rows once per tile shape */
                check_products_bf16(k, nqs[a], ns[b], hds[h]);
                check_products_f32(k, nqs[a], ns[b], hds[h]);
            }
    check_products_f32(k, 7, 33, 33);   /* odd head size: the f32 entries take any */
    check_products_f32(k, 5, 131, 17);
}

/* ---- rows ---------------------------------------------------------------- */

#define MAXN 4100

/* Row lengths: every tail around one and two vectors, and the tower's. */
static int row_len(int i) {
    static const int big[] = {63, 64, 65, 100, 784, 1023, 1024, 1025, 3072, 4099};
    return i < 40 ? i + 1 : big[i - 40];
}
#define NROWLENS 50

/* |got - ref| <= rel |ref| + abs, at every i < n; the row after n must
 * still hold the sentinel. */
static void check_row(const char *what, const kernels *k, int n, const float *got, const float *ref, double rel,
                      double abs) {
    int bad = -1;
    for (int i = 0; i < n && bad < 0; i++)
        if (!(fabs((double)got[i] - ref[i]) <= rel * fabs(ref[i]) + abs) && !(isnan(got[i]) && isnan(ref[i])))
            bad = i;
    CHECK_MSG(bad < 0, "%s %s n=%d: [%d] %.9g, scalar %.9g", k->name, what, n, bad, bad < 0 ? 0 : got[bad],
              bad < 0 ? 0 : ref[bad]);
    CHECK_MSG(got[n] == sentinel, "%s %s n=%d wrote past the row", k->name, what, n);
}

/* round_bf16 bit for bit, on random values and every special case of
 * dtype.h f32_to_bf16: ties both ways, carries into the exponent and to
 * inf, subnormals, signed zeros, infinities and NaNs with payloads. */
static void check_round_bf16(const kernels *k) {
    static const uint32_t special[] = {0x00000000, 0x80000000, 0x3f808000, 0x3f818000, 0x3f80ffff, 0x3f7fffff,
                                       0x7f7fffff, 0xff7fffff, 0x7f7f8000, 0x00008000, 0x00018000, 0x807fffff,
                                       0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001, 0x7fffffff,
                                       0xff80ffff, 0x7f80ffff, 0x3f800001, 0xbf808001};
    const int ns = sizeof special / sizeof *special;
    static float x[MAXN];
    static uint16_t got[MAXN + 1], ref[MAXN];
    for (int li = 0; li < NROWLENS; li++) {
        int n = row_len(li);
        for (int i = 0; i < n; i++) x[i] = 50.0f * rndf();
        for (int i = 0; i < n; i++)   /* the specials slide through every lane position */
            if ((i + li) % 3 == 0) memcpy(&x[i], &special[(i + li) % ns], sizeof *x);
        got[n] = 0xABCD;
        k->round_bf16(x, got, n);
        kernels_scalar.round_bf16(x, ref, n);
        CHECK_MSG(!memcmp(got, ref, (size_t)n * sizeof *got) && got[n] == 0xABCD, "%s round_bf16 n=%d", k->name, n);
    }
}

/* softmax and softmax_bf16: the exps within a few ulp (the polynomial
 * against expf) and the sums within f32 rounding; a BF16 probability may
 * round the other way, one BF16 step. Wide ranges give zeros and
 * subnormals; a -inf entry is a masked key. */
static void check_softmaxes(const kernels *k) {
    static float x[MAXN + 1], got[MAXN + 1], ref[MAXN + 1];
    static uint16_t p[MAXN + 1], pr[MAXN + 1];
    for (int li = 0; li < NROWLENS; li++)
        for (int wide = 0; wide < 2; wide++) {
            int n = row_len(li);
            for (int i = 0; i < n; i++) x[i] = (wide ? 120.0f : 20.0f) * rndf();
            if (n > 2) x[n / 2] = -INFINITY;
            memcpy(got, x, (size_t)n * sizeof *x), memcpy(ref, x, (size_t)n * sizeof *x);
            got[n] = sentinel;
            k->softmax(got, n);
            kernels_scalar.softmax(ref, n);
            check_row(wide ? "softmax (wide)" : "softmax", k, n, got, ref, 1e-5, 1e-43);
            p[n] = 0xABCD;
            float inv = k->softmax_bf16(x, p, n), inv_ref = kernels_scalar.softmax_bf16(x, pr, n);
            int steps = 0;
            for (int i = 0; i < n; i++) steps += abs((int)p[i] - (int)pr[i]) > 1;
            CHECK_MSG(!steps && fabsf(inv - inv_ref) <= 1e-5f * inv_ref && p[n] == 0xABCD,
                      "%s softmax_bf16 n=%d wide=%d: %d values off by more than one BF16 step, 1/sum %.9g vs %.9g",
                      k->name, n, wide, steps, inv, inv_ref);
        }
}

/* layernorm to f32 rounding of its scale (|x| r + 1) |w| + |b|: x - mean
 * is only as exact as |x|, and rows here have an offset mean. In place
 * must give the same as out of place. */
static void check_layernorm(const kernels *k) {
    static float x[MAXN], w[MAXN], b[MAXN], got[MAXN + 1], ref[MAXN];
    for (int li = 0; li < NROWLENS; li++) {
        int n = row_len(li);
        float off = li % 2 ? 30.0f : 0.0f;
        for (int i = 0; i < n; i++) x[i] = off + 4.0f * rndf(), w[i] = 1.0f + rndf(), b[i] = rndf();
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += x[i];
        for (int i = 0; i < n; i++) var += (x[i] - mean / n) * (x[i] - mean / n);
        double r = 1.0 / sqrt(var / n + 1e-6);
        got[n] = sentinel;
        k->layernorm(got, x, w, b, n, 1e-6f);
        kernels_scalar.layernorm(ref, x, w, b, n, 1e-6f);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double err = fabs(got[i] - ref[i]) / ((fabs(x[i]) * r + 1.0) * fabs(w[i]) + fabs(b[i]));
            worst = err > worst ? err : worst;
        }
        CHECK_MSG(worst < 2e-6 && got[n] == sentinel, "%s layernorm n=%d: error %.3g of the scale", k->name, n, worst);
        k->layernorm(x, x, w, b, n, 1e-6f);
        CHECK_MSG(!memcmp(x, got, (size_t)n * sizeof *x), "%s layernorm n=%d in place differs", k->name, n);
    }
}

/* add_gelu_tanh within a few ulp, through both saturated tails (exp
 * overflow: -0; exp underflow: x itself), zeros and subnormals;
 * vec_add bit for bit (one rounding, no order); add_residual within the
 * rounding of its two additions. */
static void check_elementwise(const kernels *k) {
    static const float special[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 1e-20f, 3.0f, -3.0f, 9.5f, -9.5f,
                                    20.0f, -20.0f, 100.0f, -100.0f, 1e4f, -1e4f, 3e38f, -3e38f};
    const int ns = sizeof special / sizeof *special;
    static float x[MAXN], b[MAXN], y[MAXN], got[MAXN + 1], ref[MAXN + 1], zero[MAXN];
    for (int li = 0; li < NROWLENS; li++) {
        int n = row_len(li);
        for (int i = 0; i < n; i++) x[i] = 8.0f * rndf(), b[i] = 2.0f * rndf(), y[i] = 50.0f * rndf();
        for (int i = li % 4; i < n; i += 4) x[i] = special[(i + li) % ns];
        memcpy(got, x, (size_t)n * sizeof *x), memcpy(ref, x, (size_t)n * sizeof *x);
        got[n] = ref[n] = sentinel;
        k->add_gelu_tanh(got, zero, n);   /* the specials as they are */
        kernels_scalar.add_gelu_tanh(ref, zero, n);
        check_row("add_gelu_tanh (no bias)", k, n, got, ref, 4 * FLT_EPSILON, 1e-44);
        memcpy(got, x, (size_t)n * sizeof *x), memcpy(ref, x, (size_t)n * sizeof *x);
        k->add_gelu_tanh(got, b, n);
        kernels_scalar.add_gelu_tanh(ref, b, n);
        check_row("add_gelu_tanh", k, n, got, ref, 4 * FLT_EPSILON, 1e-44);
        memcpy(got, y, (size_t)n * sizeof *y), memcpy(ref, y, (size_t)n * sizeof *y);
        k->vec_add(got, x, n);
        kernels_scalar.vec_add(ref, x, n);
        check_row("vec_add", k, n, got, ref, 0, 0);
        int bad = 0;
        memcpy(got, y, (size_t)n * sizeof *y), memcpy(ref, y, (size_t)n * sizeof *y);
        k->add_residual(got, x, b, n);
        kernels_scalar.add_residual(ref, x, b, n);
        for (int i = 0; i < n; i++)
            bad += !(fabsf(got[i] - ref[i]) <= 2 * FLT_EPSILON * (fabsf(y[i]) + fabsf(x[i]) + fabsf(b[i])));
        CHECK_MSG(!bad && got[n] == sentinel, "%s add_residual n=%d: %d values off", k->name, n, bad);
    }
}

int main(void) {
    int n_tables, tested = 0;
    const kernels *const *tables = kernels_list(&n_tables);
    for (int i = 0; i < n_tables; i++) {
        if (tables[i] == &kernels_scalar || kernels_force(tables[i]->name) != 0) continue;
        const kernels *k = kernels_get();
        tested++;
        check_round_bf16(k);
        check_softmaxes(k);
        check_layernorm(k);
        check_elementwise(k);
        check_attention(k);
    }
    if (!tested) fprintf(stderr, "no SIMD kernel table runs on this CPU: nothing to compare\n");
    return check_summary();
}
