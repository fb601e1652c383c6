/* test_ocr_page.c - the page made readable before recognition
 * (ocr/ocr_page.h) and readings that can be believed (ocr_result_trusted,
 * ocr_router_accepts), with the built-in Tesseract engine on the
 * photographed test set (tests/ocr/photo, rendered by gen_photoset.py):
 *   - a clean upright scan is handed on untouched (an identity plan);
 *   - upside-down, sideways, tilted and lamp-lit pages are turned, levelled
 *     and evened, and then read within a CER bound;
 *   - the same upside-down page read as given is Latin gibberish the engine
 *     does not trust and the router does not accept;
 *   - noise and a photo without text are never trusted nor accepted;
 *   - the plausibility of text: writing scores high, fragments and
 *     punctuation low.
 * Accuracy per category is `qvl ocr --eval tests/ocr/photo` (make bench).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "image_load.h"
#include "image/image.h"
#include "ocr/ocr.h"
#include "ocr/ocr_router.h"
#include "ocr/ocr_text.h"

static ocr_engine *ENG, *AS_IS;
static ocr_router *ROUTER;

/* Reads tests/ocr/photo/<name> (ground truth beside it); returns the CER
 * (2 when unreadable) and fills *plan and *trusted. */
static double read_photo(ocr_engine *eng, const char *name, const char *lang, ocr_page_plan *plan, bool *trusted) {
    char path[256], gt_path[256];
    snprintf(path, sizeof path, "tests/ocr/photo/%s", name);
    snprintf(gt_path, sizeof gt_path, "tests/ocr/photo/%.*s.gt.txt", (int)(strrchr(name, '.') - name), name);
    image_rgb img = {0};
    size_t len;
    char *gt = slurp(gt_path, &len);
    CHECK_MSG(gt != NULL, "missing %s", gt_path);
    double cer = 2;
    ocr_result res = {0};
    qvl_error err = {0};
    if (gt && load_image(path, &img) == 0) {
        int rc = ocr_engine_read_page(eng, &img, lang, NULL, &res, plan, &err);
        CHECK_MSG(rc == 0, "%s: %s", name, err.msg);
        if (rc == 0) CHECK(ocr_cer(gt, res.text, &cer, NULL, NULL, &err) == 0);
        *trusted = ocr_result_trusted(&res);
        if (trusted && *trusted) CHECK_MSG(ocr_router_accepts(ROUTER, &res), "%s: trusted but not accepted", name);
    }
    ocr_result_free(&res);
    image_free(&img);
    free(gt);
    return cer;
}

static void test_clean_untouched(void) {
    const char *clean[] = {"tests/ocr/set/doc_en_01_clean.png", "tests/ocr/set/doc_zh_01_clean.png",
                           "tests/ocr/set/table_zh_01_clean.png", "tests/ocr/set/sign_en_02_clean.png"};
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++) {
        image_rgb img = {0};
        if (load_image(clean[i], &img) != 0) continue;
        ocr_page_plan plan;
        qvl_error err = {0};
        CHECK(ocr_page_measure(&img, &plan, &err) == 0);
        CHECK_MSG(ocr_page_plan_is_identity(&plan), "%s: rotation %d skew %.1f light %d scale %.1f", clean[i],
                  plan.rotation, plan.skew, plan.light, plan.scale);
        image_free(&img);
    }
}

static void test_photographed(void) {
    static const struct { const char *file, *lang; int rotation; bool levelled, light; double max_cer; } cases[] = {
        {"rot180_en.png", "eng", 180, false, false, 0.02},
        {"rot180_zh.png", "chi_sim", 180, false, false, 0.05},
        {"rot90_en.png", "eng", 270, false, false, 0.02},
        {"rot270_zh.png", "chi_sim", 90, false, false, 0.08},
        {"tilt_en.png", "eng", 0, true, false, 0.03},
        {"light_en.png", "eng", 0, false, true, 0.03},
        {"combo_mixed.jpg", "chi_sim+eng", 0, true, true, 0.10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ocr_page_plan plan = {0};
        bool trusted = false;
        double cer = read_photo(ENG, cases[i].file, cases[i].lang, &plan, &trusted);
        CHECK_MSG(cer <= cases[i].max_cer, "%s: CER %.3f > %.3f", cases[i].file, cer, cases[i].max_cer);
        CHECK_MSG(trusted, "%s: a good reading not trusted", cases[i].file);
        CHECK_MSG(plan.rotation == cases[i].rotation, "%s: turned %d, expected %d", cases[i].file, plan.rotation,
                  cases[i].rotation);
        CHECK_MSG((fabsf(plan.skew) >= 2) == cases[i].levelled, "%s: skew %.1f", cases[i].file, plan.skew);
        CHECK_MSG(plan.light == cases[i].light, "%s: light %d", cases[i].file, plan.light);
    }
    /* The same upside-down page read as given: gibberish, and known to be. */
    ocr_page_plan plan;
    bool trusted = true;
    double cer = read_photo(AS_IS, "rot180_en.png", "eng", &plan, &trusted);
    CHECK_MSG(cer > 0.5, "as given, an upside-down page read at CER %.3f", cer);
    CHECK(!trusted);
}

/* A reading of img must be neither trusted nor accepted by the router. */
static void check_not_served(const char *what, const image_rgb *img) {
    ocr_result res = {0};
    ocr_page_plan plan;
    qvl_error err = {0};
    CHECK_MSG(ocr_engine_read_page(ENG, img, "eng+chi_sim", NULL, &res, &plan, &err) == 0, "%s: %s", what, err.msg);
    CHECK_MSG(!ocr_result_trusted(&res), "%s: trusted: \"%s\" (%.1f)", what, res.text, res.confidence);
    CHECK_MSG(!ocr_router_accepts(ROUTER, &res), "%s: accepted: \"%s\" (%.1f)", what, res.text, res.confidence);
    CHECK_MSG(!plan.print_seen, "%s: marks of print seen", what);
    ocr_result_free(&res);
}

static void test_no_text(void) {
    image_rgb noise = {0};
    qvl_error err = {0};
    CHECK(image_alloc(&noise, 640, 480, &err) == 0);
    uint32_t x = 12345;
    for (int i = 0; noise.pixels && i < 640 * 480; i++) {
        x = x * 1664525u + 1013904223u;
        noise.pixels[3 * i] = noise.pixels[3 * i + 1] = noise.pixels[3 * i + 2] = (uint8_t)(x >> 24);
    }
    if (noise.pixels) check_not_served("noise", &noise);
    image_free(&noise);
    const char *photos[] = {"../shared/testdata/images/real/chelsea.png", "../shared/testdata/images/real/coffee.png"};
    for (size_t i = 0; i < 2; i++) {
        image_rgb img = {0};
        if (load_image(photos[i], &img) == 0) check_not_served(photos[i], &img);
        image_free(&img);
    }
}

static void test_plausibility(void) {
    CHECK(ocr_text_plausibility("The quick brown fox jumps over the lazy dog.") > 0.9f);
    CHECK(ocr_text_plausibility("今天天气很好，我们去公园散步。") > 0.85f);
    CHECK(ocr_text_plausibility("出口 EXIT 2024-09-13 21:12") > 0.8f);
    CHECK(ocr_text_plausibility("~ ‘| -—= ,. ;") < 0.2f);
    CHECK(ocr_text_plausibility("ih e ‘met Ve r t") < OCR_TRUST_PLAUSIBLE);
    CHECK(ocr_text_plausibility("") == 0 && ocr_text_plausibility(NULL) == 0);
    ocr_line line = {.text = "Sandwich 20.59", .confidence = 95};
    ocr_result good = {.lines = &line, .n_lines = 1, .text = "Sandwich 20.59", .confidence = 95};
    ocr_result junk = {.lines = &line, .n_lines = 1, .text = "~ ‘| -—= ,. ;", .confidence = 95};
    ocr_result unsure = {.lines = &line, .n_lines = 1, .text = "Sandwich 20.59", .confidence = 40};
    CHECK(ocr_result_trusted(&good) && !ocr_result_trusted(&junk) && !ocr_result_trusted(&unsure));
    CHECK(ocr_result_better(&good, &junk) && !ocr_result_better(&junk, &good) && ocr_result_better(&good, &unsure));
}

int main(void) {
    qvl_error err = {0};
    ENG = ocr_engine_open_tesseract(NULL, &err);
    CHECK_MSG(ENG != NULL, "%s", err.msg);
    ocr_engine_opts raw = {.as_is = true};
    AS_IS = ocr_engine_open_tesseract(&raw, &err);
    static const char rules[] = "min-confidence 60\nocr extract the text\n";
    ROUTER = ocr_router_parse(rules, sizeof rules - 1, "test rules", &err);
    CHECK(ROUTER != NULL);
    test_plausibility();
    if (ENG && AS_IS && ROUTER) {
        test_clean_untouched();
        test_photographed();
        test_no_text();
    }
    ocr_engine_close(ENG);
    ocr_engine_close(AS_IS);
    ocr_router_free(ROUTER);
    return check_summary();
}
