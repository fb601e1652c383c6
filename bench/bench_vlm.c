/* bench_vlm.c - the image half of the benchmark driver (bench.h):
 *
 *   bench vision MODEL --mmproj P --image IMG [--max-pixels N] ...
 *       the vision encoder alone on one preprocessed image: encode_ms
 *       (median), preprocess_ms, tokens and the patch grid.
 *   bench vlm MODEL --mmproj P --image IMG [--max-pixels N] [--ctx N] ...
 *       time to first token of an image question in a fresh session with an
 *       empty image cache (ttft_ms), then of a follow-up question in the
 *       same session (followup_ttft_ms), both measured from the messages to
 *       the first sampled token, as chat_prompt_build + generate do it for
 *       the server; peak_rss_mb is VmHWM right after the first question (so
 *       it is the high-water mark of a process that answered one image
 *       question), followup_* say whether the follow-up really reused the
 *       image encoding and the KV prefix.
 *
 * The image's bytes are read once up front (a server receives them over
 * the network); decoding them is part of the measured time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "engine/dtype.h"
#include "model/vision_model.h"
#include "generate/chat.h"
#include "generate/image_cache.h"
#include "load/model_load.h"

static const char *question1 = "What is in this picture? Answer in one sentence.";
static const char *question2 = "What colour is the background?";

typedef struct image_bytes {
    uint8_t *data;
    size_t len;
} image_bytes;

static int read_image_bytes(const char *path, image_bytes *b) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench: cannot open %s\n", path);
        return -1;
    }
    b->data = malloc(IMAGE_DEFAULT_MAX_BYTES);
    b->len = b->data ? fread(b->data, 1, IMAGE_DEFAULT_MAX_BYTES, f) : 0;
    fclose(f);
    if (b->len == 0) {
        fprintf(stderr, "bench: %s is empty, unreadable or out of memory\n", path);
        free(b->data);
        return -1;
    }
    return 0;
}

/* chat_load_image_fn: every image part is the benchmark's image. */
static int decode_bench_image(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    const image_bytes *b = ctx;
    return image_decode(b->data, b->len, NULL, out, err);
}

/* Reads the image's bytes into *b, then loads the model with its vision
 * tower. NULL (message printed, nothing left to free) on failure. */
static qvl_model *load_vision_model(const bench_opts *o, image_bytes *b, double *load_s) {
    if (!o->mmproj && !bench_is_dir(o->model)) {
        fprintf(stderr, "bench: a GGUF text model needs --mmproj for images\n");
        return NULL;
    }
    if (read_image_bytes(o->image, b) != 0) return NULL;
    qvl_error err = {0};
    model_load_opts lo = {.mmproj = o->mmproj, .quant = o->quant, .threads = o->threads, .no_pack = o->no_pack,
                          .vision_quant = o->vision_quant};
    double t0 = bench_now_s();
    qvl_model *m = model_load(o->model, &lo, &err);
    if (!m) fprintf(stderr, "bench: %s\n", err.msg);
    else if (!m->vision) fprintf(stderr, "bench: %s has no vision tower\n", o->model);
    if (!m || !m->vision) {
        model_free(m);
        free(b->data);
        return NULL;
    }
    *load_s = bench_now_s() - t0;
    printf("vision_weights %s\n", dtype_get(m->vision->blocks[0].qkv.type)->name);
    return m;
}

int bench_vision(const bench_opts *o) {
    double load_s;
    image_bytes b;
    qvl_model *m = load_vision_model(o, &b, &load_s);
    if (!m) return 1;
    qvl_error err = {0};
    image_rgb img = {0};
    image_patches p = {0};
    image_preprocess_opts po = m->vision->preprocess;
    if (o->max_pixels > 0) po.max_pixels = o->max_pixels;
    threadpool *tp = threadpool_create(o->threads);
    float *out = NULL;
    double t0 = bench_now_s();
    int rc = image_decode(b.data, b.len, NULL, &img, &err);
    if (rc == 0) rc = image_preprocess(&img, &po, &p, &err);
    double pre_s = bench_now_s() - t0;
    if (rc == 0 && !(out = malloc((size_t)p.n_tokens * vision_embd_width(m->vision) * sizeof *out)))
        rc = qvl_fail(&err, "out of memory for %d image tokens", p.n_tokens);
    double v[BENCH_MAX_RUNS], start = bench_now_s();
    int runs = 0;
    while (rc == 0 && !bench_enough(o, runs, start)) {
        double ts = bench_now_s();
        rc = vision_encode(m->vision, &p, tp, NULL, NULL, out, &err);
        v[runs++] = (bench_now_s() - ts) * 1e3;
    }
    if (rc == 0) {
        printf("encode_ms %.1f\nruns %d\n", bench_median(v, runs), runs);
        printf("preprocess_ms %.1f\n", pre_s * 1e3);
        printf("tokens %d\ngrid_h %d\ngrid_w %d\n", p.n_tokens, p.grid_h, p.grid_w);
    } else {
        fprintf(stderr, "bench: vision: %s\n", err.msg);
    }
    free(out);
    image_patches_free(&p);
    image_free(&img);
    free(b.data);
    threadpool_free(tp);
    model_free(m);
    return rc == 0 ? 0 : 1;
}

/* VmHWM of this process in MB (-1 when /proc is unavailable). */
static double peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf", &kb) == 1) break;
    if (f) fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

typedef struct turn_timing {
    double ttft_ms, image_ms;
    int n_prompt, n_cached, n_images_cached, n_image_tokens;
} turn_timing;

/* Builds the prompt of msgs and generates n_tokens in s (1: the time to
 * the first token; more: the end of turn is ignored). The answer's text is
 * appended to msgs as the assistant turn. */
static int ask_turn(const qvl_model *m, gen_session *s, json_t *msgs, chat_opts *co, int n_tokens, turn_timing *t,
                    qvl_error *err) {
    gen_params gp = gen_params_defaults(m);
    gp.sampling.temperature = 0;
    gp.max_tokens = n_tokens;
    gp.ignore_eos = n_tokens > 1;
    chat_prompt cp;
    gen_result res;
    double t0 = bench_now_s();
    if (chat_prompt_build(m, msgs, co, &cp, err) != 0) return -1;
    gen_prompt gpr = chat_prompt_view(&cp);
    t->n_image_tokens = gpr.n_image_rows;
    int rc = generate(m, s, &gpr, &gp, co->tp, NULL, NULL, NULL, &res, err);
    t->ttft_ms = (bench_now_s() - t0) * 1e3;
    t->image_ms = cp.image_ms;
    t->n_images_cached = cp.n_images_cached;
    chat_prompt_free(&cp);
    if (rc != 0) return -1;
    t->n_prompt = res.n_prompt;
    t->n_cached = res.n_cached;
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "assistant", "content", res.text ? res.text : ""));
    gen_result_free(&res);
    return 0;
}

/* One fresh question (answered with n_tokens) and, when t[1] is wanted
 * (two_turns), its follow-up, in a new session with a new cache. */
static int ask_pair(const qvl_model *m, const bench_opts *o, chat_opts *co, int n_tokens, bool two_turns,
                    turn_timing t[2], qvl_error *err) {
    gen_session s;
    if (gen_session_init(&s, m, o->ctx, err) != 0) return -1;
    co->cache = image_cache_new((size_t)256 << 20);
    json_t *msgs = json_pack("[{s:s, s:[{s:s, s:s}, {s:s, s:s}]}]", "role", "user", "content", "type", "image",
                             "image", o->image, "type", "text", "text", question1);
    int rc = co->cache ? ask_turn(m, &s, msgs, co, n_tokens, &t[0], err) : qvl_fail(err, "out of memory");
    if (rc == 0 && two_turns) {
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", question2));
        rc = ask_turn(m, &s, msgs, co, 1, &t[1], err);
    }
    json_decref(msgs);
    image_cache_free(co->cache);
    gen_session_free(&s);
    return rc;
}

int bench_vlm(const bench_opts *o) {
    double load_s;
    image_bytes b;
    qvl_model *m = load_vision_model(o, &b, &load_s);
    if (!m) return 1;
    threadpool *tp = threadpool_create(o->threads);
    chat_opts co = {.add_generation_prompt = true, .max_pixels = o->max_pixels, .load_image = decode_bench_image,
                    .load_ctx = &b, .tp = tp};
    qvl_error err = {0};
    double first[BENCH_MAX_RUNS], follow[BENCH_MAX_RUNS], image[BENCH_MAX_RUNS], rss = -1;
    turn_timing t[2] = {0};
    int rc = 0, image_hits = 0, max_new = 0;
    double start = bench_now_s();
    int runs = 0;
    while (rc == 0 && !bench_enough(o, runs, start)) {
        rc = ask_pair(m, o, &co, 1, true, t, &err);
        if (runs == 0) rss = peak_rss_mb();
        first[runs] = t[0].ttft_ms, follow[runs] = t[1].ttft_ms, image[runs] = t[0].image_ms;
        runs++;
        image_hits += t[1].n_images_cached;
        int fresh = t[1].n_prompt - t[1].n_cached;
        max_new = fresh > max_new ? fresh : max_new;
    }
    if (rc == 0) {
        printf("load_s %.3f\n", load_s);
        printf("runs %d\n", runs);
        printf("ttft_ms %.1f\n", bench_median(first, runs));
        printf("image_ms %.1f\n", bench_median(image, runs));
        printf("prompt_tokens %d\n", t[0].n_prompt);
        printf("image_tokens %d\n", t[0].n_image_tokens);
        printf("followup_ttft_ms %.1f\n", bench_median(follow, runs));
        printf("followup_prompt_tokens %d\n", t[1].n_prompt);
        /* Tokens the follow-up had to compute (worst run): few when the prefix was reused. */
        printf("followup_new_tokens %d\n", max_new);
        printf("followup_image_cache_hits %d\n", image_hits);
        printf("peak_rss_mb %.1f\n", rss);
    }
    if (rc == 0 && o->answer_tokens > 0) {
        turn_timing a[2];
        rc = ask_pair(m, o, &co, o->answer_tokens, false, a, &err);
        if (rc == 0) printf("answer_ms %.1f\nanswer_tokens %d\n", a[0].ttft_ms, o->answer_tokens);
    }
    if (rc != 0) {
        fprintf(stderr, "bench: vlm: %s\n", err.msg);
    }
    free(b.data);
    threadpool_free(tp);
    model_free(m);
    return rc == 0 ? 0 : 1;
}
