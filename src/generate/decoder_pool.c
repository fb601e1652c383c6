/* decoder_pool.c - see decoder_pool.h.
 *
 * Callers put a request (on their own stack) on one of two lists and sleep
 * on done_cv until the engine marks it done; one mutex guards the lists and
 * counters and is never held during a forward pass. */
#include "generate/decoder_pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"

typedef struct pool_req {
    kv_cache *kv;
    const text_batch *b;
    float *logits;
    int rc;
    bool done;
    qvl_error err;
    struct pool_req *next;
} pool_req;

struct decoder_pool {
    const text_model *m;
    threadpool *tp;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;    /* engine: a request came, a sequence left, stop */
    pthread_cond_t done_cv;    /* callers: requests were marked done */
    pool_req *steps;           /* waiting decode steps (any order) */
    pool_req *prompts;         /* waiting prompts, oldest first */
    int n_steps, n_joined;
    long passes, steps_run;    /* decoder_pool_stats */
    struct timespec gather_end;   /* the oldest waiting step runs by then at the latest */
    double gather_ms;          /* how long steps wait for the others: a share of the last pass */
    bool stopping;
};

/* Runs the requests of list (n of them) in one pass. If the batch fails
 * (only its checks can), each runs alone so the failing one gets its own
 * error and the others their results. */
static void run_pass(decoder_pool *p, pool_req *list, int n) {
    kv_cache **kvs = malloc((size_t)n * sizeof *kvs);
    text_batch *bs = malloc((size_t)n * sizeof *bs);
    float **lg = malloc((size_t)n * sizeof *lg);
    int rc = -1;
    qvl_error err = {0};
    if (kvs && bs && lg) {
        int i = 0;
        for (pool_req *r = list; r; r = r->next, i++) kvs[i] = r->kv, bs[i] = *r->b, lg[i] = r->logits;
        rc = text_forward_multi(p->m, kvs, bs, n, lg, p->tp, &err);
    }
    for (pool_req *r = list; r; r = r->next)
        r->rc = rc == 0 ? 0 : text_forward(p->m, r->kv, r->b, r->logits, p->tp, &r->err);
    free(kvs), free(bs), free(lg);
}

static bool time_passed(const struct timespec *t) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void gather_from_now(decoder_pool *p) {
    clock_gettime(CLOCK_MONOTONIC, &p->gather_end);
    p->gather_end.tv_nsec += (long)(p->gather_ms * 1e6);
    p->gather_end.tv_sec += p->gather_end.tv_nsec / 1000000000L;
    p->gather_end.tv_nsec %= 1000000000L;
}

/* After a pass: wakes its callers; steps that came during the pass wait for
 * the rest from now on (the rest are just getting their results). */
static void mark_done_locked(decoder_pool *p, pool_req *list) {
    /* Callers read done under mu, so the requests stay valid until we unlock. */
    for (pool_req *r = list; r; r = r->next) r->done = true;
    pthread_cond_broadcast(&p->done_cv);
    if (p->steps) gather_from_now(p);
}

/* Moves the waiting prompts that fit DECODER_POOL_PROMPT_TOKENS (the
 * oldest always) onto the front of *list. Returns how many. */
static int take_prompts_locked(decoder_pool *p, pool_req **list) {
    int n = 0, tokens = 0;
    while (p->prompts && (n == 0 || tokens + p->prompts->b->n <= DECODER_POOL_PROMPT_TOKENS)) {
        pool_req *r = p->prompts;
        p->prompts = r->next;
        tokens += r->b->n;
        r->next = *list;
        *list = r;
        n++;
    }
    return n;
}

static void *engine_main(void *arg) {
    decoder_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Steps wait until every decoding sequence has sent its own, or a
         * prompt is waiting, or the gathering time is over. */
        bool steps_ready = p->steps && (p->n_steps >= p->n_joined || p->prompts || time_passed(&p->gather_end));
        if (p->prompts || steps_ready) {
            pool_req *list = p->steps;
            int n_steps = p->n_steps;
            p->steps = NULL;
            p->n_steps = 0;
            int n = n_steps + take_prompts_locked(p, &list);
            pthread_mutex_unlock(&p->mu);
            double t0 = clock_ms();
            run_pass(p, list, n);
            double pass_ms = clock_ms() - t0;
            pthread_mutex_lock(&p->mu);
            /* A step left out costs its sequence a whole pass, so waiting a
             * quarter of one for it (a loaded machine wakes threads late)
             * is the better deal; a pass with a prompt in it is no measure
             * of a step's. */
            if (n == n_steps)
                p->gather_ms = pass_ms / 4 > DECODER_POOL_GATHER_MS ? pass_ms / 4 : DECODER_POOL_GATHER_MS;
            if (n_steps) {
                p->passes++;
                p->steps_run += n_steps;
            }
            mark_done_locked(p, list);
        } else if (p->steps) {
            pthread_cond_timedwait(&p->work_cv, &p->mu, &p->gather_end);
        } else if (p->stopping) {
            break;
        } else {
            pthread_cond_wait(&p->work_cv, &p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

decoder_pool *decoder_pool_create(const text_model *m, int threads, qvl_error *err) {
    decoder_pool *p = calloc(1, sizeof *p);
    if (!p) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    p->m = m;
    p->gather_ms = DECODER_POOL_GATHER_MS;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&p->done_cv, NULL);
    p->tp = threadpool_create(threads);
    if (pthread_create(&p->thread, NULL, engine_main, p) != 0) {
        qvl_fail(err, "cannot start the decoding thread");
        threadpool_free(p->tp);
        pthread_cond_destroy(&p->work_cv), pthread_cond_destroy(&p->done_cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    return p;
}

void decoder_pool_free(decoder_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    threadpool_free(p->tp);
    pthread_cond_destroy(&p->work_cv), pthread_cond_destroy(&p->done_cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int decoder_pool_forward(decoder_pool *p, kv_cache *kv, const text_batch *b, float *logits, qvl_error *err) {
    pool_req r = {.kv = kv, .b = b, .logits = logits};
    pthread_mutex_lock(&p->mu);
    if (b->n == 1) {
        if (!p->steps) gather_from_now(p);
        r.next = p->steps;
        p->steps = &r;
        p->n_steps++;
    } else {
        pool_req **at = &p->prompts;
        while (*at) at = &(*at)->next;
        *at = &r;
    }
    pthread_cond_signal(&p->work_cv);
    while (!r.done) pthread_cond_wait(&p->done_cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    if (r.rc != 0 && err) *err = r.err;
    return r.rc;
}

void decoder_pool_join(decoder_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->n_joined++;
    pthread_mutex_unlock(&p->mu);
}

void decoder_pool_leave(decoder_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->n_joined--;
    pthread_cond_signal(&p->work_cv);   /* a waiting step may now have everyone */
    pthread_mutex_unlock(&p->mu);
}

void decoder_pool_stats(decoder_pool *p, long *passes, long *steps) {
    pthread_mutex_lock(&p->mu);
    *passes = p->passes;
    *steps = p->steps_run;
    pthread_mutex_unlock(&p->mu);
}
