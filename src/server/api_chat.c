/* api_chat.c - the simple API, POST /api/v1/chat:
 *
 *   {"image": "<base64 or data URL>", "question": "...",
 *    "conversation_id": "...", "stream": false, "max_tokens": 1024,
 *    "temperature": 0.7, "max_pixels": 1003520, "mode": "auto", "pages": "1-3"}
 *   -> {"response": "...", "timestamp": "<ISO 8601>", "model": "...",
 *       "conversation_id": "...", "finish_reason": "stop",
 *       "route": "ocr" | "vlm" | "ocr+vlm", "ocr_fallback": false,
 *       "usage": {...}, "timings": {...}}
 *
 * "mode" chooses the route (answer.h): auto (text-reading questions go to
 * OCR, which answers in well under a second; low OCR confidence falls back
 * to the model and sets ocr_fallback), ocr, vlm, or ocr+vlm (OCR text given
 * to the model as context). "pages" selects pages of a PDF or multi-page
 * TIFF image for OCR answers ("2", "1-3"; default all: a born-digital PDF
 * page is read from its text layer); the model sees the first page.
 *
 * The same fields may come as multipart/form-data (an "image" file part and
 * text fields), so `curl -F image=@photo.jpg -F question=...` works. With
 * "stream": true the answer comes as Server-Sent Events: {"queued": n}
 * while waiting, {"progress": {"stage": "image" or "prompt", "done": k,
 * "total": n}} while the image is encoded (k of n encoder blocks) and the
 * prompt read (k of n tokens), {"text": "..."} per piece, then {"done": true, ...the
 * fields above...} or {"error": {...}}.
 *
 * Conversations: every answer returns a conversation_id; sending it back
 * with a new question continues the chat about the same image without
 * resending it (the server keeps the 16 most recent for 30 minutes after
 * their last use; conversations.h). The whole conversation is sent to the
 * model each time, but a slot keeps its KV cache and the server its encoded
 * images, so a follow-up only computes the new question.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base64.h"
#include "image/image.h"
#include "server/http_util.h"
#include "server/server_impl.h"
#include "server/sse.h"

/* ---- multipart/form-data ---------------------------------------------------- */

typedef struct form_field {
    char name[32];
    char mime[64];          /* the part's Content-Type, for files */
    char *data;
    size_t len;
} form_field;

enum { MAX_FIELDS = 12 };

typedef struct form {
    form_field f[MAX_FIELDS];
    int n;
    bool failed;
} form;

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                 const char *content_type, const char *transfer_encoding, const char *data,
                                 uint64_t off, size_t size) {
    form *fm = cls;
    form_field *f = NULL;
    for (int i = 0; i < fm->n && !f; i++)
        if (!strcmp(fm->f[i].name, key)) f = &fm->f[i];
    if (!f) {
        if (fm->n == MAX_FIELDS || strlen(key) >= sizeof f->name) return MHD_YES;   /* ignore extras */
        f = &fm->f[fm->n++];
        snprintf(f->name, sizeof f->name, "%s", key);
        if (content_type) snprintf(f->mime, sizeof f->mime, "%s", content_type);
    }
    if (size == 0) return MHD_YES;
    char *nd = realloc(f->data, f->len + size + 1);
    if (!nd) {
        fm->failed = true;
        return MHD_NO;
    }
    memcpy(nd + f->len, data, size);
    f->data = nd;
    f->len += size;
    f->data[f->len] = 0;
    return MHD_YES;
}

static void form_free(form *fm) {
    for (int i = 0; i < fm->n; i++) free(fm->f[i].data);
}

/* Turns a multipart body into the JSON object the JSON form would be: the
 * image file becomes a data URL (after checking its bytes against its
 * declared type), numbers and booleans are converted. NULL with err set. */
static json_t *form_to_json(srv_req *r, qvl_error *err) {
    form fm = {0};
    struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, 64 * 1024, form_iter, &fm);
    if (!pp) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "the multipart body has no boundary");
        return NULL;
    }
    enum MHD_Result ok = MHD_post_process(pp, r->body, r->body_len);
    MHD_destroy_post_processor(pp);
    json_t *obj = json_object();
    if (ok != MHD_YES || fm.failed) {
        qvl_fail_code(err, fm.failed ? QVL_E_NOMEM : QVL_E_BAD_INPUT, "cannot parse the multipart/form-data body");
        goto fail;
    }
    for (int i = 0; i < fm.n; i++) {
        form_field *f = &fm.f[i];
        const char *text = f->data ? f->data : "";
        if (!strcmp(f->name, "image")) {
            if (f->len == 0) continue;   /* an empty file input */
            if (http_check_image_kind((const uint8_t *)f->data, f->len, f->mime, err) != 0) goto fail;
            if (f->len > r->srv->img_lim.max_bytes) {
                qvl_fail_code(err, QVL_E_TOO_LARGE, "the image is larger than the limit of %d MB",
                              r->srv->cfg.max_image_mb);
                goto fail;
            }
            size_t b64_len = base64_encoded_len(f->len);
            char *b64 = malloc(b64_len + 1);
            if (b64) {
                base64_encode(b64, (const uint8_t *)f->data, f->len);
                b64[b64_len] = 0;
            }
            const char *kind = image_sniff((const uint8_t *)f->data, f->len);
            json_t *url = b64 ? json_sprintf("data:%s;base64,%s", kind, b64) : NULL;
            free(b64);
            if (!url) {
                qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
                goto fail;
            }
            json_object_set_new(obj, "image", url);
        } else if (!strcmp(f->name, "stream")) {
            json_object_set_new(obj, "stream", json_boolean(!strcmp(text, "true") || !strcmp(text, "1")));
        } else if (!strcmp(f->name, "max_tokens") || !strcmp(f->name, "temperature") ||
                   !strcmp(f->name, "max_pixels")) {
            char *end;
            double v = strtod(text, &end);
            if (end == text || *end) {
                qvl_fail_code(err, QVL_E_BAD_INPUT, "field '%s' must be a number", f->name);
                goto fail;
            }
            json_object_set_new(obj, f->name, json_real(v));
        } else {
            json_t *str = json_stringn(text, f->len);
            if (!str) {
                qvl_fail_code(err, QVL_E_BAD_INPUT, "field '%s' is not valid UTF-8 text", f->name);
                goto fail;
            }
            json_object_set_new(obj, f->name, str);
        }
    }
    form_free(&fm);
    return obj;
fail:
    form_free(&fm);
    json_decref(obj);
    return NULL;
}

/* ---- answers --------------------------------------------------------------- */

typedef struct chat_ctx {
    qvl_server *srv;
    char conv_id[33];
    json_t *messages;       /* shared with the job; extended with the answer when done */
} chat_ctx;

static void chat_ctx_free(void *p) {
    chat_ctx *c = p;
    json_decref(c->messages);
    free(c);
}

/* The answer's fields; on success also stores the conversation. */
static json_t *answer_json(chat_ctx *c, const sched_poll *p) {
    const gen_result *res = p->result;
    char ts[40];
    http_iso_time(ts, sizeof ts);
    json_t *assistant = json_pack("{s:s, s:s%}", "role", "assistant", "content", res->text ? res->text : "",
                                  res->text_len);
    json_array_append_new(c->messages, assistant);
    conv_put(c->srv->convs, c->conv_id, json_incref(c->messages));
    json_t *out = json_pack("{s:s%, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "response", res->text ? res->text : "",
                            res->text_len, "timestamp", ts, "model", c->srv->m->name, "conversation_id", c->conv_id,
                            "finish_reason", api_finish_reason(res), "route", p->route ? p->route : "vlm",
                            "ocr_fallback", p->ocr_fell_back, "usage", api_usage_json(p), "timings",
                            api_timings_json(p));
    /* the reading with per-line confidence, whenever OCR ran (also when the model answered after it) */
    if (out && p->ocr) json_object_set_new(out, "ocr", json_deep_copy(p->ocr));
    return out;
}

static char *chat_queued(void *ctx, int position) { return sse_event(json_pack("{s:i}", "queued", position)); }

static char *chat_progress(void *ctx, const char *stage, int done, int total) {
    return sse_event(json_pack("{s:{s:s, s:i, s:i}}", "progress", "stage", stage, "done", done, "total", total));
}

static char *chat_text(void *ctx, const char *text, size_t len) {
    return sse_event(json_pack("{s:s%}", "text", text, len));
}

static char *chat_done(void *ctx, const sched_poll *p) {
    chat_ctx *c = ctx;
    api_observe(c->srv, p);
    if (p->failed) return sse_event(http_error_json(http_status_for_error(&p->err), p->err.msg));
    json_t *a = answer_json(c, p);
    json_object_set_new(a, "done", json_true());
    return sse_event(a);
}

static const sse_format chat_format = {.queued = chat_queued, .text = chat_text, .progress = chat_progress,
                                      .done = chat_done, .free = chat_ctx_free};

/* ---- the request ------------------------------------------------------------ */

/* Builds the messages: the stored conversation (if any) plus one user turn
 * with the image (if any) and the question. NULL with err set. */
static json_t *build_messages(qvl_server *s, const json_t *body, const char *conv_id, qvl_error *err) {
    json_t *q = json_object_get(body, "question"), *img = json_object_get(body, "image");
    if (!json_is_string(q) || json_string_length(q) == 0) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'question' must be a non-empty string");
        return NULL;
    }
    if (img && !json_is_null(img) && !json_is_string(img)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'image' must be a base64 string or a data URL");
        return NULL;
    }
    json_t *msgs = conv_id ? conv_get(s->convs, conv_id) : json_array();
    if (!msgs) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "conversation_id '%.40s' is unknown or has expired: send the image "
                      "again without it", conv_id);
        return NULL;
    }
    json_t *content = json_array();
    if (json_is_string(img) && json_string_length(img) > 0)
        json_array_append_new(content, json_pack("{s:s, s:{s:O}}", "type", "image_url", "image_url", "url", img));
    json_array_append_new(content, json_pack("{s:s, s:O}", "type", "text", "text", q));
    json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content", content));
    return msgs;
}


enum MHD_Result api_simple_chat(srv_req *r) {
    qvl_server *s = r->srv;
    qvl_error err = {0};
    bool multipart = r->content_type && !strncasecmp(r->content_type, "multipart/form-data", 19);
    json_t *body = multipart ? form_to_json(r, &err) : srv_parse_json_body(r, &err);
    sched_request req = {.load_image = srv_load_image, .load_free = srv_images_free};
    const char *stops[API_MAX_STOP];
    json_t *cid = body ? json_object_get(body, "conversation_id") : NULL;
    if (body && cid && !json_is_null(cid) && (!json_is_string(cid) || json_string_length(cid) > 64)) {
        qvl_fail_code(&err, QVL_E_BAD_INPUT, "'conversation_id' must be the string an earlier answer returned");
        json_decref(body);
        body = NULL;
    }
    const char *conv_id = json_string_value(cid);
    json_t *msgs = NULL;
    if (!body || api_parse_mode(body, &req.mode, &err) ||
        api_parse_params(s, body, &req.params, stops, &req.min_pixels, &req.max_pixels, &err) ||
        !(msgs = build_messages(s, body, conv_id, &err)) || !(req.load_ctx = srv_check_images(s, msgs, &err))) {
        json_decref(msgs);
        json_decref(body);
        return srv_reply_error(r, &err);
    }
    json_t *pages = json_object_get(body, "pages");
    if (pages && !json_is_null(pages)) {
        if (json_is_integer(pages) && json_integer_value(pages) >= 1 && json_integer_value(pages) <= 100000)
            snprintf(req.pages, sizeof req.pages, "%lld", (long long)json_integer_value(pages));
        else if (json_is_string(pages) && json_string_length(pages) < sizeof req.pages)
            snprintf(req.pages, sizeof req.pages, "%s", json_string_value(pages));
        else
            qvl_fail_code(&err, QVL_E_BAD_INPUT, "'pages' must be a page (2 or \"2\"), a range (\"1-3\") or \"all\"");
        int a, b;
        if (!err.msg[0] && image_pages_parse(req.pages, 100000, &a, &b, &err) != 0) req.pages[0] = 0;
        if (err.msg[0]) {
            srv_images_free(req.load_ctx);
            json_decref(msgs);
            json_decref(body);
            return srv_reply_error(r, &err);
        }
    }
    srv_images_last(req.load_ctx, &req.doc, &req.doc_len);
    chat_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        srv_images_free(req.load_ctx);
        json_decref(msgs);
        json_decref(body);
        return MHD_NO;
    }
    c->srv = s;
    c->messages = msgs;
    if (conv_id) snprintf(c->conv_id, sizeof c->conv_id, "%s", conv_id);
    else conv_new_id(c->conv_id);
    bool stream = json_is_true(json_object_get(body, "stream"));
    req.messages = json_incref(msgs);
    sched_job *job = sched_submit(s->sched, &req, &err);
    json_decref(body);
    if (!job) {
        chat_ctx_free(c);
        return srv_reply_error(r, &err);
    }
    sched_poll p;
    int waited = stream ? sse_wait_first(r, job, &p) : sse_wait_done(r, job, &p);
    if (waited != 0) {
        sched_job_release(job);
        chat_ctx_free(c);
        return MHD_NO;
    }
    if (stream && !(p.state == JOB_DONE && p.failed)) return sse_respond(r, job, &p, &chat_format, c);
    api_observe(s, &p);
    enum MHD_Result rc = p.failed ? srv_reply_error(r, &p.err) : srv_reply_json(r, 200, answer_json(c, &p));
    sched_job_release(job);
    chat_ctx_free(c);
    return rc;
}
