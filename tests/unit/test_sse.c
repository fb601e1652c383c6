/* test_sse.c - server/sse.h end to end over a real socket: a libmicrohttpd
 * daemon in this process (thread per connection, as the server runs it)
 * whose handler submits a job to a scheduler on the tiny test model and
 * answers through sse_wait_first + sse_respond or sse_wait_done, and a raw
 * TCP client reading the bytes. Checked: sse_event's framing (one line,
 * "data: " + compact ASCII JSON + blank line); the stream's headers; every
 * event framed alone, text events in order adding up to the final answer,
 * the done event last; a queued request told its position, again each
 * second; an early failure answered with an HTTP error status instead of a
 * stream; a client that disconnects cancels its job (streaming and
 * waiting); the format's ctx freed exactly once.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "test_time.h"
#include "tiny_model.h"
#include "load/model_load.h"
#include "service/http_util.h"
#include "server/sse.h"

static const qvl_model *M;
static qvl_server srv;
static scheduler *S;
static int port;

/* What the handler saw, for the test to check. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static int ctx_freed, wait_gone, first_state = -1, first_failed;

static sched_job *submit(json_t *messages, int max_tokens, bool longjob) {
    sched_request rq = {.messages = messages, .params = gen_params_defaults(M)};
    rq.params.sampling.temperature = 0;
    rq.params.max_tokens = longjob ? 0 : max_tokens;
    rq.params.ignore_eos = longjob;
    rq.params.detect_loops = !longjob;
    qvl_error err = {0};
    sched_job *j = sched_submit(S, &rq, &err);
    CHECK_MSG(j != NULL, "%s", err.msg);
    return j;
}

static json_t *user(const char *text) { return json_pack("[{s:s, s:s}]", "role", "user", "content", text); }

/* ---- the test's event format ---------------------------------------------- */

static char *f_queued(void *ctx, int position) { return sse_event(json_pack("{s:i}", "queued", position)); }
static char *f_text(void *ctx, const char *text, size_t len) { return sse_event(json_pack("{s:s%}", "text", text, len)); }
static char *f_done(void *ctx, const sched_poll *p) {
    if (p->failed || !p->result) return sse_event(json_pack("{s:s}", "error", p->err.msg));
    return sse_event(json_pack("{s:b, s:s%, s:i}", "done", 1, "response", p->result->text, p->result->text_len, "n",
                               p->result->n_generated));
}
static void f_free(void *ctx) {
    pthread_mutex_lock(&seen_mu);
    ctx_freed += *(int *)ctx;
    pthread_mutex_unlock(&seen_mu);
    free(ctx);
}
static const sse_format FMT = {.queued = f_queued, .text = f_text, .done = f_done, .free = f_free};

/* ---- the handler: /stream/short, /stream/long, /wait/long, /fail ---------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    static int marker;
    if (!*con_cls) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    srv_req r = {.srv = &srv, .conn = c, .method = method, .path = url};
    bool longjob = strstr(url, "/long") != NULL;
    if (!strcmp(url, "/wait/long")) {
        sched_job *job = submit(user("Go on"), 0, true);
        sched_poll done;
        int rc = sse_wait_done(&r, job, &done);
        sched_job_release(job);
        pthread_mutex_lock(&seen_mu);
        wait_gone += rc == -1;
        pthread_mutex_unlock(&seen_mu);
        return rc == -1 ? MHD_NO : srv_reply_json(&r, 200, json_pack("{s:s}", "finished", "yes"));
    }
    /* /fail: a conversation the chat template refuses, so the job fails at once */
    json_t *msgs = !strcmp(url, "/fail") ? json_pack("[{s:s, s:s}]", "role", "robot", "content", "x")
                                         : user(longjob ? "Go on" : "Hello there");
    sched_job *job = submit(msgs, 12, longjob);
    sched_poll first;
    int rc = sse_wait_first(&r, job, &first);
    pthread_mutex_lock(&seen_mu);
    first_state = rc == 0 ? (int)first.state : -1;
    first_failed = rc == 0 && first.failed;
    pthread_mutex_unlock(&seen_mu);
    if (rc != 0) {
        sched_job_release(job);
        return MHD_NO;
    }
    if (first.state == JOB_DONE && first.failed) {
        free(first.text);
        sched_job_release(job);
        return srv_reply_error(&r, &first.err);
    }
    int *ctx = malloc(sizeof *ctx);
    *ctx = 1;
    return sse_respond(&r, job, &first, &FMT, ctx);
}

/* ---- a raw HTTP/1.0 client -------------------------------------------------- */

static int connect_to(const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        CHECK_MSG(0, "cannot connect to the test daemon");
        close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);
    CHECK(write(fd, req, (size_t)n) == n);
    return fd;
}

typedef struct buf {
    char *p;
    size_t n;
} buf;

/* Reads once (up to 64 KiB) into b; returns the bytes read (0 at the end). */
static ssize_t read_some(int fd, buf *b) {
    b->p = realloc(b->p, b->n + 65536 + 1);
    ssize_t r = read(fd, b->p + b->n, 65536);
    if (r > 0) b->n += (size_t)r;
    b->p[b->n] = 0;
    return r;
}

static void read_all(int fd, buf *b) {
    while (read_some(fd, b) > 0) {}
}

/* The body after the headers, or NULL. */
static const char *body_of(const buf *b) {
    const char *e = b->p ? strstr(b->p, "\r\n\r\n") : NULL;
    return e ? e + 4 : NULL;
}

/* Splits a body into events, checking the framing of each: "data: " + one
 * JSON object + "\n\n", no other newline. Returns the count; events[i] are
 * parsed (json_decref them). A trailing partial event is not counted. */
static int parse_events(const char *body, json_t **events, int cap) {
    int n = 0;
    while (*body) {
        const char *end = strstr(body, "\n\n");
        if (!end) break;
        CHECK_MSG(!strncmp(body, "data: ", 6), "an event does not start with \"data: \": %.60s", body);
        const char *nl = memchr(body, '\n', (size_t)(end - body));
        CHECK_MSG(nl == NULL, "an event holds a raw newline: %.60s", body);
        json_error_t je;
        json_t *v = json_loadb(body + 6, (size_t)(end - body - 6), 0, &je);
        CHECK_MSG(json_is_object(v), "event %d is not a JSON object: %.60s", n, body);
        if (n < cap) events[n++] = v;
        else json_decref(v);
        body = end + 2;
    }
    return n;
}

static void free_events(json_t **ev, int n) {
    for (int i = 0; i < n; i++) json_decref(ev[i]);
}

static int running_now(void) {
    int q, r, slots;
    sched_stats(S, &q, &r, &slots);
    return r + q;
}

/* Waits up to limit_s for the scheduler to be idle; returns the seconds it took or -1. */
static double wait_idle(double limit_s) {
    double t0 = now_s();
    while (running_now() > 0) {
        if (now_s() - t0 > limit_s) return -1;
        sleep_ms(5);
    }
    return now_s() - t0;
}

static int ctx_freed_now(void) {
    pthread_mutex_lock(&seen_mu);
    int v = ctx_freed;
    pthread_mutex_unlock(&seen_mu);
    return v;
}

/* ---- the tests ------------------------------------------------------------------- */

/* "data: " + the object as one line of ASCII JSON + a blank line: newlines
 * and non-ASCII text are escaped, and the JSON reads back as the object. */
static void test_event_framing(void) {
    json_t *obj = json_pack("{s:s, s:i}", "text", "a\n\n\"b\"\r \xe4\xb8\x96 \xf0\x9f\x98\x80", "n", 3);
    char *ev = sse_event(json_incref(obj));
    CHECK(ev != NULL);
    if (ev) {
        size_t n = strlen(ev);
        CHECK(!strncmp(ev, "data: {", 7));
        CHECK(n > 9 && !strcmp(ev + n - 3, "}\n\n"));
        int bad = 0;
        for (size_t i = 0; i + 2 < n; i++) bad += ev[i] == '\n' || ev[i] == '\r' || (unsigned char)ev[i] > 127;
        CHECK_MSG(bad == 0, "%d raw newlines or non-ASCII bytes inside the event: %s", bad, ev);
        json_t *back = json_loadb(ev + 6, n - 8, 0, NULL);
        CHECK_MSG(back && json_equal(back, obj), "the event's JSON is not the object: %s", ev);
        json_decref(back);
    }
    free(ev);
    json_decref(obj);
    ev = sse_event(json_pack("{s:i}", "queued", 3));
    if (ev) CHECK_STR(ev, "data: {\"queued\":3}\n\n");   /* compact: no spaces */
    free(ev);
}

static void test_stream(void) {
    int before = ctx_freed_now();
    int fd = connect_to("/stream/short");
    if (fd < 0) return;
    buf b = {0};
    read_all(fd, &b);
    close(fd);
    CHECK_MSG(b.p && !strncmp(b.p, "HTTP/1.", 7) && strstr(b.p, " 200 "), "%.80s", b.p ? b.p : "");
    CHECK(b.p && strstr(b.p, "Content-Type: text/event-stream; charset=utf-8\r\n"));
    CHECK(b.p && strstr(b.p, "Cache-Control: no-cache\r\n"));
    const char *body = body_of(&b);
    CHECK(body != NULL);
    json_t *ev[256];
    int n = body ? parse_events(body, ev, 256) : 0;
    CHECK_MSG(n >= 2, "%d events", n);
    CHECK_MSG(body && strlen(body) >= 2 && !strcmp(body + strlen(body) - 2, "\n\n"), "the stream ends mid-event");
    /* text events, then exactly one done event, last */
    char joined[8192] = "";
    int texts = 0, dones = 0;
    for (int i = 0; i < n; i++) {
        const char *t = json_string_value(json_object_get(ev[i], "text"));
        if (t) {
            CHECK_MSG(dones == 0, "text after the done event");
            strncat(joined, t, sizeof joined - strlen(joined) - 1);
            texts++;
        } else if (json_is_true(json_object_get(ev[i], "done"))) {
            dones++;
        } else {
            CHECK_MSG(0, "unexpected event %d", i);
        }
    }
    CHECK(texts >= 1 && dones == 1);
    if (n > 0) {
        const char *resp = json_string_value(json_object_get(ev[n - 1], "response"));
        CHECK(json_is_true(json_object_get(ev[n - 1], "done")));
        CHECK_MSG(resp && !strcmp(resp, joined), "streamed \"%s\" != answer \"%s\"", joined, resp ? resp : "");
    }
    free_events(ev, n);
    free(b.p);
    for (double t0 = now_s(); ctx_freed_now() == before && now_s() - t0 < 5;) sleep_ms(5);
    CHECK_EQ_INT(ctx_freed_now(), before + 1);
}

/* One slot busy: the stream starts with {"queued":1}, repeated about once a
 * second, then the answer once the slot is free. */
static void test_queued(void) {
    sched_job *busy = submit(user("Keep going"), 0, true);
    sched_poll p;
    double t0 = now_s();
    do {
        sched_job_poll(busy, 20, &p);
        free(p.text);
    } while (p.state == JOB_QUEUED && now_s() - t0 < 10);
    int fd = connect_to("/stream/short");
    if (fd < 0) {
        sched_job_release(busy);
        return;
    }
    buf b = {0};
    while (!(body_of(&b) && strstr(body_of(&b), "\n\n")) && read_some(fd, &b) > 0) {}
    const char *body = body_of(&b);
    CHECK_MSG(body && !strncmp(body, "data: {\"queued\":1}\n\n", 20), "first bytes: %.60s", body ? body : "");
    sleep_ms(2500);   /* the position is repeated about once a second: 2 or 3 repeats */
    sched_job_cancel(busy);
    read_all(fd, &b);
    close(fd);
    json_t *ev[256];
    int n = parse_events(body_of(&b), ev, 256), queued = 0, first_text = -1;
    for (int i = 0; i < n; i++) {
        if (json_object_get(ev[i], "queued")) {
            CHECK_EQ_INT(json_integer_value(json_object_get(ev[i], "queued")), 1);
            CHECK_MSG(first_text < 0, "a queued event after the text began");
            queued++;
        } else if (first_text < 0) {
            first_text = i;
        }
    }
    /* at least one repeat even when a loaded machine delays the others; not a stream of them */
    CHECK_MSG(queued >= 2 && queued <= 5, "%d queued events in 2.5 s", queued);
    CHECK(n > 0 && json_is_true(json_object_get(ev[n - 1], "done")));
    free_events(ev, n);
    free(b.p);
    sched_job_release(busy);
    CHECK(wait_idle(10) >= 0);
}

/* A job that fails at once gets a real error status, not a 200 stream. */
static void test_early_failure(void) {
    int fd = connect_to("/fail");
    if (fd < 0) return;
    buf b = {0};
    read_all(fd, &b);
    close(fd);
    CHECK_MSG(b.p && strstr(b.p, " 400 ") && !strstr(b.p, "text/event-stream"), "%.120s", b.p ? b.p : "");
    pthread_mutex_lock(&seen_mu);
    CHECK(first_state == JOB_DONE && first_failed);
    pthread_mutex_unlock(&seen_mu);
    free(b.p);
}

/* A client that goes away mid-stream: the job is cancelled at once (the long
 * job would otherwise run for many seconds). */
static void test_disconnect_streaming(void) {
    int before = ctx_freed_now();
    int fd = connect_to("/stream/long");
    if (fd < 0) return;
    buf b = {0};
    while (!(body_of(&b) && strstr(body_of(&b), "{\"text\"")) && read_some(fd, &b) > 0) {}
    CHECK_MSG(body_of(&b) && strstr(body_of(&b), "{\"text\""), "no text before the disconnect");
    CHECK(running_now() == 1);
    close(fd);
    double dt = wait_idle(3);
    CHECK_MSG(dt >= 0 && dt < 1.0, "the job ran on %.2f s after the client left", dt);
    for (double t0 = now_s(); ctx_freed_now() == before && now_s() - t0 < 5;) sleep_ms(5);
    CHECK_EQ_INT(ctx_freed_now(), before + 1);
    free(b.p);
}

/* The same while waiting for a whole answer. */
static void test_disconnect_waiting(void) {
    int fd = connect_to("/wait/long");
    if (fd < 0) return;
    double t0 = now_s();
    while (running_now() == 0 && now_s() - t0 < 5) sleep_ms(5);
    CHECK(running_now() == 1);
    sleep_ms(100);
    close(fd);
    double dt = wait_idle(3);
    CHECK_MSG(dt >= 0 && dt < 1.0, "the job ran on %.2f s after the client left", dt);
    for (t0 = now_s(); now_s() - t0 < 5;) {
        pthread_mutex_lock(&seen_mu);
        int g = wait_gone;
        pthread_mutex_unlock(&seen_mu);
        if (g) break;
        sleep_ms(5);
    }
    pthread_mutex_lock(&seen_mu);
    CHECK_MSG(wait_gone == 1, "sse_wait_done did not report the client gone");
    pthread_mutex_unlock(&seen_mu);
}

int main(void) {
    test_event_framing();
    char dir[64];
    qvl_error err = {0};
    if (tiny_model_make(dir, sizeof dir, "sse") != 0) return check_summary();
    model_load_opts o = {.quant = "q8_0", .threads = 1};
    qvl_model *m = model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) {
        tiny_model_remove(dir);
        return check_summary();
    }
    M = m;
    srv.m = m;
    srv.met = metrics_new();
    sched_config cfg = {.n_slots = 1, .threads = 2, .n_ctx = 4096, .max_queue = 4};
    S = sched_create(m, &cfg, &err);
    CHECK_MSG(S != NULL, "%s", err.msg);
    srv.sched = S;
    struct MHD_Daemon *d = S ? MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                                    MHD_USE_ITC,
                                                0, NULL, NULL, on_request, NULL, MHD_OPTION_END)
                             : NULL;
    CHECK_MSG(d != NULL, "cannot start the test daemon");
    if (d) {
        port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
        test_stream();
        test_queued();
        test_early_failure();
        test_disconnect_streaming();
        test_disconnect_waiting();
        MHD_stop_daemon(d);
    }
    sched_free(S);
    metrics_free(srv.met);
    model_free(m);
    tiny_model_remove(dir);
    return check_summary();
}
