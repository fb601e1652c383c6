/* test_cancel.c - long work stops when its cancel flag is set from another
 * thread (issue 16), on the tiny test model:
 *   1. a 1536x1536 image at the largest detail (9216 patches): the
 *      uncancelled encode is timed, then the same encode with the flag set
 *      after 50 ms must fail with QVL_E_CANCELLED in well under that time;
 *      a flag set before the call stops it at once;
 *   2. a text prompt of ~3000 tokens: the same for generate's prefill
 *      (FINISH_CANCELLED, no text); the passes that ran stay cached, and
 *      the retry that reuses them answers exactly as an uncancelled run.
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

/* Progress reports of one call, kept in order. */
typedef struct progress_log {
    int n;                     /* reports received (may exceed the kept ones) */
    const char *stage[16];
    int done[16], total[16];
} progress_log;

static void log_progress(void *user, const char *stage, int done, int total) {
    progress_log *l = user;
    if (l->n < 16) {
        l->stage[l->n] = stage;
        l->done[l->n] = done;
        l->total[l->n] = total;
    }
    l->n++;
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
    vision_image v;
    qvl_error err = {0};

    progress_log log = {0};
    qvl_progress progress = {log_progress, &log};
    double t0 = now_s();
    CHECK_MSG(vision_encode_image(m->vision, &img, &po, tp, NULL, &progress, &v, &err) == 0, "%s", err.msg);
    double full = now_s() - t0;
    CHECK(v.n_tokens == (SIDE / 32) * (SIDE / 32));
    check_progress(&log, "image", m->vision->cfg.depth, 1, m->vision->cfg.depth);
    vision_image_free(&v);

    atomic_bool flag;
    canceller c;
    cancel_later(&c, &flag, 50);
    t0 = now_s();
    int rc = vision_encode_image(m->vision, &img, &po, tp, &flag, NULL, &v, &err);
    double cut = now_s() - t0;
    pthread_join(c.thread, NULL);
    fprintf(stderr, "vision %dx%d: %.0f ms uncancelled, %.0f ms cancelled after 50 ms\n", SIDE, SIDE, full * 1e3,
            cut * 1e3);
    CHECK_MSG(rc == -1 && err.code == QVL_E_CANCELLED, "rc %d code %d: %s", rc, err.code, err.msg);
    CHECK(v.embd == NULL && v.n_tokens == 0);
    CHECK_MSG(full > 0.5, "the uncancelled encode (%.0f ms) is too short to show anything", full * 1e3);
    CHECK_MSG(cut < 0.05 + full / 4, "the cancelled encode took %.0f ms of %.0f", cut * 1e3, full * 1e3);

    atomic_store(&flag, true);   /* set before the call: not one block runs */
    t0 = now_s();
    rc = vision_encode_image(m->vision, &img, &po, tp, &flag, NULL, &v, &err);
    CHECK(rc == -1 && err.code == QVL_E_CANCELLED);
    CHECK_MSG(now_s() - t0 < full / 4, "a cancelled-before encode took %.0f ms", (now_s() - t0) * 1e3);
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
    CHECK(gen_session_init(&s, m, 4096, &err) == 0);

    gen_result ref, r;
    progress_log log = {0};
    gp.progress = (qvl_progress){log_progress, &log};
    double t0 = now_s();
    CHECK_MSG(generate(m, &s, &pr, &gp, tp, NULL, NULL, NULL, &ref, &err) == 0, "%s", err.msg);
    double full = now_s() - t0;
    check_progress(&log, "prompt", (PROMPT_N + 511) / 512, 512, PROMPT_N);
    gp.progress = (qvl_progress){0};
    gen_session_free(&s);
    CHECK(gen_session_init(&s, m, 4096, &err) == 0);

    atomic_bool flag;
    canceller c;
    cancel_later(&c, &flag, 50);
    t0 = now_s();
    CHECK_MSG(generate(m, &s, &pr, &gp, tp, NULL, NULL, &flag, &r, &err) == 0, "%s", err.msg);
    double cut = now_s() - t0;
    pthread_join(c.thread, NULL);
    fprintf(stderr, "prefill %d tokens + 8: %.0f ms uncancelled, %.0f ms cancelled after 50 ms (%d cached)\n",
            PROMPT_N, full * 1e3, cut * 1e3, s.kv.n);
    CHECK(r.finish == FINISH_CANCELLED && r.n_generated == 0 && r.text_len == 0);
    CHECK_MSG(full > 0.3, "the uncancelled prefill (%.0f ms) is too short to show anything", full * 1e3);
    CHECK_MSG(cut < 0.05 + full / 2, "the cancelled prefill took %.0f ms of %.0f", cut * 1e3, full * 1e3);
    CHECK(s.kv.n < PROMPT_N);
    gen_result_free(&r);

    /* The retry continues from the passes that ran and answers alike. */
    int cached = s.kv.n;
    CHECK(generate(m, &s, &pr, &gp, tp, NULL, NULL, &flag, &r, &err) == 0 && r.finish == FINISH_CANCELLED);
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
