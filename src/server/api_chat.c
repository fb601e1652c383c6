/* api_chat.c - the simple API, POST /api/v1/chat:
 *
 *   {"image": "<base64 or data URL>", "images": [...more, in order],
 *    "question": "...",
 *    "conversation_id": "...", "stream": false, "max_tokens": 1024,
 *    "temperature": 0.7, "max_pixels": 1003520, "mode": "auto", "pages": "1-3",
 *    "boxes": false}
 *   -> {"response": "...", "timestamp": "<ISO 8601>", "model": "...",
 *       "conversation_id": "...", "finish_reason": "stop",
 *       "route": "ocr" | "vlm" | "ocr+vlm", "ocr_fallback": false,
 *       "usage": {...}, "timings": {...}}
 *
 * "schema" (a JSON Schema object, or "json" for any JSON object; as text
 * in a multipart form) makes the answer JSON that follows it (grammar.h):
 * "response" is then the JSON text and "json" the parsed value, or, when
 * max_tokens cut it, "json_incomplete": true and finish_reason "length".
 * "boxes": true adds the answer's grounding (answer/grounding.h: Qwen3-VL's
 * bbox_2d objects, 0-1000) as pixel boxes of the image asked about, upright
 * after its EXIF orientation: "boxes": [{"label", "x1", "y1", "x2", "y2"}]
 * and "image": {"width", "height"}. It needs an image in the conversation;
 * an answer without boxes gives "boxes": []. The question itself is not
 * changed: ask for the boxes ("... report bbox_2d coordinates as JSON").
 *
 * "mode" chooses the route (answer.h): auto (text-reading questions go to
 * OCR, which answers in well under a second; low OCR confidence falls back
 * to the model and sets ocr_fallback), ocr, vlm, or ocr+vlm (OCR text given
 * to the model as context). "pages" selects pages of the PDFs and multi-page
 * TIFFs sent with the question ("2", "1-3"; default all), kept on their image
 * parts for follow-ups: each page is an image for the model and for OCR (a
 * born-digital PDF page is read from its text layer; answer/pages.h).
 *
 * Several images (at most SRV_MAX_IMAGES, a document's pages counting one
 * each for the model) go into one question in order: "image" first, then
 * "images". "boxes" are about the first of them (the model's boxes do not
 * say which image they are on); OCR reads each (answer/answer_ocr.h).
 *
 * The same fields may come as multipart/form-data (one or more "image" file
 * parts and text fields), so `curl -F image=@photo.jpg -F question=...`
 * works. With "stream": true the answer comes as Server-Sent Events: {"queued": n}
 * while waiting, {"progress": {"stage": "image" or "prompt", "done": k,
 * "total": n}} while the image is encoded (k of n encoder blocks) and the
 * prompt read (k of n tokens), {"text": "..."} per piece, then {"done": true, ...the
 * fields above...} or {"error": {...}}.
 *
 * Conversations: every answer returns a conversation_id (also as the
 * X-Conversation-Id header); sending it back (in the body or in that header)
 * with a new question continues the chat about the same image without
 * resending it (the server keeps the 16 most recent for 30 minutes after
 * their last use; conversations.h). The whole conversation is sent to the
 * model each time, but a slot keeps its KV cache and the server its encoded
 * images, so a follow-up only computes the new question. An id this server
 * does not hold is refused with 400 and "send the image again" - unless the
 * request has an image: then a conversation starts under that id, so a
 * client may choose its ids (and a balancer hash on them) from the start.
 * With --instance-id, new ids are "<instance>-<32 hex>" (server.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer/grounding.h"
#include "base/base64.h"
#include "image/image.h"
#include "service/http_util.h"
#include "server/server_impl.h"
#include "server/sse.h"

/* ---- multipart/form-data ---------------------------------------------------- */

typedef struct form_field {
    char name[32];
    char mime[64];          /* the part's Content-Type, for files */
    char *data;
    size_t len;
} form_field;

/* The text fields plus one more image than allowed, so that a form with
 * too many is refused with the count rather than cut short. */
enum { MAX_FIELDS = 12 + SRV_MAX_IMAGES + 1 };

typedef struct form {
    form_field f[MAX_FIELDS];
    int n;
    bool failed;
} form;

static bool is_image_field(const char *name) { return !strcmp(name, "image") || !strcmp(name, "images"); }

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                 const char *content_type, const char *transfer_encoding, const char *data,
                                 uint64_t off, size_t size) {
    form *fm = cls;
    form_field *f = NULL;
    /* Each "image" part is an image of its own (several may come, in
     * order); other fields with the same name are joined. */
    bool new_image = off == 0 && is_image_field(key);
    for (int i = fm->n - 1; i >= 0 && !f && !new_image; i--)
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

/* An image file part as a data URL, after checking its size and its bytes
 * against its declared type; n is its 1-based place, for messages. NULL
 * with err set. */
static json_t *file_data_url(const qvl_server *s, const form_field *f, size_t n, qvl_error *err) {
    if (f->len > s->img_lim.max_bytes) {   /* the size first, as for inline images */
        qvl_fail_code(err, QVL_E_TOO_LARGE, "image %zu is larger than the limit of %d MB", n, s->cfg.max_image_mb);
        return NULL;
    }
    if (http_check_image_kind((const uint8_t *)f->data, f->len, f->mime, err) != 0) {
        qvl_error_prefix(err, "image %zu", n);
        return NULL;
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
    if (!url) qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    return url;
}

/* Turns a multipart body into the JSON object the JSON form would be: the
 * image files (every part named "image" or "images", in order) become the
 * "images" array of data URLs, numbers and booleans are converted. NULL
 * with err set. */
static json_t *form_to_json(srv_req *r, qvl_error *err) {
    form fm = {0};
    struct MHD_PostProcessor *pp = MHD_create_post_processor(r->conn, 64 * 1024, form_iter, &fm);
    if (!pp) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "the multipart body has no boundary");
        return NULL;
    }
    enum MHD_Result ok = MHD_post_process(pp, r->body, r->body_len);
    MHD_destroy_post_processor(pp);
    json_t *obj = json_object(), *images = json_array();
    if (ok != MHD_YES || fm.failed) {
        qvl_fail_code(err, fm.failed ? QVL_E_NOMEM : QVL_E_BAD_INPUT, "cannot parse the multipart/form-data body");
        goto fail;
    }
    for (int i = 0; i < fm.n; i++) {
        form_field *f = &fm.f[i];
        const char *text = f->data ? f->data : "";
        if (is_image_field(f->name)) {
            if (f->len == 0) continue;   /* an empty file input */
            json_t *url = file_data_url(r->srv, f, json_array_size(images) + 1, err);
            if (!url) goto fail;
            json_array_append_new(images, url);
        } else if (!strcmp(f->name, "stream") || !strcmp(f->name, "boxes")) {
            json_object_set_new(obj, f->name, json_boolean(!strcmp(text, "true") || !strcmp(text, "1")));
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
    if (json_array_size(images) > 0) json_object_set(obj, "images", images);
    json_decref(images);
    return obj;
fail:
    form_free(&fm);
    json_decref(images);
    json_decref(obj);
    return NULL;
}

/* ---- answers --------------------------------------------------------------- */

typedef struct chat_ctx {
    qvl_server *srv;
    bool schema;            /* the answer is JSON: add it parsed */
    char conv_id[CONV_ID_SIZE];
    json_t *messages;       /* shared with the job; extended with the answer when done */
    bool boxes;             /* add the answer's grounding boxes */
    const srv_images *images;   /* the job's (valid while the job is held): the image size */
    const json_t *boxes_part;   /* the image part (in messages) the boxes are about */
} chat_ctx;

static void chat_ctx_free(void *p) {
    chat_ctx *c = p;
    json_decref(c->messages);
    free(c);
}

enum { MAX_BOXES = 256 };

/* "boxes" and "image" for the answer text: the grounding in pixels of the
 * image asked about (the first of the question's images). The size is known
 * once the job decoded the image (an answer that got this far did). */
static void add_boxes(json_t *answer, const chat_ctx *c, const gen_result *res) {
    int w = 0, h = 0;
    json_t *arr = json_array();
    grounding_box *b = malloc(MAX_BOXES * sizeof *b);
    if (b && srv_images_size_of(c->images, c->boxes_part, &w, &h)) {
        int n = grounding_boxes(res->text, res->text ? res->text_len : 0, w, h, b, MAX_BOXES);
        for (int i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:i, s:i, s:i, s:i}", "label", b[i].label, "x1", b[i].x1,
                                                 "y1", b[i].y1, "x2", b[i].x2, "y2", b[i].y2));
    }
    free(b);
    json_object_set_new(answer, "boxes", arr);
    json_object_set_new(answer, "image", json_pack("{s:i, s:i}", "width", w, "height", h));
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
    json_t *parsed = c->schema && !res->incomplete ? json_loadb(res->text ? res->text : "", res->text_len,
                                                               JSON_DECODE_ANY, NULL) : NULL;
    if (out && parsed) json_object_set_new(out, "json", parsed);
    else json_decref(parsed);
    if (out && c->schema && res->incomplete) json_object_set_new(out, "json_incomplete", json_true());
    if (out && c->boxes) add_boxes(out, c, res);
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

/* The optional "pages" field into pages ("" when absent): a page (2 or "2"),
 * a range ("1-3") or "all". Returns 0, or -1 with err (QVL_E_BAD_INPUT). */
static int parse_pages(const json_t *body, char pages[32], qvl_error *err) {
    json_t *v = json_object_get(body, "pages");
    pages[0] = 0;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 100000)
        snprintf(pages, 32, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v) && json_string_length(v) < 32)
        snprintf(pages, 32, "%s", json_string_value(v));
    else
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'pages' must be a page (2 or \"2\"), a range (\"1-3\") or \"all\"");
    int a, b;
    return image_pages_parse(pages, 100000, &a, &b, err);
}

/* An image_url part for url, with the question's page selection (it stays
 * with the part in the conversation, so follow-ups read the same pages). */
static json_t *image_part(json_t *url, const char *pages) {
    json_t *part = json_pack("{s:s, s:{s:O}}", "type", "image_url", "image_url", "url", url);
    if (part && pages[0]) json_object_set_new(part, "pages", json_string(pages));
    return part;
}

/* The question's images in order: "image" (one) then "images" (an array),
 * appended to content as image_url parts. Returns how many, or -1 with
 * err (QVL_E_BAD_INPUT) for a malformed field or more than SRV_MAX_IMAGES. */
static int add_images(const json_t *body, const char *pages, json_t *content, qvl_error *err) {
    json_t *one = json_object_get(body, "image"), *many = json_object_get(body, "images");
    if (one && !json_is_null(one) && !json_is_string(one))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'image' must be a base64 string or a data URL");
    if (many && !json_is_null(many) && !json_is_array(many))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'images' must be an array of base64 strings or data URLs");
    size_t n = (json_is_string(one) && json_string_length(one) > 0) + json_array_size(many);
    if (n > SRV_MAX_IMAGES)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "a question takes at most %d images, this one has %zu: send "
                             "fewer, or ask about the rest in another question", SRV_MAX_IMAGES, n);
    if (json_is_string(one) && json_string_length(one) > 0) json_array_append_new(content, image_part(one, pages));
    size_t i;
    json_t *img;
    json_array_foreach(many, i, img) {
        if (!json_is_string(img) || json_string_length(img) == 0)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "'images' item %zu must be a non-empty base64 string or "
                                 "data URL", i + 1);
        json_array_append_new(content, image_part(img, pages));
    }
    return (int)n;
}

/* Builds the messages: the stored conversation (if any) plus one user turn
 * with the images (if any; *n_images of them) and the question. A
 * conversation id this server does not hold starts a new conversation when
 * the request has an image, and is refused otherwise. NULL with err set. */
static json_t *build_messages(qvl_server *s, const json_t *body, const char *conv_id, int *n_images,
                              qvl_error *err) {
    char pages[32];
    if (parse_pages(body, pages, err) != 0) return NULL;
    json_t *q = json_object_get(body, "question");
    if (!json_is_string(q) || json_string_length(q) == 0) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "'question' must be a non-empty string");
        return NULL;
    }
    json_t *content = json_array();
    *n_images = add_images(body, pages, content, err);
    if (*n_images < 0) {
        json_decref(content);
        return NULL;
    }
    json_t *msgs = conv_id ? conv_get(s->convs, conv_id) : NULL;
    if (!msgs && conv_id && *n_images == 0) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "conversation_id '%.96s' is not held by this server (instance %s): it "
                      "expired, or the replica that held it stopped. Send the image again (without the "
                      "conversation id) to start over", conv_id, s->instance);
        json_decref(content);
        return NULL;
    }
    if (!msgs) msgs = json_array();
    json_array_append_new(content, json_pack("{s:s, s:O}", "type", "text", "text", q));
    json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content", content));
    return msgs;
}

/* The image boxes are about: the first image of the latest question that
 * had any (the page draws them on that one). NULL when there is none. */
static const json_t *boxes_image_part(const json_t *msgs) {
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *content = json_object_get(json_array_get(msgs, i), "content");
        size_t k;
        const json_t *part;
        json_array_foreach(content, k, part) {
            const char *type = json_string_value(json_object_get(part, "type"));
            if (type && !strcmp(type, "image_url")) return part;
        }
    }
    return NULL;
}

/* The optional "boxes" flag; true needs an image in the conversation.
 * Returns 0, or -1 with err (QVL_E_BAD_INPUT). */
static int parse_boxes(const json_t *body, const srv_images *images, bool *boxes, qvl_error *err) {
    const json_t *v = json_object_get(body, "boxes");
    if (v && !json_is_boolean(v) && !json_is_null(v))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'boxes' must be true or false");
    *boxes = json_is_true(v);
    if (*boxes && srv_images_count(images) == 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'boxes' needs an image: send one, or the conversation_id of a "
                             "chat about one");
    return 0;
}

/* The request's conversation id: the body's conversation_id or the
 * X-Conversation-Id header (already checked by the router; NULL when absent);
 * NULL for a new conversation. Returns -1 with err when the body's is
 * malformed or the two disagree. */
static int request_conv_id(const char *header_id, const json_t *body, const char **id, qvl_error *err) {
    json_t *cid = json_object_get(body, "conversation_id");
    *id = header_id;
    if (!cid || json_is_null(cid)) return 0;
    if (!json_is_string(cid) || !conv_id_valid(json_string_value(cid)))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'conversation_id' must be the string an earlier answer returned");
    if (*id && strcmp(*id, json_string_value(cid)) != 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'conversation_id' and the X-Conversation-Id header differ: "
                             "send one, or the same in both");
    *id = json_string_value(cid);
    return 0;
}

int api_simple_parse(qvl_server *s, json_t *body, const char *header_conv_id, api_request *a, qvl_error *err) {
    api_request_init(a, body);
    sched_request *req = &a->req;
    if (request_conv_id(header_conv_id, body, &a->conv_id, err) || api_parse_mode(body, &req->mode, err) ||
        api_parse_params(s, body, &req->params, a->stops, &req->min_pixels, &req->max_pixels, err) ||
        api_parse_schema_field(body, &req->constraint, err) ||
        !(req->messages = build_messages(s, body, a->conv_id, &a->n_images, err)) ||
        !(req->load_ctx = srv_check_images(s, req->messages, err)) ||
        parse_boxes(body, req->load_ctx, &a->boxes, err)) {
        api_request_free(a);
        return -1;
    }
    a->stream = json_is_true(json_object_get(body, "stream"));
    return 0;
}

enum MHD_Result api_simple_chat(srv_req *r) {
    qvl_server *s = r->srv;
    qvl_error err = {0};
    bool multipart = r->content_type && !strncasecmp(r->content_type, "multipart/form-data", 19);
    json_t *body = multipart ? form_to_json(r, &err) : srv_parse_json_body(r, &err);
    api_request a;
    if (!body || api_simple_parse(s, body, r->conv_id[0] ? r->conv_id : NULL, &a, &err) != 0)
        return srv_reply_error(r, &err);
    chat_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        api_request_free(&a);
        return MHD_NO;
    }
    c->srv = s;
    c->schema = a.req.constraint != NULL;
    c->messages = json_incref(a.req.messages);
    c->boxes = a.boxes;
    c->images = a.req.load_ctx;   /* the job's: valid while it is held */
    c->boxes_part = boxes_image_part(a.req.messages);
    if (a.conv_id) snprintf(c->conv_id, sizeof c->conv_id, "%s", a.conv_id);
    else conv_new_id(s->cfg.instance_id, c->conv_id);
    snprintf(r->conv_id, sizeof r->conv_id, "%s", c->conv_id);   /* answered in X-Conversation-Id */
    bool stream = a.stream;
    sched_job *job = api_submit(s, &a, &err);
    api_request_free(&a);
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
