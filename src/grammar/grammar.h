/* grammar.h - a compiled output grammar: which byte strings the model may
 * write when its answer must be JSON of a given shape.
 *
 * A grammar is built once per request (json_schema.h from a JSON Schema,
 * tool_grammar.h for a forced tool call, or grammar_json_object here),
 * is immutable afterwards and may be read by any number of threads.
 * grammar_state.h walks it byte by byte; token_mask.h turns that into the
 * set of tokens allowed at each step of the generation.
 *
 * Output policy (what every grammar produces): compact JSON - no whitespace
 * between tokens; object properties in the schema's order (optional ones
 * may be left out); strings hold any Unicode character, written as UTF-8,
 * and the escapes \" \\ \/ \b \f \n \r \t (never \u, so no control
 * characters other than those five); numbers without exponents, at most 15
 * integer and 9 fraction digits.
 */
#ifndef QVL_GRAMMAR_H
#define QVL_GRAMMAR_H

#include "base/error.h"

typedef struct grammar grammar;

/* Any JSON object (OpenAI's response_format {"type": "json_object"}).
 * Returns NULL with err set when out of memory. */
grammar *grammar_json_object(qvl_error *err);

/* Frees everything; NULL is fine. */
void grammar_free(grammar *g);

#endif
