/* text_file.h - a test's whole file as a NUL-terminated string (ground
 * truths, images), shared by the OCR tests. */
#ifndef QVL_TEST_TEXT_FILE_H
#define QVL_TEST_TEXT_FILE_H

#include <stdio.h>
#include <stdlib.h>

/* The file at path, malloc'd with a NUL after its *len bytes; NULL when it
 * cannot be read. */
static inline char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; *len = (size_t)n; }
    return buf;
}

#endif
