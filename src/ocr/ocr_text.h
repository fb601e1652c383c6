/* ocr_text.h - text clean-up for OCR output and the character error rate
 * used to measure OCR accuracy.
 *
 * Works on UTF-8 code points. Normalisation for comparison: Unicode NFKC
 * (full-width ASCII becomes ASCII), every run of whitespace becomes one
 * space, spaces touching a CJK character are dropped (Chinese has no word
 * spaces; engines and ground truths disagree about them), ends trimmed.
 * Case is kept: "Exit" read as "EXIT" is an error.
 */
#ifndef QVL_OCR_TEXT_H
#define QVL_OCR_TEXT_H

#include <stddef.h>

#include "base/error.h"

/* In place: removes ASCII spaces that sit between two CJK characters
 * ("提 取 文 字" -> "提取文字"), as Tesseract's Chinese models emit them.
 * Invalid UTF-8 is left as it is. Cannot fail. */
void ocr_text_join_cjk(char *s);

/* Counts the ideographs (and kana, CJK punctuation, full-width forms) and
 * the ASCII letters of s. Invalid UTF-8 ends the count. Cannot fail. */
void ocr_text_scripts(const char *s, long *cjk, long *latin);

/* Whether s has a word of ASCII letters and every such word is at most
 * max_len letters long ("Bit 78.51" with 3: yes; "Total 78.51": no). A word
 * is a run of letters; digits and punctuation end it. */
int ocr_text_only_short_latin(const char *s, int max_len);

/* Returns the comparison form of s (see above), malloc'd; NULL with err set
 * when s is not valid UTF-8 (QVL_E_BAD_INPUT) or memory runs out. */
char *ocr_text_normalize(const char *s, qvl_error *err);

/* Levenshtein distance between a and b counted in code points (both must be
 * valid UTF-8), with unit costs. Returns the distance, or -1 with err set
 * (invalid UTF-8, or out of memory; memory is O(len(b))). */
long ocr_edit_distance(const char *a, const char *b, qvl_error *err);

/* Character error rate of hyp against ref after normalising both:
 * edits / code points of ref (edits / 1 when ref is empty, so an empty ref
 * with a non-empty hyp does not divide by zero). Returns 0 with *cer, and
 * optionally *edits / *ref_len, set; -1 with err set on invalid UTF-8. */
int ocr_cer(const char *ref, const char *hyp, double *cer, long *edits, long *ref_len,
            qvl_error *err);

#endif
