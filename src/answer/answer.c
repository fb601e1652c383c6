/* answer.c - see answer.h. */
#include "answer/answer.h"

#include <stdlib.h>
#include <string.h>

#include "answer/answer_ocr.h"
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

/* Refuses, in milliseconds and before any pixel is encoded, a prompt that
 * leaves its answer no room in the session's context. (An answer that
 * merely would not fit max_tokens runs and ends with the context, as a
 * long conversation's follow-ups must.) */
static int check_fits(const answer_worker *w, const chat_opts *co, chat_input *in, qvl_error *err) {
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

static int run_model(answer_worker *w, const answer_request *rq, const chat_opts *co, chat_input *in,
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

/* Reads every image of the question by OCR (answer_ocr.h) into *rd and the
 * result's OCR fields. in: the decoded images, or NULL to decode per image. */
static int run_ocr(answer_worker *w, const answer_request *rq, const chat_opts *co, const pages_view *view,
                   const chat_input *in, ocr_reading *rd, answer_result *out, qvl_error *err) {
    double t0 = clock_ms();
    ocr_read_opts o = {.engine = w->ocr, .router = w->router, .lang = w->ocr_lang ? w->ocr_lang : OCR_DEFAULT_LANG,
                       .chat = co, .bytes = rq->image_bytes, .cancel = rq->cancel, .in = in};
    int rc = ocr_read_units(view, &o, rd, err);
    out->ocr_ms = clock_ms() - t0;
    out->ocr_confidence = rc == 0 ? rd->confidence : 0;
    if (rc == 0 && !(out->ocr = ocr_reading_json(rd))) {
        ocr_reading_free(rd);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    }
    return rc;
}

/* The route after the mode, the wording and what the conversation holds;
 * -1 with err for a forced route that cannot be taken. */
static int settle_route(answer_worker *w, const answer_request *rq, const pages_view *view, ocr_route *route,
                        qvl_error *err) {
    bool forced = rq->mode != OCR_MODE_AUTO;
    if (choose_route(w, rq, route, err) != 0) return -1;
    if (*route != OCR_ROUTE_VLM && (!view->n_units || !w->ocr)) {
        if (forced)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s", !view->n_units ? "OCR needs an image in the conversation"
                                                                            : "OCR is not available in this server");
        *route = OCR_ROUTE_VLM;
    }
    if (*route == OCR_ROUTE_OCR && rq->gen.constraint) {
        /* OCR alone gives plain text: a constrained answer needs the model,
         * which can still use the OCR text */
        if (forced)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "mode 'ocr' answers with plain text and cannot follow a "
                                 "schema or tool call: use mode ocr+vlm or auto");
        *route = OCR_ROUTE_OCR_VLM;
    }
    return 0;
}

/* Decodes the expanded conversation's images for the model: refused when a
 * question holds more than the limit. */
static int load_for_model(answer_worker *w, const pages_view *view, const chat_opts *co, chat_input *in,
                          qvl_error *err) {
    if (view->over_limit) {
        *err = view->limit_err;
        return -1;
    }
    return chat_input_load(w->model, view->messages, co, in, err);
}

/* Serves an OCR reading as the answer. */
static int serve_ocr(const answer_request *rq, const ocr_reading *rd, bool hide_untrusted, answer_result *out,
                     qvl_error *err) {
    char *text = ocr_answer_text(rd, hide_untrusted);
    if (!text) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    out->gen.text = text;
    out->gen.text_len = strlen(text);
    out->gen.finish = FINISH_STOP;
    if (rq->on_text && out->gen.text_len) rq->on_text(rq->user, text, out->gen.text_len);
    return 0;
}

int answer_run(answer_worker *w, const answer_request *rq, answer_result *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    chat_opts co = rq->chat;
    co.tp = w->tp;
    co.cancel = rq->cancel;
    co.progress = rq->progress;
    pages_view view;
    if (pages_expand(rq->messages, rq->image_bytes, co.load_ctx, rq->pages, rq->max_images, &view, err) != 0)
        return -1;
    chat_input in = {0};
    ocr_reading rd = {0};
    ocr_route route = OCR_ROUTE_VLM;
    int rc = settle_route(w, rq, &view, &route, err);
    out->route = route;
    if (rc != 0) goto done;
    if (route == OCR_ROUTE_VLM) {
        rc = load_for_model(w, &view, &co, &in, err) != 0 ? -1 : run_model(w, rq, &co, &in, out, err);
        goto done;
    }
    /* ocr+vlm decodes once for both readers; OCR alone decodes per image
     * (a page with a text layer is never rendered) */
    if (route == OCR_ROUTE_OCR_VLM && load_for_model(w, &view, &co, &in, err) != 0) goto done;
    if ((rc = run_ocr(w, rq, &co, &view, in.text ? &in : NULL, &rd, out, err)) != 0) goto done;
    bool forced = rq->mode != OCR_MODE_AUTO;
    if (route == OCR_ROUTE_OCR && !forced && rd.n_trusted == 0) {
        out->route = OCR_ROUTE_VLM;   /* blurred, handwritten, no text ...: let the model read it */
        out->fell_back = true;
        rc = load_for_model(w, &view, &co, &in, err) != 0 ? -1 : run_model(w, rq, &co, &in, out, err);
    } else if (route == OCR_ROUTE_OCR) {
        rc = serve_ocr(rq, &rd, !forced, out, err);
    } else {
        char *text = ocr_answer_text(&rd, true);
        json_t *aug = text ? with_ocr_context(view.messages, text) : NULL;
        rc = !aug ? qvl_fail_code(err, QVL_E_NOMEM, "out of memory")
                  : chat_input_rerender(&in, aug, &co, err) != 0 ? -1 : run_model(w, rq, &co, &in, out, err);
        json_decref(aug);
        free(text);
    }
done:
    ocr_reading_free(&rd);
    chat_input_free(&in);
    pages_free(&view);
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
