/* api_structured.c - structured answers in every API: OpenAI's
 * response_format, tools and tool_choice, the simple API's schema field,
 * Ollama's format and tools (requests -> a grammar and the tools to render),
 * and the tool calls found in an answer (answer text -> OpenAI's or
 * Ollama's tool_calls). See server_impl.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_schema.h"
#include "grammar/tool_grammar.h"
#include "server/server_impl.h"

/* ---- requests ------------------------------------------------------------------ */

static int parse_response_format(const json_t *body, grammar **out, qvl_error *err) {
    const json_t *rf = json_object_get(body, "response_format");
    if (!rf || json_is_null(rf)) return 0;
    const char *type = json_string_value(json_object_get(rf, "type"));
    if (!json_is_object(rf) || !type)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'response_format' must be an object with a 'type' (text, "
                             "json_object or json_schema)");
    if (!strcmp(type, "text")) return 0;
    if (!strcmp(type, "json_object")) return (*out = grammar_json_object(err)) ? 0 : -1;
    if (strcmp(type, "json_schema"))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "response_format type '%.40s' is not one of text, json_object, "
                             "json_schema", type);
    const json_t *wrapper = json_object_get(rf, "json_schema");
    const json_t *schema = json_object_get(wrapper, "schema");
    if (!schema) schema = json_object_get(rf, "schema");
    if (!schema)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "response_format json_schema needs the schema: "
                             "{\"type\": \"json_schema\", \"json_schema\": {\"name\": ..., \"schema\": {...}}}");
    if (!(*out = grammar_from_schema(schema, err))) return qvl_error_prefix(err, "response_format");
    return 0;
}

/* tool_choice: "auto" (default), "none", "required", or {"type": "function",
 * "function": {"name": ...}} -> *mode and *name (into body). */
static int parse_tool_choice(const json_t *body, const char **mode, const char **name, qvl_error *err) {
    const json_t *tc = json_object_get(body, "tool_choice");
    *mode = "auto";
    *name = NULL;
    if (!tc || json_is_null(tc)) return 0;
    if (json_is_string(tc)) {
        *mode = json_string_value(tc);
        if (!strcmp(*mode, "auto") || !strcmp(*mode, "none") || !strcmp(*mode, "required")) return 0;
    } else if (json_is_object(tc)) {
        *name = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
        *mode = "named";
        if (*name) return 0;
    }
    return qvl_fail_code(err, QVL_E_BAD_INPUT, "'tool_choice' must be \"auto\", \"none\", \"required\" or "
                         "{\"type\": \"function\", \"function\": {\"name\": ...}}");
}

int api_check_tools(const json_t *tools, qvl_error *err) {
    if (!json_is_array(tools)) return qvl_fail_code(err, QVL_E_BAD_INPUT, "'tools' must be an array");
    size_t i;
    const json_t *t;
    json_array_foreach(tools, i, t) {
        const json_t *fn = json_object_get(t, "function");
        const char *type = json_string_value(json_object_get(t, "type"));
        const json_t *params = json_object_get(fn, "parameters");
        if (!type || strcmp(type, "function") || !json_is_string(json_object_get(fn, "name")) ||
            (params && !json_is_object(params)))
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "tools[%zu] must be {\"type\": \"function\", \"function\": "
                                 "{\"name\": \"...\", \"parameters\": {...}}}", i);
    }
    return 0;
}

int api_parse_openai_structure(const json_t *body, api_structure *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    const json_t *tools = json_object_get(body, "tools");
    const char *mode, *name;
    if (parse_tool_choice(body, &mode, &name, err) != 0) return -1;
    bool have_tools = tools && !json_is_null(tools) && !(json_is_array(tools) && json_array_size(tools) == 0);
    if (have_tools && api_check_tools(tools, err) != 0) return -1;
    bool forced = !strcmp(mode, "required") || !strcmp(mode, "named");
    if (forced && !have_tools)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "tool_choice '%s' needs 'tools'", mode);
    if (parse_response_format(body, &out->constraint, err) != 0) return -1;
    if (forced && out->constraint) {
        api_structure_free(out);
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'response_format' and a required tool call cannot both shape "
                             "the answer: send one of them");
    }
    if (forced && !(out->constraint = grammar_tool_call(tools, name, err))) return -1;
    if (have_tools && strcmp(mode, "none")) {
        out->tools = json_incref((json_t *)tools);
        out->tool_calls = true;
    }
    return 0;
}

void api_structure_free(api_structure *s) {
    grammar_free(s->constraint);
    json_decref(s->tools);
    memset(s, 0, sizeof *s);
}

int api_schema_grammar(const json_t *s, const char *field, bool text_ok, grammar **out, qvl_error *err) {
    *out = NULL;
    if (!s || json_is_null(s)) return 0;
    json_t *parsed = NULL;
    if (json_is_string(s)) {
        if (!strcmp(json_string_value(s), "json")) return (*out = grammar_json_object(err)) ? 0 : -1;
        json_error_t je;
        if (text_ok && !(parsed = json_loads(json_string_value(s), 0, &je)))
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "'%s' is not JSON: %s (line %d)", field, je.text, je.line);
        if (parsed) s = parsed;
    }
    if (!json_is_object(s)) {
        json_decref(parsed);
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'%s' must be \"json\" or a JSON Schema object", field);
    }
    *out = grammar_from_schema(s, err);
    json_decref(parsed);
    return *out ? 0 : qvl_error_prefix(err, "%s", field);
}

int api_parse_schema_field(const json_t *body, grammar **out, qvl_error *err) {
    /* a multipart form sends the schema as text */
    return api_schema_grammar(json_object_get(body, "schema"), "schema", true, out, err);
}

/* ---- answers ------------------------------------------------------------------- */

static const char OPEN[] = "<tool_call>", CLOSE[] = "</tool_call>";

/* One call block's inner text -> a tool call in the given shape, or NULL
 * when it is not {"name": "...", "arguments": ...} (for Ollama, arguments
 * that are not an object, or a string holding one). */
static json_t *tool_call_json(const char *inner, size_t n, api_call_shape shape) {
    json_t *call = json_loadb(inner, n, 0, NULL);
    const char *name = json_string_value(json_object_get(call, "name"));
    json_t *args = json_object_get(call, "arguments");
    json_t *out = NULL;
    if (name && args && shape == API_CALLS_OLLAMA) {
        json_t *obj = json_is_string(args) ? json_loads(json_string_value(args), 0, NULL) : json_incref(args);
        if (json_is_object(obj)) out = json_pack("{s:{s:s, s:O}}", "function", "name", name, "arguments", obj);
        json_decref(obj);
    } else if (name && args) {
        char *text = json_is_string(args) ? strdup(json_string_value(args)) : json_dumps(args, JSON_COMPACT);
        char hex[CONV_ID_SIZE], id[40];
        conv_new_id(NULL, hex);
        snprintf(id, sizeof id, "call_%.24s", hex);
        if (text)
            out = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", id, "type", "function", "function", "name", name,
                            "arguments", text);
        free(text);
    }
    json_decref(call);
    return out;
}

json_t *api_tool_calls(const char *text, size_t len, api_call_shape shape, char **content) {
    *content = NULL;
    json_t *calls = json_array();
    char *rest = malloc(len + 1);
    size_t rest_len = 0;
    if (!calls || !rest) goto none;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *open = memmem(p, (size_t)(end - p), OPEN, sizeof OPEN - 1);
        if (!open) break;
        const char *inner = open + sizeof OPEN - 1;
        const char *close = memmem(inner, (size_t)(end - inner), CLOSE, sizeof CLOSE - 1);
        json_t *call = close ? tool_call_json(inner, (size_t)(close - inner), shape) : NULL;
        if (!call) goto none;   /* not a well-formed call: the whole answer is text */
        json_array_append_new(calls, call);
        memcpy(rest + rest_len, p, (size_t)(open - p));
        rest_len += (size_t)(open - p);
        p = close + sizeof CLOSE - 1;
    }
    if (json_array_size(calls) == 0) goto none;
    memcpy(rest + rest_len, p, (size_t)(end - p));
    rest_len += (size_t)(end - p);
    /* the text around the calls, trimmed; none at all becomes null content */
    size_t a = 0, b = rest_len;
    while (a < b && strchr(" \t\r\n", rest[a])) a++;
    while (b > a && strchr(" \t\r\n", rest[b - 1])) b--;
    if (b > a) {
        memmove(rest, rest + a, b - a);
        rest[b - a] = 0;
        *content = rest;
    } else {
        free(rest);
    }
    return calls;
none:
    free(rest);
    json_decref(calls);
    return NULL;
}
