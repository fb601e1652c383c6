/* base64.c - see base64.h. */
#include "base/base64.h"

#include <nettle/base64.h>
#include <stdbool.h>
#include <stdlib.h>

size_t base64_encoded_len(size_t n) { return BASE64_ENCODE_RAW_LENGTH(n); }

void base64_encode(char *dst, const uint8_t *src, size_t n) { base64_encode_raw(dst, n, src); }

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

static bool in_alphabet(char c, bool url) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    return url ? c == '-' || c == '_' : c == '+' || c == '/';
}

/* nettle only says "invalid"; the user is told where. */
static uint8_t *fail_at(const char *s, size_t n, bool url, uint8_t *out, qvl_error *err) {
    free(out);
    bool padded = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_space(c)) continue;
        if (c == '=') {
            padded = true;
            continue;
        }
        if (!in_alphabet(c, url)) {
            char shown[2] = {c, 0};
            qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid base64 (character %zu is '%s')", i,
                          c >= 0x20 && c < 0x7f ? shown : "non-ASCII");
            return NULL;
        }
        if (padded) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid base64 (character %zu is data after '=')", i);
            return NULL;
        }
    }
    qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid base64 (truncated)");
    return NULL;
}

uint8_t *base64_decode(const char *s, size_t n, size_t max_bytes, size_t *len_out, qvl_error *err) {
    size_t payload = 0;
    bool url = false, padded = false;
    for (size_t i = 0; i < n; i++) {
        if (is_space(s[i])) continue;
        if (s[i] == '=') padded = true;
        else payload++;
        if (s[i] == '-' || s[i] == '_') url = true;
    }
    if (payload / 4 * 3 + (payload % 4 ? payload % 4 - 1 : 0) > max_bytes) {
        qvl_fail_code(err, QVL_E_TOO_LARGE, "the data is larger than the limit of %zu bytes (%.1f MB)", max_bytes,
                      max_bytes / 1048576.0);
        return NULL;
    }
    uint8_t *out = malloc(BASE64_DECODE_LENGTH(n + 3) + 1);
    if (!out) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding base64");
        return NULL;
    }
    struct base64_decode_ctx ctx;
    if (url) base64url_decode_init(&ctx);
    else base64_decode_init(&ctx);
    size_t got = 0, tail = 0;
    /* nettle wants the padding that many clients leave out. */
    static const char pad[] = "===";
    size_t missing = !padded && payload % 4 ? 4 - payload % 4 : 0;
    /* One character of a group is 6 bits: no byte. nettle would pad it away. */
    if (payload % 4 == 1 || !base64_decode_update(&ctx, &got, out, n, s) ||
        (missing && !base64_decode_update(&ctx, &tail, out + got, missing, pad)) || !base64_decode_final(&ctx))
        return fail_at(s, n, url, out, err);
    *len_out = got + tail;
    return out;
}
