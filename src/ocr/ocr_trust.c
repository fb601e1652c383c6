/* ocr_trust.c - whether a reading can be served as the text of an image
 * (see ocr.h). Tesseract's confidence alone is not enough: upside-down
 * Latin came back at 43 and noise at 50-70, as strings of fragments and
 * punctuation; real writing is mostly letters, digits and CJK characters
 * in words longer than one letter.
 */
#include <string.h>
#include <utf8proc.h>

#include "ocr/ocr.h"

float ocr_text_plausibility(const char *text) {
    if (!text) return 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    long good = 0, total = 0, words = 0, fragments = 0, word_len = 0;
    for (;;) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t n = *p ? utf8proc_iterate(p, -1, &cp) : 0;
        bool space = n <= 0 || cp == ' ' || cp == '\n' || cp == '\t';
        if (space) {
            /* a Latin "word" of one letter other than a/I/digits: a fragment */
            if (word_len == 1 && !strchr("aAI0123456789", p[-1])) fragments++;
            words += word_len > 0;
            word_len = 0;
            if (n <= 0) break;
            p += n;
            continue;
        }
        utf8proc_category_t c = utf8proc_category(cp);
        bool letter = c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
        bool digit = c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
        good += letter || digit;
        total++;
        /* CJK characters are words of their own; Latin letters build words */
        word_len = cp < 0x2e80 ? word_len + 1 : 0;
        if (cp >= 0x2e80) words++;
        p += n;
    }
    if (total == 0) return 0;
    float share = (float)good / (float)total;
    float frag = words ? (float)fragments / (float)words : 0;
    return share * (1 - frag);
}

bool ocr_result_trusted(const ocr_result *res) {
    return res && res->text && res->n_lines > 0 && res->confidence >= OCR_TRUST_CONFIDENCE &&
           ocr_text_plausibility(res->text) >= OCR_TRUST_PLAUSIBLE;
}

static float score(const ocr_result *r, long most) {
    long chars = r->text ? (long)strlen(r->text) : 0;
    float amount = most > 0 && chars * 2 < most ? (float)chars * 2 / (float)most : 1;
    return r->confidence * ocr_text_plausibility(r->text) * amount;
}

bool ocr_result_better(const ocr_result *a, const ocr_result *b) {
    long la = a->text ? (long)strlen(a->text) : 0, lb = b->text ? (long)strlen(b->text) : 0;
    long most = la > lb ? la : lb;
    return score(a, most) > score(b, most);
}
