/* test_scheduler.c - the server's slots and queue (service/scheduler.h) on
 * the tiny test model: a job goes queued -> running -> done and its polled
 * text adds up to the result; the queue is FIFO, reports positions and
 * refuses jobs past max_queue (SRV_E_QUEUE_FULL); cancelling drops a queued
 * job at once and stops a running one; the time limit cancels running jobs
 * (partial text kept) and fails queued ones (SRV_E_TIMEOUT); stop strings
 * are copied at submit; several slots run at once; shutdown fails the queue
 * (SRV_E_SHUTDOWN), lets running jobs finish within the grace and cancels
 * them after it, and refuses new jobs. A "long" job generates past
 * end-of-turn until a 4096-token context is full: many seconds, so it is
 * always still running when the test acts on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "test_time.h"
#include "tiny_model.h"
#include "load/model_load.h"
#include "service/http_util.h"
#include "service/scheduler.h"

static const qvl_model *M;

static scheduler *make(int slots, int max_queue, double timeout_s) {
    sched_config cfg = {.n_slots = slots, .threads = 2, .n_ctx = 4096, .max_queue = max_queue, .timeout_s = timeout_s};
    qvl_error err = {0};
    scheduler *s = sched_create(M, &cfg, &err);
    CHECK_MSG(s != NULL, "%s", err.msg);
    return s;
}

/* Submits a greedy question; long = generate until the context is full. */
static sched_job *submit_q(scheduler *s, const char *question, int max_tokens, bool longjob, const char *const *stop,
                           int n_stop, qvl_error *err) {
    sched_request rq = {.messages = json_pack("[{s:s, s:s}]", "role", "user", "content", question),
                        .params = gen_params_defaults(M)};
    rq.params.sampling.temperature = 0;
    rq.params.max_tokens = longjob ? 0 : max_tokens;
    rq.params.ignore_eos = longjob;
    rq.params.detect_loops = !longjob;
    rq.params.stop = stop;
    rq.params.n_stop = n_stop;
    return sched_submit(s, &rq, err);
}

static sched_job *submit(scheduler *s, const char *question, int max_tokens, bool longjob) {
    qvl_error err = {0};
    sched_job *j = submit_q(s, question, max_tokens, longjob, NULL, 0, &err);
    CHECK_MSG(j != NULL, "submit: %s", err.msg);
    return j;
}

/* Polls until the job is done (at most limit_s), appending its text to
 * *text (malloc'd, may be NULL). Returns the final poll; *seen gets a bit per
 * state observed. */
typedef struct run_out {
    sched_poll p;
    char *text;
    size_t len;
    unsigned seen;
    double secs;
} run_out;

static run_out wait_done(sched_job *j, double limit_s) {
    run_out o = {0};
    double t0 = now_s();
    for (;;) {
        sched_job_poll(j, 50, &o.p);
        o.seen |= 1u << o.p.state;
        if (o.p.text) {
            o.text = realloc(o.text, o.len + o.p.text_len + 1);
            memcpy(o.text + o.len, o.p.text, o.p.text_len);
            o.len += o.p.text_len;
            o.text[o.len] = 0;
            free(o.p.text);
            o.p.text = NULL;
        }
        if (o.p.state == JOB_DONE) break;
        if (now_s() - t0 > limit_s) {
            CHECK_MSG(0, "job not done after %.1f s", limit_s);
            break;
        }
    }
    o.secs = now_s() - t0;
    return o;
}

/* Polls until the job has left the queue. */
static void wait_running(sched_job *j) {
    sched_poll p;
    double t0 = now_s();
    do {
        sched_job_poll(j, 20, &p);
        free(p.text);
    } while (p.state == JOB_QUEUED && now_s() - t0 < 20);
    CHECK_MSG(p.state == JOB_RUNNING, "the job is in state %d, not running", p.state);
}

static sched_poll poll_now(sched_job *j) {
    sched_poll p;
    sched_job_poll(j, 0, &p);
    free(p.text);
    p.text = NULL;
    return p;
}

static void stats(scheduler *s, int *q, int *r) {
    int slots;
    sched_stats(s, q, r, &slots);
}

/* One job from submission to the end. */
static void test_one_job(void) {
    scheduler *s = make(1, 4, 0);
    if (!s) return;
    sched_job *j = submit(s, "Hello there", 12, false);
    run_out o = wait_done(j, 60);
    CHECK(o.seen & (1u << JOB_DONE));
    CHECK_MSG(!o.p.failed, "%s", o.p.err.msg);
    CHECK(o.p.result != NULL);
    if (o.p.result) {
        const gen_result *r = o.p.result;
        CHECK(r->n_generated >= 1 && r->n_generated <= 12);
        CHECK(r->n_prompt > 3);
        /* what the polls handed out is the whole answer, once */
        CHECK_EQ_INT(o.len, r->text_len);
        CHECK(o.len == r->text_len && (o.len == 0 || !memcmp(o.text, r->text, o.len)));
        CHECK(o.len == 0 ? o.p.first_text_ms < 0 : o.p.first_text_ms >= 0);
    }
    CHECK(o.p.route && !strcmp(o.p.route, "vlm"));
    CHECK_MSG(o.p.queue_ms >= 0 && o.p.n_images == 0, "queue %f ms, %d images", o.p.queue_ms, o.p.n_images);
    /* done is sticky: another poll says done again, without text */
    sched_poll again = poll_now(j);
    CHECK(again.state == JOB_DONE && again.text_len == 0);
    free(o.text);
    sched_job_release(j);
    int q, r, slots;
    sched_stats(s, &q, &r, &slots);
    CHECK(q == 0 && r == 0 && slots == 1);
    sched_free(s);
}

/* One slot, max_queue 2: positions, the limit, FIFO, cancellation. */
static void test_queue_and_cancel(void) {
    scheduler *s = make(1, 2, 0);
    if (!s) return;
    sched_job *a = submit(s, "Go on", 0, true);
    wait_running(a);
    /* the running job is in one phase; once text came out, in the answer */
    sched_poll pa;
    do {
        sched_job_poll(a, 50, &pa);
        free(pa.text);
    } while (!pa.text_len && pa.state == JOB_RUNNING);
    int ph[SCHED_N_PHASES];
    sched_phases(s, ph);
    CHECK_MSG(ph[SCHED_PHASE_ANSWER] == 1 && ph[SCHED_PHASE_STARTING] + ph[SCHED_PHASE_IMAGE] +
              ph[SCHED_PHASE_PROMPT] == 0, "phases %d %d %d %d", ph[0], ph[1], ph[2], ph[3]);
    sched_job *b = submit(s, "Hi", 4, false), *c = submit(s, "Hello", 4, false);
    sched_poll pb = poll_now(b), pc = poll_now(c);
    CHECK(pb.state == JOB_QUEUED && pb.queue_pos == 1);
    CHECK(pc.state == JOB_QUEUED && pc.queue_pos == 2);
    int q, r;
    stats(s, &q, &r);
    CHECK(q == 2 && r == 1);

    qvl_error err = {0};
    sched_job *d = submit_q(s, "one too many", 4, false, NULL, 0, &err);
    CHECK_MSG(d == NULL && err.code == SRV_E_QUEUE_FULL, "a third waiting job was accepted (max_queue 2)");
    sched_job_release(d);

    /* a queued job dropped at once; the one behind it moves up */
    sched_job_cancel(b);
    pb = poll_now(b);
    CHECK(pb.state == JOB_DONE && pb.failed);
    CHECK_EQ_INT(sched_cancelled(s), 1);
    pc = poll_now(c);
    CHECK(pc.state == JOB_QUEUED && pc.queue_pos == 1);
    sched_job *e = submit(s, "Hey", 4, false);   /* room again */
    CHECK(poll_now(e).queue_pos == 2);
    stats(s, &q, &r);
    CHECK(q == 2 && r == 1);

    /* the running one stops before its next token */
    double t0 = now_s();
    sched_job_cancel(a);
    run_out oa = wait_done(a, 10);
    CHECK_MSG(now_s() - t0 < 2.0, "a cancelled job ran on for %.2f s", now_s() - t0);
    CHECK(!oa.p.failed && oa.p.result && oa.p.result->finish == FINISH_CANCELLED);
    CHECK(oa.p.result && oa.p.result->n_generated < 4096 - 20);
    CHECK_EQ_INT(sched_cancelled(s), 2);

    /* FIFO: c leaves the queue before e */
    sched_poll pe;
    for (t0 = now_s(); now_s() - t0 < 20;) {
        pc = poll_now(c), pe = poll_now(e);
        if (pc.state != JOB_QUEUED || pe.state != JOB_QUEUED) break;
        sleep_ms(1);
    }
    CHECK_MSG(pc.state != JOB_QUEUED && (pe.state == JOB_QUEUED || pc.state == JOB_DONE),
              "the later job ran first (c %d, e %d)", pc.state, pe.state);
    run_out oc = wait_done(c, 60), oe = wait_done(e, 60);
    CHECK(!oc.p.failed && !oe.p.failed && oc.p.result && oe.p.result);
    /* a cancel after the end stops nothing and is not counted; no slot is busy in any phase */
    sched_job_cancel(c);
    CHECK_EQ_INT(sched_cancelled(s), 2);
    int phase[SCHED_N_PHASES];
    sched_phases(s, phase);
    CHECK(phase[SCHED_PHASE_STARTING] + phase[SCHED_PHASE_IMAGE] + phase[SCHED_PHASE_PROMPT] +
          phase[SCHED_PHASE_ANSWER] == 0);
    free(oa.text), free(oc.text), free(oe.text);
    for (sched_job **p = (sched_job *[]){a, b, c, e}, **end = p + 4; p < end; p++) sched_job_release(*p);
    sched_free(s);
}

/* timeout 0.5 s: the running job is cancelled at the deadline and keeps its
 * text; the job queued behind it fails with SRV_E_TIMEOUT. */
static void test_timeout(void) {
    scheduler *s = make(1, 4, 0.5);
    if (!s) return;
    double t0 = now_s();
    sched_job *a = submit(s, "Go on", 0, true), *b = submit(s, "Hi", 4, false);
    run_out ob = wait_done(b, 10);
    double tb = now_s() - t0;
    CHECK(ob.p.failed && ob.p.err.code == SRV_E_TIMEOUT && ob.p.timed_out);
    CHECK_MSG(tb >= 0.45 && tb < 3, "the queued job timed out after %.2f s (limit 0.5)", tb);
    run_out oa = wait_done(a, 10);
    double ta = now_s() - t0;
    CHECK_MSG(ta >= 0.45 && ta < 4, "the running job ended after %.2f s (limit 0.5)", ta);
    CHECK(oa.p.timed_out && !oa.p.failed && oa.p.result && oa.p.result->n_generated > 0 && oa.len > 0);
    CHECK_EQ_INT(sched_cancelled(s), 0);   /* the deadline stopped them, not a client */
    free(oa.text), free(ob.text);
    sched_job_release(a), sched_job_release(b);
    sched_free(s);
}

/* The stop strings are copied at submit: the caller's buffer may change
 * while the job waits. */
static void test_stop_copied(void) {
    scheduler *s = make(1, 4, 0);
    if (!s) return;
    sched_job *first = submit(s, "Write something long", 40, false);
    run_out full = wait_done(first, 60);
    sched_job_release(first);
    CHECK(full.len > 8);
    if (full.len <= 8) {
        free(full.text);
        sched_free(s);
        return;
    }
    char want_stop[3] = {full.text[full.len / 2], full.text[full.len / 2 + 1], 0}, stop[3];
    memcpy(stop, want_stop, 3);
    const char *stops[1] = {stop};
    sched_job *busy = submit(s, "Go on", 0, true);
    wait_running(busy);
    qvl_error err = {0};
    sched_job *j = submit_q(s, "Write something long", 40, false, stops, 1, &err);
    CHECK_MSG(j != NULL, "%s", err.msg);
    memcpy(stop, "\x01\x02", 3);   /* never in the answer */
    sched_job_cancel(busy);
    run_out o = wait_done(j, 60);
    const char *cut = strstr(full.text, want_stop);
    CHECK(o.p.result && o.p.result->finish == FINISH_STOP);
    CHECK_MSG(cut && o.len == (size_t)(cut - full.text) && (o.len == 0 || !memcmp(o.text, full.text, o.len)),
              "got \"%s\", want the text before the stop string in \"%s\"", o.text ? o.text : "", full.text);
    run_out ob = wait_done(busy, 10);
    free(ob.text), free(o.text), free(full.text);
    sched_job_release(busy), sched_job_release(j);
    sched_free(s);
}

/* load_ctx with load_free belongs to the job: freed exactly once, when the
 * last reference goes (or at once when the submit fails). */
static int freed;
static void count_free(void *ctx) { freed += *(int *)ctx; }

static void test_load_free(void) {
    scheduler *s = make(1, 0, 0);
    if (!s) return;
    static int one = 1;
    sched_job *busy = submit(s, "Go on", 0, true);
    wait_running(busy);
    sched_request rq = {.messages = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi"),
                        .params = gen_params_defaults(M), .load_ctx = &one, .load_free = count_free};
    qvl_error err = {0};
    freed = 0;
    CHECK(sched_submit(s, &rq, &err) == NULL && err.code == SRV_E_QUEUE_FULL);   /* max_queue 0, slot busy */
    CHECK_EQ_INT(freed, 1);
    sched_job_cancel(busy);
    run_out ob = wait_done(busy, 10);
    free(ob.text);
    sched_job_release(busy);

    rq.messages = json_pack("[{s:s, s:s}]", "role", "user", "content", "hi");
    rq.params.max_tokens = 2;
    freed = 0;
    sched_job *j = sched_submit(s, &rq, &err);
    CHECK(j != NULL);
    run_out o = wait_done(j, 60);
    free(o.text);
    CHECK_EQ_INT(freed, 0);   /* the submitter still holds the job */
    sched_job_release(j);
    CHECK_EQ_INT(freed, 1);
    sched_free(s);
    CHECK_EQ_INT(freed, 1);
}

/* Two slots: two long jobs run at the same time, a third waits. */
static void test_two_slots(void) {
    scheduler *s = make(2, 4, 0);
    if (!s) return;
    sched_job *a = submit(s, "Go on", 0, true), *b = submit(s, "Keep going", 0, true);
    wait_running(a);
    wait_running(b);
    sched_job *c = submit(s, "Hi", 4, false);
    int q, r;
    stats(s, &q, &r);
    CHECK(q == 1 && r == 2);
    CHECK(poll_now(c).queue_pos == 1);
    sched_job_cancel(a);
    run_out oc = wait_done(c, 60);   /* takes a's slot while b still runs */
    CHECK(!oc.p.failed && oc.p.result);
    CHECK(poll_now(b).state == JOB_RUNNING);
    sched_job_cancel(b);
    run_out oa = wait_done(a, 10), ob = wait_done(b, 10);
    free(oa.text), free(ob.text), free(oc.text);
    sched_job_release(a), sched_job_release(b), sched_job_release(c);
    sched_free(s);
}

/* Shutdown: the queued job fails at once, the running one gets the grace
 * and is then cancelled; nothing new is accepted. */
static void test_stop(void) {
    scheduler *s = make(1, 4, 0);
    if (!s) return;
    sched_job *a = submit(s, "Go on", 0, true);
    wait_running(a);
    sched_job *b = submit(s, "Hi", 4, false);
    double t0 = now_s();
    sched_stop(s, 0.4);
    double dt = now_s() - t0;
    CHECK_MSG(dt >= 0.35 && dt < 3, "sched_stop with a 0.4 s grace took %.2f s", dt);
    sched_poll pb = poll_now(b), pa = poll_now(a);
    CHECK(pb.state == JOB_DONE && pb.failed && pb.err.code == SRV_E_SHUTDOWN);
    CHECK(pa.state == JOB_DONE && !pa.failed && pa.result && pa.result->finish == FINISH_CANCELLED);
    qvl_error err = {0};
    sched_job *c = submit_q(s, "late", 4, false, NULL, 0, &err);
    CHECK(c == NULL && err.code == SRV_E_SHUTDOWN);
    sched_stop(s, 0);   /* twice is fine */
    sched_job_release(a), sched_job_release(b);
    sched_free(s);

    /* A job that finishes within the grace is not cancelled, and the stop
     * does not wait out the whole grace. */
    s = make(1, 4, 0);
    if (!s) return;
    sched_job *d = submit(s, "Hello", 30, false);
    wait_running(d);
    t0 = now_s();
    sched_stop(s, 30);
    dt = now_s() - t0;
    sched_poll pd = poll_now(d);
    CHECK(pd.state == JOB_DONE && !pd.failed && pd.result && pd.result->finish != FINISH_CANCELLED);
    CHECK_MSG(dt < 10, "sched_stop waited %.1f s for a short job", dt);
    sched_job_release(d);
    sched_free(s);
    sched_free(NULL);
}

int main(void) {
    char dir[64];
    qvl_error err = {0};
    if (tiny_model_make(dir, sizeof dir, "sched") != 0) return check_summary();
    model_load_opts o = {.quant = "q8_0", .threads = 1};
    qvl_model *m = model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (m) {
        M = m;
        test_one_job();
        test_queue_and_cancel();
        test_timeout();
        test_stop_copied();
        test_load_free();
        test_two_slots();
        test_stop();
        model_free(m);
    }
    tiny_model_remove(dir);
    return check_summary();
}
