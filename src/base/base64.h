/* base64.h - base64 both ways, on nettle's coder: images arrive as data URLs
 * and multipart files, OCR plugins receive them as base64 JSON.
 *
 * Decoding takes what clients send: the standard or the URL-safe alphabet,
 * whitespace anywhere, padding present or missing. It is bounded: input that
 * would decode to more than max_bytes is refused before anything is
 * allocated.
 */
#ifndef QVL_BASE64_H
#define QVL_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Characters base64_encode writes for n bytes (4 per started 3, padded). */
size_t base64_encoded_len(size_t n);

/* Writes exactly base64_encoded_len(n) characters of src[0..n) at dst (no
 * NUL). Cannot fail. */
void base64_encode(char *dst, const uint8_t *src, size_t n);

/* Decodes s[0..n) into a malloc'd buffer of *len_out bytes. Returns NULL
 * with err set: QVL_E_TOO_LARGE (over max_bytes), QVL_E_BAD_INPUT (a
 * character outside the alphabet, data after '=', a truncated group; the
 * message names the first offending character), QVL_E_NOMEM. */
uint8_t *base64_decode(const char *s, size_t n, size_t max_bytes, size_t *len_out, qvl_error *err);

#endif
