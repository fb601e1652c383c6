/* answer.h - answers the last question of a conversation by the right path:
 * the OCR engine for "read the text" questions, the vision-language model
 * otherwise, or OCR text handed to the model as context (ocr+vlm). qvl ask,
 * qvl batch and the server all go through here, so they route alike.
 *
 * Routing (ocr_router.h): the request's mode forces a path, or in auto mode
 * the question's wording decides. OCR reads every image of the question (the
 * last user message with images) and every selected page of its documents,
 * each judged on its own (answer_ocr.h). In auto mode, when no image's
 * reading is trusted the model answers instead, and the result says so; when
 * some are, OCR answers and the untrusted ones are marked as unreadable in the
 * text rather than served. A
 * conversation without an image always goes to the model. A constrained
 * answer (gen.constraint: a JSON Schema, a tool call) that auto mode would
 * give to OCR goes to ocr+vlm instead: the model writes the JSON with the
 * OCR text as context; mode ocr with a constraint is refused.
 *
 * A worker (one per thread) owns its OCR engine and session; the model and
 * the router are shared and read-only.
 */
#ifndef QVL_ANSWER_H
#define QVL_ANSWER_H

#include <stdatomic.h>
#include <stdbool.h>

#include <jansson.h>

#include "base/error.h"
#include "generate/chat.h"
#include "generate/generate.h"
#include "answer/pages.h"
#include "ocr/ocr.h"
#include "ocr/ocr_router.h"

typedef struct answer_worker {
    const qvl_model *model;
    const ocr_router *router;   /* NULL: every question goes to the model */
    ocr_engine *ocr;            /* NULL: no OCR available */
    const char *ocr_lang;       /* NULL: OCR_DEFAULT_LANG */
    threadpool *tp;
    gen_session *session;
} answer_worker;

typedef struct answer_request {
    const json_t *messages;     /* the whole conversation, OpenAI style */
    ocr_mode mode;
    chat_opts chat;             /* image loading and detail; chat.tp, .cancel and .progress are set here */
    gen_params gen;
    gen_on_text on_text;        /* receives the answer as it is produced */
    void *user;
    atomic_bool *cancel;        /* NULL, or set by another thread: stops the image decoding (between images
                                   and pages), encoding, OCR (between words and pages), the prompt or the answer */
    qvl_progress progress;      /* hears the image encoding, then the prompt (before the first text); {0} = none */
    /* Documents (answer/pages.h): with image_bytes (ctx: chat.load_ctx) a PDF or multi-page TIFF part
     * becomes one image per page - the part's own "pages", else `pages` ("2", "1-3"; NULL = all) - for
     * the model and for OCR alike (a PDF page with a text layer is read from it). NULL: every part is
     * one image. */
    answer_bytes_fn image_bytes;
    const char *pages;
    /* At most this many images per user message reach the model, a document's pages counting one
     * each (0 = no limit): more is QVL_E_TOO_LARGE naming the limit and the page selector. OCR
     * answers read every page whatever the limit. */
    int max_images;
} answer_request;

typedef struct answer_result {
    ocr_route route;            /* the path that produced the answer */
    bool fell_back;             /* OCR was tried, its confidence was too low, the model answered */
    float ocr_confidence;       /* 0..100 when OCR ran */
    json_t *ocr;                /* when OCR ran: {"confidence", "trusted" (every image), "lines": [{"text",
                                   "confidence", "box": [x, y, w, h], "image", "page"}], "page": {"rotation",
                                   "skew", "light", "scale"} (of the first image), "images": [{"image", "page",
                                   "confidence", "trusted", "source": "ocr" | "text layer", "lines",
                                   "geometry": {as "page"}}]} (boxes in the corrected page; "page" only for
                                   documents); NULL otherwise. Owned: answer_result_free */
    double ocr_ms, image_ms;
    int n_images, n_images_cached;   /* images the model read; how many came from the cache */
    gen_result gen;             /* the answer text, usage, timings (no tokens for OCR answers) */
} answer_result;

/* Returns 0 with *out filled (free with answer_result_free), or -1 with err
 * set: malformed conversation, an image that cannot be read, OCR forced but
 * unavailable or without an image, a generation error, or QVL_E_CANCELLED
 * when *rq->cancel stopped an image encoding (cancelled later, the result
 * says FINISH_CANCELLED). */
int answer_run(answer_worker *w, const answer_request *rq, answer_result *out, qvl_error *err);
void answer_result_free(answer_result *r);

/* "ocr", "vlm" or "ocr+vlm" for the route that answered. */
const char *answer_route_name(const answer_result *r);

#endif
