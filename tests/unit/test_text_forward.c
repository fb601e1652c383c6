/* test_text_forward.c - the threaded forward pass against the plain
 * reference (text_forward_ref) on the tiny model, for what the golden text
 * cases do not cover: image tokens with DeepStack additions, 2-D M-RoPE
 * positions, prompts long enough for the prompt attention kernel and decode
 * steps after them, on pools of 1, 2 and 3 threads (3 on a 2-core machine:
 * shares taken over by whichever thread is free). Quantized weights as
 * stored, where the fast path promises the reference's bits: logits must be
 * identical; packed (weight_pack.h), where float rounding differs: logits
 * within 1e-3 of the reference and identical for every thread count.
 * The decode steps attend over every cached key and value, so their logits
 * check what the prompt left in the cache as well. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tiny_model.h"
#include "load/model_load.h"

#define N_PROMPT 13
#define N_IMG 6
#define N_STEPS 3

typedef struct prompt {
    int32_t ids[N_PROMPT + N_STEPS], pos[(N_PROMPT + N_STEPS) * 3];
    float *img;
} prompt;

/* Text, then a 2 x 3 grid of image tokens at 2-D positions, then text. */
static void make_prompt(const qvl_model *m, prompt *p) {
    int img_w = m->cfg.text.hidden_size * (1 + m->text.n_deepstack);
    for (int i = 0; i < N_PROMPT + N_STEPS; i++) p->ids[i] = (int32_t)((i * 53 + 7) % 800);
    text_positions_1d(p->pos, N_PROMPT + N_STEPS, 0);
    p->img = malloc((size_t)N_IMG * img_w * sizeof *p->img);
    for (int i = 0; i < N_IMG * img_w; i++) p->img[i] = (float)((i * 104729) % 3001 - 1500) / 1500.0f;
    for (int i = 0; i < N_IMG; i++) {
        int at = 2 + i;
        p->ids[at] = m->cfg.image_token_id;
        p->pos[3 * at] = 2;
        p->pos[3 * at + 1] = 2 + i / 3;
        p->pos[3 * at + 2] = 2 + i % 3;
    }
    for (int at = 2 + N_IMG; at < N_PROMPT + N_STEPS; at++)
        p->pos[3 * at] = p->pos[3 * at + 1] = p->pos[3 * at + 2] = at - N_IMG + 3;
}

/* seen: NULL for exact models; for packed ones (N_STEPS + 1) x vocab logits,
 * filled by the first call and compared with by the others. */
static void compare(const qvl_model *m, int threads, const char *what, float *seen, bool first) {
    int vocab = m->cfg.text.vocab_size;
    prompt p;
    make_prompt(m, &p);
    threadpool *tp = threadpool_create(threads);
    kv_cache fast, ref;
    qvl_error err = {0};
    float *lf = malloc((size_t)vocab * sizeof *lf), *lr = malloc((size_t)vocab * sizeof *lr);
    CHECK(kv_cache_init(&fast, &m->cfg.text, 32, &err) == 0 && kv_cache_init(&ref, &m->cfg.text, 32, &err) == 0);
    text_batch b = {N_PROMPT, p.ids, p.pos, p.img, N_IMG, m->cfg.image_token_id};
    for (int step = 0; step <= N_STEPS; step++) {
        if (step > 0) b = (text_batch){1, p.ids + N_PROMPT + step - 1, p.pos + 3 * (N_PROMPT + step - 1), NULL, 0,
                                       m->cfg.image_token_id};
        CHECK_MSG(text_forward(&m->text, &fast, &b, lf, tp, &err) == 0, "%s: %s", what, err.msg);
        CHECK_MSG(text_forward_ref(&m->text, &ref, &b, lr, &err) == 0, "%s: %s", what, err.msg);
        int differ = 0, moved = 0;
        float *keep = seen ? seen + (size_t)step * vocab : NULL;
        for (int i = 0; i < vocab; i++) {
            differ += seen ? fabsf(lf[i] - lr[i]) > 1e-3f : lf[i] != lr[i];
            if (keep && !first) moved += memcmp(&keep[i], &lf[i], sizeof *lf) != 0;
        }
        if (keep && first) memcpy(keep, lf, (size_t)vocab * sizeof *lf);
        CHECK_MSG(differ == 0, "%s, %d threads, %s: %d of %d logits differ from the reference", what, threads,
                  step ? "decode step" : "prompt", differ, vocab);
        CHECK_MSG(moved == 0, "%s, %d threads, %s: %d logits differ from 1 thread's", what, threads,
                  step ? "decode step" : "prompt", moved);
    }
    kv_cache_free(&fast), kv_cache_free(&ref);
    free(lf), free(lr), free(p.img);
    threadpool_free(tp);
}

int main(void) {
    char dir[64];
    qvl_error err = {0};
    tiny_model_make(dir, sizeof dir, "fwd");
    const char *quants[] = {"q8_0", "q4_k"};
    for (int q = 0; q < 2; q++)
        for (int packed = 0; packed < 2; packed++) {
            model_load_opts o = {.quant = quants[q], .threads = 1, .no_pack = !packed};
            qvl_model *m = model_load(dir, &o, &err);
            CHECK_MSG(m != NULL, "%s: %s", quants[q], err.msg);
            if (!m) continue;
            CHECK(m->text.n_deepstack > 0);   /* the image tokens exercise DeepStack */
            char what[64];
            snprintf(what, sizeof what, "%s%s", quants[q], packed ? " packed" : "");
            float *seen = packed ? malloc((size_t)(N_STEPS + 1) * m->cfg.text.vocab_size * sizeof *seen) : NULL;
            for (int threads = 1; threads <= 3; threads++) compare(m, threads, what, seen, threads == 1);
            free(seen);
            model_free(m);
        }
    tiny_model_remove(dir);
    return check_summary();
}
