/* json_schema.h - compiles a JSON Schema into a grammar (grammar.h).
 *
 * Supported (the subset OpenAI's strict mode and Ollama's `format` use):
 *   type (one name or a list), object with properties / required /
 *   additionalProperties (false, or a schema for objects without
 *   properties), array with items / minItems / maxItems, string with
 *   minLength / maxLength / format (date, date-time), enum, const,
 *   integer and number with minimum / maximum / exclusiveMinimum /
 *   exclusiveMaximum, boolean, null, anyOf (and allOf of one schema),
 *   $ref to "#", "#/$defs/..." or "#/definitions/...", recursion included.
 * Annotations (title, description, default, examples, $schema, $id,
 * $comment, deprecated, readOnly, writeOnly) are ignored.
 *
 * Limits of the generated output, all of which still validate: properties
 * come in the schema's order; an object with properties gets no others;
 * where anyOf alternatives can start with the same character the first
 * of them is taken; nesting stops at GSTATE_MAX_DEPTH frames.
 */
#ifndef QVL_JSON_SCHEMA_H
#define QVL_JSON_SCHEMA_H

#include <jansson.h>

#include "base/error.h"
#include "grammar/grammar.h"

/* Compiles schema (an object, or true for any value). Returns the grammar,
 * or NULL with err set: QVL_E_BAD_INPUT naming the unsupported keyword or
 * the contradiction and where it is ("json schema #/properties/x: 'pattern'
 * is not supported"), QVL_E_NOMEM. */
grammar *grammar_from_schema(const json_t *schema, qvl_error *err);

#endif
