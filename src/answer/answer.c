/* answer.c - see answer.h. */
#include "answer/answer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/chat_template.h"

static const char *or_empty(const char *s) { return s ? s : ""; }

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct last_image {
    const json_t *part;
    int index, count;
} last_image;

static void note_image(void *ctx, chat_media_kind kind, int index, const json_t *part) {
    last_image *l = ctx;
    if (kind != CHAT_MEDIA_IMAGE) return;
    l->part = part;
    l->index = index;
    l->count++;
}

/* The text of the last user message (its text parts joined), malloc'd. */
static char *last_question(const json_t *messages) {
    for (size_t i = json_array_size(messages); i-- > 0;) {
        const json_t *m = json_array_get(messages, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "user")) continue;
        const json_t *c = json_object_get(m, "content");
        if (json_is_string(c)) return strdup(json_string_value(c));
        size_t len = 0;
        for (size_t k = 0; k < json_array_size(c); k++)
            len += strlen(or_empty(json_string_value(json_object_get(json_array_get(c, k), "text")))) + 1;
        char *q = calloc(len + 1, 1);
        for (size_t k = 0; k < json_array_size(c); k++) {
            const char *t = json_string_value(json_object_get(json_array_get(c, k), "text"));
            if (t) strcat(strcat(q, *q ? " " : ""), t);
        }
        return q;
    }
    return strdup("");
}

/* The conversation with the OCR text put in front of the last question. */
static json_t *with_ocr_context(const json_t *messages, const char *ocr_text) {
    json_t *copy = json_deep_copy(messages);
    for (size_t i = json_array_size(copy); i-- > 0;) {
        json_t *m = json_array_get(copy, i);
        if (strcmp(or_empty(json_string_value(json_object_get(m, "role"))), "user")) continue;
        char *ctx = malloc(strlen(ocr_text) + 96);
        sprintf(ctx, "Text in the image, read by OCR (may contain errors):\n%s\n\n", ocr_text);
        json_t *c = json_object_get(m, "content"), *part = json_pack("{s:s, s:s}", "type", "text", "text", ctx);
        free(ctx);
        if (json_is_string(c)) {
            json_t *arr = json_array();
            json_array_append_new(arr, part);
            json_array_append_new(arr, json_pack("{s:s, s:s}", "type", "text", "text", json_string_value(c)));
            json_object_set_new(m, "content", arr);
        } else {
            /* after the images, before the question text */
            size_t at = 0;
            while (at < json_array_size(c) && !json_object_get(json_array_get(c, at), "text")) at++;
            json_array_insert_new(c, at, part);
        }
        break;
    }
    return copy;
}

static int run_ocr(answer_worker *w, const answer_request *rq, const last_image *img, ocr_result *res,
                   answer_result *out, qvl_error *err) {
    double t0 = now_ms();
    image_rgb pix;
    if (rq->chat.load_image(rq->chat.load_ctx, img->part, img->index, &pix, err) != 0) return -1;
    int rc = ocr_engine_recognize(w->ocr, &pix, w->ocr_lang ? w->ocr_lang : OCR_DEFAULT_LANG, res, err);
    image_free(&pix);
    out->ocr_ms = now_ms() - t0;
    out->ocr_confidence = rc == 0 ? res->confidence : 0;
    return rc;
}

static int run_model(answer_worker *w, const answer_request *rq, const json_t *messages, answer_result *out,
                     qvl_error *err) {
    chat_opts co = rq->chat;
    co.tp = w->tp;
    chat_prompt cp;
    if (chat_prompt_build(w->model, messages, &co, &cp, err) != 0) return -1;
    out->image_ms = cp.image_ms;
    out->n_images = cp.n_images;
    out->n_images_cached = cp.n_images_cached;
    gen_prompt gp = chat_prompt_view(&cp);
    int rc = generate(w->model, w->session, &gp, &rq->gen, w->tp, rq->on_text, rq->user, rq->cancel, &out->gen, err);
    chat_prompt_free(&cp);
    return rc;
}

int answer_run(answer_worker *w, const answer_request *rq, answer_result *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    last_image img = {0};
    chat_template_opts to = {.on_media = note_image, .media_ctx = &img};
    int n_img;
    char *rendered = chat_template_render(rq->messages, &to, &n_img, err);
    if (!rendered) return -1;
    free(rendered);
    char *question = last_question(rq->messages);
    ocr_decision why;
    ocr_route route = w->router ? ocr_router_decide(w->router, question, rq->mode, &why)
                                : rq->mode == OCR_MODE_OCR ? OCR_ROUTE_OCR
                                : rq->mode == OCR_MODE_OCR_VLM ? OCR_ROUTE_OCR_VLM : OCR_ROUTE_VLM;
    free(question);
    bool forced = rq->mode != OCR_MODE_AUTO;
    if (route != OCR_ROUTE_VLM && (!img.part || !w->ocr)) {
        if (forced)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s", !img.part ? "OCR needs an image in the conversation"
                                                                      : "OCR is not available in this server");
        route = OCR_ROUTE_VLM;
    }
    out->route = route;
    if (route == OCR_ROUTE_VLM) return run_model(w, rq, rq->messages, out, err);

    ocr_result res = {0};
    if (run_ocr(w, rq, &img, &res, out, err) != 0) return -1;
    int rc = 0;
    if (route == OCR_ROUTE_OCR && !forced && w->router && !ocr_router_accepts(w->router, &res)) {
        out->route = OCR_ROUTE_VLM;   /* blurred, handwritten ...: let the model read it */
        out->fell_back = true;
        rc = run_model(w, rq, rq->messages, out, err);
    } else if (route == OCR_ROUTE_OCR) {
        const char *text = res.text ? res.text : "";
        out->gen.text = strdup(text);
        out->gen.text_len = strlen(text);
        out->gen.finish = FINISH_STOP;
        if (rq->on_text && out->gen.text_len) rq->on_text(rq->user, text, out->gen.text_len);
    } else {
        json_t *aug = with_ocr_context(rq->messages, res.text ? res.text : "");
        rc = run_model(w, rq, aug, out, err);
        json_decref(aug);
    }
    ocr_result_free(&res);
    return rc;
}

void answer_result_free(answer_result *r) {
    gen_result_free(&r->gen);
    memset(r, 0, sizeof *r);
}

const char *answer_route_name(const answer_result *r) { return ocr_route_name(r->route); }
