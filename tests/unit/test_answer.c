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
 *     and the model answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "tiny_model.h"
#include "answer/answer.h"
#include "generate/image_cache.h"
#include "load/model_load.h"
#include "tokenizer/tokenizer.h"

#define OCR_TEXT "HELLO WORLD from the plugin reading page seven"

static const qvl_model *M;
static threadpool *TP;
static gen_session SESS;
static ocr_router *ROUTER;
static ocr_engine *SURE, *UNSURE;   /* confidence 95 / 20 */
static int loads;

/* Image parts are {"type":"image_url","image_url":{"url":"test:WxH"}}: the
 * loader makes a W x H picture ("noise:WxH": grey noise), or fails for
 * anything else. */
static int load_image(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    const char *url = json_string_value(json_object_get(json_object_get(part, "image_url"), "url"));
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

/* A command plugin answering OCR_TEXT + " WxH" at the given confidence. */
static ocr_engine *plugin(const char *dir, const char *name, int confidence) {
    char script[1024];
    snprintf(script, sizeof script,
             "#!/bin/sh\nreq=$(cat)\n"
             "w=$(printf '%%s' \"$req\" | sed -n 's/.*\"width\": *\\([0-9]*\\).*/\\1/p')\n"
             "h=$(printf '%%s' \"$req\" | sed -n 's/.*\"height\": *\\([0-9]*\\).*/\\1/p')\n"
             "printf '{\"lines\": [{\"text\": \"%s %%sx%%s\", \"confidence\": %d}]}\\n' \"$w\" \"$h\"\n",
             OCR_TEXT, confidence);
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
                         .chat = {.add_generation_prompt = true, .load_image = load_image, .cache = cache}};
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
    SURE = plugin(dir, "sure.sh", 95);
    UNSURE = plugin(dir, "unsure.sh", 20);
    if (m && ROUTER && SURE && UNSURE) {
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
        gen_session_free(&SESS);
        threadpool_free(TP);
    }
    ocr_engine_close(SURE);
    ocr_engine_close(UNSURE);
    ocr_router_free(ROUTER);
    model_free(m);
    tiny_model_remove(dir);
    return check_summary();
}
