/* test_threadpool.c - threadpool_run's contract: every share of every job
 * runs exactly once, with the right nth, and the job is complete when the
 * call returns; many tiny jobs back to back (the decode pattern, where
 * workers are caught mid-spin, asleep or not started and their shares are
 * taken by others); pools wider than the machine; the NULL pool inline. */
#include <stdatomic.h>
#include <unistd.h>

#include "check.h"
#include "engine/threadpool.h"

#define MAX_SHARES 8

typedef struct count_job {
    atomic_int runs[MAX_SHARES];   /* how often each ith ran */
    atomic_int bad_nth;
    int nth_expected;
    long n;                        /* items split with threadpool_split */
    long *out;                     /* out[i] = i + 1 for every item */
} count_job;

static void count_worker(void *p, int ith, int nth) {
    count_job *j = p;
    if (nth != j->nth_expected || ith < 0 || ith >= MAX_SHARES) {
        atomic_fetch_add(&j->bad_nth, 1);
        return;
    }
    atomic_fetch_add(&j->runs[ith], 1);
    long lo, hi;
    threadpool_split(j->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) j->out[i] = i + 1;
}

/* Runs `jobs` jobs of n items each and checks every one as it returns. */
static void check_pool(threadpool *tp, int nth, int jobs, long n) {
    long *out = malloc((size_t)n * sizeof *out);
    int wrong_runs = 0, wrong_items = 0, bad_nth = 0;
    for (int r = 0; r < jobs; r++) {
        count_job j = {.nth_expected = nth, .n = n, .out = out};
        for (long i = 0; i < n; i++) out[i] = 0;
        threadpool_run(tp, count_worker, &j);
        /* everything below must already be visible: the run has returned */
        for (int t = 0; t < MAX_SHARES; t++) wrong_runs += atomic_load(&j.runs[t]) != (t < nth ? 1 : 0);
        for (long i = 0; i < n; i++) wrong_items += out[i] != i + 1;
        bad_nth += atomic_load(&j.bad_nth);
    }
    CHECK_MSG(wrong_runs == 0, "%d threads, %d jobs of %ld items: %d shares ran other than once", nth, jobs, n,
              wrong_runs);
    CHECK_MSG(wrong_items == 0, "%d threads: %d items not written by the time the run returned", nth, wrong_items);
    CHECK_MSG(bad_nth == 0, "%d threads: %d calls with a wrong nth", nth, bad_nth);
    free(out);
}

/* A job whose shares take long enough for the worker to join: some run
 * must see both shares at once, or the workers do not take part. */
typedef struct slow_job {
    atomic_int running, overlap_seen;
} slow_job;

static void slow_worker(void *p, int ith, int nth) {
    slow_job *j = p;
    if (atomic_fetch_add(&j->running, 1) > 0) atomic_store(&j->overlap_seen, 1);
    usleep(2000);
    atomic_fetch_sub(&j->running, 1);
}

int main(void) {
    CHECK_EQ_INT(threadpool_size(NULL), 1);
    check_pool(NULL, 1, 3, 100);
    for (int nth = 1; nth <= 4; nth++) {
        threadpool *tp = threadpool_create(nth);
        CHECK(tp != NULL);
        if (!tp) continue;
        CHECK_EQ_INT(threadpool_size(tp), nth);
        check_pool(tp, nth, 1, 1000);      /* right after creation: workers may not have started */
        check_pool(tp, nth, 20000, 37);    /* tiny jobs back to back */
        usleep(50000);                      /* long enough for spinning workers to fall asleep */
        check_pool(tp, nth, 3, 100000);
        threadpool_free(tp);
    }
    /* Shares of a slow job run in parallel on a 2-thread pool (on one core
     * the check is not run, and says so). */
    if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
        threadpool *tp = threadpool_create(2);
        int overlapped = 0;
        for (int r = 0; r < 20 && !overlapped; r++) {
            slow_job j = {0};
            threadpool_run(tp, slow_worker, &j);
            overlapped = atomic_load(&j.overlap_seen);
        }
        CHECK_MSG(overlapped, "20 jobs of two 2 ms shares never ran both shares at once");
        threadpool_free(tp);
    } else {
        fprintf(stderr, "one core: the parallelism check was not run\n");
    }
    threadpool *one = threadpool_create(0);
    CHECK_EQ_INT(threadpool_size(one), 1);
    check_pool(one, 1, 3, 100);
    threadpool_free(one);
    return check_summary();
}
