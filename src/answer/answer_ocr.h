/* answer_ocr.h - the OCR path of answer_run for a question with any number of
 * images and document pages: each read on its own, in order, judged on its
 * own, and joined into one answer.
 *
 * Each image (each page of a document) is a unit: a PDF page with a text
 * layer is read from it, any other unit is decoded and read by the OCR engine
 * (ocr_engine_read_page: turned, levelled, re-read when not trusted). A unit
 * is trusted when the router accepts it (ocr_router_accepts), or without a
 * router when ocr_result_trusted says so.
 *
 * The answer text: one unit's text as it is; several units each under a
 * header line, "--- image 2 ---", "--- page 3 ---" (the pages of a single
 * document) or "--- image 2, page 3 ---", with a blank line between. When
 * ocr_answer_text is asked to hide untrusted units (auto mode), such a unit's
 * text is replaced by "(no text found)" or "(not read reliably: OCR
 * confidence N)", so one bad image neither hides the others nor passes its
 * gibberish on.
 */
#ifndef QVL_ANSWER_OCR_H
#define QVL_ANSWER_OCR_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "answer/pages.h"
#include "generate/chat.h"
#include "ocr/ocr.h"
#include "ocr/ocr_router.h"

typedef struct ocr_unit_reading {
    ocr_result res;
    ocr_page_plan plan;
    bool trusted;
    bool text_layer;         /* read from the PDF's text layer */
} ocr_unit_reading;

typedef struct ocr_reading {
    const pages_view *view;  /* the units read (borrowed) */
    ocr_unit_reading *units; /* [view->n_units] */
    int n_trusted;
    float confidence;        /* over every unit, weighted by characters */
} ocr_reading;

/* How to read: the engine, the router (may be NULL), the language, the
 * caller's loader and bytes (for pixels and text layers), and the cancel
 * flag, read between units. in (may be NULL) holds the decoded images of
 * view->messages, whose last view->n_units are the units': they are used
 * instead of decoding again. */
typedef struct ocr_read_opts {
    ocr_engine *engine;
    const ocr_router *router;
    const char *lang;
    const chat_opts *chat;
    answer_bytes_fn bytes;
    const atomic_bool *cancel;
    const chat_input *in;
} ocr_read_opts;

/* Reads every unit of view. Returns 0 with *out filled (ocr_reading_free),
 * or -1 with err set ("image N[, page P]: ..."; QVL_E_CANCELLED). */
int ocr_read_units(const pages_view *view, const ocr_read_opts *o, ocr_reading *out, qvl_error *err);

/* The answer text (see above), malloc'd; NULL when out of memory. */
char *ocr_answer_text(const ocr_reading *r, bool hide_untrusted);

/* The answer's "ocr" field (answer.h); NULL when out of memory. */
json_t *ocr_reading_json(const ocr_reading *r);

void ocr_reading_free(ocr_reading *r);

#endif
