/* test_weights.c - see test_weights.h; the formula is test-model.md's. */
#include "load/test_weights.h"

#include <math.h>
#include <string.h>

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* "norm" in the dotted component before the last one selects the norm rule. */
static int is_norm_name(const char *name) {
    const char *last = strrchr(name, '.');
    if (!last) return 0;
    const char *prev = last;
    while (prev > name && prev[-1] != '.') prev--;
    for (const char *p = prev; p + 4 <= last; p++)
        if (!memcmp(p, "norm", 4)) return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !memcmp(s + n - m, suffix, m);
}

void test_weights_fill(const char *name, const int64_t *shape, int n_dims,
                       int64_t start, int64_t count, float *out) {
    enum { BIAS, NORM, OTHER } kind = ends_with(name, ".bias") ? BIAS : is_norm_name(name) ? NORM : OTHER;
    int64_t fan_in = 1;
    for (int d = 1; d < n_dims; d++) fan_in *= shape[d];
    int s = (int)floor(log2((double)fan_in) / 2 + 0.5);
    float other_scale = ldexpf(1.0f, -7 - s);
    uint64_t h = fnv1a64(name);
    for (int64_t j = 0; j < count; j++) {
        uint64_t z = h + (uint64_t)(start + j + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z = z ^ (z >> 31);
        int k = (int)(z >> 56) - 128;
        switch (kind) {
        case BIAS: out[j] = ldexpf((float)k, -10); break;
        case NORM: out[j] = 1.0f + (float)(k >> 4) / 128.0f; break;
        default:   out[j] = (float)k * other_scale; break;
        }
    }
}
