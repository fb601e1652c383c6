/* image_decode.c - format sniffing, limits and dispatch to the per-format
 * decoders (image_jpeg.c, image_png.c, ...). See image.h for the contract.
 */
#include "image/image_codec.h"

#include <stdlib.h>
#include <string.h>

static int bmp_header_plausible(const uint8_t *b, size_t len) {
    if (len < 18) return 0;
    uint32_t dib = (uint32_t)b[14] | (uint32_t)b[15] << 8 | (uint32_t)b[16] << 16 |
                   (uint32_t)b[17] << 24;
    /* "BM" alone is too weak a signature (text can start with it); the DIB
     * header size must be one of the known header versions. */
    return dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 ||
           dib == 108 || dib == 124;
}

const char *image_sniff(const uint8_t *b, size_t len) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    if (!b) return NULL;
    if (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return "image/jpeg";
    if (len >= 8 && memcmp(b, png_sig, 8) == 0) return "image/png";
    if (len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
        return "image/webp";
    if (len >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "image/gif";
    if (len >= 2 && b[0] == 'B' && b[1] == 'M' && bmp_header_plausible(b, len))
        return "image/bmp";
    return NULL;
}

int image_decode(const uint8_t *bytes, size_t len, const image_limits *lim,
                 image_rgb *out, qvl_error *err) {
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : IMAGE_DEFAULT_MAX_BYTES;
    uint64_t max_pixels = lim && lim->max_pixels ? lim->max_pixels : IMAGE_DEFAULT_MAX_PIXELS;
    memset(out, 0, sizeof *out);
    if (!bytes || len == 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "image data is empty");
    if (len > max_bytes)
        return qvl_fail_code(err, QVL_E_TOO_LARGE,
                             "image file is %zu bytes, over the limit of %zu bytes", len, max_bytes);
    const char *type = image_sniff(bytes, len);
    if (!type)
        return qvl_fail_code(err, QVL_E_BAD_MEDIA,
                             "not a supported image: the data is not JPEG, PNG, WebP or BMP");
    int rc;
    if (strcmp(type, "image/jpeg") == 0) rc = image_decode_jpeg(bytes, len, max_pixels, out, err);
    else if (strcmp(type, "image/png") == 0) rc = image_decode_png(bytes, len, max_pixels, out, err);
    else if (strcmp(type, "image/webp") == 0) rc = image_decode_webp(bytes, len, max_pixels, out, err);
    else if (strcmp(type, "image/bmp") == 0) rc = image_decode_bmp(bytes, len, max_pixels, out, err);
    else
        return qvl_fail_code(err, QVL_E_BAD_MEDIA,
                             "GIF images are not supported; convert to PNG or JPEG");
    if (rc != 0) image_free(out);
    return rc;
}
