/* api_ollama.c - the Ollama API's answering routes, POST /api/chat and
 * POST /api/generate, on the same port as the others, so Ollama's clients
 * (Open WebUI, Dify, LangChain's ChatOllama, the ollama npm/pip packages)
 * work unchanged.
 *
 *   /api/chat     {"model", "messages": [{"role", "content", "images": [base64...]}],
 *                  "stream": true, "options": {...}, "format", "keep_alive", "tools"}
 *   /api/generate {"model", "prompt", "system", "images": [base64...], "stream": true,
 *                  "options": {...}, "format", "keep_alive"}
 *
 * Streamed by default (Ollama's default; its npm client sends stream: false
 * unless asked): newline-delimited JSON objects, {"model", "created_at",
 * "message": {"role": "assistant", "content": piece}, "done": false} (generate:
 * "response": piece), then a final object with "done": true, "done_reason"
 * ("stop" or "length") and the counts and durations in nanoseconds:
 * total_duration (arrival to the end), load_duration (the wait for a free
 * slot: the model itself is loaded once at start), prompt_eval_count,
 * prompt_eval_duration (image encoding and prompt), eval_count,
 * eval_duration. Without streaming the same final object carries the whole
 * text. A failure after the stream started is a last line {"error": "..."};
 * before, a status with {"error": "..."} (request.c gives the /api/ paths
 * Ollama's error shape). A client that disconnects cancels its answer.
 *
 * options: temperature, top_p, top_k, min_p, seed, stop, num_predict (-1 or
 * -2: up to the context), repeat_penalty, presence_penalty,
 * frequency_penalty, and qvl's ignore_eos (exactly num_predict tokens, for
 * load tests, as in the OpenAI API); num_ctx is checked and otherwise ignored (each slot has
 * the server's --ctx, shown by /api/show); the rest of Ollama's options
 * (num_gpu, num_thread, mirostat...) concern its own runner and are ignored.
 * keep_alive is accepted and ignored (the model stays loaded). An empty
 * "messages" or "prompt" is Ollama's "load the model" request: answered at
 * once with done_reason "load".
 *
 * format: "json" constrains the answer to any JSON object, a JSON Schema
 * object to that schema (the grammar engine, as OpenAI's response_format:
 * an unsupported keyword is a 400 naming it); num_predict reached inside
 * the JSON is done_reason "length". tools (/api/chat only; OpenAI's tool
 * definitions) go into the chat template's tool section, and the answer's
 * <tool_call> blocks come back as message.tool_calls in Ollama's shape,
 * [{"function": {"name", "arguments": {object}}}], with the text around them
 * as the content; a streamed answer with tools is held back and sent as one
 * line before the final one, since a call cannot be told from text until it
 * is whole. Ollama has no forced call: the model decides. Earlier turns may
 * hold an assistant's tool_calls and role "tool" messages with the results.
 *
 * Refused with 400: "think" (Qwen3-VL Instruct does not think), "raw",
 * "suffix", "template", a non-empty "context" (the deprecated generate
 * memory: send messages to /api/chat), "logprobs", "tools" on
 * /api/generate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "service/http_util.h"
#include "server/server_impl.h"
#include "server/sse.h"

/* ---- request checks ---------------------------------------------------------- */

/* Set and not false, null, "" or []: the client asked for the feature. */
static bool asked(const json_t *v) {
    return v && !json_is_null(v) && !json_is_false(v) && !(json_is_string(v) && json_string_length(v) == 0) &&
           !(json_is_array(v) && json_array_size(v) == 0);
}

static int check_unsupported(const json_t *body, qvl_error *err) {
    static const struct { const char *field, *why; } refused[] = {
        {"think", "the model does not support thinking (Qwen3-VL Instruct answers directly)"},
        {"raw", "'raw' is not supported: qvl always applies the Qwen3-VL chat template"},
        {"suffix", "'suffix' is not supported (fill-in-the-middle is not a Qwen3-VL task)"},
        {"template", "'template' is not supported: qvl always applies the Qwen3-VL chat template"},
        {"context", "'context' is not supported: send the conversation as messages to /api/chat"},
        {"logprobs", "'logprobs' are not supported"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (asked(json_object_get(body, refused[i].field)))
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s", refused[i].why);
    const json_t *st = json_object_get(body, "stream");
    if (st && !json_is_boolean(st) && !json_is_null(st))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'stream' must be true or false");
    const json_t *ka = json_object_get(body, "keep_alive");
    if (ka && !json_is_string(ka) && !json_is_number(ka) && !json_is_null(ka))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'keep_alive' must be a duration (\"5m\") or a number of seconds");
    return 0;
}

/* The one place where a request's output constraint comes from: Ollama's
 * "format" ("json", or a JSON Schema object) into req->constraint, and
 * "tools" (chat only) into req->tools, with *tool_calls set when the answer
 * is to be searched for calls. Returns 0, or -1 with err (QVL_E_BAD_INPUT);
 * what was set is the caller's to free either way. */
static int ollama_request_constraint(const json_t *format, const json_t *tools, ollama_route route,
                                     sched_request *req, bool *tool_calls, qvl_error *err) {
    *tool_calls = false;
    if (asked(format) && api_schema_grammar(format, "format", false, &req->constraint, err) != 0) return -1;
    if (!tools || json_is_null(tools) || (json_is_array(tools) && json_array_size(tools) == 0)) return 0;
    if (route != OLLAMA_CHAT)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'tools' are for /api/chat: /api/generate does not take them");
    if (api_check_tools(tools, err) != 0) return -1;
    req->tools = json_incref((json_t *)tools);
    *tool_calls = true;
    return 0;
}

/* Ollama's options as the fields api_parse_params reads (a new object
 * borrowing the values, so the stop strings stay valid while it lives).
 * NULL with err (QVL_E_BAD_INPUT naming the option). */
static json_t *options_as_params(const json_t *opts, int ctx, qvl_error *err) {
    json_t *p = json_object();
    if (!opts || json_is_null(opts)) return p;
    if (!json_is_object(opts)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'options' must be an object");
        goto fail;
    }
    /* qvl's extensions, as in the OpenAI API: ignore_eos (exactly num_predict tokens, for load tests),
     * min_pixels / max_pixels (the images' detail) */
    static const char *same[] = {"temperature", "top_p", "top_k", "min_p", "seed", "stop", "presence_penalty",
                                 "frequency_penalty", "ignore_eos", "min_pixels", "max_pixels"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        json_t *v = json_object_get(opts, same[i]);
        if (v && !json_is_null(v)) json_object_set(p, same[i], v);
    }
    json_t *rep = json_object_get(opts, "repeat_penalty");
    if (rep && !json_is_null(rep)) json_object_set(p, "repetition_penalty", rep);
    double n = 0, num_ctx = 0;
    if (http_get_number(opts, "num_predict", -2, 1e9, &n, err) ||
        http_get_number(opts, "num_ctx", 1, 1e9, &num_ctx, err))
        goto fail;
    if (json_object_get(opts, "num_predict") && n != -1 && n != -2 && n < 1) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'num_predict' must be at least 1, or -1 / -2 for no limit");
        goto fail;
    }
    if (json_is_number(json_object_get(opts, "num_predict")))
        json_object_set_new(p, "max_tokens", json_integer(n < 0 || n > ctx ? ctx : (json_int_t)n));
    return p;
fail:
    json_decref(p);
    return NULL;
}

/* Fills req.params (and the pixel bounds) from "options"; stops receives
 * pointers into *keep, which the caller frees after submitting. */
static int parse_options(qvl_server *s, const json_t *body, sched_request *req, const char **stops, json_t **keep,
                         qvl_error *err) {
    *keep = options_as_params(json_object_get(body, "options"), s->cfg.ctx, err);
    if (!*keep) return -1;
    if (api_parse_params(s, *keep, &req->params, stops, &req->min_pixels, &req->max_pixels, err) != 0) {
        qvl_error_prefix(err, "options");
        return -1;
    }
    return 0;
}

/* ---- messages ----------------------------------------------------------------- */

/* Appends one message in the internal (OpenAI-style) form: content parts
 * when there are images (images first, as Ollama's own templates place
 * them), else the plain string. images may be NULL. */
static int add_message(json_t *msgs, const char *role, const json_t *content, const json_t *images,
                       const json_t *tool_calls, const char *where, qvl_error *err) {
    if (content && !json_is_null(content) && !json_is_string(content))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s.content must be a string", where);
    if (images && !json_is_null(images) && !json_is_array(images))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s.images must be an array of base64 strings", where);
    const char *text = json_is_string(content) ? json_string_value(content) : "";
    size_t text_len = json_is_string(content) ? json_string_length(content) : 0;
    json_t *m = json_pack("{s:s}", "role", role);
    if (json_array_size(images) == 0) {
        json_object_set_new(m, "content", json_stringn(text, text_len));
    } else {
        json_t *parts = json_array();
        size_t i;
        json_t *img;
        json_array_foreach(images, i, img) {
            if (!json_is_string(img)) {
                json_decref(parts);
                json_decref(m);
                return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s.images[%zu] must be a base64 string", where, i);
            }
            json_array_append_new(parts, json_pack("{s:s, s:{s:O}}", "type", "image_url", "image_url", "url", img));
        }
        if (text_len) json_array_append_new(parts, json_pack("{s:s, s:s%}", "type", "text", "text", text, text_len));
        json_object_set_new(m, "content", parts);
    }
    if (tool_calls && !json_is_null(tool_calls)) json_object_set(m, "tool_calls", (json_t *)tool_calls);
    json_array_append_new(msgs, m);
    return 0;
}

/* /api/chat's messages -> the internal messages (a new array; may be
 * empty). NULL with err. */
static json_t *chat_messages(const json_t *body, qvl_error *err) {
    const json_t *in = json_object_get(body, "messages");
    json_t *out = json_array();
    if (!in || json_is_null(in)) return out;
    if (!json_is_array(in)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'messages' must be an array");
        goto fail;
    }
    size_t i;
    json_t *m;
    json_array_foreach(in, i, m) {
        char where[32];
        snprintf(where, sizeof where, "messages[%zu]", i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "%s must be an object with a 'role'", where);
            goto fail;
        }
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool")) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "%s.role '%.32s' is not one of system, user, assistant, tool", where,
                          role);
            goto fail;
        }
        if (add_message(out, role, json_object_get(m, "content"), json_object_get(m, "images"),
                        json_object_get(m, "tool_calls"), where, err))
            goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* /api/generate's system, prompt and images -> messages (empty when there
 * is no prompt and no image). NULL with err. */
static json_t *generate_messages(const json_t *body, qvl_error *err) {
    const json_t *system = json_object_get(body, "system"), *prompt = json_object_get(body, "prompt");
    const json_t *images = json_object_get(body, "images");
    json_t *out = json_array();
    if (system && !json_is_null(system) && !json_is_string(system)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'system' must be a string");
        goto fail;
    }
    if (prompt && !json_is_null(prompt) && !json_is_string(prompt)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'prompt' must be a string");
        goto fail;
    }
    if (json_string_length(prompt) == 0 && json_array_size(images) == 0) return out;   /* a load request */
    if (json_string_length(system) > 0 && add_message(out, "system", system, NULL, NULL, "system", err)) goto fail;
    if (add_message(out, "user", prompt, images, NULL, "request", err)) goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}

/* ---- replies -------------------------------------------------------------------- */

typedef struct ollama_ctx {
    qvl_server *srv;
    ollama_route route;
    char model[128];         /* the name the client used: echoed back, as Ollama does */
    double t_start;          /* the request's arrival (clock_ms) */
    bool tool_calls;         /* tools were given: the answer is held back and searched for calls */
} ollama_ctx;

static json_int_t ns(double ms) { return (json_int_t)(ms * 1e6); }

/* {"model", "created_at"} plus the text: a message (chat) or "response".
 * calls (stolen; NULL for none) become the message's tool_calls. */
static json_t *reply_base(const ollama_ctx *c, const char *text, size_t len, json_t *calls, bool done) {
    char ts[40];
    http_iso_time(ts, sizeof ts);
    json_t *o = json_pack("{s:s, s:s}", "model", c->model, "created_at", ts);
    if (c->route == OLLAMA_CHAT) {
        json_t *msg = json_pack("{s:s, s:s%}", "role", "assistant", "content", text, len);
        if (calls) json_object_set_new(msg, "tool_calls", calls);
        json_object_set_new(o, "message", msg);
    } else {
        json_object_set_new(o, "response", json_stringn(text, len));
    }
    json_object_set_new(o, "done", json_boolean(done));
    return o;
}

/* A whole answer as reply_base, its <tool_call> blocks (when tools were
 * given) parsed into tool_calls and taken out of the text. */
static json_t *reply_answer(const ollama_ctx *c, const gen_result *res, bool done) {
    const char *text = res->text ? res->text : "";
    size_t len = res->text ? res->text_len : 0;
    char *content = NULL;
    json_t *calls = c->tool_calls ? api_tool_calls(text, len, API_CALLS_OLLAMA, &content) : NULL;
    json_t *o = calls ? reply_base(c, content ? content : "", content ? strlen(content) : 0, calls, done)
                      : reply_base(c, text, len, NULL, done);
    free(content);
    return o;
}

/* The final object: done, done_reason, counts and durations (ns); the
 * whole answer when whole is set (no streaming), else an empty text. */
static json_t *final_json(const ollama_ctx *c, const sched_poll *p, bool whole) {
    const gen_result *res = p->result;
    json_t *o = whole ? reply_answer(c, res, true) : reply_base(c, "", 0, NULL, true);
    double total = clock_ms() - c->t_start;
    json_t *stats = json_pack("{s:s, s:I, s:I, s:i, s:I, s:i, s:I}", "done_reason", api_finish_reason(res),
                              "total_duration", ns(total), "load_duration", ns(p->queue_ms), "prompt_eval_count",
                              res->n_prompt, "prompt_eval_duration", ns(p->image_ms + res->prompt_ms), "eval_count",
                              res->n_generated, "eval_duration", ns(res->gen_ms));
    json_object_update(o, stats);
    json_decref(stats);
    return o;
}

/* obj (stolen) as one line of newline-delimited JSON, malloc'd. */
static char *ndjson_line(json_t *obj) {
    char *js = obj ? json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(obj);
    if (!js) return NULL;
    size_t n = strlen(js);
    char *line = realloc(js, n + 2);
    if (!line) {
        free(js);
        return NULL;
    }
    memcpy(line + n, "\n", 2);
    return line;
}

/* Ollama's stream has no queue or progress events: a line its clients do
 * not expect would reach the user's code as a chunk. */
static char *nd_queued(void *ctx, int position) { return NULL; }

static char *nd_text(void *ctx, const char *text, size_t len) {
    const ollama_ctx *c = ctx;
    if (c->tool_calls) return NULL;   /* sent whole by nd_done */
    return ndjson_line(reply_base(c, text, len, NULL, false));
}

/* Two lines joined (both malloc'd, either may be NULL; freed). */
static char *join_lines(char *a, char *b) {
    if (!a || !b) {
        free(a);
        return b;
    }
    size_t na = strlen(a), nb = strlen(b);
    char *ab = realloc(a, na + nb + 1);
    if (ab) memcpy(ab + na, b, nb + 1);
    else free(a);
    free(b);
    return ab;
}

static char *nd_done(void *ctx, const sched_poll *p) {
    ollama_ctx *c = ctx;
    api_observe(c->srv, p);
    if (p->failed) return ndjson_line(json_pack("{s:s}", "error", p->err.msg[0] ? p->err.msg : "internal error"));
    char *held = c->tool_calls ? ndjson_line(reply_answer(c, p->result, false)) : NULL;
    return join_lines(held, ndjson_line(final_json(c, p, false)));
}

static void nd_free(void *ctx) { free(ctx); }

static const sse_format ollama_format = {.queued = nd_queued, .text = nd_text, .done = nd_done, .free = nd_free,
                                         .content_type = "application/x-ndjson"};

/* ---- the routes ----------------------------------------------------------------- */

int api_ollama_parse(qvl_server *s, json_t *body, ollama_route route, api_request *a, qvl_error *err) {
    api_request_init(a, body);
    sched_request *req = &a->req;
    if (!(a->model = ollama_check_model(s, body, err)) || check_unsupported(body, err) ||
        !(req->messages = route == OLLAMA_CHAT ? chat_messages(body, err) : generate_messages(body, err)) ||
        parse_options(s, body, req, a->stops, &a->keep, err) || api_parse_mode(body, &req->mode, err) ||
        ollama_request_constraint(json_object_get(body, "format"), json_object_get(body, "tools"), route, req,
                                  &a->tool_calls, err) ||
        !(req->load_ctx = srv_check_images(s, req->messages, err))) {
        api_request_free(a);
        return -1;
    }
    const json_t *st = json_object_get(body, "stream");
    a->stream = !st || json_is_null(st) || json_is_true(st);   /* Ollama streams unless told not to */
    return 0;
}

static enum MHD_Result answer(srv_req *r, ollama_route route) {
    qvl_server *s = r->srv;
    qvl_error err = {0};
    api_request a;
    json_t *body = srv_parse_json_body(r, &err);
    if (!body || api_ollama_parse(s, body, route, &a, &err) != 0) return srv_reply_error(r, &err);
    ollama_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        api_request_free(&a);
        return srv_reply_fail(r, QVL_E_NOMEM, "out of memory");
    }
    *c = (ollama_ctx){.srv = s, .route = route, .t_start = r->t_start, .tool_calls = a.tool_calls};
    snprintf(c->model, sizeof c->model, "%s", a.model);
    if (json_array_size(a.req.messages) == 0) {   /* "load the model": it is loaded */
        json_t *o = reply_base(c, "", 0, NULL, true);
        json_object_set_new(o, "done_reason", json_string("load"));
        free(c);
        api_request_free(&a);
        return srv_reply_json(r, 200, o);
    }
    bool stream = a.stream;
    sched_job *job = api_submit(s, &a, &err);
    api_request_free(&a);
    if (!job) {
        free(c);
        return srv_reply_error(r, &err);
    }
    sched_poll p;
    if ((stream ? sse_wait_first(r, job, &p) : sse_wait_done(r, job, &p)) != 0) {
        sched_job_release(job);
        free(c);
        return MHD_NO;
    }
    if (stream && !(p.state == JOB_DONE && p.failed)) return sse_respond(r, job, &p, &ollama_format, c);
    free(p.text);   /* a stream that failed at once: only its status matters */
    api_observe(s, &p);
    enum MHD_Result rc;
    if (p.failed) {
        rc = srv_reply_error(r, &p.err);
    } else {
        rc = srv_reply_json(r, 200, final_json(c, &p, true));
    }
    sched_job_release(job);
    free(c);
    return rc;
}

enum MHD_Result api_ollama_chat(srv_req *r) { return answer(r, OLLAMA_CHAT); }

enum MHD_Result api_ollama_generate(srv_req *r) { return answer(r, OLLAMA_GENERATE); }
