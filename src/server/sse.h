/* sse.h - bridges a scheduler job to an HTTP response: streamed as
 * Server-Sent Events, or waited for and answered at once.
 *
 * Streaming uses the callback-blocking pattern of libmicrohttpd's
 * thread-per-connection mode: the content-reader callback runs on the
 * connection's own thread and blocks in sched_job_poll (50 ms steps) until
 * the generation thread has new text, then returns it, so each piece goes to
 * the socket as soon as it exists. Between polls it peeks at the socket: a
 * closed peer cancels the job at once (and a failed write ends the response,
 * whose free callback cancels too). While queued, the client gets its queue
 * position once a second, which also probes the socket. A client that
 * half-closes its sending side after the request counts as gone (curl,
 * browsers and the openai clients do not do that).
 *
 * The event format belongs to the API (OpenAI chunks, or the simple API's
 * events): a sse_format turns job news into bytes to send.
 */
#ifndef QVL_SSE_H
#define QVL_SSE_H

#include <microhttpd.h>

#include "service/scheduler.h"
#include "server/server_impl.h"

typedef struct sse_format {
    /* Each returns a malloc'd chunk of SSE text ("data: ...\n\n") or NULL for
     * nothing. */
    char *(*queued)(void *ctx, int position);
    char *(*text)(void *ctx, const char *text, size_t len);
    /* How far the image encoding or the prompt is (scheduler.h), sent only
     * before the first text and only when it changed; NULL = not sent. */
    char *(*progress)(void *ctx, const char *stage, int done, int total);
    /* The last events: the final chunk with usage, or an error event. */
    char *(*done)(void *ctx, const sched_poll *p);
    void (*free)(void *ctx);
    /* The response's Content-Type; NULL = "text/event-stream; charset=utf-8".
     * (Ollama streams newline-delimited JSON through the same machinery.) */
    const char *content_type;
} sse_format;

/* Waits for the job's first news so that a request failing early gets a
 * proper HTTP error status: returns when the job has text or progress (its
 * request passed the checks), is done, or has been queued behind others for
 * a moment. *first receives that poll (its
 * text, if any, is still to be sent). Returns -1 if the client went away
 * (the job is then cancelled), else 0. */
int sse_wait_first(srv_req *r, sched_job *job, sched_poll *first);

/* Waits until the job is done (non-streaming answers). Returns 0 with *done
 * filled, or -1 if the client went away (the job is then cancelled). */
int sse_wait_done(srv_req *r, sched_job *job, sched_poll *done);

/* Starts the event stream: sends first's text, then everything after. Takes
 * ownership of job (released at the end), ctx (fmt->free) and first's text.
 * Returns the MHD result of queueing the response. */
enum MHD_Result sse_respond(srv_req *r, sched_job *job, sched_poll *first, const sse_format *fmt, void *ctx);

/* "data: <json>\n\n" for obj (stolen), malloc'd. */
char *sse_event(json_t *obj);

#endif
