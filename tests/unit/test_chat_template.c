/* test_chat_template.c - the C chat template against the renderings of the
 * real Jinja template (golden/chat-template.json), tool-call and vision-id
 * renderings transcribed by hand from tokenizer_config.json, and malformed
 * messages. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tokenizer/chat_template.h"

static int count_str(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_golden(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/chat-template.json", testdata_dir());
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    CHECK_MSG(root != NULL, "%s: %s", path, je.text);
    const json_t *cases = json_object_get(root, "cases");
    CHECK_EQ_INT(json_array_size(cases), 20);
    size_t i;
    const json_t *c;
    int exact = 0;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const json_t *want = json_object_get(c, "rendered");
        chat_template_opts opts = {
            .add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt")),
        };
        qvl_error err = { 0 };
        int n_images = -1;
        char *got = chat_template_render(json_object_get(c, "messages"), &opts, &n_images, &err);
        CHECK_MSG(got != NULL, "%s: %s", name, err.msg);
        if (!got) continue;
        bool ok = strlen(got) == json_string_length(want) &&
                  strcmp(got, json_string_value(want)) == 0;
        CHECK_MSG(ok, "%s:\n got  \"%s\"\n want \"%s\"", name, got, json_string_value(want));
        exact += ok;
        CHECK_EQ_INT(n_images, count_str(json_string_value(want), "<|image_pad|>"));
        free(got);
    }
    fprintf(stderr, "chat template: %d/%zu golden renderings identical\n", exact,
            json_array_size(cases));
    json_decref(root);
}

/* Renders a JSON text of messages and compares with the expected prompt. */
static void expect_render(const char *messages, const chat_template_opts *opts,
                          const char *want, int want_images) {
    json_t *m = json_loads(messages, 0, NULL);
    CHECK_MSG(m != NULL, "bad test JSON: %s", messages);
    qvl_error err = { 0 };
    int n_images = -1;
    char *got = chat_template_render(m, opts, &n_images, &err);
    CHECK_MSG(got && strcmp(got, want) == 0, "\n got  \"%s\"\n want \"%s\" (%s)",
              got ? got : "(null)", want, err.msg);
    CHECK_EQ_INT(n_images, want_images);
    free(got);
    json_decref(m);
}

typedef struct media_log {
    char kinds[16];
    int n;
} media_log;

static void log_media(void *ctx, chat_media_kind kind, int index, const json_t *part) {
    media_log *l = ctx;
    if (l->n + 2 < (int)sizeof l->kinds) {
        l->kinds[l->n++] = kind == CHAT_MEDIA_IMAGE ? 'i' : 'v';
        l->kinds[l->n++] = (char)('0' + index);
    }
}

/* Expected strings below were written by reading the Jinja template. */
static void test_template_features(void) {
    chat_template_opts gen = { .add_generation_prompt = true };
    expect_render(
        "[{\"role\":\"user\",\"content\":\"What's the weather?\"},"
        " {\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"type\":\"function\","
        "   \"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},"
        " {\"role\":\"tool\",\"content\":\"22C\"}, {\"role\":\"tool\",\"content\":\"sunny\"}]",
        &gen,
        "<|im_start|>user\nWhat's the weather?<|im_end|>\n"
        "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
        "{\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n"
        "<|im_start|>user\n<tool_response>\n22C\n</tool_response>"
        "\n<tool_response>\nsunny\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n", 0);

    expect_render(
        "[{\"role\":\"user\",\"content\":\"x\"},"
        " {\"role\":\"assistant\",\"content\":\"Let me check.\",\"tool_calls\":["
        "   {\"name\":\"a\",\"arguments\":\"{\\\"k\\\": 1}\"},"
        "   {\"function\":{\"name\":\"b\",\"arguments\":{}}}]}]",
        NULL,
        "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\nLet me check.\n"
        "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"k\": 1}}\n</tool_call>\n"
        "<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call><|im_end|>\n", 0);

    media_log log = { { 0 }, 0 };
    chat_template_opts vid = { .add_vision_id = true, .on_media = log_media, .media_ctx = &log };
    expect_render(
        "[{\"role\":\"user\",\"content\":[{\"type\":\"image\"},{\"type\":\"text\",\"text\":\"a\"}]},"
        " {\"role\":\"assistant\",\"content\":\"ok\"},"
        " {\"role\":\"user\",\"content\":[{\"video\":\"v.mp4\"},"
        "   {\"image_url\":{\"url\":\"http://x/y.png\"}},{\"text\":\"b\"},{\"type\":\"audio\"}]}]",
        &vid,
        "<|im_start|>user\nPicture 1: <|vision_start|><|image_pad|><|vision_end|>a<|im_end|>\n"
        "<|im_start|>assistant\nok<|im_end|>\n"
        "<|im_start|>user\nVideo 1: <|vision_start|><|video_pad|><|vision_end|>"
        "Picture 2: <|vision_start|><|image_pad|><|vision_end|>b<|im_end|>\n", 2);
    CHECK_MSG(log.n == 6 && memcmp(log.kinds, "i0v0i1", 6) == 0, "media order %.*s",
              log.n, log.kinds);

    /* System images are not rendered, a later system message is dropped,
     * and the tools block replaces the plain system block. */
    json_t *tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                               "\"parameters\":{\"type\":\"object\"}}}]", 0, NULL);
    chat_template_opts with_tools = { .tools = tools };
    expect_render(
        "[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"S\"},{\"type\":\"image\"}]},"
        " {\"role\":\"user\",\"content\":\"u\"}, {\"role\":\"system\",\"content\":\"late\"}]",
        &with_tools,
        "<|im_start|>system\nS\n\n# Tools\n\nYou may call one or more functions to assist with "
        "the user query.\n\nYou are provided with function signatures within <tools></tools> "
        "XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"f\", "
        "\"parameters\": {\"type\": \"object\"}}}\n</tools>\n\nFor each function call, return a "
        "json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
        "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n"
        "</tool_call><|im_end|>\n<|im_start|>user\nu<|im_end|>\n", 0);
    expect_render(
        "[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"S\"},{\"type\":\"image\"}]},"
        " {\"role\":\"user\",\"content\":\"u\"}, {\"role\":\"system\",\"content\":\"late\"}]",
        &gen, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nu<|im_end|>\n"
              "<|im_start|>assistant\n", 0);
    json_decref(tools);
}

static void expect_error(const char *messages, const json_t *tools, const char *keyword) {
    json_t *m = json_loads(messages, JSON_DECODE_ANY, NULL);
    CHECK_MSG(m != NULL, "bad test JSON: %s", messages);
    chat_template_opts opts = { .add_generation_prompt = true, .tools = tools };
    qvl_error err = { 0 };
    int n_images = 77;
    char *got = chat_template_render(m, &opts, &n_images, &err);
    CHECK_MSG(got == NULL, "rendered %s", messages);
    CHECK_MSG(strstr(err.msg, keyword) != NULL, "\"%s\" lacks \"%s\"", err.msg, keyword);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
    CHECK_EQ_INT(n_images, 77);
    free(got);
    json_decref(m);
}

static void test_errors(void) {
    expect_error("{\"role\":\"user\",\"content\":\"hi\"}", NULL, "non-empty array");
    expect_error("[]", NULL, "non-empty array");
    expect_error("[\"hello\"]", NULL, "messages[0]: not an object");
    expect_error("[{\"content\":\"hi\"}]", NULL, "\"role\" missing");
    expect_error("[{\"role\":7,\"content\":\"hi\"}]", NULL, "\"role\" missing");
    expect_error("[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"robot\",\"content\":\"b\"}]",
                 NULL, "messages[1]: unknown role \"robot\"");
    expect_error("[{\"role\":\"user\",\"content\":42}]", NULL, "\"content\" must be");
    expect_error("[{\"role\":\"user\"}]", NULL, "\"content\" must be");
    expect_error("[{\"role\":\"user\",\"content\":null}]", NULL, "\"content\" must be");
    expect_error("[{\"role\":\"user\",\"content\":[\"just a string\"]}]", NULL, "not an object");
    expect_error("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]", NULL,
                 "\"text\" is not a string");
    expect_error("[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":{\"name\":\"f\"}}]",
                 NULL, "tool_calls is not an array");
    expect_error("[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"arguments\":{}}]}]",
                 NULL, "string \"name\"");
    json_t *not_array = json_string("tools");
    expect_error("[{\"role\":\"user\",\"content\":\"hi\"}]", not_array, "tools must be an array");
    json_decref(not_array);
    qvl_error err = { 0 };
    CHECK(chat_template_render(NULL, NULL, NULL, &err) == NULL && err.msg[0]);

    /* An assistant turn with only tool calls may have null content. */
    chat_template_opts none = { 0 };
    expect_render("[{\"role\":\"assistant\",\"content\":null,"
                  "\"tool_calls\":[{\"name\":\"f\",\"arguments\":\"{}\"}]}]",
                  &none, "<|im_start|>assistant\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}"
                         "\n</tool_call><|im_end|>\n", 0);
}

int main(void) {
    test_golden();
    test_template_features();
    test_errors();
    return check_summary();
}
