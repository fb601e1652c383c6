/* fuzz_util.h - shared by the libFuzzer targets: readers that take a path get
 * the input through an in-memory file; the targets that need the real
 * tokenizer load it once from the test data. */
#ifndef QVL_FUZZ_UTIL_H
#define QVL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tokenizer/tokenizer.h"

/* Writes data to an anonymous memory file; returns its fd and the
 * /proc/self/fd path to open it by name. */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t cap) {
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* The test data's tokenizer ($QVL_TESTDATA, else ../shared/testdata),
 * loaded on the first call; aborts when it cannot be (a setup failure, not
 * a finding). */
static inline tokenizer *fuzz_tokenizer(void) {
    static tokenizer *tk;
    if (tk) return tk;
    const char *td = getenv("QVL_TESTDATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/tokenizer.json", td ? td : "../shared/testdata");
    qvl_error err;
    tk = tokenizer_load_json(path, &err);
    if (!tk) {
        fprintf(stderr, "cannot load the tokenizer: %s\n", err.msg);
        abort();
    }
    return tk;
}

#endif
