/* server_impl.h - what the server's modules share privately: the server
 * object, one request as the API handlers see it, and the reply functions.
 * Not for use outside src/server.
 *
 * A handler receives a complete request (the body is fully read and within
 * the limit) and must answer by calling exactly one srv_reply_* function (or
 * return MHD_NO to drop the connection when the client is gone).
 */
#ifndef QVL_SERVER_IMPL_H
#define QVL_SERVER_IMPL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "image/image.h"
#include "base/clock.h"
#include "generate/image_cache.h"
#include "grammar/grammar.h"
#include "grammar/token_mask.h"
#include "model/model.h"
#include "service/api_keys.h"
#include "service/conn_deadline.h"
#include "service/conversations.h"
#include "service/metrics.h"
#include "service/scheduler.h"
#include "server/server.h"

/* At most this many images in one question - one user message, in every
 * API, a document's pages counting one each (several photos compared: "what
 * changed?"); the request body limit is sized for this many images of
 * --max-image-mb each. */
enum { SRV_MAX_IMAGES = 8 };

struct qvl_server {
    atomic_bool ready;           /* m and sched are set (store-release after both) */
    const qvl_model *m;
    server_config cfg;
    size_t max_body;             /* request body limit in bytes */
    image_limits img_lim;        /* applied when decoding request images */
    scheduler *sched;
    image_cache *cache;          /* encoded images shared by the slots, or NULL */
    vocab_index *vocab;          /* the tokenizer's index for constrained answers (set with m) */
    metrics *met;
    conv_store *convs;
    struct MHD_Daemon *daemon;
    int port;
    char instance[CONV_PREFIX_MAX + 1];   /* X-Qvl-Instance (server_config.instance_id or hostname:port) */
    atomic_int in_flight;        /* requests started and not yet completely sent */
    conn_deadlines *deadlines;   /* receive time limits per connection (conn_deadline.h) */
    struct mem_budget *budget;   /* --max-memory (set with m), or NULL */
    api_keys *keys;              /* --api-key and --api-key-file (none: every request passes) */
};

typedef struct srv_req {
    qvl_server *srv;
    struct MHD_Connection *conn;
    const char *method, *path;
    const char *content_type;    /* NULL when absent */
    char *body;                  /* NUL-terminated; length body_len */
    size_t body_len;
    size_t body_cap;             /* bytes allocated at body */
    bool too_large;
    size_t discarded;            /* body bytes thrown away after too_large */
    double t_start;              /* clock_ms() at arrival */
    conn_entry *deadline;        /* this connection's conn_deadlines entry, or NULL */
    char conv_id[CONV_ID_SIZE];  /* the X-Conversation-Id sent back ("" = none): the request's, or the
                                    simple API's new conversation */
} srv_req;

/* ---- request.c: replies and request bodies ---- */

/* Sends len bytes of data with a Content-Type; mode says who frees data. */
enum MHD_Result srv_reply_bytes(srv_req *r, int status, const char *type, const void *data, size_t len,
                                enum MHD_ResponseMemoryMode mode);

/* Sends the error body for an error code and message. */
enum MHD_Result srv_reply_fail(srv_req *r, int code, const char *msg);

/* Sends body (stolen) as JSON with status. Returns the MHD result. */
enum MHD_Result srv_reply_json(srv_req *r, int status, json_t *body);

/* True for the Ollama API's paths (/api/..., not the simple API's
 * /api/v1/...), whose errors are {"error": "<message>"}. */
bool srv_is_ollama_path(const char *path);

/* Sends the error body for err (status from http_status_for_error): the
 * OpenAI shape, or Ollama's on its paths. */
enum MHD_Result srv_reply_error(srv_req *r, const qvl_error *err);

/* Sends any prepared response (adds CORS and counts it in the metrics);
 * the response is destroyed. */
enum MHD_Result srv_reply(srv_req *r, int status, struct MHD_Response *resp);

/* Parses len bytes of a request body sent with content_type (NULL when
 * absent) as a JSON object. Returns NULL with err set (QVL_E_BAD_INPUT with
 * line and column; SRV_E_MEDIA_TYPE when the Content-Type is given and is
 * not JSON). */
json_t *srv_json_from_bytes(const char *content_type, const char *bytes, size_t len, qvl_error *err);

/* srv_json_from_bytes on the request's body. */
json_t *srv_parse_json_body(srv_req *r, qvl_error *err);

/* The images of one request: checked and base64-decoded once, before
 * queueing, so a bad image fails fast with 400/413/415 without waiting for a
 * slot; their pixels are decoded once, on the slot thread, by
 * srv_load_image. */
typedef struct srv_images srv_images;

/* Checks every image part of messages (data URL form, base64, size, sniffed
 * type agreeing with the declared one) and keeps its bytes. Returns the set
 * (free with srv_images_free, or hand it to a job as load_ctx with
 * load_free = srv_images_free), or NULL with err set. */
srv_images *srv_check_images(qvl_server *s, const json_t *messages, qvl_error *err);
void srv_images_free(void *si);

/* Gives the set the job's cancel flag (sched_request.load_watch): a PDF page
 * being rendered for it then stops when the job is cancelled. */
void srv_images_watch(void *si, const atomic_bool *cancel);

/* How many images the request has. NULL is fine (0). */
int srv_images_count(const srv_images *si);

/* The upright pixel size of the image that came from content part `part`
 * (a part of the request's messages), known once the job has decoded it:
 * true and the size, or false (no such image, or not decoded: the job
 * failed first). Read it after the job is done, while still holding the job. */
bool srv_images_size_of(const srv_images *si, const json_t *part, int *width, int *height);

/* The answer_bytes_fn for a request: the kept bytes of part (or of the part
 * a document's page copy was made from), living as long as the set; NULL
 * when the set has no such image. ctx = the request's srv_images. */
const uint8_t *srv_image_bytes(void *ctx, const json_t *part, size_t *len);

/* The chat_load_image_fn for a request: decodes the kept bytes of part (its
 * "page" of a document) under the server's image limits. ctx = the
 * request's srv_images. */
int srv_load_image(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err);

/* sched_submit after working out, with a memory budget, the bytes the
 * request will need (its images' sizes from their headers: no pixel is
 * decoded): req->mem_need. Fails like sched_submit, or with the image's
 * error when a header cannot be read; req is released on failure. */
sched_job *srv_submit(qvl_server *s, sched_request *req, qvl_error *err);

/* ---- api_common.c: what both chat APIs share ---- */

/* Up to this many stop strings per request. */
enum { API_MAX_STOP = 16 };

/* Reads the generation fields both APIs accept (max_tokens or
 * max_completion_tokens, temperature, top_p, top_k, min_p, seed, stop,
 * presence_penalty, frequency_penalty, repetition_penalty, max_pixels,
 * min_pixels) into *gp, starting from the model's defaults. gp->stop is set
 * to stops (an array of API_MAX_STOP the caller provides) holding pointers
 * into body. Fills the pixel bounds (min_px, max_px). Returns 0, or -1 with
 * err (QVL_E_BAD_INPUT naming the field). */
int api_parse_params(qvl_server *s, const json_t *body, gen_params *gp, const char **stops, long *min_px, long *max_px,
                     qvl_error *err);

/* Reads the optional "mode" field (auto, ocr, vlm, ocr+vlm) into *mode
 * (default auto). Returns 0, or -1 with err (QVL_E_BAD_INPUT). */
int api_parse_mode(const json_t *body, ocr_mode *mode, qvl_error *err);

/* {"prompt_tokens","completion_tokens","total_tokens"} and the timings
 * object {"queue_ms","image_ms","prompt_ms","prompt_per_second",
 * "predicted_ms","predicted_per_second","first_token_ms","finish"} of a
 * finished job (new references). */
json_t *api_usage_json(const sched_poll *p);
json_t *api_timings_json(const sched_poll *p);

/* OpenAI finish_reason for a result: "stop" or "length". */
const char *api_finish_reason(const gen_result *res);

/* Records a finished job in the metrics. Cannot fail. */
void api_observe(qvl_server *s, const sched_poll *p);

/* One chat request of any API after its parse step: checked, its images
 * base64-decoded, ready to queue (api_submit), with what the handler needs
 * to answer. The parse functions (api_openai_parse, api_simple_parse,
 * api_ollama_parse) take the parsed body and touch no connection, so a
 * request is refused before it costs a slot and the fuzz targets run them
 * without a server. */
typedef struct api_request {
    sched_request req;                 /* params.stop points into stops */
    const char *stops[API_MAX_STOP];   /* into body or keep */
    json_t *body;                      /* the request's JSON (owned) */
    json_t *keep;                      /* Ollama: its options as the common fields (owned), or NULL */
    bool stream;
    bool tool_calls;                   /* search the answer for <tool_call> blocks */
    const char *conv_id;               /* simple API: the conversation continued, or NULL for a new one */
    bool boxes;                        /* simple API: add the answer's grounding boxes */
    int n_images;                      /* simple API: images in this question */
    const char *model;                 /* Ollama: the model name the client used (in body) */
} api_request;

/* Starts *a for body (taken): images loaded by srv_load_image from the set
 * srv_check_images keeps (load_ctx, freed with the job), documents split
 * into pages (srv_image_bytes), at most SRV_MAX_IMAGES images per user
 * message once split. Cannot fail. */
void api_request_init(api_request *a, json_t *body);

/* Frees what the request still owns (after api_submit: the body). */
void api_request_free(api_request *a);

/* Queues the request (sched_submit, which takes its messages, constraint,
 * tools and images, also on failure). Returns the job or NULL with err. */
sched_job *api_submit(qvl_server *s, api_request *a, qvl_error *err);

/* POST /v1/chat/completions: takes body (freed on failure). Returns 0 with
 * *a filled (free with api_request_free), or -1 with err
 * (QVL_E_BAD_INPUT naming the field; QVL_E_TOO_LARGE, SRV_E_MEDIA_TYPE for images). */
int api_openai_parse(qvl_server *s, json_t *body, api_request *a, qvl_error *err);

/* POST /api/v1/chat, as api_openai_parse; header_conv_id is the checked
 * X-Conversation-Id header, or NULL. */
int api_simple_parse(qvl_server *s, json_t *body, const char *header_conv_id, api_request *a, qvl_error *err);

/* POST /api/chat and /api/generate, as api_openai_parse (also
 * SRV_E_NOT_FOUND for another model's name). An empty messages array in
 * *a is Ollama's "load the model" request. */
typedef enum { OLLAMA_CHAT, OLLAMA_GENERATE } ollama_route;
int api_ollama_parse(qvl_server *s, json_t *body, ollama_route route, api_request *a, qvl_error *err);

/* ---- api_structured.c: JSON Schema answers and tool calls ---- */

/* What an OpenAI request asks of the answer's shape. */
typedef struct api_structure {
    grammar *constraint;     /* response_format's, or a required / named tool call's; NULL = free text */
    json_t *tools;           /* tools to render in the prompt (tool_choice not "none"); NULL = none */
    bool tool_calls;         /* look for <tool_call> blocks in the answer */
} api_structure;

/* Reads response_format (text, json_object, json_schema with the schema in
 * json_schema.schema or at the top level), tools and tool_choice (auto,
 * none, required, a named function). Returns 0 with *out filled (free with
 * api_structure_free, or move its parts into a sched_request), or -1 with
 * err (QVL_E_BAD_INPUT naming the field, or the schema keyword refused). */
int api_parse_openai_structure(const json_t *body, api_structure *out, qvl_error *err);
void api_structure_free(api_structure *s);

/* tools in OpenAI's (and Ollama's) shape: [{"type": "function", "function":
 * {"name", "parameters": {...}}}]. Returns 0, or -1 with err
 * (QVL_E_BAD_INPUT naming the entry). */
int api_check_tools(const json_t *tools, qvl_error *err);

/* A field asking for JSON answers (the simple API's "schema", Ollama's
 * "format"): "json" for any JSON object, or a JSON Schema object (with
 * text_ok, also a string holding one: a multipart form sends text).
 * *out = NULL when s is NULL or null. Returns 0, or -1 with err
 * (QVL_E_BAD_INPUT naming the field, or the schema keyword refused). */
int api_schema_grammar(const json_t *s, const char *field, bool text_ok, grammar **out, qvl_error *err);

/* The simple API's "schema" (api_schema_grammar with text allowed). */
int api_parse_schema_field(const json_t *body, grammar **out, qvl_error *err);

/* The shape a parsed tool call takes: OpenAI's
 * {"id", "type": "function", "function": {"name", "arguments": "<JSON text>"}}
 * or Ollama's {"function": {"name", "arguments": {object}}}. */
typedef enum { API_CALLS_OPENAI, API_CALLS_OLLAMA } api_call_shape;

/* The <tool_call> blocks of an answer as tool_calls in the given shape,
 * with *content the malloc'd text around them (trimmed; NULL when none).
 * Returns NULL (and *content NULL) when the answer holds no call or a
 * malformed one: then it is all text. */
json_t *api_tool_calls(const char *text, size_t len, api_call_shape shape, char **content);

/* ---- api_ollama_models.c: the served model as Ollama's API names it ---- */

/* The body's "model" (or legacy "name") when it names the served model:
 * the string as given (borrowed from body). NULL with err: QVL_E_BAD_INPUT
 * when missing, SRV_E_NOT_FOUND (404) for another name. */
const char *ollama_check_model(qvl_server *s, const json_t *body, qvl_error *err);

/* ["completion", "vision" (when the vision tower is loaded), "tools"]: what
 * /api/show and /v1/models report (new reference). */
json_t *api_model_capabilities(const qvl_model *m);

/* Handlers (api_openai.c, api_chat.c, api_pages.c, api_ollama.c, api_ollama_models.c). */
enum MHD_Result api_chat_completions(srv_req *r);
enum MHD_Result api_models(srv_req *r);
enum MHD_Result api_tokenize(srv_req *r);
enum MHD_Result api_detokenize(srv_req *r);
enum MHD_Result api_simple_chat(srv_req *r);
enum MHD_Result api_pages(srv_req *r);
enum MHD_Result api_ollama_chat(srv_req *r);
enum MHD_Result api_ollama_generate(srv_req *r);
enum MHD_Result api_ollama_tags(srv_req *r);
enum MHD_Result api_ollama_show(srv_req *r);
enum MHD_Result api_ollama_ps(srv_req *r);
enum MHD_Result api_ollama_version(srv_req *r);

#endif
