/* conn_deadline.c - see conn_deadline.h. The open connections form a list
 * under one mutex; the watchdog scans it four times a second (a few hundred
 * entries at most: --max-connections bounds them). shutdown() rather than
 * close(): the socket stays libmicrohttpd's to close, so its number cannot
 * be reused under it. */
#include "service/conn_deadline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "base/clock.h"

typedef enum { PHASE_HEADERS, PHASE_BODY, PHASE_ANSWER } conn_phase;

struct conn_entry {
    conn_entry *prev, *next;
    int fd;
    conn_phase phase;
    double deadline_ms;   /* clock_ms() after which the socket is shut down */
    bool cut;
};

struct conn_deadlines {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t watchdog;
    bool stopping;
    double header_ms, body_ms, idle_ms;
    conn_entry *head;
    long n_cut;
};

static void *watchdog_main(void *arg) {
    conn_deadlines *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        double now = clock_ms();
        for (conn_entry *e = d->head; e; e = e->next)
            if (e->phase != PHASE_ANSWER && !e->cut && now > e->deadline_ms) {
                shutdown(e->fd, SHUT_RDWR);
                e->cut = true;
                d->n_cut++;
            }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&d->wake, &d->mu, &ts);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

conn_deadlines *conn_deadlines_start(double header_s, double body_s, double idle_s) {
    conn_deadlines *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->header_ms = header_s * 1e3, d->body_ms = body_s * 1e3, d->idle_ms = idle_s * 1e3;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->wake, NULL);
    if (pthread_create(&d->watchdog, NULL, watchdog_main, d) != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

void conn_deadlines_stop(conn_deadlines *d) {
    if (!d) return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->watchdog, NULL);
    while (d->head) {   /* connections libmicrohttpd never reported closed */
        conn_entry *e = d->head;
        d->head = e->next;
        free(e);
    }
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

/* Moves e to phase p with a deadline of span_ms from now. */
static void set_phase(conn_deadlines *d, conn_entry *e, conn_phase p, double span_ms) {
    if (!d || !e) return;
    pthread_mutex_lock(&d->mu);
    e->phase = p;
    e->deadline_ms = clock_ms() + span_ms;
    pthread_mutex_unlock(&d->mu);
}

void conn_deadlines_opened(conn_deadlines *d, int fd, conn_entry **entry) {
    *entry = NULL;
    if (!d) return;
    conn_entry *e = calloc(1, sizeof *e);
    if (!e) return;   /* this connection goes unwatched; the idle timeout still applies */
    e->fd = fd;
    e->phase = PHASE_HEADERS;
    e->deadline_ms = clock_ms() + d->header_ms;
    pthread_mutex_lock(&d->mu);
    e->next = d->head;
    if (d->head) d->head->prev = e;
    d->head = e;
    pthread_mutex_unlock(&d->mu);
    *entry = e;
}

void conn_deadlines_closed(conn_deadlines *d, conn_entry *e) {
    if (!d || !e) return;
    pthread_mutex_lock(&d->mu);
    if (e->prev) e->prev->next = e->next;
    else d->head = e->next;
    if (e->next) e->next->prev = e->prev;
    pthread_mutex_unlock(&d->mu);
    free(e);
}

void conn_deadlines_headers_done(conn_deadlines *d, conn_entry *e) { set_phase(d, e, PHASE_BODY, d ? d->body_ms : 0); }

void conn_deadlines_body_done(conn_deadlines *d, conn_entry *e) { set_phase(d, e, PHASE_ANSWER, 0); }

void conn_deadlines_answered(conn_deadlines *d, conn_entry *e) {
    set_phase(d, e, PHASE_HEADERS, d ? d->idle_ms + d->header_ms : 0);
}

long conn_deadlines_cut(conn_deadlines *d) {
    if (!d) return 0;
    pthread_mutex_lock(&d->mu);
    long n = d->n_cut;
    pthread_mutex_unlock(&d->mu);
    return n;
}
