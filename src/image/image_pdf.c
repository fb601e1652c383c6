/* image_pdf.c - PDF documents as paged images (poppler's GLib API renders
 * through cairo) and their text layers. See image.h for the contract.
 *
 * A PDF is untrusted like any image, and heavier: every entry point checks
 * the limits before work - the page count (PDF_MAX_PAGES: a "page-count
 * bomb" names millions of pages in a few hundred bytes), each page's size in
 * points (PDF_MAX_SIDE_PT) and the pixels a rendering will have (the
 * caller's max_pixels and IMAGE_PDF_MAX_RENDER_PIXELS). Pages render at
 * PDF_RENDER_DPI, a resolution Tesseract reads print well at, lowered to stay
 * within the pixel limit.
 *
 * Never executed: poppler has no JavaScript engine, and qvl only renders
 * pages and reads their text, so a PDF's scripts, forms and actions are
 * inert. A PDF encrypted with a user password is refused with a message
 * saying so; one with only an owner password (printing/copying
 * restrictions) opens like any other, as every viewer does.
 *
 * Cancellable in bands: poppler's GLib API has no abort callback (the core's
 * displaySlice takes one, but the GLib wrapper passes NULL), so a large page
 * is drawn as horizontal bands of at most PDF_BAND_PIXELS, each clipped to
 * its rows, and the caller's cancel flag is read between bands. Each band
 * reads the content stream again, but cairo skips what lies outside the clip,
 * so an ordinary page costs little more; a 16 MP page stops within an
 * eighth of its drawing.
 *
 * Not bounded: the time one band of a page takes to draw; the size and pixel
 * limits bound the work of honest pages, not of a stream built to be slow.
 */
#include <cairo.h>
#include <glib.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <poppler.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_codec.h"

#define PDF_MAX_PAGES          1000
#define PDF_MAX_SIDE_PT        14400.0   /* 200 inches: larger than any real sheet or poster */
#define PDF_RENDER_DPI         200.0
#define PDF_BAND_PIXELS        ((uint64_t)2 * 1000 * 1000)

const char *image_pdf_sniff(const uint8_t *b, size_t len) {
    /* "%PDF-" may follow a little junk: readers look in the first 1024 bytes. */
    size_t n = len < 1024 ? len : 1024;
    return n >= 5 && memmem(b, n, "%PDF-", 5) ? "application/pdf" : NULL;
}

/* Poppler reports syntax trouble through GLib's log; our errors say it. */
static void quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer user) {
    (void)domain; (void)level; (void)msg; (void)user;
}

/* Opens the document, checking the page count. NULL with err set. */
static PopplerDocument *pdf_open(const uint8_t *bytes, size_t len, int *n_pages, qvl_error *err) {
    static gsize once = 0;
    if (g_once_init_enter(&once)) {
        g_log_set_handler("Poppler", G_LOG_LEVEL_MASK, quiet, NULL);
        g_once_init_leave(&once, 1);
    }
    GBytes *gb = g_bytes_new_static(bytes, len);
    GError *gerr = NULL;
    PopplerDocument *doc = poppler_document_new_from_bytes(gb, NULL, &gerr);
    g_bytes_unref(gb);
    if (!doc) {
        bool locked = gerr && gerr->domain == POPPLER_ERROR && gerr->code == POPPLER_ERROR_ENCRYPTED;
        if (locked)
            qvl_fail_code(err, QVL_E_BAD_MEDIA, "the PDF is encrypted with a password: send it decrypted "
                          "(or as images of its pages)");
        else
            qvl_fail_code(err, QVL_E_BAD_INPUT, "PDF cannot be read (damaged or truncated): %.200s",
                          gerr ? gerr->message : "unknown error");
        if (gerr) g_error_free(gerr);
        return NULL;
    }
    int n = poppler_document_get_n_pages(doc);
    if (n < 1 || n > PDF_MAX_PAGES) {
        g_object_unref(doc);
        if (n < 1) qvl_fail_code(err, QVL_E_BAD_INPUT, "PDF has no readable pages (its page tree is damaged, "
                                 "or claims more pages than it holds)");
        else qvl_fail_code(err, QVL_E_TOO_LARGE, "PDF has %d pages, over the limit of %d: send the pages you "
                           "need", n, PDF_MAX_PAGES);
        return NULL;
    }
    *n_pages = n;
    return doc;
}

/* Page `page` (0-based) of an open document, its size checked. */
static PopplerPage *pdf_page(PopplerDocument *doc, int n_pages, int page, double *w_pt, double *h_pt,
                             qvl_error *err) {
    if (page < 0 || page >= n_pages) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "page %d does not exist: the PDF has %d page%s", page + 1, n_pages,
                      n_pages == 1 ? "" : "s");
        return NULL;
    }
    PopplerPage *p = poppler_document_get_page(doc, page);
    if (!p) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "PDF page %d cannot be read", page + 1);
        return NULL;
    }
    poppler_page_get_size(p, w_pt, h_pt);
    if (!(*w_pt >= 1 && *h_pt >= 1 && *w_pt <= PDF_MAX_SIDE_PT && *h_pt <= PDF_MAX_SIDE_PT)) {
        qvl_fail_code(err, QVL_E_TOO_LARGE, "PDF page %d is %.0f x %.0f points; pages up to %.0f points (200 "
                      "inches) a side are read", page + 1, *w_pt, *h_pt, PDF_MAX_SIDE_PT);
        g_object_unref(p);
        return NULL;
    }
    return p;
}

/* The document and its page `page`, checked; -1 with err set (nothing held). */
static int open_page(const uint8_t *bytes, size_t len, int page, PopplerDocument **doc, PopplerPage **p,
                     double *w_pt, double *h_pt, qvl_error *err) {
    int n = 0;
    *doc = pdf_open(bytes, len, &n, err);
    *p = *doc ? pdf_page(*doc, n, page, w_pt, h_pt, err) : NULL;
    if (*p) return 0;
    if (*doc) g_object_unref(*doc);
    *doc = NULL;
    return -1;
}

int image_pdf_page_count(const uint8_t *bytes, size_t len, qvl_error *err) {
    int n = 0;
    PopplerDocument *doc = pdf_open(bytes, len, &n, err);
    if (!doc) return -1;
    g_object_unref(doc);
    return n;
}

/* Draws page p onto surf (w x h pixels at scale) band by band, reading
 * *cancel between bands. -1 with err set when cancelled. */
static int draw_bands(PopplerPage *p, cairo_surface_t *surf, int w, int h, double scale, const atomic_bool *cancel,
                      qvl_error *err) {
    int band = (int)(PDF_BAND_PIXELS / (uint64_t)w);
    if (band < 64) band = 64;
    for (int y = 0; y < h; y += band) {
        if (cancel && atomic_load(cancel)) return qvl_fail_code(err, QVL_E_CANCELLED, "cancelled");
        cairo_t *cr = cairo_create(surf);
        cairo_rectangle(cr, 0, y, w, band);
        cairo_clip(cr);
        cairo_set_source_rgb(cr, 1, 1, 1);   /* paper: pages draw onto white */
        cairo_paint(cr);
        cairo_scale(cr, scale, scale);
        poppler_page_render_for_printing(p, cr);   /* what is printed: no annotations' hidden states */
        cairo_destroy(cr);
    }
    cairo_surface_flush(surf);
    return 0;
}

int image_decode_pdf(const uint8_t *bytes, size_t len, int page, uint64_t max_pixels, const atomic_bool *cancel,
                     image_rgb *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    double w_pt, h_pt;
    PopplerDocument *doc;
    PopplerPage *p;
    if (open_page(bytes, len, page, &doc, &p, &w_pt, &h_pt, err) != 0) return -1;
    /* The resolution: PDF_RENDER_DPI, less when that would pass a limit. */
    uint64_t cap = max_pixels < IMAGE_PDF_MAX_RENDER_PIXELS ? max_pixels : IMAGE_PDF_MAX_RENDER_PIXELS;
    double scale = PDF_RENDER_DPI / 72.0;
    double px = w_pt * h_pt * scale * scale;
    if (px > (double)cap) scale *= sqrt((double)cap / px);
    int w = (int)floor(w_pt * scale + 1e-6), h = (int)floor(h_pt * scale + 1e-6);
    int rc = image_check_size("PDF", (uint64_t)(w > 0 ? w : 1), (uint64_t)(h > 0 ? h : 1), max_pixels, err);
    cairo_surface_t *surf = rc == 0 ? cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h) : NULL;
    if (rc == 0 && (!surf || cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS)) {
        rc = qvl_fail_code(err, QVL_E_NOMEM, "out of memory rendering PDF page %d (%dx%d)", page + 1, w, h);
    } else if (rc == 0) {
        rc = draw_bands(p, surf, w, h, scale, cancel, err);
        if (rc == 0) rc = image_alloc(out, w, h, err);
        const uint8_t *data = cairo_image_surface_get_data(surf);
        int stride = cairo_image_surface_get_stride(surf);
        for (int y = 0; rc == 0 && y < h; y++) {
            const uint32_t *row = (const uint32_t *)(data + (size_t)y * stride);
            uint8_t *q = out->pixels + (size_t)y * w * 3;
            for (int x = 0; x < w; x++, q += 3) {
                q[0] = (uint8_t)(row[x] >> 16);
                q[1] = (uint8_t)(row[x] >> 8);
                q[2] = (uint8_t)row[x];
            }
        }
    }
    if (surf) cairo_surface_destroy(surf);
    g_object_unref(p);
    g_object_unref(doc);
    if (rc != 0) image_free(out);
    return rc;
}

int image_pdf_text(const uint8_t *bytes, size_t len, int page, char **text, qvl_error *err) {
    *text = NULL;
    double w_pt, h_pt;
    PopplerDocument *doc;
    PopplerPage *p;
    if (open_page(bytes, len, page, &doc, &p, &w_pt, &h_pt, err) != 0) return -1;
    char *t = poppler_page_get_text(p);
    *text = strdup(t ? t : "");
    g_free(t);
    g_object_unref(p);
    g_object_unref(doc);
    return *text ? 0 : qvl_fail_code(err, QVL_E_NOMEM, "out of memory for the PDF's text");
}
