/* metrics.h - the server's counters and histograms, rendered as Prometheus
 * text for GET /metrics.
 *
 * Thread-safe (one mutex; every update is a few additions). Memory: the
 * metrics object is owned by the server; metrics_render returns a malloc'd
 * string the caller frees.
 */
#ifndef QVL_METRICS_H
#define QVL_METRICS_H

#include "service/scheduler.h"

typedef struct metrics metrics;
struct mem_budget;

/* Returns NULL when out of memory. */
metrics *metrics_new(void);
void metrics_free(metrics *m);

/* One HTTP response sent with this status. Cannot fail. */
void metrics_count_response(metrics *m, int status);

/* One finished generation: token counts and times in milliseconds
 * (first_token_ms < 0 when no text came out, image_ms 0 without images).
 * Cannot fail. */
void metrics_observe_generation(metrics *m, int prompt_tokens, int gen_tokens, double total_ms, double first_token_ms,
                                double queue_ms, int n_images, double image_ms);

/* The gauges read at the time of a /metrics request. */
typedef struct metrics_now {
    int queued, running, slots;          /* the scheduler's (sched_stats) */
    int phase[SCHED_N_PHASES];           /* busy slots by phase (sched_phases) */
    long cancelled;                      /* jobs stopped for their client (sched_cancelled) */
    long conns_cut;                      /* connections cut for slow headers or bodies */
    int conns_open;                      /* open client connections (-1 = unknown) */
    int in_flight;                       /* requests received and not yet completely answered */
    int conversations;                   /* simple-API conversations kept (conv_store_usage) */
    size_t conversation_bytes;           /* and the bytes they hold */
} metrics_now;

/* From now on the rendering includes the memory budget's gauges
 * (qvl_memory_budget_bytes, _base_bytes, _reserved_bytes, qvl_memory_waits_total). The budget must
 * outlive m. Cannot fail. */
void metrics_watch_budget(metrics *m, struct mem_budget *b);

/* Prometheus text exposition, with the gauges of now, the process memory
 * and the budget's. Returns NULL when out of memory. */
char *metrics_render(metrics *m, const metrics_now *now);

#endif
