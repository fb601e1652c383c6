/* ocr_page.h - a photographed page made ready for the recogniser: turned
 * upright, straightened, evenly lit, big enough.
 *
 * Recognisers read upright, level, evenly lit text of a certain size; phones
 * deliver pages sideways, tilted, under a desk lamp. ocr_page_measure looks
 * at the picture once (a grey copy, a binarised copy, Leptonica's skew
 * search on it and turned by 90 degrees, its up/down test of Latin ascenders,
 * the spread of background brightness, the height of the marks) and writes a
 * plan; ocr_page_apply carries a plan out. Each correction is in the plan only
 * when its measurement asks for it, so a clean upright scan is handed on
 * untouched (ocr_page_plan_is_identity).
 *
 * Orientation is a guess in two steps: the axis (lines across or down the
 * picture) from the line-profile contrast of both turns, then up or down,
 * which only Latin script can tell cheaply; the engine (ocr_engine.c)
 * confirms it by the recognition's own confidence and retries the other way
 * when that is low.
 *
 * Cannot crash on any pixels; pure functions of the image, thread-safe.
 */
#ifndef QVL_OCR_PAGE_H
#define QVL_OCR_PAGE_H

#include <stdbool.h>

#include "base/error.h"
#include "image/image.h"

typedef struct ocr_page_plan {
    int rotation;       /* clockwise turn to apply: 0, 90, 180 or 270 degrees */
    float skew;         /* degrees to turn (counter-clockwise +) after that to level the lines */
    bool light;         /* normalise the background (uneven light measured) */
    float scale;        /* 1, or the enlargement for small print */
    bool dark_ground;   /* light marks on a dark ground: turning brings in black, not white */
    /* the measurements behind the plan, for logs and `qvl ocr` */
    float axis_ratio;   /* line-profile score across / down; < 1: lines run down (a sideways page) */
    float updown;       /* Leptonica's up/down confidence (Latin only); < 0: upside down */
    float light_spread; /* brightest / darkest background tile */
    float mark_height;  /* median height of the marks, pixels */
    bool print_seen;    /* marks the size of print were found (not only specks): worth rereading turned */
} ocr_page_plan;

/* An axis_ratio between 1/OCR_PAGE_AXIS_CLOSE and OCR_PAGE_AXIS_CLOSE is a
 * close call between lines across and lines down. */
#define OCR_PAGE_AXIS_CLOSE 1.6f

/* Measures img and fills *plan. Returns 0, or -1 with err set
 * (QVL_E_NOMEM, QVL_E_BAD_INPUT for an empty image). */
int ocr_page_measure(const image_rgb *img, ocr_page_plan *plan, qvl_error *err);

/* Whether the plan changes nothing (the image can go to the recogniser as it is). */
bool ocr_page_plan_is_identity(const ocr_page_plan *plan);

/* Writes img with the plan carried out into *out (caller frees with
 * image_free): grey when the light was normalised, colour otherwise.
 * Returns 0, or -1 with err set (QVL_E_NOMEM, QVL_E_TOO_LARGE when scaling
 * would pass max_pixels). */
int ocr_page_apply(const image_rgb *img, const ocr_page_plan *plan, uint64_t max_pixels, image_rgb *out,
                   qvl_error *err);

#endif
