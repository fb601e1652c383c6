/* test_grounding.c - answer/grounding.h: Qwen3-VL's 0-1000 boxes to pixels
 * (rounding, clamping, order, dropping), finding them in answers of every
 * shape (fenced lists, single objects, truncated lists, garbage), and the
 * whole chain for each EXIF orientation: a box the model would give for an
 * object in the upright image it saw lands on that object in the decoded
 * original. */
#include <math.h>

#include "answer/grounding.h"
#include "check.h"
#include "image/image.h"
#include "image/resize.h"
#include "image_files.h"

#define BOX_IS(b, a, bb, c, d) CHECK_MSG((b).x1 == (a) && (b).y1 == (bb) && (b).x2 == (c) && (b).y2 == (d), \
                                         "box %d,%d,%d,%d", (b).x1, (b).y1, (b).x2, (b).y2)

static void test_to_pixels(void) {
    grounding_box b = {0};
    CHECK(grounding_to_pixels((double[]){0, 0, 1000, 1000}, 640, 480, &b));
    BOX_IS(b, 0, 0, 640, 480);
    CHECK(grounding_to_pixels((double[]){250, 500, 750, 1000}, 640, 480, &b));
    BOX_IS(b, 160, 240, 480, 480);
    /* Rounded to the nearest pixel: 333/1000 * 100 = 33.3 -> 33, 667 -> 66.7 -> 67. */
    CHECK(grounding_to_pixels((double[]){333, 333, 667, 667}, 100, 100, &b));
    BOX_IS(b, 33, 33, 67, 67);
    /* Clamped to the image. */
    CHECK(grounding_to_pixels((double[]){-50, -1e9, 1200, 500}, 640, 480, &b));
    BOX_IS(b, 0, 0, 640, 240);
    /* Given corner to corner the other way round: put in order. */
    CHECK(grounding_to_pixels((double[]){750, 1000, 250, 500}, 640, 480, &b));
    BOX_IS(b, 160, 240, 480, 480);
    /* Dropped: no area (also after rounding or clamping), not finite, no image. */
    b = (grounding_box){.x1 = -7};
    CHECK(!grounding_to_pixels((double[]){100, 100, 100, 900}, 640, 480, &b));
    CHECK(!grounding_to_pixels((double[]){100, 100, 100.4, 900}, 640, 480, &b));
    CHECK(!grounding_to_pixels((double[]){1100, 100, 1500, 900}, 640, 480, &b));
    CHECK(!grounding_to_pixels((double[]){NAN, 100, 500, 900}, 640, 480, &b));
    CHECK(!grounding_to_pixels((double[]){0, 0, INFINITY, 900}, 640, 480, &b));
    CHECK(!grounding_to_pixels((double[]){0, 0, 500, 500}, 0, 480, &b));
    CHECK(!grounding_to_pixels((double[]){0, 0, 500, 500}, 640, -1, &b));
    CHECK_EQ_INT(b.x1, -7);   /* untouched */
}

static int find(const char *text, int w, int h, grounding_box *out, int max) {
    return grounding_boxes(text, strlen(text), w, h, out, max);
}

static void test_answers(void) {
    grounding_box b[8];
    /* The usual shape: a fenced list. */
    const char *fenced = "Here they are:\n```json\n[\n\t{\"bbox_2d\": [100, 200, 300, 400], \"label\": \"cat\"},\n"
                         "\t{\"bbox_2d\": [500, 0, 1000, 1000], \"label\": \"红色的杯子\"}\n]\n```\nDone.";
    CHECK_EQ_INT(find(fenced, 1000, 500, b, 8), 2);
    BOX_IS(b[0], 100, 100, 300, 200);
    CHECK_STR(b[0].label, "cat");
    BOX_IS(b[1], 500, 0, 1000, 500);
    CHECK_STR(b[1].label, "红色的杯子");
    /* A single object, real numbers, no label; text grounding's text_content. */
    CHECK_EQ_INT(find("{\"bbox_2d\": [10.5, 20, 500.2, 600]}", 1000, 1000, b, 8), 1);
    BOX_IS(b[0], 11, 20, 500, 600);
    CHECK_STR(b[0].label, "");
    CHECK_EQ_INT(find("[{\"bbox_2d\":[0,0,500,500],\"text_content\":\"TOTAL 12.50\"}]", 200, 200, b, 8), 1);
    CHECK_STR(b[0].label, "TOTAL 12.50");
    /* Cut off by max_tokens: the complete objects still count. */
    CHECK_EQ_INT(find("[{\"bbox_2d\": [0, 0, 100, 100], \"label\": \"a\"}, {\"bbox_2d\": [200, 2", 1000, 1000, b, 8), 1);
    CHECK_STR(b[0].label, "a");
    /* Nested inside another object; two fences. */
    CHECK_EQ_INT(find("{\"objects\": [{\"bbox_2d\": [0, 0, 10, 10], \"label\": \"x\"}]} and ```json\n"
                      "{\"bbox_2d\": [20, 20, 30, 30], \"label\": \"y\"}\n```", 1000, 1000, b, 8), 2);
    CHECK_STR(b[0].label, "x");
    CHECK_STR(b[1].label, "y");
    /* Not boxes: wrong count, strings, a point, degenerate, garbage, empty. */
    const char *bad[] = {
        "{\"bbox_2d\": [1, 2, 3], \"label\": \"three\"}",
        "{\"bbox_2d\": [\"1\", \"2\", \"300\", \"400\"]}",
        "{\"bbox_2d\": [1, 2, 300, null]}",
        "{\"point_2d\": [100, 200], \"label\": \"p\"}",
        "{\"bbox_2d\": [500, 500, 500, 900]}",
        "{\"bbox_2d\": {\"x1\": 1}}",
        "{{{{{{{{ ]]]] {\"bbox_2d\": [1, 2, 3, 4",
        "The cat is in the top left corner.",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(find(bad[i], 640, 480, b, 8) == 0, "found a box in: %s", bad[i]);
    /* A non-string label is no label; max is respected. */
    CHECK_EQ_INT(find("{\"bbox_2d\": [0, 0, 9, 9], \"label\": 5}", 1000, 1000, b, 8), 1);
    CHECK_STR(b[0].label, "");
    CHECK_EQ_INT(find(fenced, 1000, 500, b, 1), 1);
    CHECK_EQ_INT(find(fenced, 1000, 500, b, 0), 0);
    CHECK_EQ_INT(grounding_boxes(NULL, 10, 100, 100, b, 8), 0);
    /* No image size: nothing to convert to. */
    CHECK_EQ_INT(find(fenced, 0, 0, b, 8), 0);
}

static void test_long_labels(void) {
    /* 100 three-byte characters: cut at a character boundary under the limit. */
    char text[600] = "{\"bbox_2d\": [0, 0, 10, 10], \"label\": \"";
    for (int i = 0; i < 100; i++) strcat(text, "框");
    strcat(text, "\"}");
    grounding_box b;
    CHECK_EQ_INT(find(text, 100, 100, &b, 1), 1);
    size_t n = strlen(b.label);
    CHECK(n < GROUNDING_LABEL_MAX && n % 3 == 0 && n >= GROUNDING_LABEL_MAX - 3);
    CHECK(strncmp(b.label, "框框", 6) == 0);
}

static void test_many_braces(void) {
    /* Stray braces before a box: each is one failed try. Past the limit of
     * tries (grounding.h) the search stops, so a pathological answer stays cheap. */
    size_t n = 100000;
    char *text = malloc(n + 64);
    memset(text, '{', n);
    strcpy(text + n, "{\"bbox_2d\": [0, 0, 10, 10]}");
    grounding_box b;
    CHECK_EQ_INT(grounding_boxes(text + n - 1000, 1000 + strlen(text + n), 100, 100, &b, 1), 1);
    CHECK_EQ_INT(grounding_boxes(text, strlen(text), 100, 100, &b, 1), 0);
    free(text);
}

/* ---- the chain, per EXIF orientation ---------------------------------------- */

/* The bounding box of the pure-red pixels of img, or false if none. */
static bool red_box(const image_rgb *img, int *x1, int *y1, int *x2, int *y2) {
    *x1 = img->width, *y1 = img->height, *x2 = -1, *y2 = -1;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            const uint8_t *p = img->pixels + ((size_t)y * img->width + x) * 3;
            if (p[0] < 180 || p[1] > 80 || p[2] > 80) continue;
            if (x < *x1) *x1 = x;
            if (y < *y1) *y1 = y;
            if (x > *x2) *x2 = x;
            if (y > *y2) *y2 = y;
        }
    if (*x2 < 0) return false;
    (*x2)++, (*y2)++;   /* exclusive ends, like the boxes */
    return true;
}

static void test_exif_chain(void) {
    const int w = 96, h = 64;
    uint8_t *stored = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = stored + ((size_t)y * w + x) * 3;
            bool red = x >= 16 && x < 40 && y >= 8 && y < 24;   /* off-centre, so every turn moves it */
            p[0] = red ? 255 : 200, p[1] = red ? 0 : 200, p[2] = red ? 0 : 200;
        }
    for (int o = 1; o <= 8; o++) {
        uint8_t app1[EXIF_APP1_LEN];
        exif_app1(app1, o);
        size_t n;
        uint8_t *jpg = make_jpeg(stored, w, h, 3, app1, sizeof app1, &n);
        image_rgb up = {0}, seen = {0};
        qvl_error err = {0};
        CHECK_MSG(image_decode(jpg, n, NULL, &up, &err) == 0, "orientation %d: %s", o, err.msg);
        /* The model sees the upright image at another size and aspect
         * (smart_resize rounds each side to 32 on its own). */
        int sw = up.width > up.height ? 160 : 96, sh = up.width > up.height ? 96 : 160;
        CHECK(image_resize_bicubic(&up, sw, sh, &seen, &err) == 0);
        int ux1, uy1, ux2, uy2, sx1, sy1, sx2, sy2;
        if (!red_box(&up, &ux1, &uy1, &ux2, &uy2) || !red_box(&seen, &sx1, &sy1, &sx2, &sy2)) {
            CHECK_MSG(false, "orientation %d: no red object", o);
        } else {
            /* What a perfect model answers about the image it saw. */
            char answer[200];
            snprintf(answer, sizeof answer, "```json\n[{\"bbox_2d\": [%d, %d, %d, %d], \"label\": \"red\"}]\n```",
                     (int)lround(sx1 * 1000.0 / sw), (int)lround(sy1 * 1000.0 / sh), (int)lround(sx2 * 1000.0 / sw),
                     (int)lround(sy2 * 1000.0 / sh));
            grounding_box b;
            CHECK_EQ_INT(grounding_boxes(answer, strlen(answer), up.width, up.height, &b, 1), 1);
            /* Upright sizes: turned a quarter for 5-8. */
            CHECK_EQ_INT(up.width, o >= 5 ? h : w);
            CHECK_EQ_INT(up.height, o >= 5 ? w : h);
            /* On the object in the upright original, within the resize's blur. */
            CHECK_MSG(abs(b.x1 - ux1) <= 2 && abs(b.y1 - uy1) <= 2 && abs(b.x2 - ux2) <= 2 && abs(b.y2 - uy2) <= 2,
                      "orientation %d: box %d,%d,%d,%d, object at %d,%d,%d,%d", o, b.x1, b.y1, b.x2, b.y2, ux1, uy1,
                      ux2, uy2);
        }
        image_free(&up);
        image_free(&seen);
        free(jpg);
    }
    free(stored);
}

int main(void) {
    test_to_pixels();
    test_answers();
    test_long_labels();
    test_many_braces();
    test_exif_chain();
    return check_summary();
}
