/* sampler.c - see sampler.h. */
#include "generate/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sampler_init(sampler *s, const sampling_params *p, int vocab) {
    memset(s, 0, sizeof *s);
    s->p = *p;
    s->vocab = vocab;
    s->rng = p->seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    s->counts = calloc((size_t)vocab, sizeof *s->counts);
    s->in_prompt = calloc((size_t)vocab, 1);
    s->idx = malloc((size_t)vocab * sizeof *s->idx);
    if (!s->counts || !s->in_prompt || !s->idx) {
        sampler_free(s);
        return -1;
    }
    return 0;
}

void sampler_free(sampler *s) {
    free(s->counts);
    free(s->in_prompt);
    free(s->idx);
    memset(s, 0, sizeof *s);
}

void sampler_add_prompt(sampler *s, const int32_t *ids, int n) {
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < s->vocab) s->in_prompt[ids[i]] = 1;
}

static double rng_uniform(sampler *s) {
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

static int cmp_desc(const void *a, const void *b, void *base) {
    const float *l = base;
    float x = l[*(const int *)a], y = l[*(const int *)b];
    if (x != y) return x < y ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

/* Partial selection: moves the k largest (by logit) ids to the front of idx,
 * sorted. O(vocab * log k) with a simple insertion into a bounded list. */
static int top_ids(const float *logits, int vocab, int k, int *idx) {
    int n = 0;
    for (int i = 0; i < vocab; i++) {
        float v = logits[i];
        if (n == k && v <= logits[idx[n - 1]]) continue;
        int j = n < k ? n++ : n - 1;
        while (j > 0 && logits[idx[j - 1]] < v) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return n;
}

/* The repetition, presence and frequency penalties of token id on its logit. */
static float penalized(const sampler *s, float l, int32_t id) {
    const sampling_params *p = &s->p;
    if (p->repetition_penalty != 1.0f && (s->in_prompt[id] || s->counts[id]))
        l = l > 0 ? l / p->repetition_penalty : l * p->repetition_penalty;
    if (s->counts[id]) l -= p->presence_penalty + p->frequency_penalty * (float)s->counts[id];
    return l;
}

/* Greedy, or temperature -> top-k -> top-p -> min-p -> draw, over logits[0..V). Returns the index chosen. */
static int choose(sampler *s, const float *logits, int V) {
    const sampling_params *p = &s->p;
    int chosen = 0;
    if (p->temperature <= 0.0f) {
        for (int i = 1; i < V; i++)
            if (logits[i] > logits[chosen]) chosen = i;
        return chosen;
    }
    int k = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    int n;
    if (k < V) {
        n = top_ids(logits, V, k, s->idx);
    } else {
        for (int i = 0; i < V; i++) s->idx[i] = i;
        qsort_r(s->idx, (size_t)V, sizeof *s->idx, cmp_desc, (void *)logits);
        n = V;
    }
    /* Softmax over the kept candidates at the given temperature. */
    float mx = logits[s->idx[0]];
    double sum = 0;
    float *prob = malloc((size_t)n * sizeof *prob);
    if (!prob) return s->idx[0];   /* out of memory: the most likely */
    for (int i = 0; i < n; i++) {
        prob[i] = expf((logits[s->idx[i]] - mx) / p->temperature);
        sum += prob[i];
    }
    int keep = n;
    if (p->top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += prob[i] / sum;
            if (cum >= p->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        float floor_p = p->min_p * prob[0];
        int j = 1;
        while (j < keep && prob[j] >= floor_p) j++;
        keep = j;
    }
    double total = 0;
    for (int i = 0; i < keep; i++) total += prob[i];
    double r = rng_uniform(s) * total, cum = 0;
    chosen = s->idx[0];   /* if rounding leaves r past the sum: the last candidate that has weight */
    for (int i = keep - 1; i > 0; i--)
        if (prob[i] > 0) {
            chosen = s->idx[i];
            break;
        }
    for (int i = 0; i < keep; i++) {
        cum += prob[i];
        if (r < cum) {
            chosen = s->idx[i];
            break;
        }
    }
    free(prob);
    return chosen;
}

int32_t sampler_sample(sampler *s, float *logits) {
    for (int i = 0; i < s->vocab; i++) logits[i] = penalized(s, logits[i], i);
    int32_t chosen = choose(s, logits, s->vocab);
    s->counts[chosen]++;
    return chosen;
}

int32_t sampler_sample_among(sampler *s, const float *logits, const int32_t *ids, int n, float *scratch) {
    for (int i = 0; i < n; i++) scratch[i] = penalized(s, logits[ids[i]], ids[i]);
    int32_t chosen = ids[choose(s, scratch, n)];
    s->counts[chosen]++;
    return chosen;
}

void sampler_record(sampler *s, int32_t id) {
    if (id >= 0 && id < s->vocab) s->counts[id]++;
}
