/* ocr.h - reading the text in an image: one interface, several backends.
 *
 * An ocr_engine is one ready-to-use OCR backend instance. Three kinds exist:
 *   - tesseract: built in, through Tesseract's C API. Languages are loaded
 *     once per engine and kept, so a worker thread that owns one engine pays
 *     the model load once. An engine is NOT thread-safe: use one per thread.
 *   - shared object (.so): a plugin implementing ocr_backend_api below. It
 *     is dlopen'ed in this process and its version checked at load; each
 *     recognize call runs in a forked child with a time limit, so a plugin
 *     that crashes or hangs costs that one request, never the process.
 *   - command: an external program speaking JSON over stdin/stdout (see
 *     ocr_plugin_cmd.c for the protocol), for engines written in any
 *     language. Also time-limited and killed on timeout.
 *
 * What it promises:
 *   - Results come in reading order, one ocr_line per text line, with a box
 *     in image pixels and a confidence 0..100; result.text is the lines
 *     joined with '\n'.
 *   - A failing backend (bad language, crash, hang, garbage output) gives -1
 *     and a message naming the backend and what went wrong.
 *
 * Memory: an ocr_result filled by ocr_engine_recognize is owned by the
 * caller and released with ocr_result_free. Engines are released with
 * ocr_engine_close.
 */
#ifndef QVL_OCR_H
#define QVL_OCR_H

#include <stdint.h>

#include <stdatomic.h>

#include "base/error.h"
#include "image/image.h"
#include "ocr/ocr_page.h"

/* ---- the plugin ABI: what a backend .so implements ---- */

/* Bumped on any change to the structs below. A plugin built against another
 * version is refused at load. */
#define OCR_API_VERSION 1

/* One line of recognised text. Box in pixels of the input image. */
typedef struct ocr_line {
    char *text;          /* UTF-8, no '\n' */
    int x, y, w, h;      /* bounding box: left, top, width, height */
    float confidence;    /* 0..100 */
} ocr_line;

typedef struct ocr_result {
    ocr_line *lines;     /* [n_lines], reading order */
    int n_lines;
    char *text;          /* lines joined with '\n' (set by the host) */
    float confidence;    /* mean line confidence weighted by characters per line; 0 when empty */
} ocr_result;

/* The image handed to a backend: 8-bit RGB, rows packed (stride = width*3). */
typedef struct ocr_image {
    int width, height;
    const uint8_t *rgb;
} ocr_image;

/* A backend. A .so plugin exports `const ocr_backend_api *qvl_ocr_plugin(void)`
 * returning a static table whose first field is OCR_API_VERSION.
 * Error messages go into errbuf (errlen bytes, NUL-terminated). */
typedef struct ocr_backend_api {
    int api_version;     /* must stay the first field */
    const char *name;
    /* Creates an instance; config may be NULL. NULL on failure. */
    void *(*init)(const char *config, char *errbuf, size_t errlen);
    /* Fills out->lines/n_lines (out is zeroed by the caller); lang is a
     * Tesseract-style list such as "eng+chi_sim". Returns 0 or -1. */
    int (*recognize)(void *self, const ocr_image *img, const char *lang,
                     ocr_result *out, char *errbuf, size_t errlen);
    /* Releases what recognize allocated in *res. */
    void (*free_result)(void *self, ocr_result *res);
    /* Releases the instance. */
    void (*free)(void *self);
} ocr_backend_api;

/* ---- the host side ---- */

typedef struct ocr_engine ocr_engine;

typedef struct ocr_engine_opts {
    const char *tessdata;   /* Tesseract data dir; NULL = the library default */
    const char *config;     /* passed to a plugin's init; may be NULL */
    int timeout_ms;         /* plugin time limit per request; 0 = OCR_DEFAULT_TIMEOUT_MS */
    uint64_t max_pixels;    /* larger images are refused; 0 = OCR_DEFAULT_MAX_PIXELS */
    bool as_is;             /* no page correction: the backend sees the image as given */
} ocr_engine_opts;

#define OCR_DEFAULT_TIMEOUT_MS 20000
#define OCR_DEFAULT_MAX_PIXELS ((uint64_t)25 * 1000 * 1000)
#define OCR_DEFAULT_LANG       "eng+chi_sim"

/* Opens the built-in Tesseract backend; opts may be NULL. Languages load on
 * first use. Returns NULL with err set when Tesseract cannot start. */
ocr_engine *ocr_engine_open_tesseract(const ocr_engine_opts *opts, qvl_error *err);

/* Opens a plugin: a path ending in ".so" is a shared object, any other
 * executable file a command plugin. Returns NULL with err set (missing
 * file, not loadable, missing entry point, wrong interface version). */
ocr_engine *ocr_engine_open_plugin(const char *path, const ocr_engine_opts *opts, qvl_error *err);

/* The backend's name ("tesseract", or the plugin's); never NULL. */
const char *ocr_engine_name(const ocr_engine *eng);

/* Recognises the text in img. lang NULL or "" = OCR_DEFAULT_LANG; it must be
 * names of [a-z_] joined by '+'. Returns 0 with *out filled (caller frees
 * with ocr_result_free), or -1 with err set and *out zeroed: QVL_E_BAD_INPUT
 * (bad language, empty image), QVL_E_TOO_LARGE, or QVL_E_GENERIC for a
 * backend failure (crash, time limit, bad output). */
int ocr_engine_recognize(ocr_engine *eng, const image_rgb *img, const char *lang,
                         ocr_result *out, qvl_error *err);

/* The same, stopped early with QVL_E_CANCELLED once *cancel becomes true
 * (a disconnected client, a time limit): Tesseract checks it between words.
 * Plugins run to their own time limit. cancel may be NULL. */
int ocr_engine_recognize_cancellable(ocr_engine *eng, const image_rgb *img, const char *lang,
                                     const atomic_bool *cancel, ocr_result *out, qvl_error *err);

/* The same, with the page made readable first (ocr_page.h: turned upright,
 * levelled, evenly lit, small print enlarged, each only when measured to
 * need it) and, when the reading is not trusted (ocr_result_trusted), read
 * again turned by 180 degrees (and by 90 and 270 when the line direction was
 * a close call); the better reading wins. Boxes are in the pixels of the
 * corrected page. *used (may be NULL) receives the plan that produced the
 * result. An engine opened with opts.as_is skips all of this.
 * ocr_engine_recognize and _cancellable are this with used = NULL. */
int ocr_engine_read_page(ocr_engine *eng, const image_rgb *img, const char *lang, const atomic_bool *cancel,
                         ocr_result *out, ocr_page_plan *used, qvl_error *err);

/* The text of pages `pages` ("2", "1-3", NULL or "all": every page) of a
 * document: a PDF page with a text layer is taken from it (exact,
 * confidence 100, no boxes), any other page (a scanned PDF page, a TIFF
 * page) is decoded within lim (may be NULL) and read with
 * ocr_engine_read_page. Lines come in page order, an empty line between
 * pages. *cancel is also read between pages. Returns 0 with *out filled
 * (ocr_result_free), or -1 with err set ("page N: ..." for a page that
 * failed; the codes of image_decode and ocr_engine_read_page;
 * QVL_E_BAD_INPUT for a bad page selection; QVL_E_CANCELLED). */
int ocr_engine_read_document(ocr_engine *eng, const uint8_t *bytes, size_t len, const image_limits *lim,
                             const char *pages, const char *lang, const atomic_bool *cancel, ocr_result *out,
                             qvl_error *err);

/* The text layer of PDF page `page` (0-based) as a reading: its lines at
 * confidence 100, without boxes. Returns 1 with *out filled when the page has
 * text, 0 with *out empty when it has none (a scanned page), or -1 with err
 * set (image_pdf_page_text's codes). */
int ocr_read_text_layer(const uint8_t *bytes, size_t len, int page, ocr_result *out, qvl_error *err);

/* ---- how far a reading can be believed (ocr_trust.c) ---- */

/* A reading worth serving as the text of the image: it has text, its
 * confidence is at least OCR_TRUST_CONFIDENCE and its text looks like
 * writing (ocr_text_plausibility >= OCR_TRUST_PLAUSIBLE). Upside-down Latin,
 * noise and photos without text fail it. Cannot fail. */
#define OCR_TRUST_CONFIDENCE 60.0f
#define OCR_TRUST_PLAUSIBLE  0.75f
bool ocr_result_trusted(const ocr_result *res);

/* Whether reading a is better than b (the same image read two ways):
 * confidence times plausibility, a reading with far fewer characters
 * counting less. Cannot fail. */
bool ocr_result_better(const ocr_result *a, const ocr_result *b);

/* 0..1: how much text looks like writing rather than what a recogniser
 * makes of noise: the share of letters, digits and CJK characters among the
 * non-space characters, lowered by one-letter fragments and runs of
 * punctuation. 0 for empty text. Cannot fail. */
float ocr_text_plausibility(const char *text);

/* Releases the engine; NULL is fine. */
void ocr_engine_close(ocr_engine *eng);

/* Frees a host-owned result and zeroes it; safe on a zeroed result. */
void ocr_result_free(ocr_result *res);

#endif
