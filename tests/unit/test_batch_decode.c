/* test_batch_decode.c - text_forward_multi against separate text_forward
 * calls on the tiny model: logits and KV caches bit-identical for sequences
 * of different lengths, one with image features (DeepStack included), then
 * one decode step each; a sequence without logits; errors leave every cache
 * untouched. Quantized weights for prompts and steps, bf16 for steps (below
 * matmul's sgemm threshold, where float results are per token too). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tiny_model.h"
#include "load/model_load.h"

#define NSEQ 3

typedef struct seq {
    int n;
    int32_t ids[16], pos[16 * 3];
    float *img;                /* (n_img, d * (1 + n_deepstack)) or NULL */
    int n_img;
} seq;

/* Three prompts: 7 text tokens; 12 tokens of which 4 are image tokens with
 * 2-D positions; 2 text tokens. */
static void make_seqs(const qvl_model *m, seq *s) {
    int img_w = m->cfg.text.hidden_size * (1 + m->text.n_deepstack), lens[NSEQ] = {7, 12, 2};
    for (int k = 0; k < NSEQ; k++) {
        memset(&s[k], 0, sizeof s[k]);
        s[k].n = lens[k];
        for (int i = 0; i < s[k].n; i++) s[k].ids[i] = (int32_t)((i * 37 + k * 101 + 11) % 900);
        text_positions_1d(s[k].pos, s[k].n, 0);
    }
    seq *v = &s[1];
    v->n_img = 4;
    v->img = malloc((size_t)v->n_img * img_w * sizeof *v->img);
    for (int i = 0; i < v->n_img * img_w; i++) v->img[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f;
    for (int i = 0; i < v->n_img; i++) {
        int at = 3 + i;
        v->ids[at] = m->cfg.image_token_id;
        v->pos[3 * at] = 3;
        v->pos[3 * at + 1] = 3 + i / 2;
        v->pos[3 * at + 2] = 3 + i % 2;
    }
    for (int at = 3 + v->n_img; at < v->n; at++) v->pos[3 * at] = v->pos[3 * at + 1] = v->pos[3 * at + 2] = at - 1;
}

static text_batch batch_of(const qvl_model *m, const seq *s, int from, int n) {
    int img_w = m->cfg.text.hidden_size * (1 + m->text.n_deepstack), before = 0;
    for (int i = 0; i < from; i++) before += s->img && s->ids[i] == m->cfg.image_token_id;
    int in = 0;
    for (int i = from; i < from + n; i++) in += s->img && s->ids[i] == m->cfg.image_token_id;
    text_batch b = {n, s->ids + from, s->pos + 3 * from, in ? s->img + (size_t)before * img_w : NULL, in,
                    m->cfg.image_token_id};
    return b;
}

static bool same_cache(const kv_cache *a, const kv_cache *b) {
    if (a->n != b->n) return false;
    for (int l = 0; l < a->n_layers; l++) {
        size_t off = (size_t)l * a->n_ctx * a->kv_dim, len = (size_t)a->n * a->kv_dim * sizeof(float);
        if (memcmp(a->k + off, b->k + off, len) || memcmp(a->v + off, b->v + off, len)) return false;
    }
    return true;
}

/* Runs the sequences alone and together; with_prompt = false starts both
 * from the same prefilled caches and only compares one decode step. */
static void compare(const qvl_model *m, threadpool *tp, bool with_prompt, const char *what) {
    int vocab = m->cfg.text.vocab_size;
    seq s[NSEQ];
    make_seqs(m, s);
    kv_cache alone[NSEQ], multi[NSEQ];
    float *la[NSEQ], *lm[NSEQ];
    qvl_error err = {0};
    for (int k = 0; k < NSEQ; k++) {
        CHECK(kv_cache_init(&alone[k], &m->cfg.text, 64, &err) == 0);
        CHECK(kv_cache_init(&multi[k], &m->cfg.text, 64, &err) == 0);
        la[k] = malloc((size_t)vocab * sizeof(float));
        lm[k] = malloc((size_t)vocab * sizeof(float));
    }
    /* The prompts: alone, then (when compared) all together. */
    for (int k = 0; k < NSEQ; k++) {
        text_batch b = batch_of(m, &s[k], 0, s[k].n);
        CHECK_MSG(text_forward(&m->text, &alone[k], &b, la[k], tp, &err) == 0, "%s", err.msg);
        if (!with_prompt) CHECK(text_forward(&m->text, &multi[k], &b, NULL, tp, &err) == 0);
    }
    kv_cache *kvs[NSEQ] = {&multi[0], &multi[1], &multi[2]};
    if (with_prompt) {
        text_batch bs[NSEQ];
        for (int k = 0; k < NSEQ; k++) bs[k] = batch_of(m, &s[k], 0, s[k].n);
        CHECK_MSG(text_forward_multi(&m->text, kvs, bs, NSEQ, lm, tp, &err) == 0, "%s", err.msg);
        for (int k = 0; k < NSEQ; k++) {
            CHECK_MSG(!memcmp(la[k], lm[k], (size_t)vocab * sizeof(float)), "%s: prompt %d logits differ", what, k);
            CHECK_MSG(same_cache(&alone[k], &multi[k]), "%s: prompt %d cache differs", what, k);
        }
    }
    /* One decode step each, the middle one without logits. */
    int32_t next[NSEQ], npos[NSEQ][3];
    text_batch steps[NSEQ];
    float *want[NSEQ] = {lm[0], NULL, lm[2]};
    for (int k = 0; k < NSEQ; k++) {
        next[k] = (int32_t)(k * 13 + 5);
        text_positions_1d(npos[k], 1, s[k].pos[3 * (s[k].n - 1)] + 1);
        steps[k] = (text_batch){1, &next[k], npos[k], NULL, 0, m->cfg.image_token_id};
        CHECK(text_forward(&m->text, &alone[k], &steps[k], la[k], tp, &err) == 0);
    }
    CHECK_MSG(text_forward_multi(&m->text, kvs, steps, NSEQ, want, tp, &err) == 0, "%s", err.msg);
    for (int k = 0; k < NSEQ; k++) {
        if (want[k]) CHECK_MSG(!memcmp(la[k], lm[k], (size_t)vocab * sizeof(float)), "%s: step %d logits differ", what, k);
        CHECK_MSG(same_cache(&alone[k], &multi[k]), "%s: step %d cache differs", what, k);
    }
    /* Errors name the sequence and append nothing anywhere. */
    int32_t bad = vocab + 5;
    steps[1].ids = &bad;
    CHECK(text_forward_multi(&m->text, kvs, steps, NSEQ, want, tp, &err) == -1);
    CHECK_MSG(strstr(err.msg, "sequence 2 of 3") && strstr(err.msg, "out of range"), "%s", err.msg);
    steps[1].ids = &next[1];
    kv_cache *twice[NSEQ] = {&multi[0], &multi[1], &multi[0]};
    CHECK(text_forward_multi(&m->text, twice, steps, NSEQ, NULL, tp, &err) == -1);
    CHECK_MSG(strstr(err.msg, "share one KV cache"), "%s", err.msg);
    CHECK(text_forward_multi(&m->text, kvs, steps, 0, NULL, tp, &err) == -1);
    for (int k = 0; k < NSEQ; k++) CHECK_MSG(same_cache(&alone[k], &multi[k]), "%s: a failed call changed cache %d", what, k);

    for (int k = 0; k < NSEQ; k++) {
        kv_cache_free(&alone[k]), kv_cache_free(&multi[k]);
        free(la[k]), free(lm[k]), free(s[k].img);
    }
}

int main(void) {
    char dir[64];
    qvl_error err = {0};
    tiny_model_make(dir, sizeof dir, "batch");
    threadpool *tp = threadpool_create(2);
    const char *quants[] = {"q8_0", "q4_k", "bf16"};
    for (int q = 0; q < 3; q++) {
        model_load_opts o = {.quant = quants[q], .threads = 1};
        qvl_model *m = model_load(dir, &o, &err);
        CHECK_MSG(m != NULL, "%s: %s", quants[q], err.msg);
        if (!m) continue;
        CHECK(m->text.n_deepstack > 0);   /* the image sequence exercises DeepStack */
        bool quantized = strcmp(quants[q], "bf16") != 0;
        if (quantized) compare(m, tp, true, quants[q]);
        compare(m, tp, false, quants[q]);
        model_free(m);
    }
    threadpool_free(tp);
    tiny_model_remove(dir);
    return check_summary();
}
