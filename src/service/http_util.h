/* http_util.h - small helpers every API module of the server shares: JSON
 * error bodies, the one place where qvl_error codes become HTTP statuses,
 * data-URL decoding of untrusted input (base64 is base/base64.h), request-body checks, and
 * telling whether the client has gone away.
 *
 * Nothing here knows about the model; everything is thread-safe (no state).
 * Memory: functions returning a pointer hand ownership to the caller (free()
 * or json_decref()), as documented per function.
 */
#ifndef QVL_HTTP_UTIL_H
#define QVL_HTTP_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "image/image.h"

/* Server-side error codes beyond QVL_E_* (scheduler and HTTP layer). */
enum {
    SRV_E_AUTH = 100,        /* 401 missing or wrong API key */
    SRV_E_NOT_FOUND,         /* 404 */
    SRV_E_METHOD,            /* 405 */
    SRV_E_MEDIA_TYPE,        /* 415 wrong request Content-Type */
    SRV_E_QUEUE_FULL,        /* 503 with Retry-After */
    SRV_E_SHUTDOWN,          /* 503 the server is stopping */
    SRV_E_LOADING,           /* 503 the model is not loaded yet */
    SRV_E_TIMEOUT,           /* 504 the per-request time limit ran out */
};

/* The HTTP status for err->code (400 for bad input, 413, 415, 401, ...; 500
 * only for failures that are not the client's: I/O, memory, unknown). */
int http_status_for_error(const qvl_error *err);

/* OpenAI-style error type string for a status ("invalid_request_error",
 * "authentication_error", "server_error", ...). */
const char *http_error_type(int status);

/* {"error":{"message":msg,"type":...,"code":status}} (new reference). */
json_t *http_error_json(int status, const char *msg);

/* Turns an image reference from a request into its bytes: a data URL
 * ("data:image/png;base64,...") or bare base64. http(s):// and file URLs are
 * refused (the server never fetches anything). When a MIME type is declared
 * (in the data URL, or declared_mime from a multipart part; may be NULL) it
 * must agree with the sniffed bytes. On success returns 0 and a malloc'd
 * buffer in *bytes. Fails with -1 and err: QVL_E_BAD_INPUT (refused URL, bad
 * base64, empty), QVL_E_TOO_LARGE (over max_bytes), QVL_E_BAD_MEDIA (not a
 * format image_decode reads, or the declared type disagrees). */
int http_image_bytes(const char *ref, const char *declared_mime, size_t max_bytes, uint8_t **bytes, size_t *len,
                     qvl_error *err);

/* Checks raw image bytes: a supported kind (sniffed) that agrees with
 * declared_mime when given. Returns 0 or -1 with err (QVL_E_BAD_MEDIA). */
int http_check_image_kind(const uint8_t *bytes, size_t len, const char *declared_mime, qvl_error *err);

/* True when the peer of socket fd has closed its side (a read would return
 * end of file or a reset). Never blocks and never consumes data. */
bool http_peer_closed(int fd);

/* Writes the current UTC time as "2026-11-25T15:53:09.123Z" into buf (>= 32
 * bytes). Cannot fail. */
void http_iso_time(char *buf, size_t size);

/* Reads an optional number field of obj into *out, checking its range.
 * Returns 0 when absent or valid, -1 with err (QVL_E_BAD_INPUT naming the
 * field) when it has the wrong type or is out of [lo, hi]. */
int http_get_number(const json_t *obj, const char *key, double lo, double hi, double *out, qvl_error *err);

#endif
