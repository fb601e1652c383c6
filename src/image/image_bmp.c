/* image_bmp.c - a small BMP reader (written by hand: no library needed).
 *
 * Layout: 14-byte file header ("BM", size, reserved, u32 offset of the
 * pixels at byte 10), then a DIB header whose first u32 is its size: 12 for
 * the old OS/2 core header (u16 width/height), 40 or more for the Windows
 * header (i32 width, i32 height - negative means rows stored top-down -,
 * u16 planes, u16 bits per pixel, u32 compression, ..., u32 colours used at
 * byte 46). The palette follows the DIB header (3-byte entries for the core
 * header, 4-byte BGRx otherwise). Pixel rows are padded to 4 bytes and
 * stored bottom-up unless the height is negative; samples are B, G, R.
 *
 * Supported: uncompressed (BI_RGB) 1, 4, 8, 24 and 32 bits per pixel. The
 * fourth byte of 32-bit pixels is ignored, as Pillow does for BI_RGB.
 * Refused: RLE and bit-field compression, 16 bits per pixel.
 */
#include "image/image_codec.h"

#include <string.h>

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }

static int bmp_bad(qvl_error *err, const char *what) {
    return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt BMP: %s", what);
}

int image_decode_bmp(const uint8_t *b, size_t len, uint64_t max_pixels,
                     image_rgb *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    if (len < 26) return bmp_bad(err, "file is truncated");
    uint32_t data_off = le32(b + 10), dib = le32(b + 14);
    int64_t width, height;
    uint32_t bpp, compression = 0, colours = 0;
    size_t pal_entry = 4;
    if (dib == 12) {
        width = le16(b + 18);
        height = le16(b + 20);
        bpp = le16(b + 24);
        pal_entry = 3;
    } else {
        if (len < 14 + 40 || dib < 40) return bmp_bad(err, "file is truncated");
        width = (int32_t)le32(b + 18);
        height = (int32_t)le32(b + 22);
        bpp = le16(b + 28);
        compression = le32(b + 30);
        colours = le32(b + 46);
    }
    int top_down = height < 0;
    if (top_down) height = -height;
    if (width <= 0 || height <= 0) return bmp_bad(err, "invalid image size");
    if (compression != 0)
        return qvl_fail_code(err, QVL_E_BAD_MEDIA, "compressed BMP (type %u) is not supported",
                             (unsigned)compression);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 24 && bpp != 32)
        return qvl_fail_code(err, QVL_E_BAD_MEDIA, "BMP with %u bits per pixel is not supported",
                             (unsigned)bpp);
    if (image_check_size("BMP", (uint64_t)width, (uint64_t)height, max_pixels, err) != 0)
        return -1;

    /* Palette bounds: entries must lie between the DIB header and the file end. */
    const uint8_t *palette = NULL;
    uint32_t n_colours = 0;
    if (bpp <= 8) {
        n_colours = colours ? colours : 1u << bpp;
        if (n_colours > 256) return bmp_bad(err, "palette too large");
        uint64_t pal_off = 14 + (uint64_t)dib;
        if (pal_off + (uint64_t)n_colours * pal_entry > len) return bmp_bad(err, "palette is truncated");
        palette = b + pal_off;
    }
    uint64_t stride = ((uint64_t)width * bpp + 31) / 32 * 4;
    /* The last row needs only its pixels, not its padding. */
    uint64_t last = ((uint64_t)width * bpp + 7) / 8;
    if ((uint64_t)data_off + stride * (uint64_t)(height - 1) + last > len)
        return bmp_bad(err, "pixel data is truncated");

    if (image_alloc(out, (int)width, (int)height, err) != 0) return -1;
    for (int64_t y = 0; y < height; y++) {
        int64_t stored = top_down ? y : height - 1 - y;
        const uint8_t *row = b + data_off + stride * (uint64_t)stored;
        uint8_t *dst = out->pixels + (size_t)y * (size_t)width * 3;
        for (int64_t x = 0; x < width; x++, dst += 3) {
            if (bpp >= 24) {
                const uint8_t *p = row + x * (bpp / 8);
                dst[0] = p[2];
                dst[1] = p[1];
                dst[2] = p[0];
                continue;
            }
            /* Packed indices, most significant bits first. */
            uint64_t bit = (uint64_t)x * bpp;
            unsigned idx = (row[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
            if (idx >= n_colours) {
                dst[0] = dst[1] = dst[2] = 0;  /* out-of-palette index: black */
            } else {
                const uint8_t *c = palette + idx * pal_entry;
                dst[0] = c[2];
                dst[1] = c[1];
                dst[2] = c[0];
            }
        }
    }
    return 0;
}
