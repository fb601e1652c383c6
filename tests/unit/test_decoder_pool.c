/* test_decoder_pool.c - generations sharing a decoder_pool give exactly the
 * answers they give alone: several threads at once with different prompts
 * (one with image features), lengths (so sequences join and leave the batch
 * at different steps), seeds, a stop string and a cancellation from the
 * streaming callback; then follow-ups that reuse each session's prefix. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tiny_model.h"
#include "generate/generate.h"
#include "load/model_load.h"

#define NREQ 5

typedef struct req {
    const qvl_model *m;
    gen_session *sess;
    threadpool *tp;            /* used when sess->pool is NULL */
    int32_t ids[48], pos[48 * 3];
    int n;
    float *img;
    int n_img;
    gen_params p;
    const char *stop[1];
    int cancel_after;          /* pieces before on_text asks to stop; 0 = never */
    int pieces;
    int rc;
    gen_result res;
} req;

static int on_text(void *user, const char *text, size_t len) {
    req *r = user;
    return r->cancel_after && ++r->pieces >= r->cancel_after;
}

static void *run(void *arg) {
    req *r = arg;
    qvl_error err = {0};
    gen_prompt gp = {r->ids, r->n, r->pos, r->n, r->img, r->n_img};
    r->pieces = 0;
    r->rc = generate(r->m, r->sess, &gp, &r->p, r->tp, on_text, r, NULL, &r->res, &err);
    return NULL;
}

static void setup(const qvl_model *m, req *rq, int round) {
    int img_w = m->cfg.text.hidden_size * (1 + m->text.n_deepstack);
    for (int k = 0; k < NREQ; k++) {
        req *r = &rq[k];
        r->m = m;
        r->n = 6 + 5 * k + 4 * round;   /* a follow-up extends the first prompt */
        for (int i = 0; i < r->n; i++) r->ids[i] = (int32_t)((i * 31 + k * 7 + 3) % 800);
        text_positions_1d(r->pos, r->n, 0);
        r->p = gen_params_defaults(m);
        r->p.ignore_eos = true;
        r->p.detect_loops = false;
        r->p.max_tokens = 8 + 9 * k;
        r->p.sampling.temperature = k % 2 ? 0.8f : 0.0f;
        r->p.sampling.seed = 100 + k;
        r->cancel_after = k == 3 ? 4 : 0;
        if (k == 2) {   /* a stop string: the first two bytes the model printed alone */
            r->stop[0] = "";
            r->p.stop = r->stop;
            r->p.n_stop = 1;
        }
    }
    req *v = &rq[1];   /* image tokens 2..4 with features */
    v->n_img = 3;
    v->img = malloc((size_t)v->n_img * img_w * sizeof *v->img);
    for (int i = 0; i < v->n_img * img_w; i++) v->img[i] = (float)((i * 131) % 401 - 200) / 100.0f;
    for (int i = 0; i < v->n_img; i++) v->ids[2 + i] = m->cfg.image_token_id;
}

static void run_all(req *rq, bool concurrent) {
    pthread_t th[NREQ];
    for (int k = 0; k < NREQ; k++) {
        if (concurrent) pthread_create(&th[k], NULL, run, &rq[k]);
        else run(&rq[k]);
    }
    if (concurrent)
        for (int k = 0; k < NREQ; k++) pthread_join(th[k], NULL);
}

int main(void) {
    char dir[64];
    qvl_error err = {0};
    tiny_model_make(dir, sizeof dir, "pool");
    model_load_opts o = {.quant = "q8_0", .threads = 1};
    qvl_model *m = model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) return check_summary();
    threadpool *tp = threadpool_create(2);
    decoder_pool *pool = decoder_pool_create(&m->text, 2, &err);
    CHECK_MSG(pool != NULL, "%s", err.msg);
    gen_session alone_s[NREQ], pooled_s[NREQ];
    for (int k = 0; k < NREQ; k++) {
        CHECK(gen_session_init(&alone_s[k], m, 256, &err) == 0);
        CHECK(gen_session_init(&pooled_s[k], m, 256, &err) == 0);
        pooled_s[k].pool = pool;
    }
    char stop2[3] = {0};
    for (int round = 0; round < 2; round++) {
        req alone[NREQ], pooled[NREQ];
        memset(alone, 0, sizeof alone);
        setup(m, alone, round);
        for (int k = 0; k < NREQ; k++) alone[k].sess = &alone_s[k], alone[k].tp = tp;
        /* The stop string: two bytes from the middle of request 2's text alone
         * without it, so it must cut there. */
        if (round == 0) {
            alone[2].p.n_stop = 0;
            run(&alone[2]);
            CHECK(alone[2].res.text_len > 6);
            memcpy(stop2, alone[2].res.text + alone[2].res.text_len / 2, 2);
            gen_result_free(&alone[2].res);
            alone_s[2].kv.n = 0;   /* as if this never ran */
            alone[2].p.n_stop = 1;
        }
        alone[2].stop[0] = stop2;
        run_all(alone, false);
        memcpy(pooled, alone, sizeof pooled);
        for (int k = 0; k < NREQ; k++) {
            memset(&pooled[k].res, 0, sizeof pooled[k].res);
            pooled[k].sess = &pooled_s[k];
            pooled[k].p.stop = pooled[k].stop;
            pooled[k].tp = NULL;   /* the pool's threads do the work */
        }
        run_all(pooled, true);
        for (int k = 0; k < NREQ; k++) {
            gen_result *a = &alone[k].res, *b = &pooled[k].res;
            CHECK_MSG(alone[k].rc == 0 && pooled[k].rc == 0, "round %d request %d failed", round, k);
            CHECK_MSG(a->finish == b->finish && a->n_generated == b->n_generated && a->n_cached == b->n_cached &&
                          a->text_len == b->text_len && !memcmp(a->text, b->text, a->text_len),
                      "round %d request %d: alone %s %d tokens (%d cached) \"%s\", pooled %s %d (%d) \"%s\"", round,
                      k, finish_reason_name(a->finish), a->n_generated, a->n_cached, a->text,
                      finish_reason_name(b->finish), b->n_generated, b->n_cached, b->text);
            CHECK_MSG(pooled_s[k].kv.n == alone_s[k].kv.n && pooled_s[k].next_pos == alone_s[k].next_pos,
                      "round %d request %d: sessions differ", round, k);
        }
        /* The cases the requests were made for really happened. */
        CHECK_EQ_INT(alone[2].res.finish, FINISH_STOP);
        CHECK_EQ_INT(alone[3].res.finish, FINISH_CANCELLED);
        CHECK_EQ_INT(alone[4].res.finish, FINISH_LENGTH);
        if (round == 1) CHECK(alone[0].res.n_cached > 0 && alone[1].res.n_cached > 0);
        for (int k = 0; k < NREQ; k++) {
            gen_result_free(&alone[k].res), gen_result_free(&pooled[k].res);
            free(alone[k].img);
        }
    }
    /* The steps really were batched: fewer passes than steps. */
    long passes = 0, steps = 0;
    decoder_pool_stats(pool, &passes, &steps);
    CHECK_MSG(passes > 0 && steps >= passes + 5, "%ld steps in %ld passes", steps, passes);
    printf("decode steps %ld in %ld passes\n", steps, passes);
    for (int k = 0; k < NREQ; k++) gen_session_free(&alone_s[k]), gen_session_free(&pooled_s[k]);
    decoder_pool_free(pool);
    threadpool_free(tp);
    model_free(m);
    tiny_model_remove(dir);
    return check_summary();
}
