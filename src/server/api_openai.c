/* api_openai.c - the OpenAI-compatible endpoints: POST /v1/chat/completions
 * (streamed or not), GET /v1/models, and the llama.cpp-style POST /tokenize
 * and /detokenize.
 *
 * Compatibility notes: "model" is accepted and ignored (one model is
 * loaded); n > 1 and logprobs are refused with a clear 400; image parts
 * must be data URLs (never fetched). Responses add "timings" (the
 * llama.cpp server's field) next to "usage", with "route" telling whether
 * OCR or the model answered. Extension: "mode" (auto, ocr, vlm, ocr+vlm)
 * forces a route, as in /api/v1/chat.
 *
 * Structured answers (api_structured.c): response_format json_object /
 * json_schema constrains the answer to the schema (grammar.h); tools go
 * into the chat template's tool section, and the answer's <tool_call>
 * blocks come back as message.tool_calls with finish_reason "tool_calls";
 * tool_choice "required" or a named function constrains the answer to one
 * such call. A constrained answer cut by max_tokens has finish_reason
 * "length" and "json_incomplete": true. When tools are given (and
 * tool_choice is not "none") a streamed answer is sent at its end, since
 * text and call cannot be told apart before.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/http_util.h"
#include "server/server_impl.h"
#include "server/sse.h"

/* ---- request checks --------------------------------------------------------- */

static int check_messages(const json_t *msgs, qvl_error *err) {
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'messages' must be a non-empty array");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!json_is_object(m) || !role)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "messages[%zu] must be an object with a 'role'", i);
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool") &&
            strcmp(role, "developer"))
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "messages[%zu].role '%.32s' is not one of system, user, "
                                 "assistant, tool", i, role);
        json_t *c = json_object_get(m, "content");
        if (c && !json_is_string(c) && !json_is_array(c) && !json_is_null(c))
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "messages[%zu].content must be a string or an array of parts",
                                 i);
    }
    return 0;
}

static int check_unsupported(const json_t *body, qvl_error *err) {
    json_t *n = json_object_get(body, "n");
    if (n && !json_is_null(n) && (!json_is_integer(n) || json_integer_value(n) != 1))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "only n = 1 is supported");
    if (json_is_true(json_object_get(body, "logprobs")))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "logprobs are not supported");
    json_t *st = json_object_get(body, "stream");
    if (st && !json_is_boolean(st) && !json_is_null(st))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'stream' must be true or false");
    return 0;
}

/* ---- streamed chunks -------------------------------------------------------- */

typedef struct oa_stream {
    qvl_server *srv;
    char id[48];
    long created;
    bool sent_role;
    bool tool_calls;           /* hold the text back: it may be a tool call */
} oa_stream;

static json_t *chunk(const oa_stream *st, json_t *delta, const char *finish) {
    json_t *choice = json_pack("{s:i, s:o, s:o}", "index", 0, "delta", delta, "finish_reason",
                               finish ? json_string(finish) : json_null());
    return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", st->id, "object", "chat.completion.chunk", "created",
                     (json_int_t)st->created, "model", st->srv->m->name, "choices", choice);
}

static char *oa_queued(void *ctx, int position) {
    /* An SSE comment: clients ignore it, curl users see it, and it probes
     * the socket while waiting. */
    char *s = malloc(48);
    if (s) snprintf(s, 48, ": queued, position %d\n\n", position);
    return s;
}

static char *oa_progress(void *ctx, const char *stage, int done, int total) {
    /* A comment too: the chunk format has no place for it. */
    char *s = malloc(64);
    if (s) snprintf(s, 64, ": progress %s %d/%d\n\n", stage, done, total);
    return s;
}

static char *oa_text(void *ctx, const char *text, size_t len) {
    oa_stream *st = ctx;
    if (st->tool_calls) return NULL;   /* sent whole by oa_done */
    json_t *delta = json_pack("{s:s%}", "content", text, len);
    if (!st->sent_role) {
        json_object_set_new(delta, "role", json_string("assistant"));
        st->sent_role = true;
    }
    return sse_event(chunk(st, delta, NULL));
}

/* The held-back answer of a request with tools: one delta with the text
 * and/or the tool calls. Sets *finish to "tool_calls" when there are calls. */
static char *held_answer(oa_stream *st, const gen_result *r, const char **finish) {
    char *content = NULL;
    json_t *calls = api_tool_calls(r->text ? r->text : "", r->text_len, API_CALLS_OPENAI, &content);
    json_t *delta = json_pack("{s:s}", "role", "assistant");
    if (calls) {
        size_t i;
        json_t *c;
        json_array_foreach(calls, i, c) json_object_set_new(c, "index", json_integer((json_int_t)i));
        json_object_set_new(delta, "tool_calls", calls);
        if (content) json_object_set_new(delta, "content", json_string(content));
        *finish = "tool_calls";
    } else {
        json_object_set_new(delta, "content", json_stringn(r->text ? r->text : "", r->text_len));
    }
    free(content);
    return sse_event(chunk(st, delta, NULL));
}

/* Joins two malloc'd events (either may be NULL). */
static char *join(char *a, char *b) {
    size_t na = a ? strlen(a) : 0, nb = b ? strlen(b) : 0;
    char *all = malloc(na + nb + 1);
    if (all) {
        if (a) memcpy(all, a, na);
        if (b) memcpy(all + na, b, nb);
        all[na + nb] = 0;
    }
    free(a), free(b);
    return all;
}

static char *oa_done(void *ctx, const sched_poll *p) {
    oa_stream *st = ctx;
    api_observe(st->srv, p);
    char *ev;
    if (p->failed) {
        ev = sse_event(http_error_json(http_status_for_error(&p->err), p->err.msg));
    } else {
        const char *finish = api_finish_reason(p->result);
        char *held = st->tool_calls ? held_answer(st, p->result, &finish) : NULL;
        json_t *c = chunk(st, json_object(), finish);
        json_object_set_new(c, "usage", api_usage_json(p));
        json_object_set_new(c, "timings", api_timings_json(p));
        if (p->result->incomplete) json_object_set_new(c, "json_incomplete", json_true());
        ev = join(held, sse_event(c));
    }
    return join(ev, strdup("data: [DONE]\n\n"));
}

static void oa_free(void *ctx) { free(ctx); }

static const sse_format oa_format = {.queued = oa_queued, .text = oa_text, .progress = oa_progress, .done = oa_done,
                                    .free = oa_free};

/* ---- /v1/chat/completions ----------------------------------------------------- */

static json_t *completion_json(qvl_server *s, const char *id, const sched_poll *p, bool tool_calls) {
    const gen_result *r = p->result;
    const char *finish = api_finish_reason(r);
    char *content = NULL;
    json_t *calls =
        tool_calls ? api_tool_calls(r->text ? r->text : "", r->text_len, API_CALLS_OPENAI, &content) : NULL;
    json_t *msg;
    if (calls) {
        msg = json_pack("{s:s, s:o, s:o}", "role", "assistant", "content", content ? json_string(content) : json_null(),
                        "tool_calls", calls);
        finish = "tool_calls";
    } else {
        msg = json_pack("{s:s, s:s%}", "role", "assistant", "content", r->text ? r->text : "", r->text_len);
    }
    free(content);
    json_t *out = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:s}], s:o, s:o}", "id", id, "object",
                            "chat.completion", "created", (json_int_t)time(NULL), "model", s->m->name, "choices",
                            "index", 0, "message", msg, "finish_reason", finish, "usage", api_usage_json(p),
                            "timings", api_timings_json(p));
    if (out && r->incomplete)
        json_object_set_new(json_array_get(json_object_get(out, "choices"), 0), "json_incomplete", json_true());
    return out;
}

int api_openai_parse(qvl_server *s, json_t *body, api_request *a, qvl_error *err) {
    api_request_init(a, body);
    api_structure shape = {0};
    json_t *msgs = json_object_get(body, "messages");
    if (check_unsupported(body, err) || check_messages(msgs, err) ||
        api_parse_params(s, body, &a->req.params, a->stops, &a->req.min_pixels, &a->req.max_pixels, err) ||
        api_parse_mode(body, &a->req.mode, err) || api_parse_openai_structure(body, &shape, err) ||
        !(a->req.load_ctx = srv_check_images(s, msgs, err))) {
        api_structure_free(&shape);
        api_request_free(a);
        return -1;
    }
    a->stream = json_is_true(json_object_get(body, "stream"));
    a->tool_calls = shape.tool_calls;
    a->req.messages = json_incref(msgs);
    a->req.constraint = shape.constraint;
    a->req.tools = shape.tools;
    return 0;
}

enum MHD_Result api_chat_completions(srv_req *r) {
    qvl_server *s = r->srv;
    qvl_error err = {0};
    api_request a;
    json_t *body = srv_parse_json_body(r, &err);
    if (!body || api_openai_parse(s, body, &a, &err) != 0) return srv_reply_error(r, &err);
    bool stream = a.stream, tool_calls = a.tool_calls;
    sched_job *job = api_submit(s, &a, &err);
    api_request_free(&a);
    if (!job) return srv_reply_error(r, &err);

    char id[48];
    char hex[CONV_ID_SIZE];
    conv_new_id(NULL, hex);
    snprintf(id, sizeof id, "chatcmpl-%.24s", hex);
    sched_poll p;
    if (!stream) {
        if (sse_wait_done(r, job, &p) != 0) {
            sched_job_release(job);
            return MHD_NO;
        }
        api_observe(s, &p);
        enum MHD_Result rc = p.failed ? srv_reply_error(r, &p.err) : srv_reply_json(r, 200, completion_json(s, id, &p, tool_calls));
        sched_job_release(job);
        return rc;
    }
    if (sse_wait_first(r, job, &p) != 0) {
        sched_job_release(job);
        return MHD_NO;
    }
    if (p.state == JOB_DONE && p.failed) {   /* failed before any output: a real status */
        api_observe(s, &p);
        enum MHD_Result rc = srv_reply_error(r, &p.err);
        sched_job_release(job);
        return rc;
    }
    oa_stream *st = calloc(1, sizeof *st);
    if (!st) {
        free(p.text);
        sched_job_cancel(job);
        sched_job_release(job);
        return MHD_NO;
    }
    st->srv = s;
    st->tool_calls = tool_calls;
    st->created = (long)time(NULL);
    memcpy(st->id, id, sizeof st->id);
    return sse_respond(r, job, &p, &oa_format, st);
}

/* ---- models, tokenize, detokenize ----------------------------------------------- */

enum MHD_Result api_models(srv_req *r) {
    const qvl_model *m = r->srv->m;
    json_t *meta = json_pack("{s:i, s:s, s:b}", "n_ctx", r->srv->cfg.ctx, "weights", m->weight_type ? m->weight_type : "",
                             "test_model", m->cfg.test_model[0] != 0);
    json_t *model = json_pack("{s:s, s:s, s:I, s:s, s:o, s:o}", "id", m->name, "object", "model", "created",
                              (json_int_t)time(NULL), "owned_by", "qvl", "capabilities",
                              api_model_capabilities(m), "meta", meta);
    return srv_reply_json(r, 200, json_pack("{s:s, s:[o]}", "object", "list", "data", model));
}

enum MHD_Result api_tokenize(srv_req *r) {
    qvl_error err = {0};
    json_t *body = srv_parse_json_body(r, &err);
    json_t *content = body ? json_object_get(body, "content") : NULL;
    if (body && !json_is_string(content))
        qvl_fail_code(&err, QVL_E_BAD_INPUT, "'content' must be a string");
    if (!body || !json_is_string(content)) {
        json_decref(body);
        return srv_reply_error(r, &err);
    }
    bool pieces = json_is_true(json_object_get(body, "with_pieces"));
    int flags = json_is_false(json_object_get(body, "parse_special")) ? TOKENIZER_ENCODE_NO_SPECIAL : 0;
    const tokenizer *tk = r->srv->m->tok;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tokenizer_encode(tk, json_string_value(content), json_string_length(content), flags, &ids, &n, &err);
    json_decref(body);
    if (rc != 0) return srv_reply_error(r, &err);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!pieces) {
            json_array_append_new(arr, json_integer(ids[i]));
            continue;
        }
        size_t len = 0;
        const char *piece = tokenizer_id_to_piece(tk, ids[i], &len);
        json_array_append_new(arr, json_pack("{s:i, s:s%}", "id", ids[i], "piece", piece ? piece : "", len));
    }
    free(ids);
    return srv_reply_json(r, 200, json_pack("{s:o}", "tokens", arr));
}

enum MHD_Result api_detokenize(srv_req *r) {
    qvl_error err = {0};
    json_t *body = srv_parse_json_body(r, &err);
    json_t *toks = body ? json_object_get(body, "tokens") : NULL;
    if (body && !json_is_array(toks)) qvl_fail_code(&err, QVL_E_BAD_INPUT, "'tokens' must be an array of token ids");
    if (!body || !json_is_array(toks)) {
        json_decref(body);
        return srv_reply_error(r, &err);
    }
    size_t n = json_array_size(toks), i;
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    json_t *v;
    int32_t vocab = tokenizer_vocab_size(r->srv->m->tok);
    json_array_foreach(toks, i, v) {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= vocab) {
            qvl_fail_code(&err, QVL_E_BAD_INPUT, "tokens[%zu] is not a token id (0 .. %d)", i, vocab - 1);
            free(ids);
            json_decref(body);
            return srv_reply_error(r, &err);
        }
        ids[i] = (int32_t)id;
    }
    json_decref(body);
    size_t len = 0;
    char *text = tokenizer_decode(r->srv->m->tok, ids, n, 0, &len, &err);
    free(ids);
    if (!text) {
        if (!err.code) err.code = QVL_E_BAD_INPUT;
        return srv_reply_error(r, &err);
    }
    json_t *out = json_pack("{s:s%}", "content", text, len);
    free(text);
    return srv_reply_json(r, 200, out);
}
