/* progress.h - how long work (an image encode, a prompt prefill) tells its
 * caller how far it is, so a user waiting seconds for the first token sees
 * something move.
 *
 * The callback runs on the working thread, between steps, so it must be
 * cheap and thread-safe (the server's takes a mutex and stores three
 * values). stage is a string literal ("image", "prompt") that stays valid
 * forever; done counts finished steps of total, 1..total.
 */
#ifndef QVL_PROGRESS_H
#define QVL_PROGRESS_H

typedef void (*qvl_progress_fn)(void *user, const char *stage, int done, int total);

typedef struct qvl_progress {
    qvl_progress_fn fn;   /* NULL: nobody listens */
    void *user;
} qvl_progress;

/* Calls p->fn unless p or p->fn is NULL. Cannot fail. */
static inline void qvl_progress_report(const qvl_progress *p, const char *stage, int done, int total) {
    if (p && p->fn) p->fn(p->user, stage, done, total);
}

#endif
