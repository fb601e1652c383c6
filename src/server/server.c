/* server.c - see server.h. libmicrohttpd glue: reading bodies under the
 * limit, routing, the API key, static files, /health and /metrics. Replies
 * and request bodies are request.c's.
 *
 * Divisions: small endpoints -> routing -> start/stop. */
#include "server/server.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base64.h"
#include "base/clock.h"
#include "base/mem_budget.h"
#include "generate/mem_need.h"
#include "image/preprocess.h"
#include "service/http_util.h"
#include "server/server_impl.h"
#include "server/web_assets.h"

/* ---- small endpoints ------------------------------------------------------------ */

static bool is_test_model(const qvl_model *m) { return m->cfg.test_model[0] != 0; }

static enum MHD_Result api_health(srv_req *r) {
    if (!atomic_load(&r->srv->ready))
        return srv_reply_json(r, 503, json_pack("{s:s, s:s, s:i}", "status", "loading", "instance",
                                                r->srv->instance, "max_image_mb", r->srv->cfg.max_image_mb));
    const qvl_model *m = r->srv->m;
    json_t *j = json_pack("{s:s, s:s, s:s, s:b}", "status", "ok", "instance", r->srv->instance, "model", m->name,
                          "test_model", is_test_model(m));
    if (is_test_model(m))
        json_object_set_new(j, "note", json_string("RUNNING THE SYNTHETIC TEST MODEL - answers are gibberish; "
                                                   "pass --model with real Qwen3-VL weights"));
    int queued, running, slots;
    sched_stats(r->srv->sched, &queued, &running, &slots);
    json_object_set_new(j, "slots", json_pack("{s:i, s:i, s:i}", "total", slots, "busy", running, "queued", queued));
    json_object_set_new(j, "max_image_mb", json_integer(r->srv->cfg.max_image_mb));
    json_object_set_new(j, "max_images", json_integer(SRV_MAX_IMAGES));
    uint64_t limit, base, reserved;
    if (server_memory(r->srv, &limit, &base, &reserved))
        json_object_set_new(j, "memory", json_pack("{s:I, s:I, s:I}", "budget_bytes", (json_int_t)limit, "base_bytes",
                                                   (json_int_t)base, "reserved_bytes", (json_int_t)reserved));
    /* The page's Detail choices: this server's default, a quarter and four
     * times it, and the model's maximum; about one image token per 1024 px. */
    long dflt = r->srv->cfg.max_pixels, low = dflt / 4 > 65536 ? dflt / 4 : 65536;
    long high = dflt * 4 < IMAGE_HF_MAX_PIXELS ? dflt * 4 : IMAGE_HF_MAX_PIXELS;
    json_object_set_new(j, "max_pixels", json_integer(dflt));
    json_object_set_new(j, "detail", json_pack("{s:I, s:I, s:I, s:I}", "low", (json_int_t)low, "default",
                                               (json_int_t)dflt, "high", (json_int_t)high, "maximum",
                                               (json_int_t)IMAGE_HF_MAX_PIXELS));
    return srv_reply_json(r, 200, j);
}

static enum MHD_Result api_metrics(srv_req *r) {
    qvl_server *s = r->srv;
    metrics_now now = {.conns_cut = conn_deadlines_cut(s->deadlines), .in_flight = atomic_load(&s->in_flight)};
    if (atomic_load(&s->ready)) {
        sched_stats(s->sched, &now.queued, &now.running, &now.slots);
        sched_phases(s->sched, now.phase);
        now.cancelled = sched_cancelled(s->sched);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    now.conns_open = di ? (int)di->num_connections : -1;
    conv_store_usage(s->convs, &now.conversations, &now.conversation_bytes);
    char *text = metrics_render(s->met, &now);
    if (!text) return srv_reply_fail(r, QVL_E_NOMEM, "out of memory");
    enum MHD_Result rc = srv_reply_bytes(r, 200, "text/plain; version=0.0.4", text, strlen(text), MHD_RESPMEM_MUST_FREE);
    if (rc == MHD_NO) free(text);
    return rc;
}

static enum MHD_Result serve_asset(srv_req *r) {
    const web_asset *a = web_asset_find(!strcmp(r->path, "/") ? "/index.html" : r->path);
    if (!a) return srv_reply_fail(r, SRV_E_NOT_FOUND, "no such page");
    struct MHD_Response *resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", a->mime);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'");
    return srv_reply(r, 200, resp);
}

/* ---- routing ------------------------------------------------------------------- */

typedef struct route {
    const char *path;
    const char *method;
    enum MHD_Result (*fn)(srv_req *r);
    bool needs_key;
    bool needs_model;        /* 503 while the model loads */
} route;

static const route routes[] = {
    {"/health", "GET", api_health, false, false},
    {"/metrics", "GET", api_metrics, true, false},
    {"/v1/models", "GET", api_models, true, true},
    {"/v1/chat/completions", "POST", api_chat_completions, true, true},
    {"/tokenize", "POST", api_tokenize, true, true},
    {"/detokenize", "POST", api_detokenize, true, true},
    {"/api/v1/chat", "POST", api_simple_chat, true, true},
    {"/api/v1/pages", "POST", api_pages, true, false},
    /* Ollama's API (api_ollama.c, api_ollama_models.c) */
    {"/api/chat", "POST", api_ollama_chat, true, true},
    {"/api/generate", "POST", api_ollama_generate, true, true},
    {"/api/tags", "GET", api_ollama_tags, true, true},
    {"/api/show", "POST", api_ollama_show, true, true},
    {"/api/ps", "GET", api_ollama_ps, true, true},
    {"/api/version", "GET", api_ollama_version, false, false},
    {NULL, NULL, NULL, false, false},
};

static bool key_ok(srv_req *r) {
    if (!api_keys_required(r->srv->keys)) return true;
    const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    const char *given = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-API-Key");
    if (auth && !strncasecmp(auth, "Bearer ", 7)) given = auth + 7;
    return api_keys_check(r->srv->keys, given);
}

static enum MHD_Result dispatch(srv_req *r) {
    if (!strcmp(r->method, "OPTIONS")) {   /* CORS preflight */
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp) return MHD_NO;
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, X-API-Key, X-Conversation-Id");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        return srv_reply(r, 204, resp);
    }
    const char *cid = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Conversation-Id");
    if (cid && !conv_id_valid(cid))
        return srv_reply_fail(r, QVL_E_BAD_INPUT, "X-Conversation-Id must be 1-95 characters of A-Z a-z 0-9 . _ : -");
    if (cid) snprintf(r->conv_id, sizeof r->conv_id, "%s", cid);
    if (r->too_large) {
        char msg[200];
        snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes (up to %d images of "
                 "up to %d MB each)", r->srv->max_body, SRV_MAX_IMAGES, r->srv->cfg.max_image_mb);
        return srv_reply_fail(r, QVL_E_TOO_LARGE, msg);
    }
    bool path_known = false;
    for (const route *rt = routes; rt->path; rt++) {
        if (strcmp(rt->path, r->path) != 0) continue;
        path_known = true;
        if (strcmp(rt->method, r->method) != 0) continue;
        if (rt->needs_key && !key_ok(r))
            return srv_reply_fail(r, SRV_E_AUTH, "missing or wrong API key: send 'Authorization: Bearer <key>'");
        if (rt->needs_model && !atomic_load(&r->srv->ready))
            return srv_reply_fail(r, SRV_E_LOADING, "the model is still loading; retry in a few seconds");
        return rt->fn(r);
    }
    bool is_get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    if (!path_known && web_asset_find(!strcmp(r->path, "/") ? "/index.html" : r->path)) {
        if (is_get) return serve_asset(r);
        path_known = true;
    }
    if (path_known) {
        char msg[160];
        snprintf(msg, sizeof msg, "method %.16s is not allowed on %.100s", r->method, r->path);
        return srv_reply_fail(r, SRV_E_METHOD, msg);
    }
    char msg[240];
    if (srv_is_ollama_path(r->path))   /* /api/pull, /api/embed...: Ollama's model store and more */
        snprintf(msg, sizeof msg, "%.16s %.100s is not part of qvl's Ollama API (it serves one model: /api/chat, "
                 "/api/generate, /api/tags, /api/show, /api/ps, /api/version)", r->method, r->path);
    else
        snprintf(msg, sizeof msg, "no such endpoint: %.16s %.120s (see /v1/chat/completions, /api/v1/chat, /api/chat)",
                 r->method, r->path);
    return srv_reply_fail(r, SRV_E_NOT_FOUND, msg);
}

/* Collects the body under the limit; answers once it is complete. */
#define CONN_IDLE_S 30   /* seconds a connection may sit idle */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    qvl_server *s = cls;
    srv_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = s;
        r->conn = c;
        r->method = method;
        r->path = url;
        r->content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        r->t_start = clock_ms();
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->deadline = ci ? ci->socket_context : NULL;
        conn_deadlines_headers_done(s->deadlines, r->deadline);
        *con_cls = r;
        atomic_fetch_add(&s->in_flight, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > s->max_body) {
            /* Answer before reading a byte of it; MHD then closes the
             * connection instead of receiving the body. */
            r->too_large = true;
            conn_deadlines_body_done(s->deadlines, r->deadline);
            return dispatch(r);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->too_large) {
            /* Drain (a response cannot be queued mid-upload) and answer 413
             * at the end; a body that goes on and on loses its connection. */
            r->discarded += n;
            return r->discarded > 4 * s->max_body ? MHD_NO : MHD_YES;
        }
        if (r->body_len + n > s->max_body) {
            r->too_large = true;
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
            return MHD_YES;
        }
        if (r->body_len + n + 1 > r->body_cap) {
            /* doubling: a body arrives in many small pieces, and growing by
             * each piece copied a 10 MB upload hundreds of times */
            size_t cap = r->body_cap ? r->body_cap : 4096;
            while (cap < r->body_len + n + 1) cap *= 2;
            if (cap > s->max_body + 1) cap = s->max_body + 1;
            char *nb = realloc(r->body, cap);
            if (!nb) return MHD_NO;
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload, n);
        r->body_len += n;
        r->body[r->body_len] = 0;
        return MHD_YES;
    }
    if (!r->body) {
        r->body = calloc(1, 1);
        if (!r->body) return MHD_NO;
    }
    conn_deadlines_body_done(s->deadlines, r->deadline);
    return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    srv_req *r = *con_cls;
    if (!r) return;
    conn_deadlines_answered(r->srv->deadlines, r->deadline);
    atomic_fetch_sub(&r->srv->in_flight, 1);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    qvl_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_entry *e = NULL;
        if (ci) conn_deadlines_opened(s->deadlines, ci->connect_fd, &e);
        *socket_context = e;
    } else {
        conn_deadlines_closed(s->deadlines, *socket_context);
        *socket_context = NULL;
    }
}

/* ---- start and stop ------------------------------------------------------------- */

int server_port(const qvl_server *s) { return s->port; }

const char *server_instance(const qvl_server *s) { return s->instance; }

bool server_instance_valid(const char *id) { return strlen(id) <= CONV_PREFIX_MAX && conv_id_valid(id); }

void server_stop(qvl_server *s, double grace_s) {
    if (!s) return;
    if (s->daemon) {
        MHD_socket lfd = MHD_quiesce_daemon(s->daemon);
        if (lfd != MHD_INVALID_SOCKET) close(lfd);
    }
    sched_stop(s->sched, grace_s);
    /* Every job is finished now; let the connections send their last bytes
     * (the final event of a cancelled stream) before they are closed. */
    for (int i = 0; i < 200 && atomic_load(&s->in_flight) > 0; i++) usleep(10 * 1000);
    if (s->daemon) MHD_stop_daemon(s->daemon);
    conn_deadlines_stop(s->deadlines);
    sched_free(s->sched);
    image_cache_free(s->cache);
    vocab_index_free(s->vocab);
    conv_store_free(s->convs);
    metrics_free(s->met);
    api_keys_free(s->keys);
    mem_budget_free(s->budget);
    free(s);
}

/* The budget of --max-memory: its base is what the server holds whatever
 * the requests: the process as it is now (weights loaded, vocabulary
 * index built) plus what only grows towards a limit fixed now - each
 * slot's KV cache (kept for follow-ups, so its pages stay once touched),
 * the image cache and the conversations' images at their limits. */
static int budget_create(qvl_server *s, const qvl_model *m, qvl_error *err) {
    uint64_t slots = (uint64_t)s->cfg.parallel * mem_need_slot(m, s->cfg.ctx, s->cfg.threads);
    /* A conversation is counted with one image of the largest size, as
     * base64 (a question with several is rare; the limit, not the typical
     * photo, is what the budget must hold), and all of them together at
     * most the store's byte budget (--conversation-mb), which it keeps. */
    uint64_t convs = (uint64_t)(s->cfg.max_conversations > 0 ? s->cfg.max_conversations : 16);
    uint64_t conv_bytes = convs * (base64_encoded_len(s->img_lim.max_bytes) + 4096);
    uint64_t conv_cap = (uint64_t)s->cfg.conversation_mb << 20;
    uint64_t caches = ((uint64_t)s->cfg.image_cache_mb << 20) + (conv_bytes < conv_cap ? conv_bytes : conv_cap);
    uint64_t rss = mem_rss_bytes(), base = rss + slots + caches;
    char t[6][24];
    if (base >= s->cfg.max_memory)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "--max-memory %s is not more than what the server holds before "
                             "any request: %s (the model loaded %s, %d KV cache%s of %d positions %s, image cache and "
                             "conversations %s): raise --max-memory, or lower --parallel, --ctx, --image-cache-mb "
                             "or --conversation-mb", mem_size_text(s->cfg.max_memory, t[0]),
                             mem_size_text(base, t[1]), mem_size_text(rss, t[2]), s->cfg.parallel,
                             s->cfg.parallel == 1 ? "" : "s", s->cfg.ctx, mem_size_text(slots, t[3]),
                             mem_size_text(caches, t[4]));
    if (!(s->budget = mem_budget_create(s->cfg.max_memory, base)))
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    metrics_watch_budget(s->met, s->budget);
    return 0;
}

bool server_memory(qvl_server *s, uint64_t *limit, uint64_t *base, uint64_t *reserved) {
    if (!atomic_load(&s->ready) || !s->budget) return false;
    *limit = mem_budget_limit(s->budget);
    *base = mem_budget_base(s->budget);
    *reserved = mem_budget_reserved(s->budget);
    return true;
}

int server_set_model(qvl_server *s, const qvl_model *m, qvl_error *err) {
    if (s->cfg.image_cache_mb > 0) s->cache = image_cache_new((size_t)s->cfg.image_cache_mb << 20);
    if (!(s->vocab = vocab_index_build(m->tok, err))) return -1;   /* for JSON Schema answers and tool calls */
    if (s->cfg.max_memory && budget_create(s, m, err) != 0) return -1;
    sched_config sc = {.n_slots = s->cfg.parallel, .threads = s->cfg.threads, .n_ctx = s->cfg.ctx,
                       .max_queue = s->cfg.max_queue, .timeout_s = s->cfg.timeout_s, .router = s->cfg.router,
                       .ocr_plugin = s->cfg.ocr_plugin, .ocr_lang = s->cfg.ocr_lang, .cache = s->cache,
                       .vocab = s->vocab, .budget = s->budget};
    s->sched = sched_create(m, &sc, err);
    if (!s->sched) return -1;
    s->m = m;
    atomic_store(&s->ready, true);   /* publishes m and sched to the connection threads */
    return 0;
}

qvl_server *server_start(const server_config *cfg, qvl_error *err) {
    qvl_server *s = calloc(1, sizeof *s);
    if (!s) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (cfg->instance_id && !server_instance_valid(cfg->instance_id)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "--instance-id must be 1-%d characters of A-Z a-z 0-9 . _ : -",
                      CONV_PREFIX_MAX);
        free(s);
        return NULL;
    }
    if (!(s->keys = api_keys_load(cfg->api_key, cfg->api_key_file, err))) {
        free(s);
        return NULL;
    }
    if (s->cfg.max_image_mb < 1) s->cfg.max_image_mb = 10;
    if (s->cfg.conversation_mb < 1) s->cfg.conversation_mb = 256;
    s->img_lim.max_bytes = (size_t)s->cfg.max_image_mb << 20;
    /* Room for the most images one question may have, each of the largest
     * size as base64 (the JSON form; a multipart body is smaller), plus 1 MB
     * for the question and the JSON around them. */
    s->max_body = base64_encoded_len(s->img_lim.max_bytes) * SRV_MAX_IMAGES + ((size_t)1 << 20);
    s->met = metrics_new();
    /* Headers within --header-timeout (default 10 s), a body within 60 s
     * (10 MB images at ~0.5 MB/s), after 30 s of keep-alive idleness at
     * most (libmicrohttpd's own idle timeout). */
    s->deadlines = conn_deadlines_start(cfg->header_timeout_s > 0 ? cfg->header_timeout_s : 10, 60, CONN_IDLE_S);
    /* max_conversations (default 16) hold their images as base64: typically
     * one or two photos each (~16 x 1.33 MB per MB of photo); at worst
     * SRV_MAX_IMAGES max-size images per question: the byte budget bounds them. */
    s->convs = conv_store_new(cfg->max_conversations > 0 ? cfg->max_conversations : 16, 30 * 60,
                              (size_t)s->cfg.conversation_mb << 20);
    if (!s->met || !s->convs || !s->deadlines) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        server_stop(s, 0);
        return NULL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0) {
        qvl_fail(err, "cannot use --host %s: %s", cfg->host, gai_strerror(gai));
        server_stop(s, 0);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                                 ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_IDLE_S, MHD_OPTION_NOTIFY_COMPLETED,
                                 on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        qvl_fail(err, "cannot listen on %s:%d (is the port in use? try --port)", cfg->host, cfg->port);
        server_stop(s, 0);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    if (cfg->instance_id) {
        snprintf(s->instance, sizeof s->instance, "%s", cfg->instance_id);
    } else {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        snprintf(s->instance, sizeof s->instance, "%.40s:%d", host, s->port);
    }
    return s;
}
