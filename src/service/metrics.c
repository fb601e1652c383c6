/* metrics.c - see metrics.h. */
#include "service/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem_budget.h"

/* Upper bounds in seconds, shared by every histogram: from a fast first
 * token on a small model to a long answer on a slow machine. */
static const double bucket_s[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
enum { N_BUCKETS = sizeof bucket_s / sizeof bucket_s[0] };

typedef struct histogram {
    unsigned long counts[N_BUCKETS + 1];   /* last: +Inf only */
    double sum_s;
    unsigned long n;
} histogram;

struct metrics {
    pthread_mutex_t mu;
    unsigned long by_class[6];             /* responses by status / 100 (1xx..5xx) */
    unsigned long generations, prompt_tokens, gen_tokens, images;
    histogram latency, first_token, queue_wait, image_encode;
    mem_budget *budget;                    /* rendered when set */
};

metrics *metrics_new(void) {
    metrics *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->mu, NULL);
    return m;
}

void metrics_free(metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_count_response(metrics *m, int status) {
    int c = status / 100;
    if (c < 1 || c > 5) c = 5;
    pthread_mutex_lock(&m->mu);
    m->by_class[c]++;
    pthread_mutex_unlock(&m->mu);
}

static void observe(histogram *h, double ms) {
    double s = ms / 1e3;
    int i = 0;
    while (i < N_BUCKETS && s > bucket_s[i]) i++;
    h->counts[i]++;
    h->sum_s += s;
    h->n++;
}

void metrics_observe_generation(metrics *m, int prompt_tokens, int gen_tokens, double total_ms, double first_token_ms,
                                double queue_ms, int n_images, double image_ms) {
    pthread_mutex_lock(&m->mu);
    m->generations++;
    m->prompt_tokens += (unsigned long)(prompt_tokens > 0 ? prompt_tokens : 0);
    m->gen_tokens += (unsigned long)(gen_tokens > 0 ? gen_tokens : 0);
    observe(&m->latency, total_ms);
    observe(&m->queue_wait, queue_ms);
    if (first_token_ms >= 0) observe(&m->first_token, first_token_ms);
    if (n_images > 0) {
        m->images += (unsigned long)n_images;
        observe(&m->image_encode, image_ms);
    }
    pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->failed = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

static void render_histogram(strbuf *b, const char *name, const char *help, const histogram *h) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long cum = 0;
    for (int i = 0; i < N_BUCKETS; i++) {
        cum += h->counts[i];
        sb_printf(b, "%s_bucket{le=\"%g\"} %lu\n", name, bucket_s[i], cum);
    }
    sb_printf(b, "%s_bucket{le=\"+Inf\"} %lu\n%s_sum %.6f\n%s_count %lu\n", name, h->n, name, h->sum_s, name, h->n);
}

static void render_counter(strbuf *b, const char *name, const char *help, unsigned long v) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n", name, help, name, name, v);
}

static void render_gauge(strbuf *b, const char *name, const char *help, double v) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.0f\n", name, help, name, name, v);
}

void metrics_watch_budget(metrics *m, struct mem_budget *b) {
    pthread_mutex_lock(&m->mu);
    m->budget = b;
    pthread_mutex_unlock(&m->mu);
}

char *metrics_render(metrics *m, const metrics_now *now) {
    strbuf b = {0};
    pthread_mutex_lock(&m->mu);
    sb_printf(&b, "# HELP qvl_http_responses_total HTTP responses sent, by status class.\n"
                  "# TYPE qvl_http_responses_total counter\n");
    for (int c = 1; c <= 5; c++) sb_printf(&b, "qvl_http_responses_total{class=\"%dxx\"} %lu\n", c, m->by_class[c]);
    render_counter(&b, "qvl_generations_total", "Generations finished (any outcome).", m->generations);
    render_counter(&b, "qvl_prompt_tokens_total", "Prompt tokens processed.", m->prompt_tokens);
    render_counter(&b, "qvl_generated_tokens_total", "Tokens generated.", m->gen_tokens);
    render_counter(&b, "qvl_images_total", "Images encoded.", m->images);
    render_histogram(&b, "qvl_request_duration_seconds", "Submission to the end of a generation.", &m->latency);
    render_histogram(&b, "qvl_time_to_first_token_seconds", "Submission to the first streamed text.", &m->first_token);
    render_histogram(&b, "qvl_queue_wait_seconds", "Time waiting for an inference slot.", &m->queue_wait);
    render_histogram(&b, "qvl_image_encode_seconds", "Image decode, preprocess and vision encoding per request.",
                     &m->image_encode);
    mem_budget *budget = m->budget;
    pthread_mutex_unlock(&m->mu);
    render_gauge(&b, "qvl_queue_length", "Requests waiting for a slot.", now->queued);
    render_gauge(&b, "qvl_slots_busy", "Inference slots running a request.", now->running);
    sb_printf(&b, "# HELP qvl_slots_phase Busy slots by what they are doing.\n# TYPE qvl_slots_phase gauge\n");
    static const char *const phases[SCHED_N_PHASES] = {"starting", "image", "prompt", "answer"};
    for (int i = 0; i < SCHED_N_PHASES; i++)
        sb_printf(&b, "qvl_slots_phase{phase=\"%s\"} %d\n", phases[i], now->phase[i]);
    render_gauge(&b, "qvl_slots_total", "Inference slots.", now->slots);
    render_counter(&b, "qvl_requests_cancelled_total",
                   "Requests stopped because their client went away (queued or running).",
                   (unsigned long)now->cancelled);
    render_counter(&b, "qvl_connections_cut_total",
                   "Connections closed because a request's headers or body arrived too slowly.",
                   (unsigned long)now->conns_cut);
    /* a client that went away must bring both back down: nothing leaks with it */
    render_gauge(&b, "qvl_connections", "Open client connections (this /metrics request's included).",
                 now->conns_open);
    render_gauge(&b, "qvl_requests_in_flight", "Requests received and not yet completely answered.", now->in_flight);
    render_gauge(&b, "qvl_resident_memory_bytes", "Resident set size of the server process.",
                 (double)mem_rss_bytes());
    render_gauge(&b, "qvl_conversations", "Simple-API conversations kept for follow-ups.", now->conversations);
    render_gauge(&b, "qvl_conversation_bytes", "Bytes those conversations hold (their images as base64).",
                 (double)now->conversation_bytes);
    if (budget) {
        render_gauge(&b, "qvl_memory_budget_bytes", "The memory budget (--max-memory).",
                     (double)mem_budget_limit(budget));
        render_gauge(&b, "qvl_memory_base_bytes", "Memory held whatever the requests: model, KV caches, caches.",
                     (double)mem_budget_base(budget));
        render_gauge(&b, "qvl_memory_reserved_bytes", "Memory reserved by running requests.",
                     (double)mem_budget_reserved(budget));
        render_counter(&b, "qvl_memory_waits_total", "Requests that waited in the queue for memory.",
                       (unsigned long)mem_budget_waits(budget));
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
