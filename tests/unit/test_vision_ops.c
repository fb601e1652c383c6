/* test_vision_ops.c - the vision tower's element kernels (kernels.h
 * layernorm, add_gelu_tanh, vec_add, add_residual) and its BF16 attention
 * kernels, in every table this CPU supports, against independent double
 * precision references: layernorm by its definition, GELU by tanh, softmax
 * by exp, the attention by plain sums of the same BF16 values. Tolerances
 * are relative to the values' scale, since the kernels may sum in any
 * order. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "engine/dtype.h"
#include "engine/kernels.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static float rndf(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

/* Row lengths: every tail 1..16 around a vector, and the tower's widths. */
static const int lens[] = {1, 5, 15, 16, 17, 31, 33, 100, 255, 1024, 1031, 4096, 4100};
#define NLENS (int)(sizeof lens / sizeof lens[0])
#define MAXN 4100

static void check_layernorm(const kernels *k) {
    static float x[MAXN], w[MAXN], b[MAXN], y[MAXN];
    for (int li = 0; li < NLENS; li++) {
        int n = lens[li];
        /* an offset mean, as residual streams have: the variance must not cancel */
        float off = li % 2 ? 40.0f : 0.0f;
        for (int i = 0; i < n; i++) x[i] = off + 3.0f * rndf(), w[i] = 1.0f + rndf(), b[i] = rndf();
        double mean = 0, var = 0;
        for (int i = 0; i < n; i++) mean += x[i];
        mean /= n;
        for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
        var /= n;
        double r = 1.0 / sqrt(var + 1e-6);
        k->layernorm(y, x, w, b, n, 1e-6f);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double ref = (x[i] - mean) * r * w[i] + b[i];
            /* scale: float x - mean is exact only to ulp(|x|), so the error is
             * relative to (|x| r + 1) |w| + |b| */
            double err = fabs(y[i] - ref) / ((fabs(x[i]) * r + 1.0) * fabs(w[i]) + fabs(b[i]));
            worst = err > worst ? err : worst;
        }
        CHECK_MSG(worst < 1e-6, "%s layernorm n=%d offset %g: relative error %.3g", k->name, n, off, worst);
        /* in place, as the header allows */
        k->layernorm(x, x, w, b, n, 1e-6f);
        int same = 1;
        for (int i = 0; i < n; i++) same &= x[i] == y[i];
        CHECK_MSG(same, "%s layernorm n=%d in place differs", k->name, n);
    }
}

static void check_gelu(const kernels *k) {
    static float x[MAXN], b[MAXN], v[MAXN];
    for (int li = 0; li < NLENS; li++) {
        int n = lens[li];
        /* -12..12: both saturated tails, where exp overflows or vanishes */
        for (int i = 0; i < n; i++) x[i] = 10.0f * rndf(), b[i] = 2.0f * rndf(), v[i] = x[i] + b[i];
        k->add_gelu_tanh(x, b, n);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double t = v[i];
            double ref = 0.5 * t * (1.0 + tanh(0.7978845608028654 * (t + 0.044715 * t * t * t)));
            double err = fabs(x[i] - ref) / (fabs(t) > 1 ? fabs(t) : 1.0);
            worst = err > worst ? err : worst;
        }
        CHECK_MSG(worst < 1e-6, "%s add_gelu_tanh n=%d: error %.3g", k->name, n, worst);
    }
}

static void check_adds(const kernels *k) {
    static float y[MAXN], x[MAXN], b[MAXN], y0[MAXN];
    for (int li = 0; li < NLENS; li++) {
        int n = lens[li];
        for (int i = 0; i < n; i++) y[i] = y0[i] = 50.0f * rndf(), x[i] = rndf(), b[i] = rndf();
        k->vec_add(y, x, n);
        int exact = 1;   /* one rounding per element: no order to differ in */
        for (int i = 0; i < n; i++) exact &= y[i] == y0[i] + x[i];
        CHECK_MSG(exact, "%s vec_add n=%d", k->name, n);
        for (int i = 0; i < n; i++) y[i] = y0[i];
        k->add_residual(y, x, b, n);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double err = fabs(y[i] - ((double)y0[i] + x[i] + b[i])) / (fabs(y0[i]) + fabs(x[i]) + fabs(b[i]));
            worst = err > worst ? err : worst;
        }
        CHECK_MSG(worst < 2.5e-7, "%s add_residual n=%d: relative error %.3g", k->name, n, worst);
    }
}

/* round_bf16 bit for bit against dtype.h, softmax_bf16 (times the
 * normaliser it returns) against a double softmax within BF16 rounding (half a BF16 ulp: at most 2^-8 relative,
 * plus the f32 exp's own error). */
static void check_bf16_rows(const kernels *k) {
    static float x[MAXN];
    static uint16_t p[MAXN + 1];
    for (int li = 0; li < NLENS; li++) {
        int n = lens[li];
        for (int i = 0; i < n; i++) x[i] = 20.0f * rndf();
        x[0] = 1e-41f;   /* a subnormal and a halfway case */
        if (n > 1) x[1] = 1.00390625f;
        k->round_bf16(x, p, n);
        int same = 1;
        for (int i = 0; i < n; i++) same &= p[i] == f32_to_bf16(x[i]);
        CHECK_MSG(same, "%s round_bf16 n=%d", k->name, n);
        for (int i = 0; i < n; i++) x[i] = 8.0f * rndf();
        p[n] = 0xABCD;
        float inv = k->softmax_bf16(x, p, n);
        double mx = -INFINITY, sum = 0, worst = 0;
        for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < n; i++) sum += exp(x[i] - mx);
        for (int i = 0; i < n; i++) {
            double ref = exp(x[i] - mx) / sum, err = fabs(bf16_to_f32(p[i]) * (double)inv - ref) / ref;
            worst = err > worst ? err : worst;
        }
        CHECK_MSG(worst < 0x1p-8 + 1e-6, "%s softmax_bf16 n=%d: relative error %.3g", k->name, n, worst);
        CHECK_MSG(p[n] == 0xABCD, "%s softmax_bf16 n=%d wrote past the row", k->name, n);
    }
}

/* Both BF16 attention products have one form: out[i * os + c] = scale *
 * sum over t < len of a[i * as + t] * (value t of the pair b[(t / 2) * bs + c]).
 * Returns the worst error of out against that sum in double, relative to
 * the sum of the terms' magnitudes (what f32 rounding is relative to). */
static double product_error(const uint16_t *a, size_t as, int rows, const uint32_t *b, size_t bs, int cols, int len,
                            double scale, const float *out, size_t os) {
    double worst = 0;
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < cols; c++) {
            double ref = 0, mag = 0;
            for (int t = 0; t < len; t++) {
                double term = (double)bf16_to_f32(a[i * as + t]) *
                              bf16_to_f32((uint16_t)(b[t / 2 * bs + c] >> (16 * (t % 2))));
                ref += term, mag += fabs(term);
            }
            double err = fabs(out[i * os + c] - ref * scale) / (mag * scale + 1e-30);
            worst = err > worst ? err : worst;
        }
    return worst;
}

/* The BF16 attention products at the tower's head size and at shapes with
 * every kind of tail (queries, keys), through strided views as the tower
 * uses. */
static void check_attention(const kernels *k) {
    static const int shapes[][3] = {{1, 2, 64}, {7, 34, 64}, {13, 100, 64}, {40, 784, 64}, {5, 50, 48}, {3, 10, 20}};
    for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++) {
        int nq = shapes[si][0], n = shapes[si][1], hd = shapes[si][2];
        size_t qs = hd + 6, kps = n + 5, ss = n + 7, vps = hd + 2, ps = n + 4, os = hd + 1;
        uint16_t *q = malloc(nq * qs * sizeof *q), *p = malloc(nq * ps * sizeof *p);
        uint32_t *kp = malloc(hd / 2 * kps * sizeof *kp), *vp = malloc(n / 2 * vps * sizeof *vp);
        float *s = malloc(nq * ss * sizeof *s), *o = malloc(nq * os * sizeof *o);
        for (size_t i = 0; i < nq * qs; i++) q[i] = f32_to_bf16(rndf());
        for (size_t i = 0; i < hd / 2 * kps; i++) kp[i] = f32_to_bf16(rndf()) | (uint32_t)f32_to_bf16(rndf()) << 16;
        for (size_t i = 0; i < n / 2 * vps; i++) vp[i] = f32_to_bf16(rndf()) | (uint32_t)f32_to_bf16(rndf()) << 16;
        for (size_t i = 0; i < nq * ps; i++) p[i] = f32_to_bf16((rndf() + 1.0f) / n);
        float scale = 0.125f;
        k->attn_scores_bf16(q, qs, nq, kp, kps, n, hd, scale, s, ss);
        double worst = product_error(q, qs, nq, kp, kps, n, hd, scale, s, ss);
        CHECK_MSG(worst < 1e-6, "%s attn_scores_bf16 %dx%dx%d: error %.3g", k->name, nq, n, hd, worst);
        k->attn_pv_bf16(p, ps, nq, vp, vps, n, hd, o, os);
        worst = product_error(p, ps, nq, vp, vps, hd, n, 1.0, o, os);
        CHECK_MSG(worst < 1e-6, "%s attn_pv_bf16 %dx%dx%d: error %.3g", k->name, nq, n, hd, worst);
        free(q), free(p), free(kp), free(vp), free(s), free(o);
    }
}

int main(void) {
    int n_tables;
    const kernels *const *tables = kernels_list(&n_tables);
    for (int i = 0; i < n_tables; i++) {
        if (kernels_force(tables[i]->name) != 0) continue;
        check_layernorm(kernels_get());
        check_gelu(kernels_get());
        check_adds(kernels_get());
        check_bf16_rows(kernels_get());
        check_attention(kernels_get());
    }
    return check_summary();
}
