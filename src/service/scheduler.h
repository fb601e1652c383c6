/* scheduler.h - N inference slots and a FIFO queue in front of them.
 *
 * Each slot is one worker thread that owns a gen_session (KV cache of n_ctx
 * positions) and a thread pool of its own; the model is shared read-only.
 * With several slots, their forward passes go through one decoder_pool with
 * all the compute threads: the decode steps of every running answer are one
 * batch (each weight read once per step for all), prompts run between steps.
 * An HTTP thread submits a job (messages + sampling parameters) and then
 * polls it: while queued it learns its queue position, while running it
 * takes the text generated since the last poll, and at the end the result or
 * the error; before the first text it also learns how far the image
 * encoding and the prompt are. Polling (rather than a callback into the HTTP layer) keeps the
 * HTTP thread in charge of its socket: it notices a disconnected client
 * between polls and cancels, which stops the job within one step of its
 * long work: an image encoder block (or attention work item), a 512-token
 * prompt pass, a generated token.
 *
 * Limits enforced here: the queue length (submit fails with
 * SRV_E_QUEUE_FULL), the memory budget (with sched_config.budget, a job
 * reserves its sched_request.mem_need before it starts and gives it back
 * when done; the queue's head waits, and everything behind it, until its
 * bytes fit beside the running jobs'; a job that could never fit fails at
 * submit with QVL_E_TOO_LARGE), the per-request time limit (a poll after the deadline
 * cancels the job and reports SRV_E_TIMEOUT), and shutdown (queued jobs fail
 * with SRV_E_SHUTDOWN; running ones get a deadline, then are cancelled).
 *
 * Memory: a job is reference counted between the scheduler and its
 * submitter; the submitter calls sched_job_release exactly once. The
 * messages, constraint and tools (and a load_ctx with load_free) passed to
 * sched_submit are owned by the job from then on.
 */
#ifndef QVL_SCHEDULER_H
#define QVL_SCHEDULER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "answer/pages.h"
#include "base/error.h"
#include "generate/chat.h"
#include "generate/generate.h"
#include "grammar/grammar.h"
#include "grammar/token_mask.h"
#include "model/model.h"
#include "ocr/ocr_router.h"

struct image_cache;
struct mem_budget;

typedef struct scheduler scheduler;
typedef struct sched_job sched_job;

typedef struct sched_config {
    int n_slots;          /* >= 1 */
    int threads;          /* compute threads for the text decoder; images and OCR get threads / n_slots (>= 1) per slot */
    int n_ctx;            /* KV cache positions per slot */
    int max_queue;        /* jobs waiting beyond the running ones; more -> SRV_E_QUEUE_FULL */
    double timeout_s;     /* per-request time limit from submission; <= 0 = none */
    /* OCR fast path: with a router, each slot opens its own engine (Tesseract,
     * or the plugin at ocr_plugin) and questions are routed (answer.h). */
    const ocr_router *router;       /* NULL: every question goes to the model */
    const char *ocr_plugin;         /* NULL: Tesseract */
    const char *ocr_lang;           /* NULL: OCR_DEFAULT_LANG */
    struct image_cache *cache;      /* shared encoded images; NULL: none */
    const vocab_index *vocab;       /* the tokenizer's index, for constrained answers; NULL: none possible */
    struct mem_budget *budget;      /* --max-memory: jobs reserve their mem_need from it; NULL: no budget */
} sched_config;

/* Starts the slot threads. Returns NULL with err set (out of memory for a
 * KV cache, thread creation failed). */
scheduler *sched_create(const qvl_model *m, const sched_config *cfg, qvl_error *err);

/* Stops accepting jobs, fails the queued ones (SRV_E_SHUTDOWN), gives the
 * running ones until grace_s seconds to finish, cancels what is left and
 * joins the slot threads. Submitters may still poll and release their jobs
 * afterwards. Cannot fail. */
void sched_stop(scheduler *s, double grace_s);

/* Frees the scheduler (stopping it first if needed, with no grace). Every
 * job must have been released. NULL is fine. */
void sched_free(scheduler *s);

typedef struct sched_request {
    json_t *messages;               /* owned by the job after submit */
    gen_params params;              /* params.stop strings are copied by sched_submit */
    long min_pixels, max_pixels;    /* 0 = model defaults */
    ocr_mode mode;                  /* auto (default), ocr, vlm, ocr+vlm */
    chat_load_image_fn load_image;  /* see chat.h */
    void *load_ctx;                 /* must outlive the job, unless load_free is set */
    void (*load_free)(void *load_ctx);   /* NULL, or frees load_ctx with the job */
    /* NULL, or hands the loader the job's cancel flag before the job runs (a PDF page stops rendering) */
    void (*load_watch)(void *load_ctx, const atomic_bool *cancel);
    grammar *constraint;            /* NULL, or the grammar the answer must follow; owned by the job after submit */
    json_t *tools;                  /* NULL, or tool definitions for the prompt; owned by the job after submit */
    answer_bytes_fn image_bytes;    /* NULL, or an image part's encoded bytes (answer_request.image_bytes) */
    int max_images;                 /* per user message, a document's pages counting one each; 0 = no limit */
    uint64_t mem_need;              /* bytes the job will allocate (generate/mem_need.h), reserved while it runs */
    char mem_detail[160];           /* what mem_need is made of, for the message when it can never fit */
} sched_request;

/* Releases what a request owns (messages, constraint, tools, load_ctx with
 * load_free), for a caller that gives up before sched_submit. */
void sched_request_release(sched_request *req);

/* Queues a request. Returns the job (refcount held by the caller), or NULL
 * with err set: SRV_E_QUEUE_FULL, SRV_E_SHUTDOWN, QVL_E_NOMEM, QVL_E_BAD_INPUT
 * (a constraint but no vocab in the config), QVL_E_TOO_LARGE (mem_need over
 * what the budget leaves for requests, with the numbers and what to change). The messages, constraint,
 * tools (and load_ctx, with load_free) are released on failure too. */
sched_job *sched_submit(scheduler *s, sched_request *req, qvl_error *err);

typedef enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE } sched_state;

typedef struct sched_poll {
    sched_state state;
    int queue_pos;          /* 1 = next to run; valid when queued */
    char *text;             /* malloc'd text produced since the last poll, or NULL */
    size_t text_len;
    /* The latest progress of the image encoding or the prompt (base/progress.h),
     * when it changed since the last poll; else progress_stage is NULL. */
    const char *progress_stage;     /* "image", "prompt": a literal */
    int progress_done, progress_total;
    /* When done: */
    bool failed;            /* err is set; the result is empty */
    bool timed_out;         /* stopped by the time limit (the result may hold partial text) */
    qvl_error err;
    const gen_result *result;   /* owned by the job; valid until released */
    int n_images;
    double image_ms;        /* image decode + encode time */
    const char *route;      /* "ocr", "vlm", "ocr+vlm": what produced the answer (when done) */
    bool ocr_fell_back;     /* OCR confidence too low: the model answered */
    const json_t *ocr;      /* when OCR ran: the reading, per line (answer_result.ocr); owned by the job */
    double ocr_ms;
    double queue_ms;        /* submission to start */
    double first_text_ms;   /* submission to the first text; < 0 if none */
} sched_poll;

/* Waits up to wait_ms for news (text, progress, a state change) and reports the job's
 * state. Enforces the time limit: past it the job is cancelled and, once
 * stopped, reported as failed with SRV_E_TIMEOUT if it produced no text.
 * Cannot fail. */
void sched_job_poll(sched_job *j, int wait_ms, sched_poll *out);

/* Requests cancellation (client gone). A queued job is dropped at once; a
 * running one stops within one step (see above) and frees its slot.
 * Cannot fail. */
void sched_job_cancel(sched_job *j);

/* Drops the submitter's reference. NULL is fine. */
void sched_job_release(sched_job *j);

/* Jobs waiting, and slots busy, right now. */
void sched_stats(scheduler *s, int *queued, int *running, int *slots);

/* What the busy slots are doing right now: phase[SCHED_PHASE_*] counts
 * them. Starting covers the time before the first progress report (an
 * image's decoding, the prompt's tokenizing); image is the vision
 * encoder's work, prompt the prompt's reading, answer from the first text
 * on. Lets /metrics show where a request is (and a test wait for it). */
enum { SCHED_PHASE_STARTING, SCHED_PHASE_IMAGE, SCHED_PHASE_PROMPT, SCHED_PHASE_ANSWER, SCHED_N_PHASES };
void sched_phases(scheduler *s, int phase[SCHED_N_PHASES]);

/* Jobs stopped because their submitter cancelled them (sched_job_cancel:
 * the client went away), queued or running, since the start; a job that
 * finished before the cancel, or was stopped by its deadline or shutdown,
 * is not counted. */
long sched_cancelled(scheduler *s);

#endif
