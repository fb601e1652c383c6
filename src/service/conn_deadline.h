/* conn_deadline.h - a total time limit on receiving each request, so a
 * client that sends its headers or body a byte at a time cannot hold a
 * connection (and its thread) for long: the idle timeout alone never fires
 * while bytes keep trickling in.
 *
 * Every open connection is in one phase: waiting for the headers of its
 * next request, receiving the body, or being answered. The first two have
 * deadlines (headers: from the connection's start or the previous answer's
 * end, plus the keep-alive idle allowance after an answer; body: from the
 * end of the headers); a watchdog thread shuts down the socket of a
 * connection past its deadline, which makes libmicrohttpd's connection
 * thread see the end of the stream and close it. Answers have no deadline
 * here (the scheduler's request time limit covers them).
 *
 * The hooks are called from libmicrohttpd's callbacks; all are thread-safe.
 * A NULL conn_deadlines (no limits) makes every hook a no-op.
 */
#ifndef QVL_CONN_DEADLINE_H
#define QVL_CONN_DEADLINE_H

typedef struct conn_deadlines conn_deadlines;
typedef struct conn_entry conn_entry;

/* header_s: headers of a request; body_s: its body; idle_s: the extra time
 * a kept-alive connection may wait before its next request starts. Starts
 * the watchdog; NULL when out of memory or a thread cannot be started. */
conn_deadlines *conn_deadlines_start(double header_s, double body_s, double idle_s);
void conn_deadlines_stop(conn_deadlines *d);

/* A connection opened with socket fd; *entry is the handle for the others. */
void conn_deadlines_opened(conn_deadlines *d, int fd, conn_entry **entry);
void conn_deadlines_closed(conn_deadlines *d, conn_entry *entry);
void conn_deadlines_headers_done(conn_deadlines *d, conn_entry *entry);
void conn_deadlines_body_done(conn_deadlines *d, conn_entry *entry);
void conn_deadlines_answered(conn_deadlines *d, conn_entry *entry);

/* Connections cut so far (for /metrics). */
long conn_deadlines_cut(conn_deadlines *d);

#endif
