/* test_answer.c - answer_run (answer/answer.h): what it adds to the router
 * (ocr_router.h, tested alone by test_ocr_router). On the tiny test model,
 * with command OCR plugins written here that answer a fixed text (with the
 * size of the image they were sent) at 95 or 20 confidence:
 *   - auto mode: a "read the text" question about an image is answered by
 *     OCR alone (its text, streamed to on_text, no tokens, the model never
 *     reads the image); below the rules' min-confidence it falls back to the
 *     model and says so; an ocr+vlm question gives the model the OCR text
 *     (a longer prompt than the same conversation without it);
 *   - the last user message decides, whatever earlier turns asked;
 *   - no image, no OCR engine or no router: the model answers; a forced
 *     mode wins over the wording (ocr even when unsure, vlm without OCR);
 *     forcing OCR without an image or engine is QVL_E_BAD_INPUT;
 *   - a malformed conversation or an unreadable image fails;
 *   - n_images_cached counts images taken from the cache;
 *   - the answer carries the reading (overall and per-line confidence)
 *     when OCR ran; noise read by the real Tesseract engine is not trusted
 *     and the model answers;
 *   - several images: OCR reads each, in order, under "--- image N ---"
 *     headers, judged one by one (an untrusted one is marked, not served, and
 *     does not hide the others; when none is trusted the model answers);
 *   - documents (a born-digital PDF written here): every page reaches the
 *     model as an image and OCR reads every page's text layer ("--- page N
 *     ---"); "pages" selects; past max_images the model is refused with
 *     QVL_E_TOO_LARGE naming 'pages' while OCR still reads them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "pdf_files.h"
#include "tiny_model.h"
#include "answer/answer.h"
#include "generate/image_cache.h"
#include "load/model_load.h"
#include "tokenizer/tokenizer.h"

#define OCR_TEXT "HELLO WORLD from the plugin reading page seven"

static const qvl_model *M;
static unsigned char *PDF;          /* the "pdf:" image: a born-digital document of two pages */
static size_t PDF_LEN;
static const char *PAGES;           /* answer_request.pages for the next ask */
static int MAX_IMAGES;              /* answer_request.max_images for the next ask */
static long MAX_PIXELS;             /* the detail of the next ask (0: the model's default) */
static threadpool *TP;
static gen_session SESS;
static ocr_router *ROUTER;
static ocr_engine *SURE, *UNSURE, *MIXED;   /* confidence 95 / 20 / 20 for 13-pixel-wide images, else 95 */
static int loads;

/* Image parts are {"type":"image_url","image_url":{"url":"test:WxH"}}: the
 * loader makes a W x H picture ("noise:WxH": grey noise), or fails for
 * anything else. */
static int load_image(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    const char *url = json_string_value(json_object_get(json_object_get(part, "image_url"), "url"));
    if (url && !strcmp(url, "pdf:")) {
        loads++;
        return image_decode_page(PDF, PDF_LEN, (int)json_integer_value(json_object_get(part, "page")), NULL, out, err);
    }
    int w = 0, h = 0;
    bool noise = url && sscanf(url, "noise:%dx%d", &w, &h) == 2;
    if (!noise && (!url || sscanf(url, "test:%dx%d", &w, &h) != 2 || w < 1 || h < 1))
        return qvl_fail_code(err, QVL_E_BAD_MEDIA, "test loader: cannot read \"%s\"", url ? url : "");
    if (image_alloc(out, w, h, err) != 0) return -1;
    uint32_t x = 99;
    for (int i = 0; i < w * h * 3; i++) {
        x = x * 1664525u + 1013904223u;
        out->pixels[i] = noise ? (uint8_t)(x >> 24) : (uint8_t)(i * 7 + index * 50);
    }
    loads++;
    return 0;
}

/* answer_bytes_fn: only the "pdf:" image has bytes (the others are made by the loader). */
static const uint8_t *image_bytes(void *ctx, const json_t *part, size_t *len) {
    const char *url = json_string_value(json_object_get(json_object_get(part, "image_url"), "url"));
    bool pdf = url && !strcmp(url, "pdf:");
    *len = pdf ? PDF_LEN : 0;
    return pdf ? PDF : NULL;
}

static const char *PAGE1[] = {"Invoice 2024-117 for Green Leaf Cafe", "Total due within thirty days"};
static const char *PAGE2[] = {"Page two keeps the terms"};

static unsigned char *two_page_pdf(size_t *len) {
    char *s1 = pdf_text_stream(PAGE1, 2), *s2 = pdf_text_stream(PAGE2, 1);
    const char *objs[] = {"<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
                          "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
                          "/Contents 6 0 R >>",
                          "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
                          "/Contents 7 0 R >>",
                          "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", s1, s2};
    unsigned char *pdf = pdf_build(objs, NULL, 7, "", len);
    free(s1);
    free(s2);
    return pdf;
}

static char *writefile(const char *dir, const char *name, const char *text) {
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    chmod(p, 0755);
    return p;
}

/* A command plugin answering OCR_TEXT + " WxH" at the given confidence
 * (20 for images 13 pixels wide when mixed). */
static ocr_engine *plugin(const char *dir, const char *name, int confidence, bool mixed) {
    char script[1024];
    snprintf(script, sizeof script,
             "#!/bin/sh\nreq=$(cat)\n"
             "w=$(printf '%%s' \"$req\" | sed -n 's/.*\"width\": *\\([0-9]*\\).*/\\1/p')\n"
             "h=$(printf '%%s' \"$req\" | sed -n 's/.*\"height\": *\\([0-9]*\\).*/\\1/p')\n"
             "c=%d\n%s"
             "printf '{\"lines\": [{\"text\": \"%s %%sx%%s\", \"confidence\": %%s}]}\\n' \"$w\" \"$h\" \"$c\"\n",
             confidence, mixed ? "[ \"$w\" = 13 ] && c=20\n" : "", OCR_TEXT);
    qvl_error err = {0};
    ocr_engine *e = ocr_engine_open_plugin(writefile(dir, name, script), NULL, &err);
    CHECK_MSG(e != NULL, "%s", err.msg);
    return e;
}

typedef struct got {
    int rc;
    qvl_error err;
    answer_result res;
    char streamed[4096];
} got;

static int on_text(void *user, const char *text, size_t len) {
    got *g = user;
    strncat(g->streamed, text, len < sizeof g->streamed - strlen(g->streamed) - 1 ? len
                                                                                  : sizeof g->streamed - strlen(g->streamed) - 1);
    return 0;
}

/* Runs answer_run on the conversation (JSON text) with the given engine,
 * router, mode and cache. */
static got *ask(const char *conversation, ocr_engine *ocr, const ocr_router *router, ocr_mode mode,
                image_cache *cache) {
    got *g = calloc(1, sizeof *g);
    json_error_t je;
    json_t *msgs = json_loads(conversation, 0, &je);
    CHECK_MSG(msgs != NULL, "test conversation: %s", je.text);
    answer_worker w = {.model = M, .router = router, .ocr = ocr, .tp = TP, .session = &SESS};
    answer_request rq = {.messages = msgs, .mode = mode, .gen = gen_params_defaults(M), .on_text = on_text, .user = g,
                         .chat = {.add_generation_prompt = true, .load_image = load_image, .cache = cache,
                                  .max_pixels = MAX_PIXELS},
                         .image_bytes = image_bytes, .pages = PAGES, .max_images = MAX_IMAGES};
    rq.gen.sampling.temperature = 0;
    rq.gen.max_tokens = 4;
    g->rc = answer_run(&w, &rq, &g->res, &g->err);
    json_decref(msgs);
    return g;
}

static void done(got *g) {
    if (g->rc == 0) answer_result_free(&g->res);
    free(g);
}

static const char *route(const got *g) { return answer_route_name(&g->res); }

#define IMG(wh) "{\"type\":\"image_url\",\"image_url\":{\"url\":\"test:" wh "\"}}"
#define IMG_NOISE(wh) "{\"type\":\"image_url\",\"image_url\":{\"url\":\"noise:" wh "\"}}"
#define TXT(t) "{\"type\":\"text\",\"text\":\"" t "\"}"
#define USER1(parts) "[{\"role\":\"user\",\"content\":[" parts "]}]"

static const char *EXTRACT = USER1(IMG("40x30") "," TXT("Extract the text"));

static int n_tokens(const char *text) {
    int32_t *ids = NULL;
    size_t n = 0;
    qvl_error err = {0};
    CHECK(tokenizer_encode(M->tok, text, strlen(text), 0, &ids, &n, &err) == 0);
    free(ids);
    return (int)n;
}

static void test_ocr_answers(void) {
    got *g = ask(EXTRACT, SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "ocr");
    CHECK(!g->res.fell_back);
    CHECK(g->res.gen.text && !strcmp(g->res.gen.text, OCR_TEXT " 40x30"));   /* the conversation's image was read */
    CHECK_STR(g->streamed, OCR_TEXT " 40x30");
    CHECK_EQ_INT(g->res.gen.text_len, strlen(OCR_TEXT " 40x30"));
    CHECK(g->res.gen.n_generated == 0 && g->res.n_images == 0);   /* the model did not run */
    CHECK(g->res.ocr_confidence > 94.9f && g->res.ocr_confidence < 95.1f);
    CHECK(g->res.ocr_ms > 0);
    done(g);
}

/* The reading rides along with the answer: overall and per-line confidence. */
static void test_ocr_report(void) {
    got *g = ask(EXTRACT, SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK(g->rc == 0 && g->res.ocr != NULL);
    json_t *lines = json_object_get(g->res.ocr, "lines");
    CHECK(json_array_size(lines) == 1);
    CHECK(json_real_value(json_object_get(json_array_get(lines, 0), "confidence")) == 95);
    CHECK(json_is_true(json_object_get(g->res.ocr, "trusted")));
    CHECK(json_real_value(json_object_get(g->res.ocr, "confidence")) == 95);
    CHECK(json_integer_value(json_object_get(json_object_get(g->res.ocr, "page"), "rotation")) == 0);
    done(g);
    got *v = ask(USER1(IMG("40x30") "," TXT("What is this?")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK(v->rc == 0 && v->res.ocr == NULL);   /* OCR did not run */
    done(v);
}

/* Noise read by the real engine: whatever Tesseract makes of it is never
 * served as the text; the model answers. */
static void test_noise_falls_back(void) {
    qvl_error err = {0};
    ocr_engine *tess = ocr_engine_open_tesseract(NULL, &err);
    CHECK_MSG(tess != NULL, "%s", err.msg);
    if (!tess) return;
    got *g = ask(USER1(IMG_NOISE("320x240") "," TXT("Extract the text")), tess, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK(g->res.fell_back && !strcmp(route(g), "vlm") && g->res.gen.n_generated >= 1);
    CHECK(g->res.ocr != NULL && !json_is_true(json_object_get(g->res.ocr, "trusted")));
    done(g);
    ocr_engine_close(tess);
}

static void test_fallback_and_forced(void) {
    got *vlm = ask(EXTRACT, SURE, ROUTER, OCR_MODE_VLM, NULL);   /* forced: the wording does not matter */
    CHECK_MSG(vlm->rc == 0, "%s", vlm->err.msg);
    CHECK_STR(route(vlm), "vlm");
    CHECK(!vlm->res.fell_back && vlm->res.ocr_ms == 0 && vlm->res.n_images == 1 && vlm->res.gen.n_generated >= 1);

    got *g = ask(EXTRACT, UNSURE, ROUTER, OCR_MODE_AUTO, NULL);   /* confidence 20 < 60 */
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "vlm");
    CHECK(g->res.fell_back);
    CHECK(g->res.ocr_confidence > 19.9f && g->res.ocr_confidence < 20.1f);
    CHECK(g->res.n_images == 1 && g->res.gen.n_generated >= 1);
    CHECK_MSG(g->res.gen.text && !strstr(g->res.gen.text, "HELLO WORLD"), "the unsure OCR text was the answer");
    CHECK_EQ_INT(g->res.gen.n_prompt, vlm->res.gen.n_prompt);   /* the plain conversation, no OCR context */
    done(g);

    g = ask(EXTRACT, UNSURE, ROUTER, OCR_MODE_OCR, NULL);   /* forced OCR: no fallback however unsure */
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "ocr");
    CHECK(!g->res.fell_back && g->res.gen.text && !strcmp(g->res.gen.text, OCR_TEXT " 40x30"));
    done(g);

    /* ocr+vlm: the model gets the OCR text too */
    const char *sum = USER1(IMG("40x30") "," TXT("Summarize the text"));
    got *plain = ask(sum, SURE, ROUTER, OCR_MODE_VLM, NULL);
    g = ask(sum, SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0 && plain->rc == 0, "%s %s", g->err.msg, plain->err.msg);
    CHECK_STR(route(g), "ocr+vlm");
    CHECK(g->res.n_images == 1 && g->res.gen.n_generated >= 1 && g->res.ocr_ms > 0);
    int extra = g->res.gen.n_prompt - plain->res.gen.n_prompt, ocr_tokens = n_tokens(OCR_TEXT " 40x30");
    CHECK_MSG(extra >= ocr_tokens, "the OCR text (%d tokens) is not in the prompt: %d tokens more", ocr_tokens, extra);
    done(g);
    done(plain);
    g = ask(EXTRACT, SURE, ROUTER, OCR_MODE_OCR_VLM, NULL);   /* forced ocr+vlm */
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "ocr+vlm");
    CHECK(g->res.gen.n_prompt >= vlm->res.gen.n_prompt + n_tokens(OCR_TEXT " 40x30"));
    done(g);
    done(vlm);
}

static void test_model_paths(void) {
    /* a question about what is seen */
    got *g = ask(USER1(IMG("40x30") "," TXT("What colour is the sky?")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "vlm");
    CHECK(g->res.ocr_ms == 0 && !g->res.fell_back && g->res.n_images == 1);
    done(g);

    /* no image: the model, even for a text-reading question */
    g = ask("[{\"role\":\"user\",\"content\":\"Extract the text\"}]", SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "vlm");
    CHECK(g->res.ocr_ms == 0 && g->res.n_images == 0 && g->res.gen.n_generated >= 1);
    done(g);

    /* no OCR engine: the model */
    g = ask(EXTRACT, NULL, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "vlm");
    CHECK(g->res.n_images == 1);
    done(g);

    /* no router: every question goes to the model, unless the mode says otherwise */
    g = ask(EXTRACT, SURE, NULL, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "vlm");
    CHECK(g->res.ocr_ms == 0);
    done(g);
    g = ask(EXTRACT, UNSURE, NULL, OCR_MODE_OCR, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "ocr");
    CHECK(g->res.gen.text && !strcmp(g->res.gen.text, OCR_TEXT " 40x30"));
    done(g);
}

/* The last user message decides; text parts are read together. */
static void test_last_question(void) {
    got *g = ask("[{\"role\":\"user\",\"content\":[" IMG("40x30") "," TXT("Extract the text") "]},"
                 "{\"role\":\"assistant\",\"content\":\"HELLO\"},"
                 "{\"role\":\"user\",\"content\":\"What colour is it?\"}]",
                 SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "vlm");
    done(g);
    g = ask("[{\"role\":\"user\",\"content\":[" IMG("64x48") "," TXT("What is it?") "]},"
            "{\"role\":\"assistant\",\"content\":\"A page.\"},"
            "{\"role\":\"user\",\"content\":\"Now extract the text\"}]",
            SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "ocr");
    CHECK(g->res.gen.text && !strcmp(g->res.gen.text, OCR_TEXT " 64x48"));   /* the earlier turn's image */
    done(g);
    g = ask(USER1(IMG("40x30") "," TXT("Please") "," TXT("extract the text")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "ocr");
    done(g);
}

static void test_failures(void) {
    const char *no_image = "[{\"role\":\"user\",\"content\":\"Extract the text\"}]";
    got *g = ask(no_image, SURE, ROUTER, OCR_MODE_OCR, NULL);
    CHECK(g->rc == -1 && g->err.code == QVL_E_BAD_INPUT && g->err.msg[0]);
    done(g);
    g = ask(no_image, SURE, ROUTER, OCR_MODE_OCR_VLM, NULL);
    CHECK(g->rc == -1 && g->err.code == QVL_E_BAD_INPUT);
    done(g);
    g = ask(EXTRACT, NULL, ROUTER, OCR_MODE_OCR, NULL);   /* forced OCR, no engine */
    CHECK(g->rc == -1 && g->err.code == QVL_E_BAD_INPUT);
    done(g);
    g = ask("[{\"role\":\"robot\",\"content\":\"hi\"}]", SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK(g->rc == -1 && g->err.msg[0]);
    done(g);
    /* an image the loader cannot read fails, on either path, with its error */
    const char *bad_img[] = {USER1(IMG("bad") "," TXT("Extract the text")), USER1(IMG("bad") "," TXT("Describe it"))};
    for (int i = 0; i < 2; i++) {
        g = ask(bad_img[i], SURE, ROUTER, OCR_MODE_AUTO, NULL);
        CHECK_MSG(g->rc == -1 && g->err.code == QVL_E_BAD_MEDIA && strstr(g->err.msg, "test loader"), "%d: rc %d, %s",
                  i, g->rc, g->err.msg);
        done(g);
    }
}

static void test_cache(void) {
    image_cache *c = image_cache_new(64 << 20);
    const char *q = USER1(IMG("56x56") "," TXT("Describe it"));
    got *a = ask(q, SURE, ROUTER, OCR_MODE_AUTO, c), *b = ask(q, SURE, ROUTER, OCR_MODE_AUTO, c);
    CHECK(a->rc == 0 && b->rc == 0);
    CHECK(a->res.n_images == 1 && a->res.n_images_cached == 0);
    CHECK(b->res.n_images == 1 && b->res.n_images_cached == 1);
    got *other = ask(USER1(IMG("56x40") "," TXT("Describe it")), SURE, ROUTER, OCR_MODE_AUTO, c);
    CHECK(other->rc == 0 && other->res.n_images_cached == 0);
    got *none = ask(q, SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK(none->rc == 0 && none->res.n_images_cached == 0);
    done(a), done(b), done(other), done(none);
    image_cache_free(c);
}

static const char *ocr_image_field(const got *g, int k, const char *key) {
    json_t *v = json_object_get(json_array_get(json_object_get(g->res.ocr, "images"), (size_t)k), key);
    return json_is_string(v) ? json_string_value(v) : json_is_true(v) ? "true" : json_is_false(v) ? "false" : "";
}

/* Every image of the question is read, in order, each judged on its own. */
static void test_several_images(void) {
    got *g = ask(USER1(IMG("40x30") "," IMG("50x20") "," TXT("Extract the text")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(g->rc == 0, "%s", g->err.msg);
    CHECK_STR(route(g), "ocr");
    CHECK_STR(g->res.gen.text ? g->res.gen.text : "",
              "--- image 1 ---\n" OCR_TEXT " 40x30\n\n--- image 2 ---\n" OCR_TEXT " 50x20");
    CHECK_EQ_INT(json_array_size(json_object_get(g->res.ocr, "images")), 2);
    json_t *line2 = json_array_get(json_object_get(g->res.ocr, "lines"), 1);
    CHECK_EQ_INT(json_integer_value(json_object_get(line2, "image")), 2);
    done(g);

    /* one unreadable image among readable ones: marked, its text not served, the others answered */
    got *m = ask(USER1(IMG("40x30") "," IMG("13x30") "," IMG("50x20") "," TXT("Extract the text")), MIXED, ROUTER,
                 OCR_MODE_AUTO, NULL);
    CHECK_MSG(m->rc == 0, "%s", m->err.msg);
    const char *t = m->res.gen.text ? m->res.gen.text : "";
    CHECK_STR(route(m), "ocr");
    CHECK(!m->res.fell_back && m->res.gen.n_generated == 0);
    CHECK_MSG(strstr(t, "--- image 2 ---\n(not read reliably: OCR confidence 20)") && !strstr(t, "13x30"), "%s", t);
    CHECK_MSG(strstr(t, OCR_TEXT " 40x30") && strstr(t, "--- image 3 ---\n" OCR_TEXT " 50x20"), "%s", t);
    CHECK_STR(ocr_image_field(m, 0, "trusted"), "true");
    CHECK_STR(ocr_image_field(m, 1, "trusted"), "false");
    CHECK(!json_is_true(json_object_get(m->res.ocr, "trusted")));
    done(m);

    /* none trusted: the model reads them all; forced OCR serves every reading */
    got *u = ask(USER1(IMG("40x30") "," IMG("13x30") "," TXT("Extract the text")), UNSURE, ROUTER, OCR_MODE_AUTO,
                 NULL);
    CHECK_MSG(u->rc == 0, "%s", u->err.msg);
    CHECK(u->res.fell_back && !strcmp(route(u), "vlm") && u->res.n_images == 2);
    done(u);
    got *f = ask(USER1(IMG("40x30") "," IMG("13x30") "," TXT("Extract the text")), UNSURE, ROUTER, OCR_MODE_OCR,
                 NULL);
    CHECK_MSG(f->rc == 0 && f->res.gen.text && strstr(f->res.gen.text, OCR_TEXT " 13x30"), "%s",
              f->res.gen.text ? f->res.gen.text : f->err.msg);
    done(f);
}

#define PDF_PART "{\"type\":\"image_url\",\"image_url\":{\"url\":\"pdf:\"}}"

/* A PDF's pages reach the model as images and OCR as text layers. */
static void test_documents(void) {
    MAX_PIXELS = 100000;   /* two letter pages in the tiny model's context */
    got *o = ask(USER1(PDF_PART "," TXT("Extract the text")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(o->rc == 0, "%s", o->err.msg);
    CHECK_STR(o->res.gen.text ? o->res.gen.text : "", "--- page 1 ---\nInvoice 2024-117 for Green Leaf Cafe\n"
              "Total due within thirty days\n\n--- page 2 ---\nPage two keeps the terms");
    CHECK_STR(ocr_image_field(o, 1, "source"), "text layer");
    CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(json_object_get(o->res.ocr, "images"), 1), "page")),
                 2);
    done(o);

    got *v = ask(USER1(PDF_PART "," TXT("What is this?")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(v->rc == 0 && v->res.n_images == 2, "%s (%d images)", v->err.msg, v->res.n_images);
    done(v);
    PAGES = "2";
    got *p2 = ask(USER1(PDF_PART "," TXT("What is this?")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(p2->rc == 0 && p2->res.n_images == 1, "%s", p2->err.msg);
    got *t2 = ask(USER1(PDF_PART "," TXT("Extract the text")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_STR(t2->res.gen.text ? t2->res.gen.text : t2->err.msg, "Page two keeps the terms");
    done(p2), done(t2);
    PAGES = "3";
    got *bad = ask(USER1(PDF_PART "," TXT("Extract the text")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(bad->rc == -1 && bad->err.code == QVL_E_BAD_INPUT && strstr(bad->err.msg, "2 pages"), "%s",
              bad->err.msg);
    done(bad);
    PAGES = NULL;

    /* past the limit: the model is refused before any page is rendered, OCR reads every page */
    MAX_IMAGES = 2;
    loads = 0;
    got *big = ask(USER1(IMG("40x30") "," PDF_PART "," TXT("What is this?")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    CHECK_MSG(big->rc == -1 && big->err.code == QVL_E_TOO_LARGE && strstr(big->err.msg, "'pages'") &&
              strstr(big->err.msg, "at most 2"), "%s", big->err.msg);
    CHECK_EQ_INT(loads, 0);
    got *all = ask(USER1(IMG("40x30") "," PDF_PART "," TXT("Extract the text")), SURE, ROUTER, OCR_MODE_AUTO, NULL);
    const char *t = all->res.gen.text ? all->res.gen.text : all->err.msg;
    CHECK_MSG(all->rc == 0 && strstr(t, "--- image 1 ---\n" OCR_TEXT " 40x30") &&
              strstr(t, "--- image 2, page 1 ---\nInvoice") && strstr(t, "--- image 2, page 2 ---\nPage two"), "%s", t);
    done(big), done(all);
    MAX_IMAGES = 0;
    MAX_PIXELS = 0;
}

int main(void) {
    char dir[64];
    qvl_error err = {0};
    if (tiny_model_make(dir, sizeof dir, "answer") != 0) return check_summary();
    model_load_opts o = {.quant = "q8_0", .threads = 1};
    qvl_model *m = model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    static const char rules[] = "min-confidence 60\nocr extract the text\nocr+vlm summarize the text\n";
    ROUTER = ocr_router_parse(rules, sizeof rules - 1, "test rules", &err);
    CHECK_MSG(ROUTER != NULL, "%s", err.msg);
    SURE = plugin(dir, "sure.sh", 95, false);
    UNSURE = plugin(dir, "unsure.sh", 20, false);
    MIXED = plugin(dir, "mixed.sh", 95, true);
    PDF = two_page_pdf(&PDF_LEN);
    if (m && ROUTER && SURE && UNSURE && MIXED && PDF) {
        M = m;
        TP = threadpool_create(2);
        CHECK(gen_session_init(&SESS, m, 2048, &err) == 0);
        test_ocr_answers();
        test_fallback_and_forced();
        test_ocr_report();
        test_noise_falls_back();
        test_model_paths();
        test_last_question();
        test_failures();
        test_cache();
        test_several_images();
        test_documents();
        gen_session_free(&SESS);
        threadpool_free(TP);
    }
    ocr_engine_close(SURE);
    ocr_engine_close(UNSURE);
    ocr_engine_close(MIXED);
    free(PDF);
    ocr_router_free(ROUTER);
    model_free(m);
    tiny_model_remove(dir);
    return check_summary();
}
