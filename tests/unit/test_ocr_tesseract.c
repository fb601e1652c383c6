/* test_ocr_tesseract.c - the built-in Tesseract backend on clean images of
 * the rendered test set (tests/ocr/set, ground truth beside each image):
 * character error rate within a bound, lines in reading order with boxes
 * inside the image, a table read row by row at any print size, a grey page
 * read the same as its colour twin, engine reuse, one engine per thread, bad
 * input, and cancellation.
 * The full per-category accuracy report is `qvl ocr --eval` (make bench).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "image_load.h"
#include "image/image.h"
#include "image/resize.h"
#include "ocr/ocr.h"
#include "ocr/ocr_internal.h"
#include "ocr/ocr_text.h"

#define SET "tests/ocr/set/"

static int load(const char *name, image_rgb *img) {
    char path[256];
    snprintf(path, sizeof path, SET "%s", name);
    return load_image(path, img);
}

static char *ground_truth(const char *name) {
    char path[256];
    snprintf(path, sizeof path, SET "%.*s.gt.txt", (int)(strrchr(name, '.') - name), name);
    size_t len;
    return slurp(path, &len);
}

/* Clean images only: the bound says "reads clean print", not a benchmark. */
static const struct { const char *file, *lang; double max_cer; } clean[] = {
    {"doc_en_01_clean.png", "eng", 0.02},
    {"receipt_en_01_clean.png", "eng", 0.03},
    {"table_en_01_clean.png", "eng", 0.03},
    {"doc_zh_01_clean.png", "chi_sim", 0.08},
    {"sign_zh_01_clean.png", "chi_sim", 0.10},
    {"doc_zh_tra_01_clean.png", "chi_tra", 0.08},
    {"sign_mixed_01_clean.png", "chi_sim+eng", 0.10},
};

static void test_accuracy(ocr_engine *eng) {
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++) {
        image_rgb img = {0};
        char *gt = ground_truth(clean[i].file);
        CHECK_MSG(gt != NULL, "no ground truth for %s", clean[i].file);
        if (!gt || load(clean[i].file, &img) < 0) { free(gt); continue; }
        ocr_result res;
        qvl_error err = {0};
        int rc = ocr_engine_recognize(eng, &img, clean[i].lang, &res, &err);
        CHECK_MSG(rc == 0, "%s: %s", clean[i].file, err.msg);
        if (rc == 0) {
            double cer = 1;
            CHECK(ocr_cer(gt, res.text, &cer, NULL, NULL, &err) == 0);
            CHECK_MSG(cer <= clean[i].max_cer, "%s: CER %.3f > %.3f; read:\n%s", clean[i].file, cer,
                      clean[i].max_cer, res.text);
            CHECK_MSG(res.confidence >= 70, "%s: confidence %.1f", clean[i].file, res.confidence);
            for (int k = 0; k < res.n_lines; k++) {
                const ocr_line *l = &res.lines[k];
                CHECK(l->x >= 0 && l->y >= 0 && l->w > 0 && l->h > 0);
                CHECK(l->x + l->w <= img.width && l->y + l->h <= img.height);
                CHECK(l->confidence >= 0 && l->confidence <= 100);
                CHECK(strchr(l->text, '\n') == NULL);
                if (k) CHECK(l->y > res.lines[k - 1].y);   /* single column: top to bottom */
            }
        }
        ocr_result_free(&res);
        image_free(&img);
        free(gt);
    }
}

/* Line by line: each ground-truth line comes back as its own line, in order. */
static void test_reading_order(ocr_engine *eng) {
    image_rgb img = {0};
    char *gt = ground_truth("receipt_en_01_clean.png");
    if (!gt || load("receipt_en_01_clean.png", &img) < 0) { free(gt); return; }
    ocr_result res;
    qvl_error err = {0};
    if (ocr_engine_recognize(eng, &img, "eng", &res, &err) == 0) {
        int k = 0;
        for (char *line = strtok(gt, "\n"); line; line = strtok(NULL, "\n"), k++) {
            CHECK_MSG(k < res.n_lines, "line %d missing", k);
            if (k >= res.n_lines) break;
            double cer = 1;
            ocr_cer(line, res.lines[k].text, &cer, NULL, NULL, &err);
            CHECK_MSG(cer <= 0.1, "line %d: '%s' read as '%s'", k, line, res.lines[k].text);
        }
        CHECK_EQ_INT(res.n_lines, k);
    }
    ocr_result_free(&res);
    image_free(&img);
    free(gt);
}

/* The layout judge on lines laid out by hand: cells side by side are a
 * table read by columns; rows, prose columns and a few lines are not. */
static void test_table_judge(void) {
    typedef struct { const char *text; int x, y, w, h; } laid;
    static const laid cells[] = {
        {"分数", 513, 40, 51, 26}, {"年龄", 353, 40, 51, 27}, {"城市", 193, 40, 51, 27}, {"姓名", 33, 40, 50, 27},
        {"杭州", 193, 100, 50, 26}, {"陈静", 34, 100, 51, 27}, {"53 95", 353, 104, 163, 20}},
      rows[] = {{"姓名 城市 年龄 分数", 25, 30, 398, 20}, {"陈静 杭州 53 95", 25, 75, 362, 20},
                {"王芳 上海 49 59", 25, 120, 362, 20}, {"杨磊 成都 30 52", 25, 165, 362, 20}},
      prose[] = {{"The meeting has been moved to Thursday", 20, 10, 300, 14},
                 {"Bring a photo ID and your confirmation", 360, 10, 300, 14},
                 {"at 3 pm. Please keep your ticket until", 20, 30, 300, 14},
                 {"number. Water the plants twice a week", 360, 30, 300, 14}};
    const struct { const laid *lines; int n; bool table; } cases[] = {
        {cells, 7, true}, {rows, 4, false}, {prose, 4, false}, {cells, 3, false}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ocr_result res = {0};
        const laid *l = cases[c].lines;
        for (int i = 0; i < cases[c].n; i++)
            CHECK(ocr_result_add_line(&res, l[i].text, l[i].x, l[i].y, l[i].w, l[i].h, 90, NULL) == 0);
        CHECK_MSG(ocr_lines_table_by_columns(&res) == cases[c].table, "case %zu", c);
        ocr_result_free(&res);
    }
}

/* A ruled Chinese table that Tesseract's layout analysis read column by
 * column once its print was enlarged (a 150 dpi scan rendered at 200 dpi):
 * at every size its rows come back whole and in order. */
static void test_table_sizes(ocr_engine *eng) {
    image_rgb img = {0};
    char *gt = ground_truth("table_zh_01_clean.png");
    if (!gt || load("table_zh_01_clean.png", &img) < 0) { free(gt); return; }
    const float scales[] = {1.0f, 4.0f / 3, 1.5f, 2.0f};
    for (size_t i = 0; i < sizeof scales / sizeof scales[0]; i++) {
        image_rgb big = {0};
        qvl_error err = {0};
        int w = (int)(img.width * scales[i] + 0.5f), h = (int)(img.height * scales[i] + 0.5f);
        CHECK(image_resize_bicubic(&img, w, h, &big, &err) == 0);
        ocr_result res;
        if (ocr_engine_recognize(eng, &big, "chi_sim", &res, &err) == 0) {
            double cer = 1;
            CHECK(ocr_cer(gt, res.text, &cer, NULL, NULL, &err) == 0);
            CHECK_MSG(cer <= 0.05 && res.n_lines == 5, "x%.2f: CER %.3f, %d lines:\n%s", scales[i], cer,
                      res.n_lines, res.text);
            ocr_result_free(&res);
        } else {
            CHECK_MSG(0, "x%.2f: %s", scales[i], err.msg);
        }
        image_free(&big);
    }
    image_free(&img);
    free(gt);
}

/* A grey page goes to Tesseract as one channel (ocr_tesseract.c): the same
 * page with one coloured pixel goes as RGB and must read the same. */
static void test_grey_and_colour(ocr_engine *eng) {
    image_rgb img = {0};
    if (load("doc_en_01_clean.png", &img) < 0) return;
    ocr_result grey, colour;
    qvl_error err = {0};
    CHECK(ocr_engine_recognize(eng, &img, "eng", &grey, &err) == 0);
    img.pixels[0] = 255, img.pixels[1] = 0, img.pixels[2] = 0;
    CHECK(ocr_engine_recognize(eng, &img, "eng", &colour, &err) == 0);
    CHECK_MSG(grey.text && colour.text && grey.n_lines > 0 && !strcmp(grey.text, colour.text),
              "grey:\n%s\ncolour:\n%s", grey.text ? grey.text : "", colour.text ? colour.text : "");
    ocr_result_free(&grey);
    ocr_result_free(&colour);
    image_free(&img);
}

typedef struct { const image_rgb *img; char *text; } thread_job;

static void *thread_main(void *arg) {
    thread_job *job = arg;
    qvl_error err = {0};
    ocr_engine *eng = ocr_engine_open_tesseract(NULL, &err);
    ocr_result res;
    if (eng && ocr_engine_recognize(eng, job->img, "eng", &res, &err) == 0) {
        job->text = strdup(res.text);
        ocr_result_free(&res);
    }
    ocr_engine_close(eng);
    return NULL;
}

static void test_reuse_and_threads(ocr_engine *eng) {
    image_rgb img = {0};
    if (load("sign_en_01_clean.png", &img) < 0) return;
    ocr_result a, b;
    qvl_error err = {0};
    CHECK(ocr_engine_recognize(eng, &img, "eng", &a, &err) == 0);
    CHECK(ocr_engine_recognize(eng, &img, "eng", &b, &err) == 0);
    if (a.text && b.text) CHECK_STR(a.text, b.text);
    thread_job jobs[2] = {{&img, NULL}, {&img, NULL}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(jobs[i].text != NULL);
        if (jobs[i].text && a.text) CHECK_STR(jobs[i].text, a.text);
        free(jobs[i].text);
    }
    ocr_result_free(&a);
    ocr_result_free(&b);
    image_free(&img);
}

static void test_bad_input(ocr_engine *eng) {
    qvl_error err = {0};
    ocr_result res;
    image_rgb img = {0};
    CHECK(image_alloc(&img, 64, 32, &err) == 0);
    memset(img.pixels, 255, 64 * 32 * 3);
    /* blank page: no lines, confidence 0, not an error */
    CHECK(ocr_engine_recognize(eng, &img, "eng", &res, &err) == 0);
    CHECK_EQ_INT(res.n_lines, 0);
    CHECK(res.text && res.text[0] == 0 && res.confidence == 0);
    ocr_result_free(&res);
    CHECK(ocr_engine_recognize(eng, &img, "klingon", &res, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
    CHECK_MSG(strstr(err.msg, "cannot load language 'klingon'") != NULL, "%s", err.msg);
    CHECK(ocr_engine_recognize(eng, &img, "../etc/passwd", &res, &err) == -1);
    CHECK(ocr_engine_recognize(eng, &img, "eng++chi_sim", &res, &err) == -1);
    /* the engine still works after the failures */
    CHECK(ocr_engine_recognize(eng, &img, "eng", &res, &err) == 0);
    ocr_result_free(&res);
    image_rgb tiny = {0};
    CHECK(image_alloc(&tiny, 1, 1, &err) == 0);
    memset(tiny.pixels, 0, 3);
    CHECK(ocr_engine_recognize(eng, &tiny, "eng", &res, &err) == 0);
    ocr_result_free(&res);
    image_free(&tiny);
    image_rgb none = {0};
    CHECK(ocr_engine_recognize(eng, &none, "eng", &res, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
    ocr_engine_opts o = {.max_pixels = 1000};
    ocr_engine *small = ocr_engine_open_tesseract(&o, &err);
    CHECK(small && ocr_engine_recognize(small, &img, "eng", &res, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_TOO_LARGE);
    ocr_engine_close(small);
    image_free(&img);
}

/* A raised cancel flag stops recognition with QVL_E_CANCELLED; a lowered
 * one changes nothing. */
static void test_cancel(ocr_engine *eng) {
    image_rgb img = {0};
    if (load("receipt_en_01_clean.png", &img) < 0) return;
    atomic_bool flag;
    atomic_init(&flag, false);
    ocr_result plain, quiet, stopped;
    qvl_error err = {0};
    CHECK(ocr_engine_recognize(eng, &img, "eng", &plain, &err) == 0);
    CHECK_MSG(ocr_engine_recognize_cancellable(eng, &img, "eng", &flag, &quiet, &err) == 0, "%s", err.msg);
    CHECK(plain.text && quiet.text && !strcmp(plain.text, quiet.text));
    atomic_store(&flag, true);
    err.code = 0;
    CHECK(ocr_engine_recognize_cancellable(eng, &img, "eng", &flag, &stopped, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_CANCELLED);
    CHECK(stopped.n_lines == 0 && stopped.text == NULL);
    /* The engine still works afterwards. */
    ocr_result again;
    CHECK(ocr_engine_recognize(eng, &img, "eng", &again, &err) == 0);
    CHECK(again.text && plain.text && !strcmp(again.text, plain.text));
    ocr_result_free(&plain);
    ocr_result_free(&quiet);
    ocr_result_free(&stopped);
    ocr_result_free(&again);
    image_free(&img);
}

int main(void) {
    qvl_error err = {0};
    ocr_engine *eng = ocr_engine_open_tesseract(NULL, &err);
    CHECK_MSG(eng != NULL, "%s", err.msg);
    if (!eng) return check_summary();
    CHECK_STR(ocr_engine_name(eng), "tesseract");
    test_accuracy(eng);
    test_reading_order(eng);
    test_table_judge();
    test_table_sizes(eng);
    test_grey_and_colour(eng);
    test_reuse_and_threads(eng);
    test_bad_input(eng);
    test_cancel(eng);
    ocr_engine_close(eng);
    return check_summary();
}
