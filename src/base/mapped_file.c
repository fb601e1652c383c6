/* mapped_file.c - see mapped_file.h. */
#include "base/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mapped_file_open(mapped_file *mf, const char *path, qvl_error *err) {
    memset(mf, 0, sizeof *mf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qvl_fail_code(err, QVL_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return qvl_fail_code(err, QVL_E_IO, "%s: not a regular file", path);
    }
    void *p = NULL;
    if (st.st_size > 0) {
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return qvl_fail_code(err, QVL_E_IO, "%s: cannot map: %s", path, strerror(e));
        }
    }
    close(fd);
    mf->data = p;
    mf->size = (size_t)st.st_size;
    if (!(mf->path = strdup(path))) {
        mapped_file_close(mf);
        return qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", path);
    }
    return 0;
}

void mapped_file_close(mapped_file *mf) {
    if (mf->data) munmap((void *)mf->data, mf->size);
    free(mf->path);
    memset(mf, 0, sizeof *mf);
}

char *read_file_text(const char *path, size_t max_bytes, size_t *len_out, qvl_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        qvl_fail_code(err, QVL_E_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    for (;;) {
        if (len + 1 >= cap) {
            char *more = cap > max_bytes ? NULL : realloc(buf, cap * 2);
            if (!more) {
                free(buf);
                fclose(f);
                if (cap > max_bytes) qvl_fail_code(err, QVL_E_TOO_LARGE, "%s: larger than %zu bytes", path, max_bytes);
                else qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", path);
                return NULL;
            }
            buf = more;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        if (n == 0) break;
        len += n;
    }
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad || len > max_bytes) {
        free(buf);
        qvl_fail_code(err, QVL_E_IO, "%s: %s", path, bad ? strerror(e) : "file too large");
        return NULL;
    }
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

int make_dirs(const char *dir, qvl_error *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0755);   /* existing parents are fine; the final mkdir reports real failures */
            *s = '/';
        }
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return qvl_fail_code(err, QVL_E_IO, "cannot create the folder %s: %s", dir, strerror(errno));
    return 0;
}

void mapped_file_drop(const mapped_file *mf, const void *p, size_t n) {
    const uint8_t *b = p, *e = b + n;
    if (!mf->data || b < mf->data || e > mf->data + mf->size) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)b + page - 1) & ~(page - 1), hi = (uintptr_t)e & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}
