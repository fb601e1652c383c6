/* pdf_files.h - PDFs written byte by byte for the tests: born-digital pages
 * of text in a standard font, a scanned page (an image of known pixels), and
 * hostile ones (truncated, a page-count bomb, a giant page, encrypted,
 * carrying JavaScript). Objects are numbered from 1 in the order given; the
 * catalog must be object 1. The cross-reference table is computed, so the
 * files are well formed unless a test breaks them on purpose.
 */
#ifndef QVL_TEST_PDF_FILES_H
#define QVL_TEST_PDF_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* objs[i] is the body of object i+1 (between "N 0 obj" and "endobj"), of
 * lens[i] bytes (0: strlen). trailer_extra goes into the trailer
 * dictionary (may be ""). Returns a malloc'd file of *len bytes. */
static inline unsigned char *pdf_build(const char *const *objs, const size_t *lens, int n,
                                       const char *trailer_extra, size_t *len) {
    size_t cap = 4096;
    for (int i = 0; i < n; i++) cap += (lens && lens[i] ? lens[i] : strlen(objs[i])) + 64;
    unsigned char *buf = malloc(cap);
    size_t *offs = malloc(sizeof *offs * (size_t)(n + 1));
    if (!buf || !offs) { free(buf); free(offs); return NULL; }
    size_t pos = (size_t)sprintf((char *)buf, "%%PDF-1.4\n%%\xe2\xe3\xcf\xd3\n");
    for (int i = 0; i < n; i++) {
        size_t l = lens && lens[i] ? lens[i] : strlen(objs[i]);
        offs[i] = pos;
        pos += (size_t)sprintf((char *)buf + pos, "%d 0 obj\n", i + 1);
        memcpy(buf + pos, objs[i], l);
        pos += l;
        pos += (size_t)sprintf((char *)buf + pos, "\nendobj\n");
    }
    size_t xref = pos;
    pos += (size_t)sprintf((char *)buf + pos, "xref\n0 %d\n0000000000 65535 f \n", n + 1);
    for (int i = 0; i < n; i++) pos += (size_t)sprintf((char *)buf + pos, "%010zu 00000 n \n", offs[i]);
    pos += (size_t)sprintf((char *)buf + pos, "trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%zu\n%%%%EOF\n",
                           n + 1, trailer_extra, xref);
    free(offs);
    *len = pos;
    return buf;
}

/* A content stream object drawing lines of text in Helvetica 14 from the top
 * of a US-letter page. lines are plain ASCII without ( ) or \. Malloc'd. */
static inline char *pdf_text_stream(const char *const *lines, int n) {
    char body[4096];
    size_t k = (size_t)snprintf(body, sizeof body, "BT /F1 14 Tf 72 720 Td 18 TL\n");
    for (int i = 0; i < n; i++) k += (size_t)snprintf(body + k, sizeof body - k, "(%s) Tj T*\n", lines[i]);
    k += (size_t)snprintf(body + k, sizeof body - k, "ET");
    char *obj = malloc(k + 64);
    if (obj) sprintf(obj, "<< /Length %zu >>\nstream\n%s\nendstream", k, body);
    return obj;
}

#endif
