/* server.h - the HTTP server of `qvl serve`: libmicrohttpd glue, routing,
 * limits, CORS, the API key, and the web page.
 *
 * Endpoints (request and response shapes: the top comments of api_openai.c
 * and api_chat.c):
 *   GET  /  /app.js  /style.css    the web page, embedded at build time
 *   GET  /health                   {"status":"ok", ...} once the model is loaded
 *   GET  /metrics                  Prometheus text
 *   GET  /v1/models                OpenAI model list
 *   POST /v1/chat/completions      OpenAI chat completions (stream or not)
 *   POST /tokenize  /detokenize    llama.cpp-style token helpers
 *   POST /api/v1/chat              the simple API (JSON or multipart/form-data)
 *
 * Threading: libmicrohttpd runs one thread per connection; inference runs on
 * the scheduler's slot threads. A connection thread that waits for a job
 * polls it every 50 ms and checks its socket, so a client that goes away
 * cancels its job before the next token (see sse.h).
 *
 * Replicas: every answer carries "X-Qvl-Instance: <instance id>". A request
 * may carry "X-Conversation-Id" (the simple API's conversation_id as a
 * header, so a balancer can route by it); the id is returned in that header.
 * With an explicit instance id, new conversation ids start with "<id>-", so
 * a balancer can send follow-ups to the replica that holds them
 * (deploy/nginx/qvl.conf).
 *
 * Start-up: server_start listens at once (the page loads and /health says
 * "loading"); server_set_model then makes the APIs answer. server_stop
 * drains.
 */
#ifndef QVL_SERVER_H
#define QVL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "model/model.h"
#include "ocr/ocr_router.h"

typedef struct server_config {
    const char *host;        /* bind address, "127.0.0.1" by default */
    int port;                /* 0 = any free port (see server_port) */
    int threads;             /* compute threads in total */
    int parallel;            /* inference slots */
    const char *api_key;     /* NULL = no key required (unless api_key_file) */
    const char *api_key_file;/* more keys, one per line ('#' comments), or NULL (service/api_keys.h) */
    int max_image_mb;        /* per image, encoded */
    const char *cors;        /* Access-Control-Allow-Origin value, or NULL */
    int ctx;                 /* KV cache size per slot */
    double timeout_s;        /* per request; <= 0 = none */
    int max_queue;           /* waiting requests before 503 */
    int max_connections;     /* open connections before new ones are refused */
    double header_timeout_s; /* a request's headers must arrive within this; <= 0 = 10 s */
    const ocr_router *router;   /* OCR routing rules, or NULL for no OCR fast path */
    const char *ocr_plugin;  /* OCR plugin instead of Tesseract, or NULL */
    const char *ocr_lang;    /* OCR languages, or NULL for the default */
    int image_cache_mb;      /* encoded images kept for follow-ups (0 = none) */
    int max_pixels;          /* image detail of requests that give none (image/preprocess.h IMAGE_QVL_MAX_PIXELS) */
    int max_conversations;   /* simple-API conversations kept (LRU, 30 min each); <= 0 = 16 */
    int conversation_mb;     /* their bytes together (images as base64; LRU beyond); <= 0 = 256 */
    uint64_t max_memory;     /* --max-memory in bytes: work that would pass it waits or is refused (413); 0 = none */
    const char *instance_id; /* this replica's name (X-Qvl-Instance on every answer; prefix of its
                                conversation ids), or NULL for "<hostname>:<port>" and unprefixed ids */
} server_config;

typedef struct qvl_server qvl_server;

/* Starts the listener. Until server_set_model, /health answers 503
 * {"status":"loading"} and the APIs 503. Returns NULL with err set (port in
 * use, bad host, out of memory). */
qvl_server *server_start(const server_config *cfg, qvl_error *err);

/* Starts the inference slots for m and opens the APIs. The model must
 * outlive the server. With max_memory, what stays held from now on (the
 * process's resident memory with the model loaded, every slot's KV cache,
 * the image cache and the conversations at their limits) is the budget's
 * base; requests reserve the rest. Returns 0, or -1 with err set (out of
 * memory for the KV caches, threads; the base over max_memory, with the
 * numbers); the server then stays in the loading state. */
int server_set_model(qvl_server *s, const qvl_model *m, qvl_error *err);

/* The port actually bound (useful with port 0). */
int server_port(const qvl_server *s);

/* The memory budget's limit, base and reservations now (bytes); false when
 * there is no budget (or no model yet). */
bool server_memory(qvl_server *s, uint64_t *limit, uint64_t *base, uint64_t *reserved);

/* The instance id the server sends in X-Qvl-Instance. */
const char *server_instance(const qvl_server *s);

/* True when id can be an instance id: 1..CONV_PREFIX_MAX (48) characters of
 * A-Z a-z 0-9 . _ : - (it goes into a header and into conversation ids). */
bool server_instance_valid(const char *id);

/* Stops accepting connections, lets running requests finish for up to
 * grace_s seconds (then cancels them), closes every connection and frees the
 * server. NULL is fine. */
void server_stop(qvl_server *s, double grace_s);

#endif
