/* ocr_text.c - OCR text clean-up and character error rate (see ocr_text.h). */
#include "ocr/ocr_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* CJK ideographs, CJK punctuation, kana and full-width forms: the scripts
 * written without spaces between words. */
static int is_cjk(int32_t c) {
    return (c >= 0x3000 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf) ||
           (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff) ||
           (c >= 0xff00 && c <= 0xffef) || (c >= 0x20000 && c <= 0x2fa1f);
}

static int is_space(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return 1;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

void ocr_text_scripts(const char *s, long *cjk, long *latin) {
    *cjk = *latin = 0;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t r = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (r <= 0) return;
        *cjk += is_cjk(c);
        *latin += c < 128 && ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        i += (size_t)r;
    }
}

int ocr_text_only_short_latin(const char *s, int max_len) {
    int run = 0, words = 0;
    for (const char *p = s;; p++) {
        int letter = ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z');
        if (letter) { run++; continue; }
        if (run > max_len) return 0;
        words += run > 0;
        run = 0;
        if (!*p) return words > 0;
    }
}

/* Decodes s into a malloc'd code point array; NULL on invalid UTF-8 or OOM. */
static int32_t *decode(const char *s, size_t *n, qvl_error *err) {
    size_t len = strlen(s);
    int32_t *cp = malloc(sizeof *cp * (len + 1));
    if (!cp) { qvl_fail_code(err, QVL_E_NOMEM, "out of memory"); return NULL; }
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t r = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (r <= 0) {
            free(cp);
            qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid UTF-8 at byte %zu", i);
            return NULL;
        }
        cp[k++] = c;
        i += (size_t)r;
    }
    *n = k;
    return cp;
}

void ocr_text_join_cjk(char *s) {
    size_t len = strlen(s), w = 0;
    int32_t prev = 0;   /* last non-space code point written */
    for (size_t i = 0; i < len;) {
        if (s[i] == ' ') {
            size_t j = i;
            while (j < len && s[j] == ' ') j++;
            utf8proc_int32_t next = -1;
            if (j < len) utf8proc_iterate((const uint8_t *)s + j, (utf8proc_ssize_t)(len - j), &next);
            if (!(is_cjk(prev) && is_cjk(next))) {
                memmove(s + w, s + i, j - i);
                w += j - i;
            }
            i = j;
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t r = utf8proc_iterate((const uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (r <= 0) { r = 1; c = 0; }
        memmove(s + w, s + i, (size_t)r);
        w += (size_t)r;
        i += (size_t)r;
        prev = c;
    }
    s[w] = 0;
}

char *ocr_text_normalize(const char *s, qvl_error *err) {
    utf8proc_uint8_t *nf = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, 0, &nf,
                                      UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                      UTF8PROC_COMPAT);
    if (r < 0) {
        qvl_fail_code(err, r == UTF8PROC_ERROR_NOMEM ? QVL_E_NOMEM : QVL_E_BAD_INPUT,
                      "cannot normalise text: %s", utf8proc_errmsg(r));
        return NULL;
    }
    size_t n;
    int32_t *cp = decode((const char *)nf, &n, err);
    free(nf);
    if (!cp) return NULL;
    char *out = malloc(n * 4 + 1);
    if (!out) { free(cp); qvl_fail_code(err, QVL_E_NOMEM, "out of memory"); return NULL; }
    size_t w = 0;
    int32_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cp[i];
        if (is_space(c)) {
            size_t j = i;
            while (j + 1 < n && is_space(cp[j + 1])) j++;
            int32_t next = j + 1 < n ? cp[j + 1] : 0;
            if (w > 0 && next && !is_cjk(prev) && !is_cjk(next)) out[w++] = ' ';
            i = j;
            continue;
        }
        w += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)out + w);
        prev = c;
    }
    out[w] = 0;
    free(cp);
    return out;
}

long ocr_edit_distance(const char *a, const char *b, qvl_error *err) {
    size_t na, nb;
    int32_t *ca = decode(a, &na, err);
    if (!ca) return -1;
    int32_t *cb = decode(b, &nb, err);
    if (!cb) { free(ca); return -1; }
    /* One row of the dynamic-programming table: row[j] = distance between
     * the first i code points of a and the first j of b. */
    long *row = malloc(sizeof *row * (nb + 1));
    if (!row) {
        free(ca); free(cb);
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return -1;
    }
    for (size_t j = 0; j <= nb; j++) row[j] = (long)j;
    for (size_t i = 1; i <= na; i++) {
        long diag = row[0];   /* d[i-1][j-1] */
        row[0] = (long)i;
        for (size_t j = 1; j <= nb; j++) {
            long up = row[j];  /* d[i-1][j] */
            long best = diag + (ca[i - 1] != cb[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    long d = row[nb];
    free(row); free(ca); free(cb);
    return d;
}

int ocr_cer(const char *ref, const char *hyp, double *cer, long *edits, long *ref_len,
            qvl_error *err) {
    char *r = ocr_text_normalize(ref, err);
    if (!r) return -1;
    char *h = ocr_text_normalize(hyp, err);
    if (!h) { free(r); return -1; }
    long d = ocr_edit_distance(r, h, err);
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)r; *p; p++) n += (*p & 0xc0) != 0x80;
    free(r); free(h);
    if (d < 0) return -1;
    *cer = (double)d / (double)(n ? n : 1);
    if (edits) *edits = d;
    if (ref_len) *ref_len = (long)n;
    return 0;
}
