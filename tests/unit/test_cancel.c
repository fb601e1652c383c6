/* test_cancel.c - long work stops at its next check point once its cancel
 * flag is set (issue 16), on the tiny test model:
 *   1. a 1536x1536 image at the largest detail (9216 patches): the flag set
 *      from the progress report of block 2 stops the encode before block 3
 *      finishes (QVL_E_CANCELLED, no embeddings); a flag set before the call
 *      stops it before the first block; a flag set from another thread
 *      while it runs stops it too;
 *   2. a text prompt of 3000 tokens: the flag set from the report of the
 *      first prefill pass leaves exactly that pass cached (FINISH_CANCELLED,
 *      no text), and the retry that reuses it answers exactly as an
 *      uncancelled run.
 * Counting the work done, not timing it, keeps the checks true on a fast or
 * a loaded machine; how soon a cancel frees a slot is measured by make
 * bench (cancel_ms_encode).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "test_time.h"
#include "tiny_model.h"
#include "generate/generate.h"
#include "load/model_load.h"
#include "model/vision_model.h"

typedef struct canceller {
    atomic_bool *flag;
    int after_ms;
    pthread_t thread;
} canceller;

static void *cancel_main(void *arg) {
    canceller *c = arg;
    sleep_ms(c->after_ms);
    atomic_store(c->flag, true);
    return NULL;
}

static void cancel_later(canceller *c, atomic_bool *flag, int after_ms) {
    c->flag = flag;
    c->after_ms = after_ms;
    atomic_store(flag, false);
    CHECK(pthread_create(&c->thread, NULL, cancel_main, c) == 0);
}

/* ---- 1. vision encode ------------------------------------------------------- */

/* Progress reports of one call, kept in order; the report numbered
 * cancel_at (from 1) sets *flag, as a client leaving at that moment would. */
typedef struct progress_log {
    int n;                     /* reports received (may exceed the kept ones) */
    const char *stage[16];
    int done[16], total[16];
    int cancel_at;             /* 0: never */
    atomic_bool *flag;
} progress_log;

static void log_progress(void *user, const char *stage, int done, int total) {
    progress_log *l = user;
    if (l->n < 16) {
        l->stage[l->n] = stage;
        l->done[l->n] = done;
        l->total[l->n] = total;
    }
    l->n++;
    if (l->n == l->cancel_at) atomic_store(l->flag, true);
}

/* The log holds n reports of stage, report k (from 1) at done = min(k * step, total). */
static void check_progress(const progress_log *l, const char *stage, int n, int step, int total) {
    CHECK_MSG(l->n == n, "%s: %d progress reports, expected %d", stage, l->n, n);
    for (int k = 0; k < l->n && k < n && k < 16; k++) {
        int want = (k + 1) * step < total ? (k + 1) * step : total;
        CHECK_MSG(!strcmp(l->stage[k], stage) && l->done[k] == want && l->total[k] == total,
                  "report %d: %s %d/%d, expected %s %d/%d", k, l->stage[k], l->done[k], l->total[k], stage, want,
                  total);
    }
}

static void vision_cancel_tests(const qvl_model *m, threadpool *tp) {
    enum { SIDE = 1536 };
    image_rgb img = {.width = SIDE, .height = SIDE, .pixels = malloc((size_t)SIDE * SIDE * 3)};
    CHECK(img.pixels != NULL);
    if (!img.pixels) return;
    for (size_t i = 0; i < (size_t)SIDE * SIDE * 3; i++) img.pixels[i] = (uint8_t)(i * 7 + i / (SIDE * 3));
    image_preprocess_opts po = {.max_pixels = IMAGE_HF_MAX_PIXELS};
    int depth = m->vision->cfg.depth;
    vision_image v;
    qvl_error err = {0};
    atomic_bool flag = false;

    progress_log log = {0};
    qvl_progress progress = {log_progress, &log};
    CHECK_MSG(vision_encode_image(m->vision, &img, &po, tp, &flag, &progress, &v, &err) == 0, "%s", err.msg);
    CHECK(v.n_tokens == (SIDE / 32) * (SIDE / 32));
    check_progress(&log, "image", depth, 1, depth);
    vision_image_free(&v);

    CHECK(depth >= 3);
    log = (progress_log){.cancel_at = 2, .flag = &flag};
    int rc = vision_encode_image(m->vision, &img, &po, tp, &flag, &progress, &v, &err);
    CHECK_MSG(rc == -1 && err.code == QVL_E_CANCELLED, "rc %d code %d: %s", rc, err.code, err.msg);
    CHECK(v.embd == NULL && v.n_tokens == 0);
    check_progress(&log, "image", 2, 1, depth);

    log = (progress_log){0};   /* flag still set: not one block runs */
    rc = vision_encode_image(m->vision, &img, &po, tp, &flag, &progress, &v, &err);
    CHECK(rc == -1 && err.code == QVL_E_CANCELLED);
    CHECK_MSG(log.n == 0, "a cancelled-before encode ran %d blocks", log.n);

    /* From another thread, mid-way: whenever the flag lands, no block
     * after it finishes. A thread that lost the race to a fast encode
     * finds nothing to cancel, so the encode may also succeed whole. */
    canceller c;
    log = (progress_log){0};
    cancel_later(&c, &flag, 20);
    rc = vision_encode_image(m->vision, &img, &po, tp, &flag, &progress, &v, &err);
    pthread_join(c.thread, NULL);
    if (rc == 0) {
        CHECK(log.n == depth);
        vision_image_free(&v);
    } else {
        CHECK_MSG(err.code == QVL_E_CANCELLED && log.n < depth, "code %d after %d blocks", err.code, log.n);
    }
    image_free(&img);
}

/* ---- 2. prefill ----------------------------------------------------------- */

enum { PROMPT_N = 3000 };

static void prefill_cancel_tests(const qvl_model *m, threadpool *tp) {
    int32_t *ids = malloc(PROMPT_N * sizeof *ids);
    CHECK(ids != NULL);
    if (!ids) return;
    for (int i = 0; i < PROMPT_N; i++) ids[i] = 1000 + (i * 37) % 5000;
    gen_prompt pr = {.ids = ids, .n = PROMPT_N};
    gen_params gp = gen_params_defaults(m);
    gp.sampling.temperature = 0;
    gp.max_tokens = 8;
    gp.ignore_eos = true;
    gp.detect_loops = false;
    gen_session s;
    qvl_error err = {0};
    atomic_bool flag = false;
    CHECK(gen_session_init(&s, m, 4096, &err) == 0);

    gen_result ref, r;
    progress_log log = {0};
    gp.progress = (qvl_progress){log_progress, &log};
    CHECK_MSG(generate(m, &s, &pr, &gp, tp, NULL, NULL, &flag, &ref, &err) == 0, "%s", err.msg);
    int passes = (PROMPT_N + 511) / 512;
    check_progress(&log, "prompt", passes, 512, PROMPT_N);
    CHECK(ref.finish == FINISH_LENGTH && ref.n_generated == 8);
    gen_session_free(&s);
    CHECK(gen_session_init(&s, m, 4096, &err) == 0);

    log = (progress_log){.cancel_at = 1, .flag = &flag};
    CHECK_MSG(generate(m, &s, &pr, &gp, tp, NULL, NULL, &flag, &r, &err) == 0, "%s", err.msg);
    CHECK(r.finish == FINISH_CANCELLED && r.n_generated == 0 && r.text_len == 0);
    check_progress(&log, "prompt", 1, 512, PROMPT_N);
    CHECK_MSG(s.kv.n == 512, "%d prompt tokens cached after one pass", s.kv.n);
    gen_result_free(&r);
    gp.progress = (qvl_progress){0};

    /* The retry continues from the pass that ran and answers alike. */
    int cached = s.kv.n;
    CHECK(generate(m, &s, &pr, &gp, tp, NULL, NULL, &flag, &r, &err) == 0 && r.finish == FINISH_CANCELLED);
    CHECK(s.kv.n == cached);
    gen_result_free(&r);
    CHECK(generate(m, &s, &pr, &gp, tp, NULL, NULL, NULL, &r, &err) == 0);
    CHECK(r.n_cached == cached && r.finish == FINISH_LENGTH);
    CHECK_MSG(r.text_len == ref.text_len && !memcmp(r.text, ref.text, r.text_len), "retry '%s' vs '%s'", r.text,
              ref.text);
    gen_result_free(&r);
    gen_result_free(&ref);
    gen_session_free(&s);
    free(ids);
}

int main(void) {
    char dir[64];
    qvl_error err = {0};
    if (tiny_model_make(dir, sizeof dir, "cancel") != 0) return check_summary();
    model_load_opts o = {.quant = "q8_0", .threads = 2};
    qvl_model *m = model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    threadpool *tp = threadpool_create(2);
    if (m) vision_cancel_tests(m, tp);
    if (m) prefill_cancel_tests(m, tp);
    threadpool_free(tp);
    model_free(m);
    tiny_model_remove(dir);
    return check_summary();
}
