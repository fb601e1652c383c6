/* kernels.c - picks the kernel table once, from CPUID or QVL_KERNELS: the
 * one place that knows which instruction sets exist. */
#include "engine/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const kernels *active;

static int supported(const kernels *k) {
    __builtin_cpu_init();
    if (k == &kernels_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (k == &kernels_avx2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return 1;
}

const kernels *kernels_get(void) {
    if (!active) {
        const char *env = getenv("QVL_KERNELS");
        if (env && *env && kernels_force(env) != 0)
            fprintf(stderr, "qvl: QVL_KERNELS=%s is unknown or not supported by this CPU; using the best table\n", env);
        const kernels *order[] = {&kernels_avx512, &kernels_avx2, &kernels_scalar};
        for (int i = 0; i < 3 && !active; i++)
            if (supported(order[i])) active = order[i];
    }
    return active;
}

int kernels_force(const char *name) {
    const kernels *all[] = {&kernels_avx512, &kernels_avx2, &kernels_scalar};
    for (int i = 0; i < 3; i++)
        if (!strcmp(all[i]->name, name) && supported(all[i])) {
            active = all[i];
            return 0;
        }
    return -1;
}
