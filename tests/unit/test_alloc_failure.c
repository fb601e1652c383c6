/* test_alloc_failure.c - every allocation on a request path may fail: the
 * operation then returns an error (or, where it has a fallback, the same
 * result as without the failure), never crashes, and frees everything it
 * took (run under ASan, whose leak check fails the program).
 *
 * Each sweep runs an operation once to count its allocations, then again
 * with the 1st, 2nd, 3rd ... failing (fail_alloc.h), until a run no longer
 * reaches the armed allocation. A path whose runs would not fit its budget
 * (model loading: each run parses the tokenizer and quantizes the weights)
 * is sampled: the first allocation of every call site, plus every k-th;
 * the output says so.
 *
 * Sweeps: (a) a chat request with an image, through answer_run (chat
 * template, image decode and preprocessing, the vision tower, the generation
 * loop), on a fresh session each time, inline and through a decoder pool;
 * (b) decoding a JPEG (with EXIF rotation), PNG, WebP and BMP from memory,
 * then preprocessing it; (c) model_load of the tiny model's directory and
 * of the shared test GGUF + mmproj.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>
#include <webp/encode.h>

#include "answer/answer.h"
#include "base/clock.h"
#include "check.h"
#include "fail_alloc.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "image_files.h"
#include "load/model_load.h"
#include "tiny_model.h"

/* In the ASan build: reports leaks so far without ending the program. */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

typedef int (*op_fn)(void *ctx, qvl_error *err);

/* A sweep's operation: run does the work and frees what it made; same
 * compares a successful run's result with the one of the run without
 * failures (NULL: nothing to compare). */
typedef struct op {
    const char *name;
    op_fn run;
    bool (*same)(void *ctx);
    void *ctx;
    long max_runs;   /* budget of failing runs: more failure points are sampled */
} op;

typedef struct tally {
    long tested, errors, absorbed;
} tally;

/* Runs o with allocation n failing. Returns false when the run did not get
 * that far (it needed fewer allocations). */
static bool fail_once(const op *o, long n, tally *t) {
    qvl_error err = {0};
    fail_alloc_arm(n);
    int rc = o->run(o->ctx, &err);
    fail_alloc_disarm();
    if (!fail_alloc_fired()) return false;
    t->tested++;
    if (rc != 0) {
        t->errors++;
        CHECK_MSG(err.msg[0] != 0, "%s, allocation %ld failing: an error without a message", o->name, n);
    } else {
        t->absorbed++;
        CHECK_MSG(!o->same || o->same(o->ctx), "%s, allocation %ld failing: succeeded with another result", o->name,
                  n);
    }
    return true;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

/* Fails the allocations of o one at a time: all of them while they fit
 * o->max_runs, else the first allocation of every call site plus every
 * k-th, k chosen to stay within the budget. */
static void sweep(const op *o) {
    qvl_error err = {0};
    double t0 = clock_ms();
    fail_alloc_disarm();
    int rc = o->run(o->ctx, &err);
    long total = fail_alloc_count(), first[1024];
    long n_sites = fail_alloc_sites(first, 1024);
    CHECK_MSG(rc == 0, "%s without failures: %s", o->name, err.msg);
    if (rc != 0) return;
    tally t = {0};
    long stride = 1;
    if (total <= o->max_runs) {
        for (long n = 1; fail_once(o, n, &t); n++) continue;
    } else {
        long n_first = n_sites < 1024 ? n_sites : 1024, room = o->max_runs - n_first;
        stride = room > 0 ? (total + room - 1) / room : 0;
        long *pts = malloc((size_t)(n_first + (stride ? total / stride : 0) + 1) * sizeof *pts), n_pts = 0;
        if (!pts) {
            CHECK_MSG(0, "%s: out of memory in the test", o->name);
            return;
        }
        for (long i = 0; i < n_first; i++) pts[n_pts++] = first[i];
        for (long n = 1; stride && n <= total; n += stride) pts[n_pts++] = n;
        qsort(pts, (size_t)n_pts, sizeof *pts, cmp_long);
        for (long i = 0; i < n_pts; i++)
            if (i == 0 || pts[i] != pts[i - 1]) fail_once(o, pts[i], &t);
        free(pts);
    }
    if (__lsan_do_recoverable_leak_check) CHECK_MSG(__lsan_do_recoverable_leak_check() == 0, "%s leaks", o->name);
    printf("%-32s %4ld allocations from %3ld sites, %4ld failure points tested", o->name, total, n_sites, t.tested);
    if (stride != 1) printf(" (each site's first%s", stride ? "" : ")");
    if (stride > 1) printf(" + every %ld-th)", stride);
    printf(": %ld errors, %ld absorbed by a fallback (%.1f s)\n", t.errors, t.absorbed, (clock_ms() - t0) / 1e3);
    fflush(stdout);
}

/* ---- (a) a chat request ----------------------------------------------- */

typedef struct image_bytes {
    uint8_t *data;
    size_t len;
} image_bytes;

typedef struct chat_ctx {
    const qvl_model *m;
    threadpool *tp;
    decoder_pool *pool;          /* NULL: the session runs its passes on tp */
    long pixels;                 /* the image's size for the vision encoder */
    json_t *messages;
    image_bytes png;
    char *want;                  /* the answer without failures */
    char *got;
} chat_ctx;

static int load_png(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    const image_bytes *b = ctx;
    return image_decode(b->data, b->len, NULL, out, err);
}

static int chat_run(void *p, qvl_error *err) {
    chat_ctx *c = p;
    gen_session s;
    if (gen_session_init(&s, c->m, 256, err) != 0) return -1;
    s.pool = c->pool;
    answer_worker w = {.model = c->m, .tp = c->tp, .session = &s};
    answer_request rq = {.messages = c->messages, .mode = OCR_MODE_AUTO, .gen = gen_params_defaults(c->m)};
    rq.chat = (chat_opts){.add_generation_prompt = true, .min_pixels = c->pixels, .max_pixels = c->pixels,
                          .load_image = load_png, .load_ctx = &c->png};
    rq.gen.max_tokens = 3;
    rq.gen.sampling.temperature = 0;
    answer_result r;
    int rc = answer_run(&w, &rq, &r, err);
    free(c->got);
    c->got = NULL;
    if (rc == 0) {
        c->got = strdup(r.gen.text);
        if (!c->got) rc = qvl_fail(err, "out of memory in the test");
    }
    answer_result_free(&r);
    gen_session_free(&s);
    return rc;
}

static bool chat_same(void *p) {
    chat_ctx *c = p;
    return c->got && c->want && !strcmp(c->got, c->want);
}

/* Sweeps a chat request once a run without failures has given the answer
 * to expect. */
static void chat_sweep(const op *o, chat_ctx *c) {
    qvl_error err = {0};
    free(c->want);
    c->want = NULL;
    int rc = chat_run(c, &err);
    CHECK_MSG(rc == 0, "%s: %s", o->name, err.msg);
    if (rc != 0) return;
    c->want = c->got;
    c->got = NULL;
    sweep(o);
}

/* ---- (b) image decoding -------------------------------------------------- */

#define IMG_W 48
#define IMG_H 40

static void test_pixels(uint8_t *px) {
    for (int y = 0; y < IMG_H; y++)
        for (int x = 0; x < IMG_W; x++) {
            uint8_t *p = px + ((size_t)y * IMG_W + x) * 3;
            p[0] = (uint8_t)(x * 5), p[1] = (uint8_t)(y * 6), p[2] = (uint8_t)(x * y);
        }
}

/* An EXIF APP1 payload whose only tag is orientation 6 (rotate 90 CW). */
static const uint8_t exif_rot90[] = {'E', 'x', 'i', 'f', 0, 0, 'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0,
                                     0x12, 1, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0};

static image_bytes jpeg_exif6(const uint8_t *px) {
    image_bytes b = {0};
    b.data = make_jpeg(px, IMG_W, IMG_H, 3, exif_rot90, sizeof exif_rot90, &b.len);
    return b;
}

static image_bytes make_png(const uint8_t *px) {
    png_image im = {.version = PNG_IMAGE_VERSION, .width = IMG_W, .height = IMG_H, .format = PNG_FORMAT_RGB};
    png_alloc_size_t n = 0;
    png_image_write_to_memory(&im, NULL, &n, 0, px, 0, NULL);
    uint8_t *buf = malloc(n);
    if (buf && !png_image_write_to_memory(&im, buf, &n, 0, px, 0, NULL)) n = 0;
    return (image_bytes){buf, n};
}

static image_bytes make_webp(const uint8_t *px) {
    uint8_t *buf = NULL;
    size_t n = WebPEncodeRGB(px, IMG_W, IMG_H, IMG_W * 3, 90, &buf);
    return (image_bytes){buf, n};
}

static void put_le(uint8_t *p, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A 24-bit bottom-up BMP (rows padded to 4 bytes). */
static image_bytes make_bmp(const uint8_t *px) {
    size_t stride = (IMG_W * 3 + 3) & ~(size_t)3, n = 54 + stride * IMG_H;
    uint8_t *b = calloc(n, 1);
    if (!b) return (image_bytes){0};
    b[0] = 'B', b[1] = 'M';
    put_le(b + 2, (uint32_t)n, 4);
    put_le(b + 10, 54, 4);
    put_le(b + 14, 40, 4);
    put_le(b + 18, IMG_W, 4);
    put_le(b + 22, IMG_H, 4);
    put_le(b + 26, 1, 2);
    put_le(b + 28, 24, 2);
    for (int y = 0; y < IMG_H; y++)
        for (int x = 0; x < IMG_W; x++) {
            const uint8_t *s = px + ((size_t)(IMG_H - 1 - y) * IMG_W + x) * 3;
            uint8_t *d = b + 54 + (size_t)y * stride + (size_t)x * 3;
            d[0] = s[2], d[1] = s[1], d[2] = s[0];
        }
    return (image_bytes){b, n};
}

typedef struct decode_ctx {
    image_bytes in;
    int want_w, want_h;
} decode_ctx;

static int decode_run(void *p, qvl_error *err) {
    decode_ctx *c = p;
    image_rgb img;
    if (image_decode(c->in.data, c->in.len, NULL, &img, err) != 0) return -1;
    image_patches pp;
    image_preprocess_opts po = {.min_pixels = 4096, .max_pixels = 16384};
    int rc = img.width == c->want_w && img.height == c->want_h ? image_preprocess(&img, &po, &pp, err)
                                                               : qvl_fail(err, "decoded %dx%d", img.width, img.height);
    if (rc == 0) image_patches_free(&pp);
    image_free(&img);
    return rc;
}

/* ---- (c) model loading --------------------------------------------------- */

typedef struct load_ctx {
    const char *path;
    model_load_opts opts;
    bool uncache;    /* empty opts.cache_dir after each run: every run quantizes and writes the cache */
} load_ctx;

static void empty_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1200];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') snprintf(p, sizeof p, "%s/%s", dir, e->d_name), unlink(p);
    if (d) closedir(d);
}

static int load_run(void *p, qvl_error *err) {
    load_ctx *c = p;
    qvl_model *m = model_load(c->path, &c->opts, err);
    model_free(m);
    if (c->uncache) empty_dir(c->opts.cache_dir);
    return m ? 0 : -1;
}

/* Merge e of tokenizer.json ("a b" or ["a", "b"]) is kept when the vocabulary
 * has both pieces and their concatenation. */
static bool merge_within(const json_t *vocab, const json_t *e) {
    char a[256], b[256], ab[512];
    if (json_is_string(e)) {
        const char *s = json_string_value(e), *sp = strchr(s, ' ');
        if (!sp || (size_t)(sp - s) >= sizeof a) return false;
        snprintf(a, sizeof a, "%.*s", (int)(sp - s), s);
        snprintf(b, sizeof b, "%s", sp + 1);
    } else {
        snprintf(a, sizeof a, "%s", json_string_value(json_array_get(e, 0)));
        snprintf(b, sizeof b, "%s", json_string_value(json_array_get(e, 1)));
    }
    snprintf(ab, sizeof ab, "%s%s", a, b);
    return json_object_get(vocab, a) && json_object_get(vocab, b) && json_object_get(vocab, ab);
}

/* The tiny model in out (cap >= 80) with a tokenizer.json cut to its first
 * 1000 tokens, the merges among them and every added token: loading it goes
 * through the same code as the real one's in a fraction of the time. The
 * other files are symbolic links to dir's. Returns 0 or -1. */
static int make_small_tokenizer_model(const char *dir, char *out, size_t cap) {
    static const char *const files[] = {"config.json", "model.safetensors", "generation_config.json",
                                        "preprocessor_config.json", "tokenizer_config.json"};
    char from[1200], to[1200];
    snprintf(out, cap, "/tmp/qvl-allocfail-small-XXXXXX");
    if (!mkdtemp(out)) return -1;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(from, sizeof from, "%s/%s", dir, files[i]);
        snprintf(to, sizeof to, "%s/%s", out, files[i]);
        if (symlink(from, to) != 0) return -1;
    }
    snprintf(from, sizeof from, "%s/tokenizer.json", dir);
    snprintf(to, sizeof to, "%s/tokenizer.json", out);
    json_t *root = json_load_file(from, 0, NULL), *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    json_t *small = json_object(), *kept = json_array(), *v, *e;
    const char *key;
    size_t i;
    json_object_foreach(vocab, key, v) if (json_integer_value(v) < 1000) json_object_set(small, key, v);
    json_array_foreach(merges, i, e) if (merge_within(small, e)) json_array_append(kept, e);
    json_object_set_new(model, "vocab", small);
    json_object_set_new(model, "merges", kept);
    int rc = root && json_dump_file(root, to, 0) == 0 ? 0 : -1;
    json_decref(root);
    return rc;
}

static void load_sweeps(const char *dir) {
    char small[80], cache[80], gguf[1024], mmproj[1024];
    CHECK(make_small_tokenizer_model(dir, small, sizeof small) == 0);
    snprintf(cache, sizeof cache, "/tmp/qvl-allocfail-cache-XXXXXX");
    CHECK(mkdtemp(cache) != NULL);
    load_ctx hf = {small, {.quant = "q8_0", .threads = 2}, false};
    op o = {"model_load (HF directory, q8_0)", load_run, NULL, &hf, 40};
    sweep(&o);
    /* the first load quantizes and writes the cache, a later one maps it */
    hf.opts.cache_dir = cache;
    hf.uncache = true;
    o.name = "model_load (writing the cache)";
    o.max_runs = 30;
    sweep(&o);
    qvl_error err = {0};
    model_free(model_load(small, &hf.opts, &err));
    hf.uncache = false;
    o.name = "model_load (from the cache)";
    o.max_runs = 45;
    sweep(&o);
    empty_dir(cache);
    rmdir(cache);
    tiny_model_remove(small);

    snprintf(gguf, sizeof gguf, "%s/gguf/tiny-Q8_0.gguf", testdata_dir());
    snprintf(mmproj, sizeof mmproj, "%s/gguf/tiny-mmproj-F16.gguf", testdata_dir());
    load_ctx gg = {gguf, {.mmproj = mmproj, .threads = 2}, false};
    o = (op){"model_load (GGUF + mmproj)", load_run, NULL, &gg, 50};
    sweep(&o);
}

/* ---- main ---------------------------------------------------------------- */

static void chat_sweeps(const char *dir) {
    qvl_error err = {0};
    model_load_opts lo = {.quant = "q8_0", .threads = 1};
    qvl_model *m = model_load(dir, &lo, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) return;
    uint8_t px[IMG_W * IMG_H * 3];
    test_pixels(px);
    chat_ctx c = {.m = m, .tp = threadpool_create(2), .png = make_png(px)};
    c.messages = json_pack("[{s:s, s:s}, {s:s, s:[{s:s}, {s:s, s:s}]}]", "role", "system", "content",
                           "You are a helpful assistant.", "role", "user", "content", "type", "image", "type", "text",
                           "text", "What is in this picture?");
    /* 64 image tokens: the prompt is longer than TEXT_SCRATCH_KEEP_TOKENS,
     * so the prefill takes a block of its own and the decode steps the
     * session's scratch */
    c.pixels = 65536;
    op o = {"chat request (inline)", chat_run, chat_same, &c, 2000};
    chat_sweep(&o, &c);
    /* 4 image tokens: prompt and decode steps in the pool's passes */
    c.pixels = 4096;
    c.pool = decoder_pool_create(&m->text, 2, &err);
    CHECK_MSG(c.pool != NULL, "%s", err.msg);
    o.name = "chat request (decoder pool)";
    if (c.pool) chat_sweep(&o, &c);
    decoder_pool_free(c.pool);
    free(c.want), free(c.got), free(c.png.data);
    json_decref(c.messages);
    threadpool_free(c.tp);
    model_free(m);
}

static void decode_sweeps(void) {
    uint8_t px[IMG_W * IMG_H * 3];
    test_pixels(px);
    struct {
        const char *name;
        image_bytes in;
        int w, h;
    } cases[] = {
        {"decode+preprocess JPEG (EXIF 6)", jpeg_exif6(px), IMG_H, IMG_W},
        {"decode+preprocess PNG", make_png(px), IMG_W, IMG_H},
        {"decode+preprocess WebP", make_webp(px), IMG_W, IMG_H},
        {"decode+preprocess BMP", make_bmp(px), IMG_W, IMG_H},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK_MSG(cases[i].in.len > 0, "cannot encode the %s test image", cases[i].name);
        decode_ctx c = {cases[i].in, cases[i].w, cases[i].h};
        op o = {cases[i].name, decode_run, NULL, &c, 1000};
        if (cases[i].in.len) sweep(&o);
        free(cases[i].in.data);
    }
}

int main(void) {
    char dir[64];
    if (tiny_model_make(dir, sizeof dir, "allocfail") != 0) return check_summary();
    decode_sweeps();
    chat_sweeps(dir);
    load_sweeps(dir);
    tiny_model_remove(dir);
    return check_summary();
}
