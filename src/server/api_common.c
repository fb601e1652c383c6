/* api_common.c - request parameters, usage and timings shared by the OpenAI
 * API (api_openai.c), the simple API (api_chat.c) and Ollama's
 * (api_ollama.c); see server_impl.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "service/http_util.h"
#include "base/clock.h"
#include "server/server_impl.h"

enum { DEFAULT_MAX_TOKENS = 1024 };

/* Stop strings: a string or an array of strings; pointers into body. */
static int parse_stop(const json_t *body, gen_params *gp, const char **stops, qvl_error *err) {
    json_t *st = json_object_get(body, "stop");
    gp->n_stop = 0;
    gp->stop = stops;
    if (!st || json_is_null(st)) return 0;
    if (json_is_string(st)) {
        stops[gp->n_stop++] = json_string_value(st);
    } else if (json_is_array(st) && json_array_size(st) <= API_MAX_STOP) {
        size_t i;
        json_t *v;
        json_array_foreach(st, i, v) {
            if (!json_is_string(v)) return qvl_fail_code(err, QVL_E_BAD_INPUT, "'stop' must hold strings");
            stops[gp->n_stop++] = json_string_value(v);
        }
    } else {
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'stop' must be a string or an array of up to %d strings",
                             API_MAX_STOP);
    }
    for (int i = 0; i < gp->n_stop; i++)
        if (!stops[i][0]) return qvl_fail_code(err, QVL_E_BAD_INPUT, "'stop' strings must not be empty");
    return 0;
}

int api_parse_params(qvl_server *s, const json_t *body, gen_params *gp, const char **stops, long *min_px, long *max_px,
                     qvl_error *err) {
    *gp = gen_params_defaults(s->m);
    sampling_params *sp = &gp->sampling;
    double max_tokens = DEFAULT_MAX_TOKENS, temp = sp->temperature, top_p = sp->top_p, top_k = sp->top_k;
    double min_p = sp->min_p, pres = 0, freq = 0, rep = sp->repetition_penalty, seed = -1, minpx = 0, maxpx = 0;
    int ctx = s->cfg.ctx;
    if (http_get_number(body, "max_tokens", 1, ctx, &max_tokens, err) ||
        http_get_number(body, "max_completion_tokens", 1, ctx, &max_tokens, err) ||
        http_get_number(body, "temperature", 0, 2, &temp, err) || http_get_number(body, "top_p", 0, 1, &top_p, err) ||
        http_get_number(body, "top_k", 0, 1e6, &top_k, err) || http_get_number(body, "min_p", 0, 1, &min_p, err) ||
        http_get_number(body, "presence_penalty", -2, 2, &pres, err) ||
        http_get_number(body, "frequency_penalty", -2, 2, &freq, err) ||
        http_get_number(body, "repetition_penalty", 0.01, 10, &rep, err) ||
        http_get_number(body, "seed", -9.2e18, 9.2e18, &seed, err) ||
        http_get_number(body, "min_pixels", 0, 1e9, &minpx, err) ||
        http_get_number(body, "max_pixels", 0, 1e9, &maxpx, err))
        return -1;
    if (maxpx == 0 && (minpx == 0 || minpx <= s->cfg.max_pixels)) maxpx = (double)s->cfg.max_pixels;
    if (maxpx > 0 && maxpx < 28 * 28)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'max_pixels' must be at least %d (one 28x28 patch)", 28 * 28);
    if (minpx > 0 && maxpx > 0 && minpx > maxpx)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'min_pixels' must not exceed 'max_pixels'");
    if (parse_stop(body, gp, stops, err) != 0) return -1;
    /* ignore_eos (llama.cpp's and vLLM's extension): exactly max_tokens
     * tokens, for benchmarks and load tests */
    const json_t *ie = json_object_get(body, "ignore_eos");
    if (ie && !json_is_boolean(ie) && !json_is_null(ie))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "'ignore_eos' must be true or false");
    if (json_is_true(ie)) gp->ignore_eos = true, gp->detect_loops = false;
    gp->max_tokens = (int)max_tokens;
    sp->temperature = (float)temp;
    sp->top_p = (float)top_p;
    sp->top_k = (int)top_k;
    sp->min_p = (float)min_p;
    sp->presence_penalty = (float)pres;
    sp->frequency_penalty = (float)freq;
    sp->repetition_penalty = (float)rep;
    if (seed >= 0) {
        sp->seed = (uint64_t)seed;
    } else if (seed < -0.5) {   /* no seed: a different draw per request */
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) r = (uint64_t)(size_t)gp ^ (uint64_t)clock_ms();
        sp->seed = r;
    }
    *min_px = (long)minpx;
    *max_px = (long)maxpx;
    return 0;
}

/* Two decimals are plenty for milliseconds and rates, and keep answers short. */
static double r2(double x) { return round(x * 100) / 100; }

static double per_second(int n, double ms) { return ms > 0 ? r2(n / (ms / 1e3)) : 0; }

int api_parse_mode(const json_t *body, ocr_mode *mode, qvl_error *err) {
    *mode = OCR_MODE_AUTO;
    json_t *v = json_object_get(body, "mode");
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return qvl_fail_code(err, QVL_E_BAD_INPUT, "'mode' must be one of auto, ocr, vlm, ocr+vlm");
    if (ocr_mode_parse(json_string_value(v), mode, err) != 0) {
        err->code = QVL_E_BAD_INPUT;
        return -1;
    }
    return 0;
}

/* The route that answered and the OCR time, added to a timings object. */
static void add_route(json_t *timings, const sched_poll *p) {
    json_object_set_new(timings, "route", json_string(p->route ? p->route : "vlm"));
    json_object_set_new(timings, "ocr_ms", json_real(r2(p->ocr_ms)));
}

json_t *api_usage_json(const sched_poll *p) {
    int np = p->result ? p->result->n_prompt : 0, ng = p->result ? p->result->n_generated : 0;
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", np, "completion_tokens", ng, "total_tokens", np + ng);
}

json_t *api_timings_json(const sched_poll *p) {
    const gen_result *r = p->result;
    int np = r ? r->n_prompt : 0, ng = r ? r->n_generated : 0;
    double pms = r ? r->prompt_ms : 0, gms = r ? r->gen_ms : 0;
    json_t *t = json_pack("{s:f, s:f, s:i, s:f, s:f, s:i, s:f, s:f, s:f, s:s}", "queue_ms", r2(p->queue_ms), "image_ms",
                          r2(p->image_ms), "prompt_n", np, "prompt_ms", r2(pms), "prompt_per_second",
                          per_second(np, pms), "predicted_n", ng, "predicted_ms", r2(gms), "predicted_per_second",
                          per_second(ng > 1 ? ng - 1 : 0, gms), "first_token_ms", r2(p->first_text_ms), "finish",
                          p->timed_out ? "timeout" : r ? finish_reason_name(r->finish) : "error");
    if (t && p->state == JOB_DONE) add_route(t, p);
    if (t && p->n_images) json_object_set_new(t, "images", json_integer(p->n_images));   /* a document's pages count */
    return t;
}

const char *api_finish_reason(const gen_result *res) {
    switch (res->finish) {
    case FINISH_LENGTH:
    case FINISH_CONTEXT:
    case FINISH_CANCELLED: return "length";
    default: return "stop";
    }
}

void api_observe(qvl_server *s, const sched_poll *p) {
    const gen_result *r = p->result;
    double total = p->queue_ms + p->image_ms + (r ? r->prompt_ms + r->gen_ms : 0);
    metrics_observe_generation(s->met, r ? r->n_prompt : 0, r ? r->n_generated : 0, total, p->first_text_ms,
                               p->queue_ms, p->n_images, p->image_ms);
}

void api_request_init(api_request *a, json_t *body) {
    *a = (api_request){.req = {.load_image = srv_load_image, .load_free = srv_images_free,
                               .load_watch = srv_images_watch, .image_bytes = srv_image_bytes,
                               .max_images = SRV_MAX_IMAGES},
                       .body = body};
}

void api_request_free(api_request *a) {
    grammar_free(a->req.constraint);
    json_decref(a->req.tools);
    if (a->req.load_free) a->req.load_free(a->req.load_ctx);
    json_decref(a->req.messages);
    json_decref(a->keep);
    json_decref(a->body);
    memset(a, 0, sizeof *a);
}

sched_job *api_submit(qvl_server *s, api_request *a, qvl_error *err) {
    sched_job *job = srv_submit(s, &a->req, err);   /* copies the stop strings; reserves the memory */
    /* the job has these now, or released them on failure */
    a->req.messages = NULL;
    a->req.constraint = NULL;
    a->req.tools = NULL;
    a->req.load_ctx = NULL;
    a->req.load_free = NULL;
    return job;
}
