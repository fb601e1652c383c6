/* mapped_file.h - read-only memory mapping of a whole file.
 *
 * Weights are never copied: readers (gguf, safetensors) hand out pointers into
 * the mapping, which therefore must outlive every tensor taken from it.
 * An empty file maps to data == NULL, size == 0 (mmap of 0 bytes is invalid).
 */
#ifndef QVL_MAPPED_FILE_H
#define QVL_MAPPED_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct mapped_file {
    const uint8_t *data;
    size_t size;
    char *path;      /* owned copy, for error messages */
} mapped_file;

/* Maps `path` read-only. Returns 0, or -1 with err set (file untouched). */
int mapped_file_open(mapped_file *mf, const char *path, qvl_error *err);

/* Unmaps; safe on a zeroed or already-closed struct. */
void mapped_file_close(mapped_file *mf);

/* Lets the kernel take back the pages wholly inside [p, p + n) (resident
 * memory drops; a later read faults them in from the file again). Does
 * nothing unless the range lies inside mf's mapping. Cannot fail. */
void mapped_file_drop(const mapped_file *mf, const void *p, size_t n);

/* Creates dir and any missing parents (like mkdir -p). Returns 0, or -1
 * with err set naming the folder. */
int make_dirs(const char *dir, qvl_error *err);

/* Reads a whole (small) file into a NUL-terminated malloc'd buffer, refusing
 * files larger than max_bytes. Returns NULL with err set. */
char *read_file_text(const char *path, size_t max_bytes, size_t *len_out, qvl_error *err);

#endif
