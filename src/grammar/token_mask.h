/* token_mask.h - which tokens of the vocabulary a grammar allows next.
 *
 * vocab_index: built once per tokenizer (about 0.1 s for Qwen's 151k
 * tokens), read-only afterwards and shared by every request. It holds
 *   - a trie over the tokens' bytes in preorder: the mask of a grammar state
 *     is one walk down it, stepping a copy of the state per trie node and
 *     skipping a whole subtree as soon as a byte is refused, so tokens that
 *     share a refused prefix are never looked at;
 *   - for the most common state, the body of a JSON string, a precomputed
 *     answer: tokens made only of ordinary characters (no quote, backslash,
 *     control byte, nor a cut UTF-8 character) are allowed whatever the
 *     grammar around the string, as long as they fit its maxLength; bitsets
 *     by character count hold them, tokens the string refuses whatever the
 *     grammar (control bytes, broken UTF-8) are left out, and only those
 *     with a quote or backslash (about 2,500) are stepped one by one.
 *     (XGrammar's "context-independent tokens", reduced to the one context
 *     that matters for JSON.)
 * Special tokens (<|im_end|> ...) are never part of grammar output.
 *
 * token_matcher: one generation's position in its grammar, with a cache of
 * masks by state (the same state - a string body, the place after a comma -
 * recurs at every element, so most steps are a lookup). Owned by one
 * thread.
 */
#ifndef QVL_TOKEN_MASK_H
#define QVL_TOKEN_MASK_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

typedef struct vocab_index vocab_index;

/* Indexes tk's tokens. Returns NULL with err set when out of memory. The
 * tokenizer must outlive the index. */
vocab_index *vocab_index_build(const tokenizer *tk, qvl_error *err);
void vocab_index_free(vocab_index *vx);

/* Mask size: bits for ids 0 .. n_vocab-1. */
int vocab_index_size(const vocab_index *vx);

typedef struct token_matcher token_matcher;

/* A matcher at the start of g's output. stop_ids (n_stop of them, e.g.
 * <|im_end|>) are allowed exactly when the output may end. g and vx must
 * outlive it. Returns NULL with err set when out of memory. */
token_matcher *token_matcher_new(const grammar *g, const vocab_index *vx, const int32_t *stop_ids, int n_stop,
                                 qvl_error *err);
void token_matcher_free(token_matcher *tm);

/* The allowed tokens now: a bitset of vocab_index_size bits (bit i of word
 * i / 64 set = id i allowed), owned by the matcher and valid until its next
 * call. *n_allowed counts them; when it is 1, *only is that id. Cannot fail
 * (a state with no allowed token gives 0: the grammar cannot go on, e.g.
 * nesting deeper than GSTATE_MAX_DEPTH). */
const uint64_t *token_matcher_mask(token_matcher *tm, int *n_allowed, int32_t *only);

/* Advances past token id. Returns 0, or -1 when the grammar does not allow
 * it (the matcher is then unchanged). A stop id is accepted when the output
 * may end, and finishes the matcher. */
int token_matcher_accept(token_matcher *tm, int32_t id);

/* The bytes the grammar allows in exactly one way from here (a key after
 * its comma, the separators around it, the rest of the only enum value
 * left ...), up to cap of them and cut back to whole UTF-8 characters;
 * none once the output may end. Returns how many were written to buf.
 * Does not advance. Cannot fail. */
int token_matcher_forced_bytes(const token_matcher *tm, char *buf, int cap);

/* True when the output so far is complete (the stop ids are allowed). */
bool token_matcher_can_end(const token_matcher *tm);

/* True when nothing but a stop id may follow. */
bool token_matcher_finished(const token_matcher *tm);

/* Counters for the bench: masks computed (not from the cache) and the time
 * spent computing and looking them up, in milliseconds. */
void token_matcher_stats(const token_matcher *tm, long *computed, long *cached, double *ms);

#endif
