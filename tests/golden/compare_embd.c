/* compare_embd.c - compares image embeddings with golden ones by the golden
 * README's rules: max |diff| within a tolerance and a cosine similarity
 * above a floor for every row.
 *
 *   compare_embd GOT.f32 REF.f32 ROWS COLS MAX_TOL MIN_COSINE
 *
 * Prints the numbers; exit 0 = within tolerance, 1 = not, 2 = unreadable input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "golden_util.h"

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: compare_embd GOT.f32 REF.f32 ROWS COLS MAX_TOL MIN_COSINE\n");
        return 2;
    }
    long rows = atol(argv[3]), cols = atol(argv[4]);
    double max_tol = atof(argv[5]), min_cos = atof(argv[6]);
    float *got = rows > 0 && cols > 0 ? golden_read_f32(argv[1], (size_t)(rows * cols)) : NULL;
    float *ref = got ? golden_read_f32(argv[2], (size_t)(rows * cols)) : NULL;
    if (!got || !ref) {
        fprintf(stderr, "compare_embd: cannot read %ld x %ld floats from %s and %s\n", rows, cols, argv[1], argv[2]);
        return 2;
    }
    double max_abs = 0, worst_cos = 1;
    for (long r = 0; r < rows; r++) {
        double dot = 0, na = 0, nb = 0;
        for (long c = 0; c < cols; c++) {
            double a = got[r * cols + c], b = ref[r * cols + c];
            if (fabs(a - b) > max_abs) max_abs = fabs(a - b);
            dot += a * b, na += a * a, nb += b * b;
        }
        double cs = dot / (sqrt(na * nb) + 1e-30);
        if (cs < worst_cos) worst_cos = cs;
    }
    int ok = max_abs <= max_tol && worst_cos >= min_cos;
    printf("max|d| %.2e (<= %g)  worst row cosine %.7f (>= %g)  %s\n", max_abs, max_tol, worst_cos, min_cos,
           ok ? "ok" : "OUT OF TOLERANCE");
    free(got), free(ref);
    return ok ? 0 : 1;
}
