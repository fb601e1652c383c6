/* api_pages.c - POST /api/v1/pages: a document's pages as thumbnails, so the
 * web page can show a PDF (which browsers do not draw in an <img>) and let
 * the user choose the pages a question reads:
 *
 *   {"image": "<base64 or data URL>"}
 *   -> {"pages": n, "thumbnails": [{"page": 1, "width": w, "height": h,
 *       "rgb": "<base64 of w*h*3 bytes, rows top to bottom>"}, ...]}
 *
 * Raw RGB rather than PNG: the page draws it on a canvas, and the server needs
 * no image encoder. Thumbnails come for the first PAGES_THUMBS pages, each
 * rendered within THUMB_PIXELS (about 120 x 160), on this connection's thread
 * (not an inference slot: a thumbnail costs milliseconds). An image that is
 * not a document has one page and no thumbnails (the browser shows it).
 */
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "image/image.h"
#include "service/http_util.h"
#include "server/server_impl.h"

enum { PAGES_THUMBS = 24, THUMB_PIXELS = 20000 };

/* One page's thumbnail object; NULL with err set. */
static json_t *thumbnail(const uint8_t *bytes, size_t len, int page, qvl_error *err) {
    image_rgb img = {0};
    image_limits lim = {.max_pixels = THUMB_PIXELS};
    if (image_decode_page(bytes, len, page, &lim, &img, err) != 0) return NULL;
    size_t n = (size_t)img.width * img.height * 3, b64_len = base64_encoded_len(n);
    char *b64 = malloc(b64_len + 1);
    json_t *t = NULL;
    if (b64) {
        base64_encode(b64, img.pixels, n);
        t = json_pack("{s:i, s:i, s:i, s:s%}", "page", page + 1, "width", img.width, "height", img.height, "rgb", b64,
                      b64_len);
    }
    if (!t) qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    free(b64);
    image_free(&img);
    return t;
}

enum MHD_Result api_pages(srv_req *r) {
    qvl_error err = {0};
    json_t *body = srv_parse_json_body(r, &err), *thumbs = json_array(), *out = NULL;
    const char *ref = json_string_value(json_object_get(body, "image"));
    uint8_t *bytes = NULL;
    size_t len = 0;
    int n = 0;
    if (body && !ref) qvl_fail_code(&err, QVL_E_BAD_INPUT, "'image' must be a base64 string or a data URL");
    if (body && ref && http_image_bytes(ref, NULL, r->srv->img_lim.max_bytes, &bytes, &len, &err) == 0)
        n = image_page_count(bytes, len, &r->srv->img_lim, &err);
    const char *type = n > 0 ? image_sniff(bytes, len) : NULL;
    bool document = type && (!strcmp(type, "application/pdf") || n > 1);
    for (int p = 0; document && thumbs && p < n && p < PAGES_THUMBS && n > 0; p++) {
        json_t *t = thumbnail(bytes, len, p, &err);
        if (!t || json_array_append_new(thumbs, t) != 0) {
            qvl_error_prefix(&err, "page %d", p + 1);
            n = -1;
        }
    }
    if (n > 0) out = json_pack("{s:i, s:O}", "pages", n, "thumbnails", thumbs);
    free(bytes);
    json_decref(thumbs);
    json_decref(body);
    if (out) return srv_reply_json(r, 200, out);
    if (!err.msg[0]) qvl_fail_code(&err, QVL_E_NOMEM, "out of memory");
    return srv_reply_error(r, &err);
}
