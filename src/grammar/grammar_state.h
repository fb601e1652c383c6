/* grammar_state.h - where the output stands in a grammar: a pushdown
 * automaton over bytes.
 *
 * The state is a stack of frames, one per value being written (the root,
 * an object, its key, a string inside it ...). gstate_step feeds one byte
 * (or GSTATE_END, the end of the output) and says whether the grammar
 * allows it; a byte it refuses leaves the state unusable, so callers step a
 * copy (gstate_copy copies only the live frames, which is what makes the
 * token mask's trie walk cheap). Two states are equal when their live
 * frames are equal byte for byte (gstate_hash / gstate_equal key the mask
 * cache): counters that no longer matter saturate, so a long string without
 * maxLength stays one state.
 *
 * Depth: at most GSTATE_MAX_DEPTH frames; a value that would go deeper is
 * refused (json_object mode then cannot open another nested container).
 */
#ifndef QVL_GRAMMAR_STATE_H
#define QVL_GRAMMAR_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "grammar/grammar.h"

#define GSTATE_MAX_DEPTH 32
#define GSTATE_END (-1)

/* One frame (24 bytes, no padding: compared and hashed as bytes). */
typedef struct gframe {
    uint8_t kind, phase;
    uint16_t aux;              /* per kind: literal offset, UTF-8 bytes pending, digits ... */
    int32_t node;              /* grammar node (literal set for literal frames) */
    int32_t n, m;              /* per kind: counters, literal range, property index ... */
    double v;                  /* numbers: the integer part so far */
} gframe;

typedef struct gstate {
    int depth;
    gframe f[GSTATE_MAX_DEPTH];
} gstate;

/* The state before the first byte of g's output. Cannot fail. */
void gstate_init(const grammar *g, gstate *s);

/* Feeds byte c (0..255) or GSTATE_END. Returns true when g allows it (s
 * advanced), false when not (s is then undefined: step a copy). */
bool gstate_step(const grammar *g, gstate *s, int c);

/* Feeds n bytes; false as soon as one is refused. */
bool gstate_step_bytes(const grammar *g, gstate *s, const char *bytes, size_t n);

/* True when the output may end here (the root value is complete). */
bool gstate_can_end(const grammar *g, const gstate *s);

/* True when the root value is complete and nothing may follow it. */
bool gstate_finished(const gstate *s);

/* The string frame on top, when the next byte is read as a plain character
 * of a JSON string (not after a backslash, not inside a UTF-8 sequence):
 * *room = characters it may still take (-1 = unbounded). False otherwise.
 * token_mask.c's shortcut for the most common state. */
bool gstate_in_string_body(const grammar *g, const gstate *s, int64_t *room);

static inline void gstate_copy(gstate *dst, const gstate *src) {
    dst->depth = src->depth;
    for (int i = 0; i < src->depth; i++) dst->f[i] = src->f[i];
}

uint64_t gstate_hash(const gstate *s);
bool gstate_equal(const gstate *a, const gstate *b);

#endif
