/* sampler.h - picks the next token from the logits.
 *
 * Order (as Hugging Face generate, plus OpenAI-style penalties):
 *   repetition penalty (HF: divide positive / multiply negative logits of
 *   tokens seen in the prompt and output) -> presence and frequency
 *   penalties (over generated tokens, OpenAI/vLLM semantics) -> greedy if
 *   temperature == 0 -> temperature -> top-k -> top-p -> min-p -> draw.
 * The draw uses a per-request xorshift generator seeded from `seed`, so a
 * seed reproduces an answer exactly.
 */
#ifndef QVL_SAMPLER_H
#define QVL_SAMPLER_H

#include <stdint.h>

#include "model/config.h"

typedef struct sampler {
    sampling_params p;
    uint64_t rng;
    int vocab;                 /* ids >= vocab are never drawn */
    int *counts;               /* (vocab) times each id was generated */
    uint8_t *in_prompt;        /* (vocab) 1 if the id occurs in the prompt */
    int *idx;                  /* (vocab) scratch */
} sampler;

/* vocab = number of real tokens (padding rows beyond it are never drawn).
 * Returns 0, or -1 when out of memory. */
int sampler_init(sampler *s, const sampling_params *p, int vocab);
void sampler_free(sampler *s);

/* Records prompt ids (for the repetition penalty). */
void sampler_add_prompt(sampler *s, const int32_t *ids, int n);

/* Chooses a token from logits (modified in place) and records it. Logits
 * of -inf (tokens a grammar forbids) are never chosen while any is finite. */
int32_t sampler_sample(sampler *s, float *logits);

/* The same choice among ids[0..n) only (ascending, all < vocab; n >= 1),
 * as if every other logit were -inf, without touching the others: for a
 * grammar that allows few tokens. scratch holds n floats. Records it. */
int32_t sampler_sample_among(sampler *s, const float *logits, const int32_t *ids, int n, float *scratch);

/* Records a token chosen without sampling (the only one a grammar allows),
 * so the penalties see it. */
void sampler_record(sampler *s, int32_t id);

#endif
