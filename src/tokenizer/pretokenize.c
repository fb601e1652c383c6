/* pretokenize.c - UTF-8 stepping, NFC and the Qwen2 pre-tokenizer split.
 * See pretokenize.h for the contract.
 *
 * Sections: UTF-8 | character classes | NFC | the split.
 */
#include "tokenizer/pretokenize.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* ---------------------------------------------------------------- UTF-8 */

int pretok_utf8_step(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t b = s[0];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    int need;
    uint8_t lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    uint32_t v;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2; v = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3; v = b & 0x0F;
        if (b == 0xE0) lo = 0xA0;          /* no overlongs */
        if (b == 0xED) hi = 0x9F;          /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4; v = b & 0x07;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;          /* <= U+10FFFF */
    } else {
        return -1;                         /* 80..C1, F5..FF never start a char */
    }
    for (int k = 1; k < need; k++) {
        if ((size_t)k >= n) return 0;
        uint8_t c = s[k];
        if (c < lo || c > hi) return -k;
        v = (v << 6) | (c & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return need;
}

/* ----------------------------------------------------- character classes */

enum { CL_OTHER, CL_LETTER, CL_DIGIT, CL_SPACE, CL_NEWLINE };

/* Unicode White_Space minus CR/LF (which get their own class). */
static bool is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int class_of_cp(uint32_t c) {
    if (c == '\r' || c == '\n') return CL_NEWLINE;
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CL_LETTER;
        if (c >= '0' && c <= '9') return CL_DIGIT;
        return is_white_space(c) ? CL_SPACE : CL_OTHER;
    }
    if (is_white_space(c)) return CL_SPACE;
    switch (utf8proc_category((utf8proc_int32_t)c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return CL_LETTER;
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CL_DIGIT;
    default:
        return CL_OTHER;
    }
}

/* Class of the character at s[i] (i < n); its byte length goes to *len.
 * An invalid byte is a one-byte CL_OTHER character. */
static int class_at(const uint8_t *s, size_t n, size_t i, size_t *len) {
    uint32_t cp;
    int k = pretok_utf8_step(s + i, n - i, &cp);
    if (k <= 0) {
        *len = 1;
        return CL_OTHER;
    }
    *len = (size_t)k;
    return class_of_cp(cp);
}

/* First offset >= i whose character is not of class cls. */
static size_t skip_class(const uint8_t *s, size_t n, size_t i, int cls) {
    size_t len;
    while (i < n && class_at(s, n, i, &len) == cls) i += len;
    return i;
}

/* ------------------------------------------------------------------ NFC */

/* Code points that are NFC_Quick_Check=Yes, have combining class 0 and
 * never appear as the second half of a canonical composition: a string made
 * only of these is already NFC. Covers the text we see most. */
static bool nfc_inert(uint32_t c) {
    return c < 0x300 ||
           (c >= 0x3000 && c <= 0x3029) ||      /* CJK punctuation */
           (c >= 0x3041 && c <= 0x3096) ||      /* hiragana, not U+3099/309A */
           (c >= 0x30A1 && c <= 0x30FA) ||      /* katakana */
           (c >= 0x4E00 && c <= 0x9FFF) ||      /* CJK unified ideographs */
           (c >= 0xAC00 && c <= 0xD7A3) ||      /* Hangul syllables */
           (c >= 0xFF01 && c <= 0xFF5E);        /* fullwidth ASCII */
}

static bool needs_nfc(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        int k = pretok_utf8_step(s + i, n - i, &cp);
        if (k <= 0) {
            i++;
            continue;
        }
        if (!nfc_inert(cp)) return true;
        i += (size_t)k;
    }
    return false;
}

/* Length of the longest valid UTF-8 prefix of s[0..n). */
static size_t valid_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        int k = pretok_utf8_step(s + i, n - i, &cp);
        if (k <= 0) break;
        i += (size_t)k;
    }
    return i;
}

int pretok_nfc(const char *text, size_t len, char **out, size_t *out_len, qvl_error *err) {
    const uint8_t *s = (const uint8_t *)text;
    *out = NULL;
    *out_len = 0;
    if (!needs_nfc(s, len)) return 0;

    /* NFC never grows text by more than 3x (Unicode UAX #15). */
    size_t cap = len * 3 + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory normalising %zu bytes", len);
    size_t i = 0;
    while (i < len) {
        size_t v = valid_prefix(s + i, len - i);
        if (v == 0) {               /* an invalid byte passes through */
            buf[n++] = (char)s[i++];
            continue;
        }
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t m = utf8proc_map(s + i, (utf8proc_ssize_t)v, &dst,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (m < 0 || (size_t)m > cap - 1 - n) {
            free(dst);
            free(buf);
            return qvl_fail_code(err, QVL_E_NOMEM, "NFC normalisation failed: %s",
                                 m < 0 ? utf8proc_errmsg(m) : "output too long");
        }
        memcpy(buf + n, dst, (size_t)m);
        n += (size_t)m;
        free(dst);
        i += v;
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return 0;
}

/* ------------------------------------------------------------ the split */

/* Length of a contraction tail ("s", "re", ...) at s[0..n) after an
 * apostrophe, 0 if none. ASCII case-insensitive, first alternative wins. */
static size_t contraction_len(const uint8_t *s, size_t n) {
    if (n == 0) return 0;
    int a = s[0] | 0x20;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 1;
    if (n < 2) return 0;
    int b = s[1] | 0x20;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 2;
    return 0;
}

size_t pretok_next(const uint8_t *s, size_t n, size_t i) {
    size_t len0, len;
    int c0 = class_at(s, n, i, &len0);
    size_t j = i + len0;
    int c1 = j < n ? class_at(s, n, j, &len) : -1;

    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (s[i] == '\'') {
        size_t m = contraction_len(s + j, n - j);
        if (m) return j + m;
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    if (c0 == CL_LETTER) return skip_class(s, n, j, CL_LETTER);
    if (c0 != CL_NEWLINE && c0 != CL_DIGIT && c1 == CL_LETTER)
        return skip_class(s, n, j, CL_LETTER);
    /* \p{N} */
    if (c0 == CL_DIGIT) return j;
    /* ' '?[^\s\p{L}\p{N}]+[\r\n]* */
    if (c0 == CL_OTHER || (s[i] == ' ' && c1 == CL_OTHER)) {
        size_t k = skip_class(s, n, j, CL_OTHER);
        return skip_class(s, n, k, CL_NEWLINE);
    }
    /* c0 is white space: find the maximal white-space run [i, e), the end of
     * its last CR/LF and the start of its last character. */
    size_t e = i, last_nl_end = 0, last_start = i;
    while (e < n) {
        int c = class_at(s, n, e, &len);
        if (c != CL_SPACE && c != CL_NEWLINE) break;
        last_start = e;
        e += len;
        if (c == CL_NEWLINE) last_nl_end = e;
    }
    /* \s*[\r\n]+ : backtracks to the last CR/LF of the run */
    if (last_nl_end) return last_nl_end;
    /* \s+(?!\S) : the whole run at the end of text, else all but its last
     * character (which then leads the next word) */
    if (e == n) return e;
    if (last_start > i) return last_start;
    /* \s+ */
    return e;
}
