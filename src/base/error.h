/* error.h - the one error type every fallible qvl function fills.
 *
 * Convention (used everywhere): a function that can fail takes a trailing
 * `qvl_error *err`, returns -1 (or NULL) on failure and writes a message a
 * user can act on into err->msg; on success err is untouched. err may be NULL
 * when the caller does not care about the text.
 */
#ifndef QVL_ERROR_H
#define QVL_ERROR_H

#include <stddef.h>

typedef struct qvl_error {
    int  code;       /* optional category, see QVL_E_*; 0 when unset */
    char msg[512];   /* NUL-terminated, human readable, no trailing newline */
} qvl_error;

/* Categories the server maps to HTTP statuses in one place. */
enum {
    QVL_E_GENERIC   = 0,
    QVL_E_BAD_INPUT = 1,  /* malformed request or file: 400 */
    QVL_E_TOO_LARGE = 2,  /* over a configured limit: 413 */
    QVL_E_BAD_MEDIA = 3,  /* not a supported image: 415 */
    QVL_E_IO        = 4,  /* cannot read/write a file */
    QVL_E_NOMEM     = 5,
    QVL_E_CANCELLED = 6,  /* the caller's cancel flag stopped long work (client gone, time limit, shutdown): 503 */
};

/* Sets err->msg from a printf-style format. Always returns -1 so callers can
 * write `return qvl_fail(err, "...")`. */
int qvl_fail(qvl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Like qvl_fail but also sets err->code. */
int qvl_fail_code(qvl_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (context as the error bubbles
 * up, e.g. the file name). Returns -1. */
int qvl_error_prefix(qvl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
