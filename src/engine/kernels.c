/* kernels.c - picks the kernel table once, from CPUID or QVL_KERNELS: the
 * one place that knows which instruction sets exist. */
#include "engine/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const kernels *active;

static const kernels *const tables[] = {&kernels_avx512bf16, &kernels_avx512, &kernels_avxvnni, &kernels_avx2,
                                         &kernels_scalar};
enum { N_TABLES = sizeof tables / sizeof tables[0] };

const kernels *const *kernels_list(int *n) {
    *n = N_TABLES;
    return tables;
}

#define has(feature) (__builtin_cpu_supports(feature) != 0)   /* takes a literal only */

bool kernels_supported(const kernels *k) {
    __builtin_cpu_init();
    bool avx2 = has("avx2") && has("fma") && has("f16c");
    bool avx512 = avx2 && has("avx512f") && has("avx512bw") && has("avx512vl") && has("avx512dq") &&
                  has("avx512vnni");
    if (k == &kernels_avx512bf16) return avx512 && has("avx512bf16");
    if (k == &kernels_avx512) return avx512;
    if (k == &kernels_avxvnni) return avx2 && has("avxvnni");
    if (k == &kernels_avx2) return avx2;
    return true;
}

const kernels *kernels_get(void) {
    if (!active) {
        const char *env = getenv("QVL_KERNELS");
        if (env && *env && kernels_force(env) != 0)
            fprintf(stderr, "qvl: QVL_KERNELS=%s is unknown or not supported by this CPU; using the best table\n", env);
        for (int i = 0; i < N_TABLES && !active; i++)
            if (kernels_supported(tables[i])) active = tables[i];
    }
    return active;
}

int kernels_force(const char *name) {
    for (int i = 0; i < N_TABLES; i++)
        if (!strcmp(tables[i]->name, name) && kernels_supported(tables[i])) {
            active = tables[i];
            return 0;
        }
    return -1;
}
