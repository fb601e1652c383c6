/* chat_template.c - the Qwen3-VL Instruct chat template in C. See
 * chat_template.h; the Jinja source it mirrors is tokenizer_config.json
 * "chat_template". Each render function below names the template block it
 * reproduces. */
#include "tokenizer/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Output text plus the conversation-wide media counters of the template's
 * image_count / video_count namespaces. */
typedef struct render {
    char *p;
    size_t n, cap;
    bool oom;
    int n_images, n_videos;
    const chat_template_opts *opts;
    qvl_error *err;
} render;

static void put_n(render *r, const char *s, size_t n) {
    if (r->oom) return;
    if (r->n + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->n + n + 1) cap *= 2;
        char *q = realloc(r->p, cap);
        if (!q) {
            r->oom = true;
            return;
        }
        r->p = q;
        r->cap = cap;
    }
    memcpy(r->p + r->n, s, n);
    r->n += n;
    r->p[r->n] = 0;
}

static void put(render *r, const char *s) {
    put_n(r, s, strlen(s));
}

static int bad(render *r, size_t i, const char *what) {
    return qvl_fail_code(r->err, QVL_E_BAD_INPUT, "messages[%zu]: %s", i, what);
}

/* Python-like `tojson`: ", " and ": " separators, UTF-8 kept. */
static int put_json(render *r, const json_t *v, size_t i) {
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (!s) return bad(r, i, "value cannot be printed as JSON");
    put(r, s);
    free(s);
    return 0;
}

/* `content.text` of a part that has a "text" key. */
static int put_part_text(render *r, const json_t *part, size_t i) {
    const json_t *text = json_object_get(part, "text");
    if (!json_is_string(text)) return bad(r, i, "a content part's \"text\" is not a string");
    put_n(r, json_string_value(text), json_string_length(text));
    return 0;
}

static bool type_is(const json_t *part, const char *type) {
    const json_t *t = json_object_get(part, "type");
    return json_is_string(t) && strcmp(json_string_value(t), type) == 0;
}

/* Content as the template prints it. with_media: the user/tool variant
 * (images and videos become placeholders); otherwise only "text" parts
 * are printed (system and assistant). */
static int put_content(render *r, const json_t *content, bool with_media, size_t i) {
    if (json_is_string(content)) {
        put_n(r, json_string_value(content), json_string_length(content));
        return 0;
    }
    size_t k;
    const json_t *part;
    json_array_foreach(content, k, part) {
        bool image = type_is(part, "image") || json_object_get(part, "image") ||
                     json_object_get(part, "image_url");
        bool video = type_is(part, "video") || json_object_get(part, "video");
        if (with_media && (image || video)) {
            int *count = image ? &r->n_images : &r->n_videos;
            if (r->opts->on_media)
                r->opts->on_media(r->opts->media_ctx, image ? CHAT_MEDIA_IMAGE : CHAT_MEDIA_VIDEO,
                                  *count, part);
            ++*count;
            if (r->opts->add_vision_id) {
                char label[48];
                snprintf(label, sizeof label, "%s %d: ", image ? "Picture" : "Video", *count);
                put(r, label);
            }
            put(r, image ? "<|vision_start|><|image_pad|><|vision_end|>"
                         : "<|vision_start|><|video_pad|><|vision_end|>");
        } else if (json_object_get(part, "text") && put_part_text(r, part, i)) {
            return -1;
        }
    }
    return 0;
}

/* Jinja truthiness of message.content / message.tool_calls. */
static bool truthy(const json_t *v) {
    if (json_is_string(v)) return json_string_length(v) > 0;
    if (json_is_array(v)) return json_array_size(v) > 0;
    if (json_is_object(v)) return json_object_size(v) > 0;
    return v && !json_is_null(v) && !json_is_false(v);
}

/* The {%- if message.tool_calls %} block of an assistant message. */
static int put_tool_calls(render *r, const json_t *msg, size_t i) {
    const json_t *calls = json_object_get(msg, "tool_calls");
    if (!truthy(calls)) return 0;
    if (!json_is_array(calls)) return bad(r, i, "tool_calls is not an array");
    size_t k;
    const json_t *call;
    json_array_foreach(calls, k, call) {
        if (!json_is_object(call)) return bad(r, i, "a tool call is not an object");
        if (k > 0 || truthy(json_object_get(msg, "content"))) put(r, "\n");
        const json_t *fn = json_object_get(call, "function");
        if (truthy(fn)) call = fn;
        const json_t *name = json_object_get(call, "name");
        const json_t *args = json_object_get(call, "arguments");
        if (!json_is_object(call) || !json_is_string(name) || !args)
            return bad(r, i, "a tool call needs a string \"name\" and \"arguments\"");
        put(r, "<tool_call>\n{\"name\": \"");
        put_n(r, json_string_value(name), json_string_length(name));
        put(r, "\", \"arguments\": ");
        if (json_is_string(args)) put_n(r, json_string_value(args), json_string_length(args));
        else if (put_json(r, args, i)) return -1;
        put(r, "}\n</tool_call>");
    }
    return 0;
}

/* Checks one message's shape; returns its role name or NULL (err set). */
static const char *check_message(render *r, const json_t *msg, size_t i) {
    if (!json_is_object(msg)) {
        bad(r, i, "not an object");
        return NULL;
    }
    const json_t *role = json_object_get(msg, "role");
    const char *name = json_string_value(role);
    if (!name) {
        bad(r, i, "\"role\" missing or not a string");
        return NULL;
    }
    if (strcmp(name, "system") && strcmp(name, "user") && strcmp(name, "assistant") &&
        strcmp(name, "tool")) {
        qvl_fail_code(r->err, QVL_E_BAD_INPUT,
                      "messages[%zu]: unknown role \"%.40s\" (system, user, assistant or tool)",
                      i, name);
        return NULL;
    }
    const json_t *content = json_object_get(msg, "content");
    bool empty_ok = strcmp(name, "assistant") == 0 && (!content || json_is_null(content));
    if (!empty_ok && !json_is_string(content) && !json_is_array(content)) {
        bad(r, i, "\"content\" must be a string or an array of parts");
        return NULL;
    }
    size_t k;
    const json_t *part;
    json_array_foreach(content, k, part) {
        if (!json_is_object(part)) {
            bad(r, i, "a content part is not an object");
            return NULL;
        }
    }
    return name;
}

static const char TOOLS_HEAD[] =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
static const char TOOLS_TAIL[] =
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "
    "<function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n";

/* The part before the message loop: tools and/or the first system message. */
static int put_system(render *r, const json_t *messages, bool first_is_system) {
    const json_t *tools = r->opts->tools;
    const json_t *sys = json_object_get(json_array_get(messages, 0), "content");
    if (tools && !json_is_array(tools))
        return qvl_fail_code(r->err, QVL_E_BAD_INPUT, "tools must be an array");
    if (truthy(tools)) {
        put(r, "<|im_start|>system\n");
        if (first_is_system) {
            if (put_content(r, sys, false, 0)) return -1;
            put(r, "\n\n");
        }
        put(r, TOOLS_HEAD);
        size_t k;
        const json_t *tool;
        json_array_foreach(tools, k, tool) {
            put(r, "\n");
            if (put_json(r, tool, 0)) return -1;
        }
        put(r, TOOLS_TAIL);
    } else if (first_is_system) {
        put(r, "<|im_start|>system\n");
        if (put_content(r, sys, false, 0)) return -1;
        put(r, "<|im_end|>\n");
    }
    return 0;
}

static const char *role_of(const json_t *messages, size_t i) {
    return json_string_value(json_object_get(json_array_get(messages, i), "role"));
}

/* The {%- for message in messages %} loop body for message i. */
static int put_message(render *r, const json_t *messages, size_t i, const char *role) {
    const json_t *msg = json_array_get(messages, i);
    const json_t *content = json_object_get(msg, "content");
    size_t n = json_array_size(messages);
    if (strcmp(role, "user") == 0) {
        put(r, "<|im_start|>user\n");
        if (put_content(r, content, true, i)) return -1;
        put(r, "<|im_end|>\n");
    } else if (strcmp(role, "assistant") == 0) {
        put(r, "<|im_start|>assistant\n");
        if (content && !json_is_null(content) && put_content(r, content, false, i)) return -1;
        if (put_tool_calls(r, msg, i)) return -1;
        put(r, "<|im_end|>\n");
    } else if (strcmp(role, "tool") == 0) {
        if (i == 0 || strcmp(role_of(messages, i - 1), "tool") != 0) put(r, "<|im_start|>user");
        put(r, "\n<tool_response>\n");
        if (put_content(r, content, true, i)) return -1;
        put(r, "\n</tool_response>");
        if (i + 1 == n || strcmp(role_of(messages, i + 1), "tool") != 0) put(r, "<|im_end|>\n");
    }
    /* system messages inside the loop render nothing */
    return 0;
}

char *chat_template_render(const json_t *messages, const chat_template_opts *opts,
                           int *n_images_out, qvl_error *err) {
    static const chat_template_opts defaults = { 0 };
    render r = { .opts = opts ? opts : &defaults, .err = err };
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "messages must be a non-empty array");
        return NULL;
    }
    size_t n = json_array_size(messages);
    for (size_t i = 0; i < n; i++)
        if (!check_message(&r, json_array_get(messages, i), i)) return NULL;

    int rc = put_system(&r, messages, strcmp(role_of(messages, 0), "system") == 0);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = put_message(&r, messages, i, role_of(messages, i));
    if (rc == 0 && r.opts->add_generation_prompt) put(&r, "<|im_start|>assistant\n");
    if (rc == 0 && !r.p) put(&r, "");   /* an empty render is still a string */
    if (rc == 0 && r.oom) rc = qvl_fail_code(err, QVL_E_NOMEM, "out of memory rendering the chat");
    if (rc) {
        free(r.p);
        return NULL;
    }
    if (n_images_out) *n_images_out = r.n_images;
    return r.p;
}
