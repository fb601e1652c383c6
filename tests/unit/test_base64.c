/* test_base64.c - base/base64.h: what clients send decodes, what is broken
 * is refused with the position, the size limit holds before any work, and
 * encode/decode round-trip every length and byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "check.h"

/* Decodes s; returns the bytes as a NUL-terminated string or NULL. */
static char *dec(const char *s, size_t max, qvl_error *err) {
    size_t n = 0;
    uint8_t *o = base64_decode(s, strlen(s), max, &n, err);
    if (!o) return NULL;
    char *t = malloc(n + 1);
    memcpy(t, o, n);
    t[n] = 0;
    free(o);
    return t;
}

static void expect_text(const char *in, const char *want) {
    qvl_error e = {0};
    char *got = dec(in, 1000, &e);
    CHECK_MSG(got && !strcmp(got, want), "%s -> %s (%s)", in, got ? got : "NULL", e.msg);
    free(got);
}

static void expect_error(const char *in, size_t max, int code, const char *msg_part) {
    qvl_error e = {0};
    char *got = dec(in, max, &e);
    CHECK_MSG(!got, "%s decoded", in);
    free(got);
    CHECK_EQ_INT(e.code, code);
    CHECK_MSG(strstr(e.msg, msg_part) != NULL, "message \"%s\" lacks \"%s\"", e.msg, msg_part);
}

static void test_client_forms(void) {
    expect_text("aGVsbG8=", "hello");
    expect_text("aGVsbG8", "hello");             /* padding left out */
    expect_text("aGVs\r\nbG8=\n", "hello");      /* wrapped lines */
    expect_text(" aGV sbG8 ", "hello");
    expect_text("", "");
    expect_text("Pz8_", "??\x3f");               /* URL-safe alphabet */
    expect_text("Pz8/", "??\x3f");
}

static void test_broken(void) {
    expect_error("@@@@", 1000, QVL_E_BAD_INPUT, "character 0 is '@'");
    expect_error("aGVsbG8=x", 1000, QVL_E_BAD_INPUT, "character 8 is data after '='");
    expect_error("aGVsb", 1000, QVL_E_BAD_INPUT, "truncated");
    expect_error("aGVs\x01", 1000, QVL_E_BAD_INPUT, "non-ASCII");
    /* 8 characters = 6 bytes: one over a limit of 5. */
    expect_error("aGVsbG8h", 5, QVL_E_TOO_LARGE, "limit of 5 bytes");
    expect_text("aGVsbG8h", "hello!");
}

static void test_round_trip(void) {
    uint8_t src[300];
    char enc[401];
    uint32_t x = 12345;
    for (size_t n = 0; n <= sizeof src; n++) {
        for (size_t i = 0; i < n; i++) src[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
        size_t len = base64_encoded_len(n);
        CHECK_EQ_INT(len, (n + 2) / 3 * 4);
        base64_encode(enc, src, n);
        size_t got = 0;
        qvl_error e = {0};
        uint8_t *back = base64_decode(enc, len, n, &got, &e);
        CHECK_MSG(back && got == n && (n == 0 || !memcmp(back, src, n)), "round trip of %zu bytes: %s", n, e.msg);
        free(back);
    }
    base64_encode(enc, (const uint8_t *)"hello", 5);
    CHECK(!memcmp(enc, "aGVsbG8=", 8));
}

int main(void) {
    test_client_forms();
    test_broken();
    test_round_trip();
    return check_summary();
}
