/* tool_grammar.h - the grammar of one forced tool call in the Qwen3-VL
 * chat template's form:
 *
 *     <tool_call>
 *     {"name": "<one of the tools>", "arguments": <JSON of its parameters schema>}
 *     </tool_call>
 *
 * (the template's own separators around name and arguments, compact JSON
 * inside the arguments: grammar.h's output policy). Used when a request's
 * tool_choice is "required" or names a function.
 */
#ifndef QVL_TOOL_GRAMMAR_H
#define QVL_TOOL_GRAMMAR_H

#include <jansson.h>

#include "base/error.h"
#include "grammar/grammar.h"

/* tools: OpenAI's array of {"type": "function", "function": {"name",
 * "parameters"}}. only: the one function allowed, or NULL for any of them.
 * Returns the grammar, or NULL with err set (QVL_E_BAD_INPUT: a tool
 * without a name, `only` not among the tools, a parameters schema that
 * json_schema.h refuses - the message names tools[i]; QVL_E_NOMEM). */
grammar *grammar_tool_call(const json_t *tools, const char *only, qvl_error *err);

#endif
