/* ocr_router.h - deciding per request whether the OCR engine, the VLM, or
 * OCR feeding the VLM answers a question about an image.
 *
 * The decision comes from a rules file a user can read and edit
 * (data/ocr-rules.txt documents the format): lines "ROUTE PHRASE" where
 * ROUTE is ocr, vlm or ocr+vlm and PHRASE is Chinese or English text in
 * which '*' stands for any run of characters. Matching is on the Unicode
 * NFKC case-folded question; ASCII words match only as whole words. The
 * matching rule with the longest phrase (most literal characters) wins,
 * the earlier one on a tie; no match means vlm. The file also sets
 * min-confidence: an OCR answer in auto mode below it goes to the VLM.
 *
 * A router is read-only after loading, so any number of threads may share
 * one. Memory: the router owns everything; ocr_router_free releases it.
 */
#ifndef QVL_OCR_ROUTER_H
#define QVL_OCR_ROUTER_H

#include <stddef.h>

#include "base/error.h"
#include "ocr/ocr.h"

typedef enum { OCR_ROUTE_VLM = 0, OCR_ROUTE_OCR, OCR_ROUTE_OCR_VLM } ocr_route;

/* What a request asks for: auto lets the rules decide. */
typedef enum { OCR_MODE_AUTO = 0, OCR_MODE_OCR, OCR_MODE_VLM, OCR_MODE_OCR_VLM } ocr_mode;

typedef struct ocr_router ocr_router;

/* Why a route was chosen, for logs and `qvl route`. */
typedef struct ocr_decision {
    ocr_route route;
    int forced;          /* 1 when the request's mode decided, not a rule */
    int rule_line;       /* line of the winning rule in the file; 0 = none matched */
    char rule[160];      /* its phrase as written (truncated), "" when none */
} ocr_decision;

/* "ocr", "vlm" or "ocr+vlm"; cannot fail. */
const char *ocr_route_name(ocr_route r);

/* Parses "auto", "ocr", "vlm", "ocr+vlm" (case-insensitive). Returns 0, or
 * -1 with err set (QVL_E_BAD_INPUT) for anything else. */
int ocr_mode_parse(const char *s, ocr_mode *out, qvl_error *err);

/* Parses rules from text[0..len); name is used in messages ("FILE:LINE:").
 * Returns NULL with err set (QVL_E_BAD_INPUT naming the line) on a bad
 * line, invalid UTF-8 or over-long input (1 MiB, 500-byte phrases). */
ocr_router *ocr_router_parse(const char *text, size_t len, const char *name, qvl_error *err);

/* Loads a rules file. path NULL = the default file: $QVL_OCR_RULES, else
 * data/ocr-rules.txt next to the executable, two levels up from it (the
 * build tree) or in ../share/qvl. Returns NULL with err set (QVL_E_IO when
 * missing, naming every place looked at, or a parse error). */
ocr_router *ocr_router_load(const char *path, qvl_error *err);

/* Chooses the route for question. A mode other than auto wins outright.
 * why may be NULL. Cannot fail: a question that is not valid UTF-8 simply
 * matches no rule. */
ocr_route ocr_router_decide(const ocr_router *r, const char *question, ocr_mode requested,
                            ocr_decision *why);

/* In auto mode, whether an OCR result is good enough to be the answer:
 * some text, confidence >= the file's min-confidence, and text that looks
 * like writing (ocr_text_plausibility >= OCR_TRUST_PLAUSIBLE). Cannot fail. */
int ocr_router_accepts(const ocr_router *r, const ocr_result *res);

/* The min-confidence in force (0..100). */
float ocr_router_min_confidence(const ocr_router *r);

/* Number of rules loaded. */
int ocr_router_rule_count(const ocr_router *r);

void ocr_router_free(ocr_router *r);

#endif
