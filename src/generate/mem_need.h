/* mem_need.h - how many bytes one request will allocate, worked out before
 * the work from the sizes of its images and the server's settings, for the
 * memory budget (base/mem_budget.h, --max-memory).
 *
 * Every figure is an upper bound of what the code allocates, computed from
 * the same size tables the allocating code uses (vision_encode_bytes,
 * text_pass_bytes, kv_cache_bytes), so it follows them when they change;
 * tests/unit/test_mem_need.c checks it against the resident memory a real
 * encode takes. OCR's working memory (Tesseract's own) is the one estimate
 * not derived from our code: 12 bytes per pixel of the page, from its
 * grey, binary and rotated copies.
 */
#ifndef QVL_MEM_NEED_H
#define QVL_MEM_NEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/mem_budget.h"
#include "image/image.h"
#include "model/model.h"

/* One image of a request as decoding will produce it. */
typedef struct mem_image {
    int width, height;     /* decoded pixels (a PDF page: its render size) */
    bool rendered;         /* a PDF page: a render surface of 4 bytes per pixel exists beside the RGB copy */
    int pages;             /* the images it becomes for the model (a document: one a page); 0 counts as 1 */
} mem_image;

/* The mem_image of an encoded image (or document) from its headers, under
 * lim: a single image or page as probed (image_probe); a document of
 * several pages as min(its pages, max_pages) pages each of the largest
 * possible size (the limits, or a PDF's render cap), since opening every
 * page of a 1000-page PDF to size it would be work of its own. max_pages is
 * the most images a request may show the model (more is refused anyway).
 * Returns 0, or -1 with err set (the image's header cannot be read: the
 * error decoding would give). */
int mem_image_of(const uint8_t *bytes, size_t len, const image_limits *lim, int max_pages, mem_image *out,
                 qvl_error *err);

typedef struct mem_need {
    uint64_t pixels;       /* decoded images, all held at once, and the largest one's turned or rendered copy */
    uint64_t vision;       /* the largest image's resize, patches and encoder activations, every image's features */
    uint64_t prompt;       /* one prompt pass of up to 512 tokens */
    uint64_t ocr;          /* OCR reading the largest image (when OCR may run) */
    uint64_t total;
} mem_need;

/* The request's need: images imgs[0..n) under the request's pixel bounds
 * (0 = the model's defaults), a context of n_ctx positions, passes on
 * `threads` threads, OCR possible or not. Returns 0, or -1 with err set
 * (QVL_E_TOO_LARGE: pixel bounds past the model's maximum). */
int mem_need_request(const qvl_model *m, const mem_image *imgs, int n, long min_px, long max_px, int n_ctx,
                     int threads, bool ocr, mem_need *out, qvl_error *err);

/* What one inference slot holds for its life: its KV cache of n_ctx
 * positions (the session keeps it between requests for follow-ups, so its
 * pages stay resident once touched) and the small pass memory it keeps. */
uint64_t mem_need_slot(const qvl_model *m, int n_ctx, int threads);

/* Fails with QVL_E_TOO_LARGE and the numbers: a request needing `need`
 * bytes (made of `detail`, mem_need_text's words) where the budget
 * leaves less for requests. Returns -1. */
int mem_need_refuse(qvl_error *err, uint64_t need, const char *detail, const mem_budget *b);

/* "images 1.0 GiB, encoder 2.0 GiB, prompt 40.0 MiB, OCR 0 KiB": what need is made of. */
void mem_need_text(const mem_need *need, char *buf, size_t size);

#endif
