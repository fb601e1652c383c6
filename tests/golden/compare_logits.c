/* compare_logits.c - compares a logits file with a golden one by the golden
 * README's rules: max |diff| and RMS diff within the given tolerances, and
 * the same argmax when the reference top-1/top-2 margin exceeds 0.05.
 *
 *   compare_logits GOT.f32 REF.f32 N_VOCAB TOP5.txt MAX_TOL RMS_TOL
 *
 * Prints the numbers; exit 0 = within tolerance, 1 = not, 2 = unreadable input. */
#include <stdio.h>
#include <stdlib.h>

#include "golden_util.h"

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: compare_logits GOT.f32 REF.f32 N_VOCAB TOP5.txt MAX_TOL RMS_TOL\n");
        return 2;
    }
    int n = atoi(argv[3]);
    double max_tol = atof(argv[5]), rms_tol = atof(argv[6]);
    float *got = n > 0 ? golden_read_f32(argv[1], (size_t)n) : NULL;
    float *ref = n > 0 ? golden_read_f32(argv[2], (size_t)n) : NULL;
    float margin = 0;
    if (!got || !ref || golden_read_margins(argv[4], &margin, 1) != 1) {
        fprintf(stderr, "compare_logits: cannot read %d floats from %s and %s, or the margin from %s\n", n, argv[1],
                argv[2], argv[4]);
        return 2;
    }
    logit_diff d = golden_compare(got, ref, n);
    int ok = d.max_abs <= max_tol && d.rms <= rms_tol && (margin <= 0.05f || d.argmax_got == d.argmax_ref);
    printf("max|d| %.5f (<= %g)  rms %.5f (<= %g)  argmax %d/%d (reference margin %.3f)  %s\n", d.max_abs, max_tol,
           d.rms, rms_tol, d.argmax_got, d.argmax_ref, margin, ok ? "OK" : "FAIL");
    free(got), free(ref);
    return ok ? 0 : 1;
}
