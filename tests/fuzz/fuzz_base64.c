/* fuzz_base64.c - libFuzzer target: base64_decode on arbitrary text (any
 * alphabet mix, whitespace, padding) with a small limit; whatever decodes
 * must encode and decode back to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qvl_error err;
    size_t n = 0;
    uint8_t *bytes = base64_decode((const char *)data, size, 1 << 16, &n, &err);
    if (!bytes) return 0;
    if (n > 1 << 16) abort();   /* the limit was not kept */
    char *text = malloc(base64_encoded_len(n) + 1);
    if (text) {
        base64_encode(text, bytes, n);
        size_t m = 0;
        uint8_t *again = base64_decode(text, base64_encoded_len(n), 1 << 16, &m, &err);
        if (!again || m != n || memcmp(again, bytes, n) != 0) abort();   /* no round trip */
        free(again);
        free(text);
    }
    free(bytes);
    return 0;
}
