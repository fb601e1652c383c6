/* golden_util.h - helpers for tests that compare against ../shared/testdata/golden:
 * reading the golden files and comparing logits with the README's rules. */
#ifndef QVL_GOLDEN_UTIL_H
#define QVL_GOLDEN_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads whitespace-separated integers; returns a malloc'd array or NULL. */
static inline int32_t *golden_read_ids(const char *path, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    int cap = 64;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    long v;
    *n = 0;
    while (fscanf(f, "%ld", &v) == 1) {
        if (*n == cap) ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[(*n)++] = (int32_t)v;
    }
    fclose(f);
    return ids;
}

/* Reads n floats of raw little-endian f32; NULL if the file is shorter. */
static inline float *golden_read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *v = malloc(n * sizeof *v);
    size_t got = fread(v, sizeof *v, n, f);
    fclose(f);
    if (got != n) {
        free(v);
        return NULL;
    }
    return v;
}

/* Reference top-1/top-2 margin per generation step (generated_logits_top5.txt). */
static inline int golden_read_margins(const char *path, float *margins, int max) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int n = 0;
    char line[512];
    while (n < max && fgets(line, sizeof line, f)) {
        int id1, id2;
        float l1, l2;
        if (sscanf(line, "%d %f %d %f", &id1, &l1, &id2, &l2) != 4) break;
        margins[n++] = l1 - l2;
    }
    fclose(f);
    return n;
}

typedef struct logit_diff {
    double max_abs, rms;
    int argmax_got, argmax_ref;
} logit_diff;

static inline logit_diff golden_compare(const float *got, const float *ref, int n) {
    logit_diff d = {0, 0, 0, 0};
    for (int i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (e > d.max_abs) d.max_abs = e;
        d.rms += e * e;
        if (got[i] > got[d.argmax_got]) d.argmax_got = i;
        if (ref[i] > ref[d.argmax_ref]) d.argmax_ref = i;
    }
    d.rms = sqrt(d.rms / n);
    return d;
}

#endif
