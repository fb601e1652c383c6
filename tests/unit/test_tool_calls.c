/* test_tool_calls.c - the answer side of tool calls and the request side of
 * JSON answers in the server (api_structured.c), on crafted text, since the
 * synthetic model writes gibberish: <tool_call> blocks become OpenAI's
 * tool_calls (arguments as JSON text, an id) or Ollama's (arguments as an
 * object, no id), the text around them is the content, and a malformed
 * block leaves the whole answer as text; Ollama's "format" ("json" or a
 * schema) becomes a grammar, anything else a 400 naming the field or the
 * refused keyword; tools are checked entry by entry.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "server/server_impl.h"

#define CALL(name, args) "<tool_call>\n{\"name\": \"" name "\", \"arguments\": " args "}\n</tool_call>"

static json_t *parse(const char *text, api_call_shape shape, char **content) {
    return api_tool_calls(text, strlen(text), shape, content);
}

/* The call's arguments (Ollama shape) as compact JSON, for comparing. */
static char *args_text(const json_t *call) {
    return json_dumps(json_object_get(json_object_get(call, "function"), "arguments"), JSON_COMPACT | JSON_SORT_KEYS);
}

static void test_ollama_shape(void) {
    char *content = NULL;
    json_t *calls = parse("Let me look.\n" CALL("get_weather", "{\"city\": \"Paris\", \"days\": 2}"), API_CALLS_OLLAMA,
                          &content);
    CHECK(calls && json_array_size(calls) == 1);
    json_t *c = json_array_get(calls, 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(c, "function"), "name")), "get_weather");
    char *a = args_text(c);
    CHECK_STR(a ? a : "", "{\"city\":\"Paris\",\"days\":2}");
    free(a);
    CHECK(json_object_get(c, "id") == NULL && json_object_get(c, "type") == NULL);   /* Ollama's shape has neither */
    CHECK(content && !strcmp(content, "Let me look."));
    free(content);
    json_decref(calls);
}

static void test_two_calls_no_text(void) {
    char *content = (char *)"unset";
    json_t *calls = parse("\n" CALL("a", "{}") "\n" CALL("b", "{\"x\": [1, 2]}") "\n", API_CALLS_OLLAMA, &content);
    CHECK(calls && json_array_size(calls) == 2);
    CHECK(content == NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(calls, 1), "function"), "name")), "b");
    char *a = args_text(json_array_get(calls, 1));
    CHECK_STR(a ? a : "", "{\"x\":[1,2]}");
    free(a);
    json_decref(calls);
}

/* Arguments written as a string: OpenAI keeps the string; Ollama wants an
 * object, so a string holding one is parsed and any other string makes the
 * block malformed (the answer stays text). */
static void test_string_arguments(void) {
    char *content = NULL;
    const char *held = CALL("f", "\"{\\\"k\\\": true}\"");
    json_t *calls = parse(held, API_CALLS_OLLAMA, &content);
    CHECK(calls && json_array_size(calls) == 1);
    char *a = calls ? args_text(json_array_get(calls, 0)) : NULL;
    CHECK_STR(a ? a : "", "{\"k\":true}");
    free(a);
    json_decref(calls);
    free(content);

    const char *plain = CALL("f", "\"Paris\"");
    calls = parse(plain, API_CALLS_OLLAMA, &content);
    CHECK(calls == NULL && content == NULL);
    calls = parse(plain, API_CALLS_OPENAI, &content);
    CHECK(calls && json_array_size(calls) == 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(calls, 0), "function"), "arguments")),
              "Paris");
    json_decref(calls);
    free(content);
}

static void test_openai_shape(void) {
    char *content = NULL;
    json_t *calls = parse(CALL("get_time", "{\"tz\": \"UTC\"}") " done", API_CALLS_OPENAI, &content);
    CHECK(calls && json_array_size(calls) == 1);
    json_t *c = json_array_get(calls, 0);
    CHECK(!strncmp(json_string_value(json_object_get(c, "id")) ? json_string_value(json_object_get(c, "id")) : "",
                   "call_", 5));
    CHECK_STR(json_string_value(json_object_get(c, "type")), "function");
    const char *args = json_string_value(json_object_get(json_object_get(c, "function"), "arguments"));
    CHECK_STR(args ? args : "", "{\"tz\":\"UTC\"}");
    CHECK(content && !strcmp(content, "done"));
    free(content);
    json_decref(calls);
}

static void test_malformed_is_text(void) {
    static const char *texts[] = {
        "no call at all",
        "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n",               /* never closed */
        "<tool_call>\n{\"name\": \"f\", \"arguments\": {</tool_call>",       /* not JSON */
        "<tool_call>\n{\"arguments\": {}}\n</tool_call>",                    /* no name */
        "<tool_call>\n{\"name\": \"f\"}\n</tool_call>",                      /* no arguments */
        CALL("ok", "{}") "<tool_call>[1]</tool_call>",                       /* one bad block spoils all */
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        for (int shape = API_CALLS_OPENAI; shape <= API_CALLS_OLLAMA; shape++) {
            char *content = (char *)"unset";
            json_t *calls = parse(texts[i], (api_call_shape)shape, &content);
            CHECK_MSG(calls == NULL && content == NULL, "text %zu, shape %d", i, shape);
            json_decref(calls);
        }
}

/* Ollama's format: "json" and a schema give grammars; other values and
 * refused keywords give QVL_E_BAD_INPUT naming the field and the keyword. */
static void test_format_grammar(void) {
    qvl_error err = {0};
    grammar *g = NULL;
    json_t *json = json_string("json");
    CHECK(api_schema_grammar(json, "format", false, &g, &err) == 0 && g);
    grammar_free(g);
    json_t *schema = json_pack("{s:s, s:{s:{s:s}}}", "type", "object", "properties", "age", "type", "integer");
    CHECK(api_schema_grammar(schema, "format", false, &g, &err) == 0 && g);
    grammar_free(g);
    CHECK(api_schema_grammar(NULL, "format", false, &g, &err) == 0 && g == NULL);

    json_t *bad[] = {json_string("xml"), json_integer(7), json_string("{\"type\": \"object\"}"), json_array()};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (qvl_error){0};
        g = (grammar *)1;
        CHECK(api_schema_grammar(bad[i], "format", false, &g, &err) == -1 && g == NULL);
        CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
        CHECK_MSG(strstr(err.msg, "'format' must be \"json\" or a JSON Schema object") != NULL, "%s", err.msg);
        json_decref(bad[i]);
    }
    /* the simple API's schema field may carry the schema as text */
    json_t *text = json_string("{\"type\": \"object\"}");
    CHECK(api_schema_grammar(text, "schema", true, &g, &err) == 0 && g);
    grammar_free(g);

    json_t *refused = json_pack("{s:s, s:{s:{s:s, s:s}}}", "type", "object", "properties", "code", "type", "string",
                                "pattern", "^[A-Z]+$");
    err = (qvl_error){0};
    CHECK(api_schema_grammar(refused, "format", false, &g, &err) == -1 && g == NULL);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
    CHECK_MSG(!strncmp(err.msg, "format", 6) && strstr(err.msg, "pattern"), "%s", err.msg);
    json_decref(refused);
    json_decref(text);
    json_decref(json);
    json_decref(schema);
}

static void test_check_tools(void) {
    qvl_error err = {0};
    json_t *good = json_pack("[{s:s, s:{s:s, s:{s:s}}}]", "type", "function", "function", "name", "get_time",
                             "parameters", "type", "object");
    CHECK(api_check_tools(good, &err) == 0);
    json_t *bad = json_pack("[{s:s, s:{s:s}}, {s:s}]", "type", "function", "function", "name", "ok", "type", "x");
    CHECK(api_check_tools(bad, &err) == -1);
    CHECK_MSG(strstr(err.msg, "tools[1]") != NULL, "%s", err.msg);
    json_t *obj = json_object();
    CHECK(api_check_tools(obj, &err) == -1);
    json_decref(good);
    json_decref(bad);
    json_decref(obj);
}

int main(void) {
    test_ollama_shape();
    test_two_calls_no_text();
    test_string_arguments();
    test_openai_shape();
    test_malformed_is_text();
    test_format_grammar();
    test_check_tools();
    return check_summary();
}
