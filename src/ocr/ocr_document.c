/* ocr_document.c - the text of a paged document (a PDF, a multi-page TIFF)
 * for "extract the text" answers: see ocr.h (ocr_engine_read_document).
 *
 * A PDF page that has a text layer (born-digital) is taken from it: exact,
 * in milliseconds, confidence 100. Other pages are rendered (image_pdf.c:
 * 200 dpi) and go through ocr_engine_read_page like any photo. The pages'
 * lines are concatenated in page order with an empty line between pages.
 */
#include <stdlib.h>
#include <string.h>

#include "ocr/ocr_internal.h"

/* Appends the lines of a text layer (confidence 100, no boxes). */
static int add_layer(ocr_result *out, char *layer, qvl_error *err) {
    int rc = 0;
    for (char *line = layer, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\r' || line[n - 1] == '\f')) line[--n] = 0;
        if (n) rc = ocr_result_add_line(out, line, 0, 0, 0, 0, 100, err);
    }
    return rc;
}

static int has_text(const char *s) {
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\n' && *s != '\r' && *s != '\t' && *s != '\f') return 1;
    return 0;
}

int ocr_read_text_layer(const uint8_t *bytes, size_t len, int page, ocr_result *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    char *layer = NULL;
    int rc = image_pdf_page_text(bytes, len, page, &layer, err);
    bool found = rc == 0 && has_text(layer);
    if (found) rc = add_layer(out, layer, err);
    if (found && rc == 0) rc = ocr_result_finish(out, err);
    free(layer);
    if (rc != 0) ocr_result_free(out);
    return rc != 0 ? -1 : found;
}

int ocr_engine_read_document(ocr_engine *eng, const uint8_t *bytes, size_t len, const image_limits *lim,
                             const char *pages, const char *lang, const atomic_bool *cancel, ocr_result *out,
                             qvl_error *err) {
    memset(out, 0, sizeof *out);
    int n = image_page_count(bytes, len, lim, err), first, last;
    if (n < 0 || image_pages_parse(pages, n, &first, &last, err) != 0) return -1;
    const char *type = image_sniff(bytes, len);
    bool pdf = type && !strcmp(type, "application/pdf");
    int rc = 0;
    for (int p = first; p <= last && rc == 0; p++) {
        if (cancel && atomic_load(cancel)) {
            rc = qvl_fail_code(err, QVL_E_CANCELLED, "cancelled");
            break;
        }
        if (p > first) rc = ocr_result_add_line(out, "", 0, 0, 0, 0, 100, err);   /* between pages */
        ocr_result page = {0};
        int layer = rc == 0 && pdf ? ocr_read_text_layer(bytes, len, p, &page, err) : 0;
        rc = layer < 0 ? -1 : rc;
        image_rgb img = {0};
        if (rc == 0 && !layer) {
            rc = image_decode_page(bytes, len, p, lim, &img, err);
            if (rc == 0) rc = ocr_engine_read_page(eng, &img, lang, cancel, &page, NULL, err);
        }
        for (int i = 0; rc == 0 && i < page.n_lines; i++) {
            const ocr_line *l = &page.lines[i];
            rc = ocr_result_add_line(out, l->text, l->x, l->y, l->w, l->h, l->confidence, err);
        }
        ocr_result_free(&page);
        image_free(&img);
        if (rc != 0 && err->code != QVL_E_CANCELLED) qvl_error_prefix(err, "page %d", p + 1);
    }
    if (rc == 0) rc = ocr_result_finish(out, err);
    if (rc != 0) ocr_result_free(out);
    return rc;
}
