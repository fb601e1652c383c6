/* tool_grammar.c - see tool_grammar.h. */
#include "grammar/tool_grammar.h"

#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_impl.h"

enum { MAX_TOOLS = 128 };

/* The function object of a tool ({"type": "function", "function": {...}},
 * or the function object itself). */
static const json_t *function_of(const json_t *tool) {
    const json_t *fn = json_object_get(tool, "function");
    return json_is_object(fn) ? fn : tool;
}

/* SEQ[", \"arguments\": ", parameters] for tool i; -1 with err set. */
static int arguments_node(grammar *g, const json_t *fn, size_t i, qvl_error *err) {
    const json_t *params = json_object_get(fn, "parameters");
    int args = params ? grammar_add_schema(g, params, err) : g->any_map;
    if (args < 0) {
        qvl_error_prefix(err, "tools[%zu].function.parameters", i);
        return -1;
    }
    int sep = grammar_add_text(g, ", \"arguments\": ");
    int parts[2] = {sep, args};
    int first = sep < 0 ? -1 : grammar_add_kids(g, parts, 2);
    int node = first < 0 ? -1 : grammar_add_node(g, GN_SEQ);
    if (node < 0) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    g->nodes[node].a = first;
    g->nodes[node].b = 2;
    return node;
}

grammar *grammar_tool_call(const json_t *tools, const char *only, qvl_error *err) {
    if (!json_is_array(tools) || json_array_size(tools) == 0 || json_array_size(tools) > MAX_TOOLS) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'tools' must be an array of 1 to %d functions", MAX_TOOLS);
        return NULL;
    }
    grammar *g = grammar_new();
    char *names[MAX_TOOLS];
    uint32_t name_len[MAX_TOOLS];
    int32_t payload[MAX_TOOLS];
    int kids[MAX_TOOLS], n = 0;
    if (!g) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    size_t i;
    const json_t *tool;
    json_array_foreach(tools, i, tool) {
        const json_t *fn = function_of(tool);
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (!json_is_object(tool) || !name || !*name) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "tools[%zu] must be {\"type\": \"function\", \"function\": {\"name\": "
                          "..., \"parameters\": {...}}}", i);
            goto fail;
        }
        if (only && strcmp(name, only)) continue;
        json_t *str = json_string(name);
        names[n] = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
        json_decref(str);
        if (!names[n]) {
            qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
            goto fail;
        }
        name_len[n] = (uint32_t)strlen(names[n]);
        payload[n] = n;
        n++;
        if ((kids[n - 1] = arguments_node(g, fn, i, err)) < 0) goto fail;
    }
    if (n == 0) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "tool_choice names the function '%.64s', which is not among the tools",
                      only ? only : "");
        goto fail;
    }
    int lit = grammar_add_literals(g, (const char *const *)names, name_len, payload, n);
    int sw = lit < 0 ? -1 : grammar_add_node(g, GN_SWITCH);
    int first = sw < 0 ? -1 : grammar_add_kids(g, kids, n);
    int head = grammar_add_text(g, "<tool_call>\n{\"name\": "), tail = grammar_add_text(g, "}\n</tool_call>");
    int parts[3] = {head, sw, tail};
    int seq_first = first < 0 || head < 0 || tail < 0 ? -1 : grammar_add_kids(g, parts, 3);
    int root = seq_first < 0 ? -1 : grammar_add_node(g, GN_SEQ);
    if (root < 0) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        goto fail;
    }
    g->nodes[sw].a = lit;
    g->nodes[sw].c = first;
    g->nodes[root].a = seq_first;
    g->nodes[root].b = 3;
    g->root = root;
    for (int k = 0; k < n; k++) free(names[k]);
    return g;
fail:
    for (int k = 0; k < n; k++) free(names[k]);
    grammar_free(g);
    return NULL;
}
