/* test_attn_prompt.c - causal prompt attention, in two parts.
 *
 * 1. On every CPU, for every kernel table it runs:
 *    the per-pair path the text model takes for prompts without AVX-512
 *    (text_model.c attn_head: the table's dot_f32_lanes16, or its
 *    attn_scores_rows, times the scale; softmax_masked; memset + axpy_f32
 *    over the keys in order, or attn_pv_rows) against a naive attention in
 *    double precision (within float rounding), and the table's
 *    dot_f32_lanes16 against ops.h dot_f32_lanes16 bit for bit (kernels.h
 *    promise). This is also the reference part 2 must equal.
 * 2. With AVX-512 only: the blocked prompt attention (attn_prompt.h)
 *    against those per-pair kernels bit for bit - every query count of a
 *    block, key counts around the key tile, head sizes 16..192, strided
 *    rows. On a CPU without AVX-512 the blocked path is never taken and
 *    cannot run; the test then prints a SKIP line saying so (shown by
 *    tests/run_all.sh) instead of passing as if it had checked it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/attn_prompt.h"
#include "engine/kernels.h"
#include "engine/ops.h"

static unsigned rng = 12345;
static float rndf(void) {
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static void check_case(int hd, int nq, int nk) {
    size_t qs = (size_t)hd + 16, ks = (size_t)hd + 48, ss = (size_t)nk + 3;   /* strides wider than rows */
    float *q = malloc(ATTN_PROMPT_QB * qs * sizeof *q), *k = malloc((size_t)nk * ks * sizeof *k);
    float *v = malloc((size_t)nk * ks * sizeof *v), *s = malloc(ATTN_PROMPT_QB * ss * sizeof *s);
    float *o = malloc(ATTN_PROMPT_QB * qs * sizeof *o), *ref = malloc((size_t)hd * sizeof *ref);
    for (size_t i = 0; i < ATTN_PROMPT_QB * qs; i++) q[i] = rndf() * 3.0f;
    for (size_t i = 0; i < (size_t)nk * ks; i++) k[i] = rndf(), v[i] = rndf() * 2.0f;
    float scale = 0.088388f;
    attn_prompt_scores(q, qs, nq, k, ks, nk, hd, scale, s, ss);
    int bad = 0;
    for (int i = 0; i < nq && !bad; i++)
        for (int j = 0; j < nk && !bad; j++) {
            float r = dot_f32_lanes16(q + i * qs, k + j * ks, hd) * scale;
            if (!same_bits(s[i * ss + j], r)) {
                CHECK_MSG(0, "scores hd=%d nq=%d nk=%d (%d,%d): %.9g != %.9g", hd, nq, nk, i, j, s[i * ss + j], r);
                bad = 1;
            }
        }
    /* weights: the scores themselves; query i uses nk - (nq - 1 - i) keys (causal rows) */
    int len[ATTN_PROMPT_QB];
    for (int i = 0; i < nq; i++) len[i] = nk - (nq - 1 - i) > 0 ? nk - (nq - 1 - i) : 1;
    for (size_t i = 0; i < ATTN_PROMPT_QB * qs; i++) o[i] = 7.0f;   /* must be overwritten, not added to */
    attn_prompt_pv(s, ss, len, nq, v, ks, hd, o, qs);
    for (int i = 0; i < nq && !bad; i++) {
        memset(ref, 0, (size_t)hd * sizeof *ref);
        for (int j = 0; j < len[i]; j++) kernels_get()->axpy_f32(ref, v + j * ks, s[i * ss + j], hd);
        for (int d = 0; d < hd && !bad; d++)
            if (!same_bits(o[i * qs + d], ref[d])) {
                CHECK_MSG(0, "pv hd=%d nq=%d len=%d (%d,%d): %.9g != %.9g", hd, nq, len[i], i, d, o[i * qs + d], ref[d]);
                bad = 1;
            }
        CHECK(same_bits(o[i * qs + hd], 7.0f));   /* nothing past the row */
    }
    for (int i = nq; i < ATTN_PROMPT_QB; i++) CHECK(same_bits(o[i * qs], 7.0f));   /* absent queries untouched */
    CHECK(!bad);
    free(q), free(k), free(v), free(s), free(o), free(ref);
}

/* ---- part 1: the per-pair path against a naive attention ------------------ */

/* Causal attention of nq queries over len[i] keys as attn_head computes it
 * with the active table, against softmax(q.k * scale) . v in double. */
static void check_pairs_naive(const kernels *kt, int hd, int nq, int nk) {
    size_t qs = (size_t)hd + 16, ks = (size_t)hd + 48;
    float *q = malloc((size_t)nq * qs * sizeof *q), *k = malloc((size_t)nk * ks * sizeof *k);
    float *v = malloc((size_t)nk * ks * sizeof *v), *s = malloc((size_t)(nk + 16) * sizeof *s);
    float *o = malloc((size_t)hd * sizeof *o);
    double *sd = malloc((size_t)nk * sizeof *sd);
    for (size_t i = 0; i < (size_t)nq * qs; i++) q[i] = rndf() * 3.0f;
    for (size_t i = 0; i < (size_t)nk * ks; i++) k[i] = rndf(), v[i] = rndf() * 2.0f;
    float scale = 1.0f / sqrtf((float)hd);
    int bad_dot = 0, bad_out = 0;
    double worst = 0;
    for (int i = 0; i < nq; i++) {
        int len = nk - (nq - 1 - i) > 0 ? nk - (nq - 1 - i) : 1;   /* causal rows */
        const float *qi = q + i * qs;
        /* the table's per-pair scores, as attn_head takes them */
        if (kt->attn_scores_rows) kt->attn_scores_rows(qi, k, ks, len, hd, scale, s);
        else
            for (int j = 0; j < len; j++) s[j] = kt->dot_f32_lanes16(qi, k + j * ks, hd) * scale;
        for (int j = 0; j < len; j++) bad_dot += !same_bits(kt->dot_f32_lanes16(qi, k + j * ks, hd),
                                                             dot_f32_lanes16(qi, k + j * ks, hd));
        softmax_masked(s, len, nk);
        if (kt->attn_pv_rows) kt->attn_pv_rows(o, v, ks, s, len, hd);
        else {
            memset(o, 0, (size_t)hd * sizeof *o);
            for (int j = 0; j < len; j++) kt->axpy_f32(o, v + j * ks, s[j], hd);
        }
        /* naive, in double */
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < len; j++) {
            double d = 0;
            for (int c = 0; c < hd; c++) d += (double)qi[c] * k[j * ks + c];
            sd[j] = d * scale;
            mx = sd[j] > mx ? sd[j] : mx;
        }
        for (int j = 0; j < len; j++) sum += sd[j] = exp(sd[j] - mx);
        for (int c = 0; c < hd; c++) {
            double want = 0;
            for (int j = 0; j < len; j++) want += sd[j] / sum * v[j * ks + c];
            double diff = fabs(o[c] - want);
            worst = diff > worst ? diff : worst;
            bad_out += !(diff <= 2e-5 + 2e-5 * fabs(want));   /* NaN fails too */
        }
    }
    CHECK_MSG(!bad_dot, "%s: dot_f32_lanes16 differs from ops.h in %d scores (hd=%d nk=%d)", kt->name, bad_dot, hd, nk);
    CHECK_MSG(!bad_out, "%s: attention hd=%d nq=%d nk=%d differs from the naive one in %d values (worst %.3g)",
              kt->name, hd, nq, nk, bad_out, worst);
    free(q), free(k), free(v), free(s), free(o), free(sd);
}

int main(void) {
    CHECK(!attn_prompt_supported(40) && !attn_prompt_supported(0) && attn_prompt_supported(128));
    CHECK(attn_prompt_supported(16) && attn_prompt_supported(192) && !attn_prompt_supported(8));
    const int hds[] = {16, 32, 48, 64, 80, 128, 192};
    const int nhd = (int)(sizeof hds / sizeof *hds);
    /* the per-pair path takes any head size: also ones with a tail after the 16-lane blocks */
    const int pair_hds[] = {16, 40, 64, 72, 128, 192};
    int n_tables, tested = 0;
    const kernels *const *tables = kernels_list(&n_tables);
    for (int t = 0; t < n_tables; t++) {
        if (kernels_force(tables[t]->name) != 0) continue;
        tested++;
        for (size_t h = 0; h < sizeof pair_hds / sizeof *pair_hds; h++)
            for (int nk = 1; nk <= 37; nk += nk < 9 ? 1 : 7) check_pairs_naive(kernels_get(), pair_hds[h], 4, nk);
    }
    CHECK_MSG(tested >= 1 && kernels_force("scalar") == 0, "the scalar table must run everywhere");
    if (kernels_force("avx512") != 0) {
        printf("SKIP test_attn_prompt: no AVX-512 on this CPU: the blocked prompt attention (attn_prompt_avx512.c, "
               "used only on AVX-512 CPUs) was NOT checked; the per-pair path was (%d kernel tables)\n", tested);
        return check_summary();
    }
    for (int h = 0; h < nhd; h++)
        for (int nq = 1; nq <= ATTN_PROMPT_QB; nq++)
            for (int nk = 1; nk <= 37; nk += nk < 9 ? 1 : 7) check_case(hds[h], nq, nk);
    return check_summary();
}
