/* fuzz_util.h - shared by the libFuzzer targets: readers that take a path get
 * the input through an in-memory file. */
#ifndef QVL_FUZZ_UTIL_H
#define QVL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

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

#endif
