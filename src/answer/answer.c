/* answer.c - see answer.h. */
#include "answer/answer.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

static const char *or_empty(const char *s) { return s ? s : ""; }

/* The text of the last user message (its text parts joined), malloc'd;
 * NULL when out of memory. */
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
        for (size_t k = 0; q && k < json_array_size(c); k++) {
            const char *t = json_string_value(json_object_get(json_array_get(c, k), "text"));
            if (t) strcat(strcat(q, *q ? " " : ""), t);
        }
        return q;
    }
    return strdup("");
}

/* The conversation with the OCR text put in front of the last question;
 * NULL when out of memory. (jansson's *_new calls take their value's
 * reference even when they fail, and fail on a NULL value.) */
static json_t *with_ocr_context(const json_t *messages, const char *ocr_text) {
    json_t *copy = json_deep_copy(messages);
    bool bad = !copy;
    for (size_t i = json_array_size(copy); i-- > 0;) {
        json_t *m = json_array_get(copy, i);
        if (strcmp(or_empty(json_string_value(json_object_get(m, "role"))), "user")) continue;
        char *ctx = malloc(strlen(ocr_text) + 96);
        if (ctx) sprintf(ctx, "Text in the image, read by OCR (may contain errors):\n%s\n\n", ocr_text);
        json_t *c = json_object_get(m, "content");
        json_t *part = ctx ? json_pack("{s:s, s:s}", "type", "text", "text", ctx) : NULL;
        free(ctx);
        if (json_is_string(c)) {
            json_t *arr = json_array();
            bad = json_array_append_new(arr, part) != 0;
            json_t *question = json_pack("{s:s, s:s}", "type", "text", "text", json_string_value(c));
            bad |= json_array_append_new(arr, question) != 0;
            bad |= json_object_set_new(m, "content", arr) != 0;
        } else {
            /* after the images, before the question text */
            size_t at = 0;
            while (at < json_array_size(c) && !json_object_get(json_array_get(c, at), "text")) at++;
            bad = json_array_insert_new(c, at, part) != 0;
        }
        break;
    }
    if (!bad) return copy;
    json_decref(copy);
    return NULL;
}

/* The reading for the answer's "ocr" field (see answer.h); NULL when out of memory. */
static json_t *ocr_report(const ocr_result *res, const ocr_page_plan *plan) {
    json_t *lines = json_array();
    for (int i = 0; lines && i < res->n_lines; i++) {
        const ocr_line *l = &res->lines[i];
        if (json_array_append_new(lines, json_pack("{s:s, s:f, s:[iiii]}", "text", l->text, "confidence",
                                                   (double)l->confidence, "box", l->x, l->y, l->w, l->h)) != 0) {
            json_decref(lines);
            return NULL;
        }
    }
    return json_pack("{s:f, s:b, s:o, s:{s:i, s:f, s:b, s:f}}", "confidence", (double)res->confidence, "trusted",
                     ocr_result_trusted(res), "lines", lines, "page", "rotation", plan->rotation, "skew",
                     (double)plan->skew, "light", plan->light, "scale", (double)plan->scale);
}

/* OCR of the conversation's last image (already decoded in *in). */
static int run_ocr(answer_worker *w, const answer_request *rq, const chat_input *in, ocr_result *res,
                   answer_result *out, qvl_error *err) {
    double t0 = clock_ms();
    ocr_page_plan plan = {.scale = 1};
    const char *lang = w->ocr_lang ? w->ocr_lang : OCR_DEFAULT_LANG;
    const char *type = rq->doc ? image_sniff(rq->doc, rq->doc_len) : NULL;
    qvl_error ignored = {0};
    bool paged = type && (!strcmp(type, "application/pdf") || image_page_count(rq->doc, rq->doc_len, NULL, &ignored) > 1);
    int rc = paged ? ocr_engine_read_document(w->ocr, rq->doc, rq->doc_len, NULL, rq->pages, lang, rq->cancel, res, err)
                   : ocr_engine_read_page(w->ocr, &in->images[in->n_images - 1], lang, rq->cancel, res, &plan, err);
    out->ocr_ms = clock_ms() - t0;
    out->ocr_confidence = rc == 0 ? res->confidence : 0;
    if (rc == 0 && !(out->ocr = ocr_report(res, &plan))) {
        ocr_result_free(res);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    }
    return rc;
}

/* Refuses, in milliseconds and before any pixel is encoded, a prompt that
 * leaves its answer no room in the session's context. (An answer that
 * merely would not fit max_tokens runs and ends with the context, as a
 * long conversation's follow-ups must.) */
static int check_fits(const answer_worker *w, const chat_opts *co, const chat_input *in, qvl_error *err) {
    int n_text, n_image;
    if (chat_input_length(w->model, in, co, &n_text, &n_image, err) != 0) return -1;
    int n_ctx = w->session->kv.n_ctx;
    if (n_text + n_image < n_ctx) return 0;
    return qvl_fail_code(err, QVL_E_TOO_LARGE,
                         "the prompt needs %d positions (%d image tokens + %d text tokens) but the context holds %d: "
                         "lower max_pixels (an image takes about one token per 1024 pixels) or start the server "
                         "with a larger --ctx",
                         n_text + n_image, n_image, n_text, n_ctx);
}

static int run_model(answer_worker *w, const answer_request *rq, const chat_opts *co, const chat_input *in,
                     answer_result *out, qvl_error *err) {
    if (check_fits(w, co, in, err) != 0) return -1;
    chat_prompt cp;
    if (chat_prompt_from_input(w->model, in, co, &cp, err) != 0) return -1;
    out->image_ms = in->decode_ms + cp.image_ms;
    out->n_images = cp.n_images;
    out->n_images_cached = cp.n_images_cached;
    gen_prompt gp = chat_prompt_view(&cp);
    gen_params gen = rq->gen;
    gen.progress = rq->progress;
    int rc = generate(w->model, w->session, &gp, &gen, w->tp, rq->on_text, rq->user, rq->cancel, &out->gen, err);
    chat_prompt_free(&cp);
    return rc;
}

/* Which path answers: the mode, or in auto mode the question's wording.
 * Fails (-1, err) only for lack of memory. */
static int choose_route(const answer_worker *w, const answer_request *rq, ocr_route *route, qvl_error *err) {
    if (!w->router) {
        *route = rq->mode == OCR_MODE_OCR       ? OCR_ROUTE_OCR
                 : rq->mode == OCR_MODE_OCR_VLM ? OCR_ROUTE_OCR_VLM
                                                : OCR_ROUTE_VLM;
        return 0;
    }
    char *question = last_question(rq->messages);
    if (!question) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    ocr_decision why;
    *route = ocr_router_decide(w->router, question, rq->mode, &why);
    free(question);
    return 0;
}

int answer_run(answer_worker *w, const answer_request *rq, answer_result *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    chat_opts co = rq->chat;
    co.tp = w->tp;
    co.cancel = rq->cancel;
    co.progress = rq->progress;
    chat_input in;
    /* Rendered and decoded once: the OCR engine and the vision encoder read
     * the same pixels. */
    if (chat_input_load(w->model, rq->messages, &co, &in, err) != 0) return -1;
    ocr_route route = OCR_ROUTE_VLM;
    bool forced = rq->mode != OCR_MODE_AUTO;
    int rc = -1;
    if (choose_route(w, rq, &route, err) != 0) goto done;
    if (route != OCR_ROUTE_VLM && (!in.n_images || !w->ocr)) {
        if (forced) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "%s", !in.n_images ? "OCR needs an image in the conversation"
                                                                   : "OCR is not available in this server");
            goto done;
        }
        route = OCR_ROUTE_VLM;
    }
    if (route == OCR_ROUTE_OCR && rq->gen.constraint) {
        /* OCR alone gives plain text: a constrained answer needs the model,
         * which can still use the OCR text */
        if (forced) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "mode 'ocr' answers with plain text and cannot follow a schema or "
                          "tool call: use mode ocr+vlm or auto");
            goto done;
        }
        route = OCR_ROUTE_OCR_VLM;
    }
    out->route = route;
    if (route == OCR_ROUTE_VLM) {
        rc = run_model(w, rq, &co, &in, out, err);
        goto done;
    }
    ocr_result res = {0};
    if (run_ocr(w, rq, &in, &res, out, err) != 0) goto done;
    if (route == OCR_ROUTE_OCR && !forced && w->router && !ocr_router_accepts(w->router, &res)) {
        out->route = OCR_ROUTE_VLM;   /* blurred, handwritten ...: let the model read it */
        out->fell_back = true;
        rc = run_model(w, rq, &co, &in, out, err);
    } else if (route == OCR_ROUTE_OCR) {
        const char *text = res.text ? res.text : "";
        out->gen.text = strdup(text);
        out->gen.text_len = strlen(text);
        out->gen.finish = FINISH_STOP;
        rc = out->gen.text ? 0 : qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        if (rc == 0 && rq->on_text && out->gen.text_len) rq->on_text(rq->user, text, out->gen.text_len);
    } else {
        json_t *aug = with_ocr_context(rq->messages, res.text ? res.text : "");
        rc = !aug ? qvl_fail_code(err, QVL_E_NOMEM, "out of memory")
                  : chat_input_rerender(&in, aug, &co, err) != 0 ? -1 : run_model(w, rq, &co, &in, out, err);
        json_decref(aug);
    }
    ocr_result_free(&res);
done:
    chat_input_free(&in);
    if (rc != 0) {   /* a failed answer owns nothing */
        json_decref(out->ocr);
        out->ocr = NULL;
    }
    return rc;
}

void answer_result_free(answer_result *r) {
    gen_result_free(&r->gen);
    json_decref(r->ocr);
    memset(r, 0, sizeof *r);
}

const char *answer_route_name(const answer_result *r) { return ocr_route_name(r->route); }
