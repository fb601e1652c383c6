/* scheduler.c - see scheduler.h.
 *
 * One mutex (scheduler.mu) guards the queue and every job's mutable fields;
 * it is held only for bookkeeping, never during inference. Each job has its
 * own condition variable so a poll wakes only for its job; the workers share
 * work_cv. */
#include "service/scheduler.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer/answer.h"
#include "base/clock.h"
#include "base/mem_budget.h"
#include "generate/mem_need.h"
#include "service/http_util.h"

struct sched_job {
    scheduler *s;
    int refs;                  /* submitter + scheduler */
    sched_request req;
    char **stop;               /* owned copies of req.params.stop */
    sched_state state, polled_state;
    atomic_bool cancel;
    bool timed_out;
    bool waited_memory;        /* was the queue's head with a slot free but not the memory */
    pthread_cond_t cv;
    char *buf;                 /* generated text so far */
    size_t len, cap, taken;    /* taken: bytes already handed to the poller */
    const char *prog_stage;    /* latest progress report, or NULL */
    int prog_done, prog_total;
    bool prog_new;             /* not yet handed to the poller */
    bool failed, has_result;
    qvl_error err;
    gen_result result;
    int n_images;
    double image_ms, ocr_ms;
    const char *route;
    bool fell_back;
    json_t *ocr;            /* answer_result.ocr, taken over */
    double t_submit, t_start, t_first;
    sched_job *next;           /* queue link */
};

typedef struct slot {
    scheduler *s;
    pthread_t thread;
    bool started;
    gen_session sess;          /* kept between requests: a follow-up reuses its prefix */
    threadpool *tp;
    ocr_engine *ocr;           /* this slot's OCR engine, or NULL */
    sched_job *job;            /* running now, or NULL (guarded by mu) */
} slot;

struct scheduler {
    const qvl_model *m;
    sched_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;    /* workers: a job was queued or stop requested */
    pthread_cond_t idle_cv;    /* sched_stop: a running job finished */
    sched_job *head, *tail;
    int n_queued, n_running;
    long n_cancelled;          /* jobs stopped for their client (sched_cancelled) */
    bool stopping, stopped;
    slot *slots;
    decoder_pool *pool;        /* with several slots: their forward passes, decode steps batched */
};

/* ---- jobs ------------------------------------------------------------------ */

void sched_request_release(sched_request *req) {
    json_decref(req->messages);
    if (req->load_free) req->load_free(req->load_ctx);
    grammar_free(req->constraint);
    json_decref(req->tools);
}

static void job_unref_locked(sched_job *j) {
    if (--j->refs > 0) return;
    sched_request_release(&j->req);
    for (int i = 0; i < j->req.params.n_stop; i++) free(j->stop[i]);
    free(j->stop);
    if (j->has_result) gen_result_free(&j->result);
    json_decref(j->ocr);
    free(j->buf);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* Marks a job finished (caller holds mu). */
static void job_finish_locked(sched_job *j) {
    j->state = JOB_DONE;
    pthread_cond_broadcast(&j->cv);
}

static void queue_remove_locked(scheduler *s, sched_job *j) {
    for (sched_job **p = &s->head; *p; p = &(*p)->next) {
        if (*p != j) continue;
        *p = j->next;
        if (s->tail == j) {
            s->tail = NULL;
            for (sched_job *q = s->head; q; q = q->next) s->tail = q;
        }
        j->next = NULL;
        s->n_queued--;
        return;
    }
}

/* Fails a queued job with code/msg and drops the scheduler's reference. */
static void queue_fail_locked(scheduler *s, sched_job *j, int code, const char *msg) {
    queue_remove_locked(s, j);
    pthread_cond_broadcast(&s->work_cv);   /* the job behind a removed head may fit the budget */
    j->failed = true;
    qvl_fail_code(&j->err, code, "%s", msg);
    job_finish_locked(j);
    job_unref_locked(j);
}

sched_job *sched_submit(scheduler *s, sched_request *req, qvl_error *err) {
    sched_job *j = req->constraint && !s->cfg.vocab ? NULL : calloc(1, sizeof *j);
    if (!j) {
        if (req->constraint && !s->cfg.vocab) qvl_fail_code(err, QVL_E_BAD_INPUT, "this server cannot constrain answers");
        else qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        sched_request_release(req);
        return NULL;
    }
    if (s->cfg.budget && req->mem_need > mem_budget_room(s->cfg.budget)) {
        mem_need_refuse(err, req->mem_need, req->mem_detail, s->cfg.budget);
        free(j);
        sched_request_release(req);
        return NULL;
    }
    j->s = s;
    j->refs = 2;
    j->req = *req;
    j->req.params.n_stop = 0;
    j->req.params.stop = NULL;
    if (req->params.n_stop > 0) {
        j->stop = calloc((size_t)req->params.n_stop, sizeof *j->stop);
        for (int i = 0; j->stop && i < req->params.n_stop; i++) {
            j->stop[i] = strdup(req->params.stop[i]);
            if (j->stop[i]) j->req.params.n_stop++;
        }
        j->req.params.stop = (const char *const *)j->stop;
    }
    j->t_submit = clock_ms();
    j->t_first = -1;
    pthread_cond_init(&j->cv, NULL);
    pthread_mutex_lock(&s->mu);
    /* Jobs a free slot is about to take do not count as waiting. */
    int free_slots = s->cfg.n_slots - s->n_running;
    int code = s->stopping ? SRV_E_SHUTDOWN : s->n_queued >= s->cfg.max_queue + free_slots ? SRV_E_QUEUE_FULL : 0;
    if (code) {
        int queued = s->n_queued;
        pthread_mutex_unlock(&s->mu);
        if (code == SRV_E_SHUTDOWN) qvl_fail_code(err, code, "the server is shutting down; retry on another instance");
        else qvl_fail_code(err, code, "the server is busy (%d requests waiting); retry in a few seconds", queued);
        j->refs = 1;
        job_unref_locked(j);   /* not shared yet: no lock needed */
        return NULL;
    }
    if (s->tail) s->tail->next = j;
    else s->head = j;
    s->tail = j;
    s->n_queued++;
    pthread_cond_signal(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    return j;
}

static int queue_position_locked(scheduler *s, const sched_job *j) {
    int pos = 1;
    for (sched_job *q = s->head; q && q != j; q = q->next) pos++;
    return pos;
}

static void add_ms(struct timespec *ts, int ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Cancels a job for its deadline (caller holds mu). */
static void enforce_deadline_locked(scheduler *s, sched_job *j) {
    if (s->cfg.timeout_s <= 0 || j->timed_out || j->state == JOB_DONE) return;
    if (clock_ms() - j->t_submit < s->cfg.timeout_s * 1e3) return;
    j->timed_out = true;
    atomic_store(&j->cancel, true);
    if (j->state == JOB_QUEUED) queue_fail_locked(s, j, SRV_E_TIMEOUT, "");
}

void sched_job_poll(sched_job *j, int wait_ms, sched_poll *out) {
    scheduler *s = j->s;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    enforce_deadline_locked(s, j);
    if (j->taken == j->len && !j->prog_new && j->state == j->polled_state && j->state != JOB_DONE && wait_ms > 0) {
        struct timespec ts;
        add_ms(&ts, wait_ms);
        pthread_cond_timedwait(&j->cv, &s->mu, &ts);
        enforce_deadline_locked(s, j);
    }
    j->polled_state = j->state;
    out->state = j->state;
    if (j->state == JOB_QUEUED) out->queue_pos = queue_position_locked(s, j);
    if (j->prog_new) {
        out->progress_stage = j->prog_stage;
        out->progress_done = j->prog_done;
        out->progress_total = j->prog_total;
        j->prog_new = false;
    }
    if (j->len > j->taken) {
        out->text_len = j->len - j->taken;
        out->text = malloc(out->text_len + 1);
        if (out->text) {
            memcpy(out->text, j->buf + j->taken, out->text_len);
            out->text[out->text_len] = 0;
            j->taken = j->len;
        } else {
            out->text_len = 0;
        }
    }
    if (j->state == JOB_DONE) {
        out->failed = j->failed;
        out->err = j->err;
        out->timed_out = j->timed_out;
        if (j->timed_out && (j->failed || j->len == 0)) {
            out->failed = true;
            qvl_fail_code(&out->err, SRV_E_TIMEOUT, "the request took longer than the server's limit of %.0f s",
                          s->cfg.timeout_s);
        }
        out->result = j->has_result ? &j->result : NULL;
        out->n_images = j->n_images;
        out->image_ms = j->image_ms;
        out->ocr_ms = j->ocr_ms;
        out->route = j->route;
        out->ocr_fell_back = j->fell_back;
        out->ocr = j->ocr;
        out->queue_ms = (j->t_start > 0 ? j->t_start : clock_ms()) - j->t_submit;
        out->first_text_ms = j->t_first < 0 ? -1 : j->t_first - j->t_submit;
    }
    pthread_mutex_unlock(&s->mu);
}

void sched_job_cancel(sched_job *j) {
    scheduler *s = j->s;
    pthread_mutex_lock(&s->mu);
    atomic_store(&j->cancel, true);
    if (j->state == JOB_QUEUED) {
        queue_fail_locked(s, j, QVL_E_GENERIC, "cancelled");
        s->n_cancelled++;
    }
    pthread_mutex_unlock(&s->mu);
}

void sched_job_release(sched_job *j) {
    if (!j) return;
    scheduler *s = j->s;
    pthread_mutex_lock(&s->mu);
    job_unref_locked(j);
    pthread_mutex_unlock(&s->mu);
}

void sched_stats(scheduler *s, int *queued, int *running, int *slots) {
    pthread_mutex_lock(&s->mu);
    *queued = s->n_queued;
    *running = s->n_running;
    *slots = s->cfg.n_slots;
    pthread_mutex_unlock(&s->mu);
}

void sched_phases(scheduler *s, int phase[SCHED_N_PHASES]) {
    for (int i = 0; i < SCHED_N_PHASES; i++) phase[i] = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->cfg.n_slots; i++) {
        const sched_job *j = s->slots[i].job;
        if (!j) continue;
        const char *st = j->prog_stage;
        phase[j->t_first >= 0 ? SCHED_PHASE_ANSWER : !st ? SCHED_PHASE_STARTING
              : !strcmp(st, "image") ? SCHED_PHASE_IMAGE : SCHED_PHASE_PROMPT]++;
    }
    pthread_mutex_unlock(&s->mu);
}

long sched_cancelled(scheduler *s) {
    pthread_mutex_lock(&s->mu);
    long n = s->n_cancelled;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- slots ----------------------------------------------------------------- */

static int on_text(void *user, const char *text, size_t len) {
    sched_job *j = user;
    scheduler *s = j->s;
    pthread_mutex_lock(&s->mu);
    if (j->len + len + 1 > j->cap) {
        size_t cap = (j->len + len + 1) * 2;
        char *nb = realloc(j->buf, cap);
        if (!nb) {
            pthread_mutex_unlock(&s->mu);
            return 1;   /* out of memory: stop; the result keeps the text */
        }
        j->buf = nb;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, text, len);
    j->len += len;
    if (j->t_first < 0) j->t_first = clock_ms();
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&s->mu);
    return atomic_load(&j->cancel) ? 1 : 0;
}

/* Keeps only the latest report: a poller that falls behind skips steps
 * rather than queueing them. */
static void on_progress(void *user, const char *stage, int done, int total) {
    sched_job *j = user;
    pthread_mutex_lock(&j->s->mu);
    j->prog_stage = stage;
    j->prog_done = done;
    j->prog_total = total;
    j->prog_new = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->s->mu);
}

/* Runs one job on a slot, without the lock. Fills the job's outcome. The
 * session is not reset: generate() reuses whatever prefix the new
 * conversation shares with the previous one (a follow-up, a system prompt). */
static void run_job(slot *sl, sched_job *j) {
    const scheduler *s = sl->s;
    answer_worker w = {.model = s->m, .router = s->cfg.router, .ocr = sl->ocr, .ocr_lang = s->cfg.ocr_lang,
                       .tp = sl->tp, .session = &sl->sess};
    answer_request rq = {.messages = j->req.messages, .mode = j->req.mode, .gen = j->req.params, .on_text = on_text,
                         .user = j, .cancel = &j->cancel, .progress = {on_progress, j},
                         .chat = {.add_generation_prompt = true, .min_pixels = j->req.min_pixels,
                                  .max_pixels = j->req.max_pixels, .load_image = j->req.load_image,
                                  .load_ctx = j->req.load_ctx, .cache = s->cfg.cache, .tools = j->req.tools},
                         .image_bytes = j->req.image_bytes, .max_images = j->req.max_images};
    rq.gen.constraint = j->req.constraint;
    rq.gen.vocab = s->cfg.vocab;
    answer_result res;
    qvl_error err = {0};
    if (j->req.load_watch) j->req.load_watch(j->req.load_ctx, &j->cancel);
    int rc = answer_run(&w, &rq, &res, &err);
    pthread_mutex_lock(&sl->s->mu);
    bool stopped = rc == 0 ? res.gen.finish == FINISH_CANCELLED : err.code == QVL_E_CANCELLED;
    if (stopped && !j->timed_out && !sl->s->stopping) sl->s->n_cancelled++;
    if (rc == 0) {
        j->n_images = res.n_images;
        j->image_ms = res.image_ms;
        j->ocr_ms = res.ocr_ms;
        j->route = ocr_route_name(res.route);
        j->fell_back = res.fell_back;
        j->ocr = res.ocr;   /* taken over: freed with the job */
        j->result = res.gen;
        j->has_result = true;
    } else {
        j->failed = true;
        j->err = err;
        if (err.code == QVL_E_CANCELLED && sl->s->stopping)   /* tell the client why, not just what */
            qvl_fail_code(&j->err, SRV_E_SHUTDOWN, "the server is shutting down; retry on another instance");
    }
    pthread_mutex_unlock(&sl->s->mu);
}

/* True when the queue's head may start now: no budget, or its bytes are
 * reserved (caller holds mu). Only the head is tried, so a big job is not
 * overtaken for ever by small ones. */
static bool head_fits_locked(scheduler *s) {
    if (!s->cfg.budget || mem_budget_try_reserve(s->cfg.budget, s->head->req.mem_need)) return true;
    if (!s->head->waited_memory) mem_budget_count_wait(s->cfg.budget);
    s->head->waited_memory = true;
    return false;
}

static void *slot_main(void *arg) {
    slot *sl = arg;
    scheduler *s = sl->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && (!s->head || !head_fits_locked(s))) pthread_cond_wait(&s->work_cv, &s->mu);
        if (s->stopping) break;   /* sched_stop failed the queue; nothing was reserved */
        sched_job *j = s->head;
        queue_remove_locked(s, j);
        j->state = JOB_RUNNING;
        j->t_start = clock_ms();
        pthread_cond_broadcast(&j->cv);
        s->n_running++;
        sl->job = j;
        pthread_mutex_unlock(&s->mu);
        run_job(sl, j);
        pthread_mutex_lock(&s->mu);
        sl->job = NULL;
        s->n_running--;
        if (s->cfg.budget) {
            mem_budget_release(s->cfg.budget, j->req.mem_need);
            pthread_cond_broadcast(&s->work_cv);   /* the waiting head may fit now */
        }
        job_finish_locked(j);
        job_unref_locked(j);
        pthread_cond_broadcast(&s->idle_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

scheduler *sched_create(const qvl_model *m, const sched_config *cfg, qvl_error *err) {
    scheduler *s = calloc(1, sizeof *s);
    if (!s) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    s->m = m;
    s->cfg = *cfg;
    if (s->cfg.n_slots < 1) s->cfg.n_slots = 1;
    if (s->cfg.max_queue < 0) s->cfg.max_queue = 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);
    s->slots = calloc((size_t)s->cfg.n_slots, sizeof *s->slots);
    if (!s->slots) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        sched_free(s);
        return NULL;
    }
    /* One slot runs its forward passes on its own pool (all threads); several
     * share a decoder pool with all threads, so concurrent answers decode as
     * one batch, and keep small pools of their own for images and OCR. */
    if (s->cfg.n_slots > 1 && !(s->pool = decoder_pool_create(&m->text, cfg->threads, err))) {
        sched_free(s);
        return NULL;
    }
    int per = cfg->threads / s->cfg.n_slots;
    for (int i = 0; i < s->cfg.n_slots; i++) {
        slot *sl = &s->slots[i];
        sl->s = s;
        if (gen_session_init(&sl->sess, m, cfg->n_ctx, err) != 0) {
            qvl_error_prefix(err, "slot %d (--ctx %d)", i, cfg->n_ctx);
            sched_free(s);
            return NULL;
        }
        sl->sess.pool = s->pool;
        sl->tp = threadpool_create(per < 1 ? 1 : per);
        if (cfg->router) {
            ocr_engine_opts eo = {0};
            sl->ocr = cfg->ocr_plugin ? ocr_engine_open_plugin(cfg->ocr_plugin, &eo, err)
                                      : ocr_engine_open_tesseract(&eo, err);
            if (!sl->ocr) {
                qvl_error_prefix(err, "OCR engine (--no-ocr to run without it)");
                sched_free(s);
                return NULL;
            }
        }
        if (pthread_create(&sl->thread, NULL, slot_main, sl) != 0) {
            qvl_fail(err, "cannot start inference thread %d", i);
            sched_free(s);
            return NULL;
        }
        sl->started = true;
    }
    return s;
}

void sched_stop(scheduler *s, double grace_s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    if (s->stopped) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->stopping = true;
    while (s->head) queue_fail_locked(s, s->head, SRV_E_SHUTDOWN, "the server is shutting down");
    pthread_cond_broadcast(&s->work_cv);
    struct timespec ts;
    add_ms(&ts, (int)(grace_s * 1e3));
    while (s->n_running > 0)
        if (pthread_cond_timedwait(&s->idle_cv, &s->mu, &ts) != 0) break;
    /* Out of time: cancel what still runs; it stops within one step (an
     * encoder block, a prompt pass, a token), so the joins below are quick. */
    for (int i = 0; i < s->cfg.n_slots; i++)
        if (s->slots[i].job) atomic_store(&s->slots[i].job->cancel, true);
    s->stopped = true;
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->cfg.n_slots; i++)
        if (s->slots[i].started) pthread_join(s->slots[i].thread, NULL);
}

void sched_free(scheduler *s) {
    if (!s) return;
    sched_stop(s, 0);
    for (int i = 0; s->slots && i < s->cfg.n_slots; i++) {
        gen_session_free(&s->slots[i].sess);
        ocr_engine_close(s->slots[i].ocr);
        threadpool_free(s->slots[i].tp);
    }
    free(s->slots);
    decoder_pool_free(s->pool);   /* after the slots: no forward pass is in flight */
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->idle_cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
