/* ocr_internal.h - what the OCR backends share inside src/ocr (not a
 * public interface: callers use ocr.h).
 *
 * Each backend fills an ocr_result's lines; ocr_result_finish then builds
 * the joined text and the overall confidence in one place so every backend
 * reports them the same way.
 */
#ifndef QVL_OCR_INTERNAL_H
#define QVL_OCR_INTERNAL_H

#include <stddef.h>

#include "ocr/ocr.h"

/* Largest plugin answer accepted, in bytes. */
#define OCR_MAX_PLUGIN_OUTPUT ((size_t)16 * 1024 * 1024)

/* Sets res->text (lines joined by '\n') and res->confidence. Returns 0, or
 * -1 with err set (QVL_E_NOMEM). */
int ocr_result_finish(ocr_result *res, qvl_error *err);

/* Appends a line (text copied, '\n' and '\r' turned into spaces). Returns 0
 * or -1 (QVL_E_NOMEM) with err set. */
int ocr_result_add_line(ocr_result *res, const char *text, int x, int y, int w, int h,
                        float confidence, qvl_error *err);

/* The plugin answer format, shared by .so children and command plugins:
 *   {"lines": [{"text": "...", "confidence": 0..100, "box": [x, y, w, h]}, ...]}
 * ("box" optional) or {"error": "message"}. Parses json[0..len) into a
 * host-owned *out (finished). Returns 0, or -1 with err set: the plugin's own
 * error, or what is wrong with the JSON. who names the plugin. */
int ocr_result_from_json(const char *who, const char *json, size_t len, ocr_result *out,
                         qvl_error *err);

/* Serialises lines of res in the format above; malloc'd string or NULL
 * when out of memory. */
char *ocr_result_to_json(const ocr_result *res);

/* True when lang is one or more names of [a-z_0-9] joined by '+', at most
 * 128 bytes: safe to hand to Tesseract or a plugin. */
int ocr_lang_valid(const char *lang);

/* Whether the lines of a reading are a table read column by column: at
 * least four lines, half of them standing side by side with
 * another at the same height, and those mostly short (cells, not columns of
 * prose). The recogniser then reads the page again as one block of rows. */
bool ocr_lines_table_by_columns(const ocr_result *res);

/* ---- backends ---- */
typedef struct ocr_tess ocr_tess;
ocr_tess *ocr_tess_open(const char *tessdata, qvl_error *err);
int ocr_tess_recognize(ocr_tess *t, const ocr_image *img, const char *lang, const atomic_bool *cancel,
                       ocr_result *out, qvl_error *err);
void ocr_tess_close(ocr_tess *t);

typedef struct ocr_so ocr_so;
ocr_so *ocr_so_open(const char *path, const char *config, int timeout_ms, qvl_error *err);
const char *ocr_so_name(const ocr_so *so);
int ocr_so_recognize(ocr_so *so, const ocr_image *img, const char *lang, ocr_result *out,
                     qvl_error *err);
void ocr_so_close(ocr_so *so);

int ocr_cmd_recognize(const char *path, const char *name, int timeout_ms, const ocr_image *img,
                      const char *lang, ocr_result *out, qvl_error *err);

#endif
