/* pages.h - documents (a PDF, a multi-page TIFF) turned into the images the
 * model and the OCR engine read: one image part per selected page, in order.
 *
 * A conversation names a document once (one image part); the model needs one
 * image per page. pages_expand copies the messages with every document part
 * replaced by one part per selected page (a shallow copy of the part with
 * "page": p, 0-based, which the caller's image loader decodes), checks that no
 * user message then holds more images than the limit, and lists the images of
 * the latest question (the last user message with images) for the OCR path.
 *
 * A part is a document when the caller can give its bytes (answer_request's
 * image_bytes) and they are a PDF or a TIFF of several pages; a part that
 * already has "page" is one page and stays as it is. The pages read are the
 * part's own "pages" ("2", "1-3", "all"), else the request's default, else
 * all of them.
 *
 * Memory: pages_expand fills a pages_view that owns the copied messages and
 * the list; pages_free releases them. The parts it lists live in the copy.
 */
#ifndef QVL_ANSWER_PAGES_H
#define QVL_ANSWER_PAGES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* The encoded bytes of an image part, borrowed for the length of the request,
 * or NULL (and *len 0) when the caller does not have them. */
typedef const uint8_t *(*answer_bytes_fn)(void *ctx, const json_t *part, size_t *len);

/* One image of the latest question, as the OCR path reads it. */
typedef struct page_unit {
    const json_t *part;      /* in pages_view.messages */
    int image;               /* 1-based place among the question's images as sent */
    int page;                /* 0-based page of a document; -1 for a plain image */
    bool pdf;                /* a PDF page: its text layer may be read */
} page_unit;

typedef struct pages_view {
    json_t *messages;        /* the conversation with documents expanded into pages */
    page_unit *units;        /* the latest question's images after expansion */
    int n_units;
    int n_images;            /* images in the whole expanded conversation */
    bool over_limit;         /* a user message holds more than max_images images */
    qvl_error limit_err;     /* when over_limit: QVL_E_TOO_LARGE naming the limit and the pages selector */
} pages_view;

/* Expands the documents of messages (see above); bytes may be NULL (then
 * nothing is a document). default_pages applies to documents without "pages"
 * (NULL = all); max_images <= 0 means no limit. Exceeding the limit is not a
 * failure here (OCR may still read every page): it sets over_limit. Returns 0,
 * or -1 with err set and *out zeroed: a document that cannot be opened
 * ("image N: ..." with image_page_count's codes), a bad page selection
 * (QVL_E_BAD_INPUT), out of memory. */
int pages_expand(const json_t *messages, answer_bytes_fn bytes, void *ctx, const char *default_pages, int max_images,
                 pages_view *out, qvl_error *err);
void pages_free(pages_view *v);

#endif
