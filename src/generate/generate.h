/* generate.h - the generation loop: prompt in, streamed text out.
 *
 * A gen_session holds one conversation's KV cache. Each generate() call gets
 * the WHOLE conversation as its prompt (ids from position 0, with M-RoPE
 * positions and image features); the session remembers what its cache holds
 * and only computes the part after the longest common prefix (same ids, same
 * positions, same image features), so a follow-up question, a second
 * question about the same image or a shared system prompt costs only the new
 * tokens. It then samples until a stop condition, calling on_text with every
 * complete piece of UTF-8 text as soon as it is known not to be part of a
 * stop string.
 *
 * Constrained answers: with gen_params.constraint (a grammar, grammar.h)
 * every token is chosen among those the grammar allows next (token_mask.h:
 * the others' logits become -inf before sampling; where one token is
 * allowed it is taken without sampling), end-of-turn tokens only once the
 * grammar's value is complete, and the answer ends as soon as nothing else
 * may follow. After each sampled token, the text the grammar then allows
 * in one way only (a key with its quotes and colon, a closing bracket) is
 * tokenized and decoded in the same forward pass ("jump-forward": k forced
 * tokens cost one pass, not k; they count as generated and as n_forced). Loop detection is off then (the grammar bounds the output; a
 * list of equal items is not a loop). An answer stopped before its value
 * was complete (max_tokens, the context, cancellation, a stop string) says
 * so in gen_result.incomplete. Without a constraint nothing of this runs.
 *
 * Stop conditions, reported in gen_result.finish: an end-of-turn token, a
 * stop string (not included in the text), max_tokens, a full context, the
 * output looping (the same n-gram repeated over and over; the text so far is
 * kept), or cancellation (on_text returned non-zero, or *cancel was set).
 * *cancel is read before every token and, during the prompt, between its
 * forward passes of 512 tokens, so a long prompt stops within one pass;
 * after each of those passes gen_params.progress hears how far the prompt
 * is (tokens reused from the cache count as done).
 */
#ifndef QVL_GENERATE_H
#define QVL_GENERATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "base/progress.h"
#include "engine/threadpool.h"
#include "generate/decoder_pool.h"
#include "grammar/grammar.h"
#include "grammar/token_mask.h"
#include "model/model.h"
#include "generate/sampler.h"
#include "model/text_model.h"

typedef enum finish_reason {
    FINISH_NONE = 0,
    FINISH_STOP,        /* end-of-turn token or stop string */
    FINISH_LENGTH,      /* max_tokens reached */
    FINISH_CONTEXT,     /* the context window is full */
    FINISH_LOOP,        /* output repeated itself; stopped early */
    FINISH_CANCELLED,
} finish_reason;

const char *finish_reason_name(finish_reason f);   /* "stop", "length", ... */

typedef struct gen_params {
    sampling_params sampling;
    int max_tokens;            /* <= 0: until the context is full */
    const char *const *stop;   /* stop strings; NULL or n_stop = 0 for none */
    int n_stop;
    bool ignore_eos;           /* keep going past end-of-turn tokens (tests) */
    bool detect_loops;         /* stop when the output loops (default on) */
    qvl_progress progress;     /* hears ("prompt", tokens done, prompt tokens) after each prefill pass; {0} = none */
    const grammar *constraint; /* NULL: free text; else the answer follows this grammar (see above) */
    const vocab_index *vocab;  /* the model tokenizer's index; required with constraint */
} gen_params;

gen_params gen_params_defaults(const qvl_model *m);

typedef struct gen_prompt {
    const int32_t *ids;        /* (n) the whole conversation so far */
    int n;
    const int32_t *pos;        /* (n, 3) M-RoPE positions; NULL = text-only (0..n-1) */
    int next_pos;              /* position after the prompt (used when pos != NULL) */
    const float *image_embd;   /* see text_batch */
    int n_image_rows;
} gen_prompt;

typedef struct gen_result {
    finish_reason finish;
    int n_prompt, n_generated;
    int n_cached;              /* prompt tokens reused from the session's cache */
    double prompt_ms, gen_ms;  /* prefill, and decode after the first token */
    char *text;                /* malloc'd full answer (what on_text received) */
    size_t text_len;
    /* With a constraint: */
    bool incomplete;           /* stopped before the grammar's value was complete */
    int n_forced;              /* tokens taken without sampling (the only one allowed, or jumped forward) */
    double mask_ms;            /* time spent computing allowed-token masks */
    long masks_computed, masks_cached;
} gen_result;

void gen_result_free(gen_result *r);

typedef struct gen_session {
    kv_cache kv;
    int next_pos;              /* M-RoPE position of the next token */
    /* What the cache holds, position by position (kv.n entries). */
    int32_t *ids;              /* (n_ctx) */
    int32_t *pos;              /* (n_ctx, 3) */
    uint64_t *feature_hash;    /* (n_ctx) hash of the image feature row; 0 for text */
    /* NULL (gen_session_init's default): forward passes run on generate()'s
     * tp. Else they go through this pool (made for the same model), whose
     * decode steps are batched with other sessions' (decoder_pool.h). */
    decoder_pool *pool;
} gen_session;

int gen_session_init(gen_session *s, const qvl_model *m, int n_ctx, qvl_error *err);
void gen_session_free(gen_session *s);

/* Return non-zero to cancel. */
typedef int (*gen_on_text)(void *user, const char *text, size_t len);

/* Runs the prompt and generates (on tp, or through s->pool). Returns 0 (result filled, also when
 * cancelled, during the prompt too: then with no text) or -1 with err set
 * (bad prompt, context too small for the prompt, out of memory). */
int generate(const qvl_model *m, gen_session *s, const gen_prompt *prompt, const gen_params *p, threadpool *tp,
             gen_on_text on_text, void *user, atomic_bool *cancel, gen_result *out, qvl_error *err);

#endif
