/* request.c - see server_impl.h: replying to a request (CORS, metrics,
 * JSON and error bodies) and reading its body and images. The API handlers
 * and the router (server.c) build on these.
 *
 * Divisions: replies -> request bodies and images. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "generate/mem_need.h"
#include "service/http_util.h"
#include "server/server_impl.h"

/* ---- replies ---------------------------------------------------------------- */

enum MHD_Result srv_reply(srv_req *r, int status, struct MHD_Response *resp) {
    const server_config *cfg = &r->srv->cfg;
    if (cfg->cors) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", cfg->cors);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Qvl-Instance, X-Conversation-Id");
        MHD_add_response_header(resp, "Vary", "Origin");
    }
    MHD_add_response_header(resp, "X-Qvl-Instance", r->srv->instance);
    if (r->conv_id[0]) MHD_add_response_header(resp, "X-Conversation-Id", r->conv_id);
    metrics_count_response(r->srv->met, status);
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result srv_reply_bytes(srv_req *r, int status, const char *type, const void *data, size_t len,
                                enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, mode);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    return srv_reply(r, status, resp);
}

enum MHD_Result srv_reply_json(srv_req *r, int status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(body);
    if (!text) return MHD_NO;
    size_t n = strlen(text);
    text[n] = '\n';   /* the NUL becomes a final newline: nicer with curl */
    enum MHD_Result rc = srv_reply_bytes(r, status, "application/json", text, n + 1, MHD_RESPMEM_MUST_FREE);
    if (rc == MHD_NO) free(text);
    return rc;
}

bool srv_is_ollama_path(const char *path) {
    return path && !strncmp(path, "/api/", 5) && strncmp(path, "/api/v1/", 8) != 0;
}

enum MHD_Result srv_reply_error(srv_req *r, const qvl_error *err) {
    int status = http_status_for_error(err);
    const char *msg = err->msg[0] ? err->msg : "internal error";
    /* Ollama's clients read {"error": "<message>"}; everything else gets the OpenAI shape. */
    json_t *body = srv_is_ollama_path(r->path) ? json_pack("{s:s}", "error", msg) : http_error_json(status, msg);
    if (err->code != SRV_E_QUEUE_FULL) return srv_reply_json(r, status, body);
    /* Busy: tell well-behaved clients when to come back. */
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Retry-After", "2");
    return srv_reply(r, status, resp);
}

enum MHD_Result srv_reply_fail(srv_req *r, int code, const char *msg) {
    qvl_error err;
    qvl_fail_code(&err, code, "%s", msg);
    return srv_reply_error(r, &err);
}

/* ---- request bodies and images ------------------------------------------------ */

json_t *srv_parse_json_body(srv_req *r, qvl_error *err) {
    return srv_json_from_bytes(r->content_type, r->body, r->body_len, err);
}

json_t *srv_json_from_bytes(const char *ct, const char *bytes, size_t len, qvl_error *err) {
    /* curl -d sends form-urlencoded by default; take it when it is JSON. */
    bool form = ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33) && len &&
                (bytes[0] == '{' || bytes[0] == '[');
    if (ct && *ct && !strcasestr(ct, "json") && strncasecmp(ct, "text/plain", 10) != 0 && !form) {
        qvl_fail_code(err, SRV_E_MEDIA_TYPE, "send the request as JSON (Content-Type: application/json), not %.80s", ct);
        return NULL;
    }
    if (len == 0) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "the request body is empty: send a JSON object");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(bytes, len, 0, &je);
    if (!j) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "the body is not valid JSON (line %d, column %d: %s)", je.line, je.column,
                      je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        qvl_fail_code(err, QVL_E_BAD_INPUT, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* The image reference string of a content part, or NULL. Accepts the
 * OpenAI form {"image_url":{"url":...}}, {"image_url":"..."} and {"image":"..."}. */
static const char *part_image_ref(const json_t *part) {
    json_t *iu = json_object_get(part, "image_url");
    if (json_is_object(iu)) return json_string_value(json_object_get(iu, "url"));
    if (json_is_string(iu)) return json_string_value(iu);
    return json_string_value(json_object_get(part, "image"));
}

static bool part_is_image(const json_t *part) {
    const char *type = json_string_value(json_object_get(part, "type"));
    return (type && (!strcmp(type, "image") || !strcmp(type, "image_url"))) || json_object_get(part, "image_url") ||
           json_object_get(part, "image");
}

/* One image of a request, base64-decoded once on the HTTP thread. */
typedef struct srv_image {
    const json_t *part;      /* the content part it came from (the job keeps the messages) */
    uint8_t *bytes;
    size_t len;
    int width, height;       /* upright size once decoded on the slot thread; 0 before */
} srv_image;

struct srv_images {
    qvl_server *srv;
    srv_image *img;
    int n;
    const atomic_bool *cancel;   /* the job's, once it runs (srv_images_watch) */
};

void srv_images_watch(void *ctx, const atomic_bool *cancel) { ((srv_images *)ctx)->cancel = cancel; }

void srv_images_free(void *p) {
    srv_images *si = p;
    if (!si) return;
    for (int i = 0; i < si->n; i++) free(si->img[i].bytes);
    free(si->img);
    free(si);
}

/* The set's image that content part `part` (or a page copy of it: the copy
 * shares the part's reference string) came from, or NULL. */
static srv_image *find_image(const srv_images *si, const json_t *part) {
    const char *ref = part_image_ref(part);
    for (int i = 0; si && i < si->n; i++)
        if (si->img[i].part == part || (ref && part_image_ref(si->img[i].part) == ref)) return &si->img[i];
    return NULL;
}

const uint8_t *srv_image_bytes(void *ctx, const json_t *part, size_t *len) {
    const srv_image *im = find_image(ctx, part);
    *len = im ? im->len : 0;
    return im ? im->bytes : NULL;
}

int srv_load_image(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    srv_images *si = ctx;
    srv_image *im = find_image(si, part);
    /* Every part the chat template takes for an image was checked; this is
     * a part the two disagree on. Refuse rather than fetch unchecked data. */
    if (!im) return qvl_fail_code(err, QVL_E_BAD_INPUT, "image %d: not a recognised image part", index + 1);
    /* "page": a document's page (answer/pages.h) */
    int page = (int)json_integer_value(json_object_get(part, "page"));
    image_limits lim = si->srv->img_lim;
    lim.cancel = si->cancel;
    int rc = image_decode_page(im->bytes, im->len, page, &lim, out, err);
    if (rc != 0) return qvl_error_prefix(err, "image %d", index + 1);
    if (im->width == 0) {   /* the first page read: a document's boxes are about it */
        im->width = out->width;
        im->height = out->height;
    }
    return 0;
}

srv_images *srv_check_images(qvl_server *s, const json_t *messages, qvl_error *err) {
    srv_images *si = calloc(1, sizeof *si);
    if (!si) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    si->srv = s;
    size_t i, k;
    json_t *msg, *part;
    json_array_foreach(messages, i, msg) {
        json_t *content = json_object_get(msg, "content");
        if (!json_is_array(content)) continue;
        int in_msg = 0;
        json_array_foreach(content, k, part) {
            if (!json_is_object(part) || !part_is_image(part)) continue;
            if (++in_msg > SRV_MAX_IMAGES) {   /* the simple API says so sooner, naming its fields */
                qvl_fail_code(err, QVL_E_BAD_INPUT, "message %zu has more than %d images: a question takes at most "
                              "%d; send fewer, or ask about the rest in another message", i + 1, SRV_MAX_IMAGES,
                              SRV_MAX_IMAGES);
                goto fail;
            }
            int n = si->n + 1;
            const char *ref = part_image_ref(part);
            srv_image *grown = realloc(si->img, (size_t)n * sizeof *grown);
            if (!grown) {
                qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
                goto fail;
            }
            si->img = grown;
            srv_image *im = &si->img[si->n];
            *im = (srv_image){.part = part};
            if (!ref) {
                qvl_fail_code(err, QVL_E_BAD_INPUT, "image %d has no data: give image_url.url", n);
                goto fail;
            }
            if (http_image_bytes(ref, NULL, s->img_lim.max_bytes, &im->bytes, &im->len, err) != 0) {
                qvl_error_prefix(err, "image %d", n);
                goto fail;
            }
            si->n = n;
        }
    }
    return si;
fail:
    srv_images_free(si);
    return NULL;
}

int srv_images_count(const srv_images *si) { return si ? si->n : 0; }

bool srv_images_size_of(const srv_images *si, const json_t *part, int *width, int *height) {
    for (int i = 0; si && i < si->n; i++)
        if (si->img[i].part == part && si->img[i].width > 0) {
            *width = si->img[i].width;
            *height = si->img[i].height;
            return true;
        }
    return false;
}

sched_job *srv_submit(qvl_server *s, sched_request *req, qvl_error *err) {
    const srv_images *si = req->load_ctx;
    if (s->budget) {
        int n = si ? si->n : 0;
        mem_image *imgs = calloc((size_t)(n ? n : 1), sizeof *imgs);
        mem_need need;
        int rc = imgs ? 0 : qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        for (int i = 0; rc == 0 && i < n; i++)
            if ((rc = mem_image_of(si->img[i].bytes, si->img[i].len, &s->img_lim, SRV_MAX_IMAGES, &imgs[i], err)) != 0)
                qvl_error_prefix(err, "image %d", i + 1);
        if (rc == 0)
            rc = mem_need_request(s->m, imgs, n, req->min_pixels, req->max_pixels, s->cfg.ctx, s->cfg.threads,
                                  s->cfg.router && req->mode != OCR_MODE_VLM, &need, err);
        free(imgs);
        if (rc != 0) {
            sched_request_release(req);
            return NULL;
        }
        req->mem_need = need.total;
        mem_need_text(&need, req->mem_detail, sizeof req->mem_detail);
    }
    return sched_submit(s->sched, req, err);
}
