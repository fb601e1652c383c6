/* ocr_plugin_cmd.c - OCR backends that are external programs.
 *
 * Protocol (version 1), one program run per request, no arguments:
 *   stdin  <- one JSON object:
 *             {"qvl_ocr_api": 1, "lang": "eng+chi_sim", "width": W, "height": H,
 *              "image": {"format": "ppm", "base64": "<binary PPM (P6), base64>"}}
 *             (PPM: any image library reads it, and it costs us no encoder)
 *   stdout -> {"lines": [{"text": "...", "confidence": 0..100,
 *                          "box": [x, y, w, h]}, ...]}      ("box" optional)
 *             or {"error": "message"}; exit status 0 either way.
 * A non-zero exit, a signal, invalid JSON, more than 16 MiB of output or
 * running past the time limit (the process group is then killed) fail the
 * request with a message that says which. The program's stderr is shown
 * (its tail) when it fails. To pass arguments, wrap it in a script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "ocr/ocr_internal.h"
#include "ocr/ocr_proc.h"

/* The request text; NULL when out of memory. lang was validated by the
 * caller ([a-z0-9_+] only), so it needs no JSON escaping. */
static char *build_request(const ocr_image *img, const char *lang, size_t *len) {
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "P6\n%d %d\n255\n", img->width, img->height);
    size_t raw = (size_t)hl + (size_t)img->width * img->height * 3;
    uint8_t *ppm = malloc(raw);
    if (!ppm) return NULL;
    memcpy(ppm, hdr, (size_t)hl);
    memcpy(ppm + hl, img->rgb, raw - (size_t)hl);
    char head[256];
    int n = snprintf(head, sizeof head,
                     "{\"qvl_ocr_api\": %d, \"lang\": \"%s\", \"width\": %d, \"height\": %d, "
                     "\"image\": {\"format\": \"ppm\", \"base64\": \"",
                     OCR_API_VERSION, lang, img->width, img->height);
    static const char tail[] = "\"}}\n";
    size_t cap = (size_t)n + base64_encoded_len(raw) + sizeof tail;
    char *req = malloc(cap);
    if (!req) { free(ppm); return NULL; }
    memcpy(req, head, (size_t)n);
    base64_encode(req + n, ppm, raw);
    size_t w = (size_t)n + base64_encoded_len(raw);
    memcpy(req + w, tail, sizeof tail);
    *len = w + sizeof tail - 1;
    free(ppm);
    return req;
}

int ocr_cmd_recognize(const char *path, const char *name, int timeout_ms, const ocr_image *img,
                      const char *lang, ocr_result *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    size_t req_len = 0;
    char *req = build_request(img, lang, &req_len);
    if (!req) return qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory for the request", name);
    ocr_proc_spec spec = {.name = name, .exec_path = path, .in = req, .in_len = req_len,
                          .timeout_ms = timeout_ms, .max_out = OCR_MAX_PLUGIN_OUTPUT};
    size_t len = 0;
    char *json = ocr_proc_run(&spec, &len, err);
    free(req);
    if (!json) return -1;
    int rc = ocr_result_from_json(name, json, len, out, err);
    free(json);
    return rc;
}
