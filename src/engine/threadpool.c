/* threadpool.c - see threadpool.h.
 *
 * Protocol: a job is (fn, ctx) plus one 64-bit word, `work`: the job's
 * generation in the high half, the next unclaimed share (ith) in the low
 * half. The caller publishes fn and ctx, stores a new generation with share
 * 0, then claims shares like any worker; workers claim with a compare-and-
 * swap on the whole word, so a claim never lands in a job other than the
 * one whose generation it saw. The caller returns once `finished` counts
 * every share: it waits only for shares that some thread is running, never
 * for a worker that has not woken up yet.
 *
 * Workers wait for a new generation first by spinning (a decode step issues
 * hundreds of jobs a few microseconds apart), then on a condition variable.
 * They count themselves in `sleepers` before they sleep, so the caller
 * takes the mutex and signals only when one is asleep: a job normally costs
 * a store, not a syscall.
 */
#include "engine/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define SPIN_ITERS 200000

struct threadpool {
    int n;                       /* threads including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    _Atomic uint64_t work;       /* generation << 32 | next unclaimed share */
    atomic_int finished;         /* shares of the current job done */
    atomic_int sleepers;         /* workers in (or entering) the condition wait */
    atomic_int stop;
    threadpool_fn fn;
    void *ctx;
};

static uint32_t generation(uint64_t work) { return (uint32_t)(work >> 32); }

/* One step of a busy wait; yields now and then: on an oversubscribed
 * machine the thread we wait for may need this core. */
static inline void spin_once(int *spins) {
    if (++*spins % 256 == 0) {
        sched_yield();
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs shares of the job in w (as last read) until none is left.
 * fn and ctx are read only after a successful claim: the job cannot finish,
 * so the caller cannot replace them, before that share is counted. */
static void run_shares(threadpool *tp, uint64_t w) {
    while ((uint32_t)w < (uint32_t)tp->n) {
        if (!atomic_compare_exchange_weak(&tp->work, &w, w + 1)) continue;   /* w now holds the current word */
        tp->fn(tp->ctx, (int)(uint32_t)w, tp->n);
        atomic_fetch_add_explicit(&tp->finished, 1, memory_order_release);
        w = atomic_load(&tp->work);
    }
}

static void *worker_main(void *p) {
    threadpool *tp = p;
    uint32_t seen = 0;
    for (;;) {
        uint64_t w;
        int spins = 0;
        while (generation(w = atomic_load(&tp->work)) == seen && !atomic_load(&tp->stop) && spins < SPIN_ITERS)
            spin_once(&spins);
        if (generation(w) == seen && !atomic_load(&tp->stop)) {
            pthread_mutex_lock(&tp->mu);
            /* counted before the word is read again (both seq_cst): a
             * caller that publishes after that read sees us and signals */
            atomic_fetch_add(&tp->sleepers, 1);
            while (generation(w = atomic_load(&tp->work)) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->wake, &tp->mu);
            atomic_fetch_sub(&tp->sleepers, 1);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) return NULL;
        seen = generation(w);
        run_shares(tp, w);
    }
}

threadpool *threadpool_create(int n_threads) {
    threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    tp->threads = calloc((size_t)tp->n, sizeof *tp->threads);
    if (!tp->threads) tp->n = 1;   /* no memory for workers: the caller runs every job */
    for (int i = 1; i < tp->n; i++) {
        if (pthread_create(&tp->threads[i], NULL, worker_main, tp) != 0) {
            tp->n = i;   /* run with the threads we got */
            break;
        }
    }
    return tp;
}

void threadpool_free(threadpool *tp) {
    if (!tp) return;
    pthread_mutex_lock(&tp->mu);
    atomic_store(&tp->stop, 1);
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    for (int i = 1; i < tp->n; i++) pthread_join(tp->threads[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_cond_destroy(&tp->wake);
    free(tp->threads);
    free(tp);
}

int threadpool_size(const threadpool *tp) { return tp ? tp->n : 1; }

void threadpool_run(threadpool *tp, threadpool_fn fn, void *ctx) {
    if (!tp || tp->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->ctx = ctx;
    atomic_store(&tp->finished, 0);
    uint64_t w = (uint64_t)(generation(atomic_load(&tp->work)) + 1u) << 32;
    atomic_store(&tp->work, w);
    if (atomic_load(&tp->sleepers) > 0) {
        /* a sleeper holds mu from its count until it waits: the broadcast
         * cannot fall between its check and its wait */
        pthread_mutex_lock(&tp->mu);
        pthread_cond_broadcast(&tp->wake);
        pthread_mutex_unlock(&tp->mu);
    }
    run_shares(tp, w);
    for (int spins = 0; atomic_load_explicit(&tp->finished, memory_order_acquire) < tp->n;) spin_once(&spins);
}
