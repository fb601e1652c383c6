/* threadpool.c - see threadpool.h.
 *
 * Protocol: the caller publishes (fn, ctx), bumps `generation`, runs its own
 * share, then waits until `pending` drops to 0. Workers wait for a new
 * generation: first by spinning (a decode step issues hundreds of jobs a few
 * microseconds apart), then on a condition variable.
 */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

#define SPIN_ITERS 200000

struct threadpool {
    int n;                       /* threads including the caller */
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    atomic_uint generation;
    atomic_int pending;          /* workers still running the current job */
    atomic_int stop;
    threadpool_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    threadpool *tp;
    int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker_main(void *p) {
    worker_arg *arg = p;
    threadpool *tp = arg->tp;
    int ith = arg->ith;
    free(arg);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&tp->generation, memory_order_acquire)) == seen &&
               !atomic_load(&tp->stop) && spins < SPIN_ITERS) {
            /* yield now and then: on an oversubscribed machine the thread we
             * wait for may need this core */
            if (++spins % 256 == 0) sched_yield();
            else cpu_relax();
        }
        if (g == seen && !atomic_load(&tp->stop)) {
            pthread_mutex_lock(&tp->mu);
            while ((g = atomic_load(&tp->generation)) == seen && !atomic_load(&tp->stop))
                pthread_cond_wait(&tp->wake, &tp->mu);
            pthread_mutex_unlock(&tp->mu);
        }
        if (atomic_load(&tp->stop)) return NULL;
        seen = g;
        tp->fn(tp->ctx, ith, tp->n);
        atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_release);
    }
}

threadpool *threadpool_create(int n_threads) {
    threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->wake, NULL);
    tp->threads = calloc((size_t)tp->n, sizeof *tp->threads);
    for (int i = 1; i < tp->n; i++) {
        worker_arg *arg = malloc(sizeof *arg);
        arg->tp = tp;
        arg->ith = i;
        if (pthread_create(&tp->threads[i], NULL, worker_main, arg) != 0) {
            free(arg);
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
    atomic_store(&tp->pending, tp->n - 1);
    pthread_mutex_lock(&tp->mu);
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_release);
    pthread_cond_broadcast(&tp->wake);
    pthread_mutex_unlock(&tp->mu);
    fn(ctx, 0, tp->n);
    for (int spins = 0; atomic_load_explicit(&tp->pending, memory_order_acquire) > 0;)
        if (++spins % 256 == 0) sched_yield();
        else cpu_relax();
}
