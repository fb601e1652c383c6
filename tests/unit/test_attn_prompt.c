/* The blocked prompt attention (attn_prompt.h) against the per-pair
 * kernels it must equal bit for bit: ops.h dot_f32_lanes16 times the scale
 * for scores, memset + the AVX-512 table's axpy_f32 (the one the decode
 * path uses) in key order for the weighted sums. Every query count of a block, key counts around the key
 * tile, head sizes 16..192, strided rows. Skipped (and said so) on CPUs
 * without AVX-512, where the path is never taken. */
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

int main(void) {
    CHECK(!attn_prompt_supported(40) && !attn_prompt_supported(0) && attn_prompt_supported(128));
    if (kernels_force("avx512") != 0) {
        printf("test_attn_prompt: no AVX-512 on this CPU, blocked attention not used; kernel checks skipped\n");
        return check_summary();
    }
    const int hds[] = {16, 32, 48, 64, 80, 128, 192};
    for (size_t h = 0; h < sizeof hds / sizeof *hds; h++)
        for (int nq = 1; nq <= ATTN_PROMPT_QB; nq++)
            for (int nk = 1; nk <= 37; nk += nk < 9 ? 1 : 7) check_case(hds[h], nq, nk);
    return check_summary();
}
