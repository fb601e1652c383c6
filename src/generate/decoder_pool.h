/* decoder_pool.h - one compute engine shared by concurrent generations, so
 * that N users decoding at once read the weights once per step, not N times.
 *
 * The pool owns a thread pool with all compute threads and one engine thread
 * that runs every forward pass submitted to it as one text_forward_multi
 * over everything waiting: the decode steps (batches of one token) of all
 * decoding sequences and the prompts (more tokens, or image features) that
 * fit DECODER_POOL_PROMPT_TOKENS, the oldest always. New users' prompts thus
 * share a pass with each other and with the running streams, and a long
 * prompt delays the other streams by its own length once.
 * A sequence that is decoding joins the pool (decoder_pool_join) so the
 * engine knows how many steps to wait for before it runs one; a step waits
 * for the others at most a quarter of the last pass's time (at least
 * DECODER_POOL_GATHER_MS), so a slow caller (a slow streaming callback)
 * cannot hold the rest back for long.
 *
 * Results are the same as text_forward's, bit for bit, under the condition
 * documented at text_forward_multi (quantized weights, or float weights with
 * fewer than 8 sequences decoding at once).
 *
 * Memory: the pool owns its threads; the model and every kv_cache passed in
 * stay the caller's and must outlive the calls that use them.
 */
#ifndef QVL_DECODER_POOL_H
#define QVL_DECODER_POOL_H

#include "base/error.h"
#include "model/text_model.h"

#define DECODER_POOL_GATHER_MS 5
#define DECODER_POOL_PROMPT_TOKENS 1024   /* prompt tokens per pass beyond the first prompt */

typedef struct decoder_pool decoder_pool;

/* Starts the engine thread with a thread pool of `threads` threads (< 1 means
 * 1) for model m. Returns NULL with err set (out of memory, no thread). */
decoder_pool *decoder_pool_create(const text_model *m, int threads, qvl_error *err);

/* Stops the engine. No call may be in flight. NULL is fine. */
void decoder_pool_free(decoder_pool *p);

/* text_forward through the pool: blocks until the batch has run. Same
 * contract and failures as text_forward (kv must be used by one caller at a
 * time; a failing sequence never fails the others batched with it). */
int decoder_pool_forward(decoder_pool *p, kv_cache *kv, const text_batch *b, float *logits, qvl_error *err);

/* A sequence starts / stops submitting decode steps. Every join is matched
 * by one leave. Cannot fail. */
void decoder_pool_join(decoder_pool *p);
void decoder_pool_leave(decoder_pool *p);

/* Decode passes run so far and the steps they served (steps / passes is the
 * mean batch size). Cannot fail. */
void decoder_pool_stats(decoder_pool *p, long *passes, long *steps);

#endif
