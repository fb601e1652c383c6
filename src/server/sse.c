/* sse.c - see sse.h. */
#include "server/sse.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "service/http_util.h"

enum { POLL_MS = 50, QUEUE_NOTE_MS = 1000, QUEUED_GRACE_MS = 100 };

typedef struct sse_stream {
    sched_job *job;
    const sse_format *fmt;
    void *ctx;
    int fd;                    /* the client's socket, for disconnect checks */
    char *pend;                /* bytes ready to send */
    size_t pend_len, pend_off;
    bool finished;             /* the final events are in pend */
    bool texted;               /* text was sent: progress is over */
    int last_pos;              /* queue position last reported */
    double last_note;          /* when it was reported */
} sse_stream;

static int conn_fd(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

char *sse_event(json_t *obj) {
    char *js = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(obj);
    if (!js) return NULL;
    size_t n = strlen(js);
    char *ev = malloc(n + 9);
    if (ev) {
        memcpy(ev, "data: ", 6);
        memcpy(ev + 6, js, n);
        memcpy(ev + 6 + n, "\n\n", 3);
    }
    free(js);
    return ev;
}

int sse_wait_first(srv_req *r, sched_job *job, sched_poll *first) {
    int fd = conn_fd(r->conn);
    double t0 = clock_ms();
    for (;;) {
        sched_job_poll(job, POLL_MS, first);
        if (first->text || first->progress_stage || first->state == JOB_DONE) return 0;
        if (first->state == JOB_QUEUED && clock_ms() - t0 > QUEUED_GRACE_MS) return 0;
        if (http_peer_closed(fd)) {
            sched_job_cancel(job);
            return -1;
        }
    }
}

int sse_wait_done(srv_req *r, sched_job *job, sched_poll *done) {
    int fd = conn_fd(r->conn);
    for (;;) {
        sched_job_poll(job, POLL_MS, done);
        free(done->text);
        done->text = NULL;
        if (done->state == JOB_DONE) return 0;
        if (http_peer_closed(fd)) {
            sched_job_cancel(job);
            return -1;
        }
    }
}

/* Appends a malloc'd chunk (taken) to the pending bytes. */
static void pend_add(sse_stream *st, char *chunk) {
    if (!chunk) return;
    size_t n = strlen(chunk);
    char *nb = realloc(st->pend, st->pend_len + n + 1);
    if (nb) {
        memcpy(nb + st->pend_len, chunk, n + 1);
        st->pend = nb;
        st->pend_len += n;
    }
    free(chunk);
}

/* Turns one poll into pending bytes; frees its text. */
static void stream_absorb(sse_stream *st, sched_poll *p) {
    /* A poll may bring the prompt's last pass and the first text at once:
     * the progress goes first. */
    if (p->progress_stage && !st->texted && st->fmt->progress)
        pend_add(st, st->fmt->progress(st->ctx, p->progress_stage, p->progress_done, p->progress_total));
    if (p->text) {
        pend_add(st, st->fmt->text(st->ctx, p->text, p->text_len));
        st->texted = true;
    }
    free(p->text);
    p->text = NULL;
    double now = clock_ms();
    if (p->state == JOB_QUEUED && (p->queue_pos != st->last_pos || now - st->last_note >= QUEUE_NOTE_MS)) {
        pend_add(st, st->fmt->queued(st->ctx, p->queue_pos));
        st->last_pos = p->queue_pos;
        st->last_note = now;
    }
    if (p->state == JOB_DONE) {
        pend_add(st, st->fmt->done(st->ctx, p));
        st->finished = true;
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    sse_stream *st = cls;
    while (st->pend_off == st->pend_len) {
        free(st->pend);
        st->pend = NULL;
        st->pend_len = st->pend_off = 0;
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        if (http_peer_closed(st->fd)) {
            sched_job_cancel(st->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        sched_poll p;
        sched_job_poll(st->job, POLL_MS, &p);
        stream_absorb(st, &p);
    }
    size_t n = st->pend_len - st->pend_off;
    if (n > max) n = max;
    memcpy(buf, st->pend + st->pend_off, n);
    st->pend_off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    sse_stream *st = cls;
    sched_job_cancel(st->job);   /* no-op when it finished */
    sched_job_release(st->job);
    st->fmt->free(st->ctx);
    free(st->pend);
    free(st);
}

enum MHD_Result sse_respond(srv_req *r, sched_job *job, sched_poll *first, const sse_format *fmt, void *ctx) {
    sse_stream *st = calloc(1, sizeof *st);
    if (!st) {
        free(first->text);
        sched_job_cancel(job);
        sched_job_release(job);
        fmt->free(ctx);
        qvl_error err;
        qvl_fail_code(&err, QVL_E_NOMEM, "out of memory");
        return srv_reply_error(r, &err);
    }
    st->job = job;
    st->fmt = fmt;
    st->ctx = ctx;
    st->fd = conn_fd(r->conn);
    st->last_pos = -1;
    stream_absorb(st, first);
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st,
                                                                  stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", fmt->content_type ? fmt->content_type
                                                                    : "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return srv_reply(r, 200, resp);
}
