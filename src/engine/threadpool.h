/* threadpool.h - a persistent pool of worker threads for data-parallel loops.
 *
 * threadpool_run(fn) calls fn(ctx, ith, nth) once for each ith in [0, nth)
 * and returns when all have finished. The shares go to whichever threads
 * (the caller included) claim them first: a worker the OS has not run yet
 * does not hold the job up, the caller runs its share instead. So fn must
 * not wait for another share of the same job, and may run several shares
 * one after another on one thread (per-ith scratch stays private). Workers
 * are created once and spin briefly between jobs before sleeping, so the
 * many small jobs of a decode step cost microseconds, not thread creations.
 *
 * One job runs at a time per pool: a pool must not be shared by threads that
 * call threadpool_run concurrently (give each inference slot its own pool or
 * serialise).
 */
#ifndef QVL_THREADPOOL_H
#define QVL_THREADPOOL_H

typedef struct threadpool threadpool;
typedef void (*threadpool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 (values < 1 mean 1). Returns NULL only when out of
 * memory; then callers may pass the NULL pool, which runs jobs inline. If
 * fewer threads can be started than asked, the pool has that many. */
threadpool *threadpool_create(int n_threads);
void threadpool_free(threadpool *tp);
int threadpool_size(const threadpool *tp);   /* 1 for a NULL pool */
void threadpool_run(threadpool *tp, threadpool_fn fn, void *ctx);

/* The half-open range [*lo, *hi) of n items that thread ith of nth handles. */
static inline void threadpool_split(long n, int ith, int nth, long *lo, long *hi) {
    long per = (n + nth - 1) / nth;
    *lo = per * ith < n ? per * ith : n;
    *hi = *lo + per < n ? *lo + per : n;
}

#endif
