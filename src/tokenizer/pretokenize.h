/* pretokenize.h - the Unicode half of the Qwen2/Qwen3 byte-level BPE
 * tokenizer: strict UTF-8 stepping, NFC normalisation, and the pre-tokenizer
 * split that cuts ordinary text into the words BPE works on.
 *
 * The split reproduces, by hand and without a regex engine, the pattern of
 * the Qwen tokenizer.json (spec section 3.1 step 3):
 *
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
 *   | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *
 * \p{L} / \p{N} come from utf8proc's general category (L* / N*), \s is the
 * Unicode White_Space property. The contractions are matched ASCII
 * case-insensitively, as llama.cpp does (Unicode case folding would also
 * let U+017F LATIN SMALL LETTER LONG S match 's'; we do not).
 *
 * Bytes that are not valid UTF-8 never fail: each such byte is one character
 * of class "other" (neither letter, digit nor space), so it still becomes a
 * byte-level token. All functions here are pure and thread-safe.
 */
#ifndef QVL_PRETOKENIZE_H
#define QVL_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Decodes one UTF-8 sequence at s[0..n), n >= 1, following the Unicode
 * "maximal subpart" rules (no overlongs, no surrogates, <= U+10FFFF).
 * Returns
 *   1..4  length of a valid sequence, its code point stored in *cp;
 *   0     s[0..n) is a proper prefix of a valid sequence (more bytes needed);
 *   -k    the first k bytes (k >= 1) are an invalid maximal subpart, which a
 *         decoder replaces by one U+FFFD.
 * Cannot fail otherwise. */
int pretok_utf8_step(const uint8_t *s, size_t n, uint32_t *cp);

/* NFC-normalises text[0..len). Maximal runs of valid UTF-8 are normalised
 * independently; invalid bytes are copied unchanged. When the text is known
 * to be NFC already (all code points in ranges that never change or compose,
 * e.g. ASCII, Latin-1, CJK ideographs, kana, Hangul syllables) this returns 0
 * with *out = NULL and allocates nothing. Otherwise *out is a malloc'd buffer
 * of *out_len bytes (plus a NUL) that the caller frees.
 * Returns -1 with err set (code QVL_E_NOMEM) only when memory runs out. */
int pretok_nfc(const char *text, size_t len, char **out, size_t *out_len, qvl_error *err);

/* Returns the end offset of the pre-tokenizer word that starts at byte pos
 * (pos < n); the next word starts there. Every byte belongs to exactly one
 * word and every word is non-empty, so
 *     for (size_t p = 0; p < n; p = e) e = pretok_next(s, n, p);
 * walks the whole text. Cannot fail. */
size_t pretok_next(const uint8_t *s, size_t n, size_t pos);

#endif
