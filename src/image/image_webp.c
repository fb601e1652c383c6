/* image_webp.c - WebP decoding through libwebp (lossy, lossless, with or
 * without alpha; animations are refused). Alpha is composited onto white
 * with the same arithmetic as PNG alpha. WebPGetFeatures reads only the
 * headers, so the size limit is checked before any pixel is decoded.
 */
#include "image/image_codec.h"

#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

int image_decode_webp(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                      image_rgb *out, qvl_error *err) {
    WebPBitstreamFeatures f;
    memset(out, 0, sizeof *out);
    VP8StatusCode st = WebPGetFeatures(bytes, len, &f);
    if (st == VP8_STATUS_NOT_ENOUGH_DATA)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt WebP: file is truncated");
    if (st != VP8_STATUS_OK)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt WebP: bad header (status %d)", (int)st);
    if (f.has_animation)
        return qvl_fail_code(err, QVL_E_BAD_MEDIA, "animated WebP is not supported");
    if (image_check_size("WebP", (uint64_t)f.width, (uint64_t)f.height, max_pixels, err) != 0)
        return -1;
    if (image_alloc(out, f.width, f.height, err) != 0) return -1;

    size_t npix = (size_t)f.width * (size_t)f.height;
    int ok;
    if (f.has_alpha) {
        uint8_t *rgba = malloc(npix * 4);
        if (!rgba) {
            image_free(out);
            return qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding a WebP image");
        }
        ok = WebPDecodeRGBAInto(bytes, len, rgba, npix * 4, f.width * 4) != NULL;
        if (ok) image_rgba_over_white(rgba, npix, out->pixels);
        free(rgba);
    } else {
        ok = WebPDecodeRGBInto(bytes, len, out->pixels, npix * 3, f.width * 3) != NULL;
    }
    if (!ok) {
        image_free(out);
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt WebP: image data cannot be decoded");
    }
    return 0;
}
