/* test_mem_budget.c - the memory budget of --max-memory (issue 19):
 *   1. sizes as text: "6G", "512M", "1.5G", bytes, "off"; bad text refused;
 *   2. the accounting: reserve within limit - base only, a refused
 *      reservation changes nothing, release never goes below 0, and eight
 *      threads reserving and releasing at once never see more reserved than
 *      the room and end at 0;
 *   3. image sizes from headers (image_probe, mem_image_of) without
 *      decoding: the size, the limit, a truncated file;
 *   4. the estimate is an upper bound of the real thing: the resident memory
 *      a 1536x1536 encode at the largest detail adds on the tiny model (peak
 *      RSS, reset before) stays below mem_need's encoder figure, and that
 *      figure is not loose by more than 4x.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "image_files.h"
#include "tiny_model.h"
#include "base/mem_budget.h"
#include "generate/mem_need.h"
#include "load/model_load.h"
#include "model/vision_model.h"

/* ---- 1. sizes ----------------------------------------------------------- */

static void size_tests(void) {
    struct { const char *text; uint64_t bytes; } good[] = {
        {"6G", 6ull << 30}, {"512M", 512ull << 20}, {"1.5G", 3ull << 29}, {"64k", 64ull << 10},
        {"123456", 123456}, {"2GiB", 2ull << 30}, {"100MB", 100ull << 20}, {"off", 0}, {"0", 0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t v = 1;
        qvl_error err = {0};
        CHECK_MSG(mem_size_parse(good[i].text, &v, &err) == 0 && v == good[i].bytes, "'%s' -> %llu (%s)",
                  good[i].text, (unsigned long long)v, err.msg);
    }
    const char *bad[] = {"", "abc", "5X", "-1", "1e30", " 5G", "5G!", "G"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        qvl_error err = {0};
        CHECK_MSG(mem_size_parse(bad[i], &v, &err) == -1 && err.code == QVL_E_BAD_INPUT && strstr(err.msg, bad[i]),
                  "'%s' accepted", bad[i]);
    }
    uint64_t v = 0;
    CHECK(mem_limit_from_setting("auto", &v, NULL) == 0 && v > 0);   /* /proc is there on Linux */
    CHECK(mem_limit_from_setting("3G", &v, NULL) == 0 && v == 3ull << 30);
    char t[24];
    CHECK_STR(mem_size_text(3ull << 30, t), "3.0 GiB");
    CHECK_STR(mem_size_text(170ull << 20, t), "170.0 MiB");   /* what "170M" means, said back the same way */
    CHECK_STR(mem_size_text(900 << 10, t), "900 KiB");
    CHECK(mem_rss_bytes() > 0);
}

/* ---- 2. accounting -------------------------------------------------------- */

static void accounting_tests(void) {
    mem_budget *b = mem_budget_create(1000, 300);
    CHECK(mem_budget_room(b) == 700);
    CHECK(mem_budget_try_reserve(b, 500));
    CHECK(!mem_budget_try_reserve(b, 201));          /* 701 > 700: refused... */
    CHECK(mem_budget_reserved(b) == 500);            /* ...and nothing changed */
    CHECK(mem_budget_try_reserve(b, 200));           /* exactly full */
    CHECK(!mem_budget_try_reserve(b, 1));
    mem_budget_release(b, 500);
    CHECK(mem_budget_reserved(b) == 200);
    mem_budget_release(b, 1000);                     /* more than reserved: 0, not a wrap-around */
    CHECK(mem_budget_reserved(b) == 0);
    CHECK(!mem_budget_try_reserve(b, 701));          /* could never fit */
    CHECK(mem_budget_waits(b) == 0);
    mem_budget_count_wait(b);
    CHECK(mem_budget_waits(b) == 1);
    mem_budget_free(b);
    b = mem_budget_create(100, 200);                 /* the base alone passes the limit */
    CHECK(mem_budget_room(b) == 0 && !mem_budget_try_reserve(b, 1) && mem_budget_try_reserve(b, 0));
    mem_budget_free(b);
}

typedef struct racer {
    mem_budget *b;
    unsigned seed;
    long granted, refused;
    bool over;                 /* saw more reserved than the room */
} racer;

static void *race_main(void *arg) {
    racer *r = arg;
    for (int i = 0; i < 20000; i++) {
        uint64_t want = 1 + rand_r(&r->seed) % 300;
        if (!mem_budget_try_reserve(r->b, want)) {
            r->refused++;
            continue;
        }
        r->granted++;
        if (mem_budget_reserved(r->b) > mem_budget_room(r->b)) r->over = true;
        mem_budget_release(r->b, want);
    }
    return NULL;
}

static void concurrency_tests(void) {
    enum { N = 8 };
    mem_budget *b = mem_budget_create(1000, 0);
    racer r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.b = b, .seed = 17u + (unsigned)i};
        CHECK(pthread_create(&t[i], NULL, race_main, &r[i]) == 0);
    }
    long granted = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(!r[i].over, "thread %d saw more reserved than the room", i);
        granted += r[i].granted;
    }
    CHECK(granted > 0);
    CHECK_MSG(mem_budget_reserved(b) == 0, "%llu left reserved", (unsigned long long)mem_budget_reserved(b));
    mem_budget_free(b);
}

/* ---- 3. sizes from headers ------------------------------------------------ */

static void probe_tests(void) {
    char path[1200];
    snprintf(path, sizeof path, "%s/images/img_512x384.png", testdata_dir());
    size_t len = 0;
    uint8_t *png = (uint8_t *)slurp(path, &len);
    CHECK(png != NULL);
    if (!png) return;
    int w = 0, h = 0;
    qvl_error err = {0};
    CHECK_MSG(image_probe(png, len, 0, NULL, &w, &h, &err) == 0 && w == 512 && h == 384, "%dx%d %s", w, h, err.msg);
    mem_image mi;
    CHECK(mem_image_of(png, len, NULL, 8, &mi, &err) == 0 && mi.width == 512 && mi.height == 384 && !mi.rendered &&
          mi.pages == 1);
    image_limits small = {.max_pixels = 512 * 383};
    err = (qvl_error){0};
    CHECK(image_probe(png, len, 0, &small, &w, &h, &err) == -1 && err.code == QVL_E_TOO_LARGE);
    err = (qvl_error){0};
    CHECK(image_probe(png, 20, 0, NULL, &w, &h, &err) == -1 && err.msg[0]);   /* the header cut short */
    /* A decode after a probe on the same thread is an ordinary decode. */
    image_rgb img;
    CHECK(image_decode(png, len, NULL, &img, &err) == 0 && img.width == 512);
    image_free(&img);
    free(png);
    /* a document: its pages, each as large as a page may render, up to the cap */
    uint8_t *pdf = (uint8_t *)slurp("tests/ocr/pdf/scan_en.pdf", &len);
    CHECK(pdf != NULL);
    if (!pdf) return;
    CHECK(mem_image_of(pdf, len, NULL, 8, &mi, &err) == 0 && mi.pages == 3 && mi.rendered &&
          (uint64_t)mi.width * mi.height >= IMAGE_PDF_MAX_RENDER_PIXELS);
    CHECK(mem_image_of(pdf, len, NULL, 2, &mi, &err) == 0 && mi.pages == 2);
    free(pdf);
}

/* ---- 4. the estimate against the real encode -------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN_BUILD 1
#endif
#endif

static uint64_t status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n)) sscanf(line + n, ": %llu", &kb);
    if (f) fclose(f);
    return (uint64_t)kb * 1024;
}

static void estimate_tests(const qvl_model *m) {
    enum { SIDE = 1536, THREADS = 2 };
    image_rgb img;
    qvl_error err = {0};
    CHECK(image_alloc(&img, SIDE, SIDE, &err) == 0);
    for (size_t i = 0; i < (size_t)SIDE * SIDE * 3; i++) img.pixels[i] = (uint8_t)(i * 7 + i / (SIDE * 3));
    mem_image mi = {.width = SIDE, .height = SIDE};
    mem_need need;
    CHECK_MSG(mem_need_request(m, &mi, 1, 0, IMAGE_HF_MAX_PIXELS, 256, THREADS, false, &need, &err) == 0, "%s",
              err.msg);
    CHECK(need.pixels == 2ull * SIDE * SIDE * 3 && need.ocr == 0 && need.prompt > 0);
    CHECK(need.total == need.pixels + need.vision + need.prompt + need.ocr);
    /* three pages of that size: the same pixels and encoder work at a time,
     * two more pages of features (each counted twice: its rows, the prompt's copy) */
    mem_image three = mi;
    three.pages = 3;
    mem_need need3;
    CHECK(mem_need_request(m, &three, 1, 0, IMAGE_HF_MAX_PIXELS, 256, THREADS, false, &need3, &err) == 0);
    uint64_t features = (uint64_t)(SIDE / 32) * (SIDE / 32) * vision_embd_width(m->vision) * sizeof(float);
    CHECK_MSG(need3.pixels == need.pixels && need3.vision == need.vision + 2 * 2 * features,
              "3 pages: vision %llu, 1 page %llu", (unsigned long long)need3.vision, (unsigned long long)need.vision);
    threadpool *tp = threadpool_create(THREADS);
    image_preprocess_opts po = {.max_pixels = IMAGE_HF_MAX_PIXELS};
    FILE *f = fopen("/proc/self/clear_refs", "w");   /* "5": the peak RSS starts again from now */
    bool reset = f && fputs("5", f) >= 0;
    if (f) reset = fclose(f) == 0 && reset;
    CHECK_MSG(reset, "cannot reset the peak RSS");
    uint64_t before = mem_rss_bytes();
    vision_image v;
    CHECK_MSG(vision_encode_image(m->vision, &img, &po, tp, NULL, NULL, &v, &err) == 0, "%s", err.msg);
    uint64_t grown = status_kb("VmHWM") - before;
    printf("encode %dx%d at the largest detail: peak RSS grew %.1f MB; estimated %.1f MB\n", SIDE, SIDE, grown / 1e6,
           need.vision / 1e6);
#ifdef ASAN_BUILD
    /* ASan's shadow memory and quarantine of freed blocks are resident too,
     * and none of them is the program's: the comparison means nothing here. */
    printf("SKIP the estimate against the peak RSS: an ASan build\n");
    grown = need.vision;
#endif
    CHECK_MSG(grown <= need.vision, "the encode took %llu bytes, more than the %llu estimated",
              (unsigned long long)grown, (unsigned long long)need.vision);
    CHECK_MSG(grown * 4 >= need.vision, "the estimate %llu is over 4x the %llu used",
              (unsigned long long)need.vision, (unsigned long long)grown);
    vision_image_free(&v);
    threadpool_free(tp);
    image_free(&img);
}

int main(void) {
    size_tests();
    accounting_tests();
    concurrency_tests();
    probe_tests();
    char dir[64];
    qvl_error err = {0};
    if (tiny_model_make(dir, sizeof dir, "membudget") != 0) return check_summary();
    model_load_opts o = {.quant = "q8_0", .threads = 2};
    qvl_model *m = model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (m) estimate_tests(m);
    model_free(m);
    tiny_model_remove(dir);
    return check_summary();
}
