/* exif_orient.c - the EXIF orientation tag and turning an image upright.
 *
 * The EXIF block is a small TIFF file: a byte-order mark ("II" little or
 * "MM" big endian), the number 42, the offset of IFD0, then IFD0 = a count
 * and 12-byte entries (tag, type, count, value-or-offset). Orientation is
 * tag 0x0112, type SHORT, count 1, its value in the first two bytes of the
 * value field. Every read is checked against the block length; anything
 * odd means "no orientation" (1), never an error: a bad EXIF block must not
 * make an otherwise fine photo undecodable.
 *
 * Orientation values (EXIF 2.3, where stored row 0 / column 0 belong):
 *   1 top/left (as stored)    2 top/right (mirror)      3 bottom/right (180)
 *   4 bottom/left (flip)      5 left/top (transpose)    6 right/top (90 CW)
 *   7 right/bottom (transverse)                         8 left/bottom (90 CCW)
 */
#include "image/image_codec.h"

#include <stdlib.h>
#include <string.h>

static unsigned rd16(const uint8_t *p, int big) {
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t rd32(const uint8_t *p, int big) {
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int exif_orientation(const uint8_t *tiff, size_t len) {
    if (!tiff || len < 8) return 1;
    int big;
    if (tiff[0] == 'I' && tiff[1] == 'I') big = 0;
    else if (tiff[0] == 'M' && tiff[1] == 'M') big = 1;
    else return 1;
    if (rd16(tiff + 2, big) != 42) return 1;
    uint32_t ifd = rd32(tiff + 4, big);
    if (ifd > len || len - ifd < 2) return 1;
    unsigned count = rd16(tiff + ifd, big);
    size_t pos = (size_t)ifd + 2;
    for (unsigned i = 0; i < count; i++, pos += 12) {
        if (len - pos < 12) return 1;
        const uint8_t *e = tiff + pos;
        if (rd16(e, big) != 0x0112) continue;
        unsigned type = rd16(e + 2, big), value = rd16(e + 8, big);
        if (type != 3 || rd32(e + 4, big) != 1 || value < 1 || value > 8) return 1;
        return (int)value;
    }
    return 1;
}

/* For output pixel (x, y) of an ow-wide, oh-high upright image, the stored
 * pixel it comes from; w, h are the stored sizes. */
static void source_of(int orientation, int x, int y, int w, int h, int *sx, int *sy) {
    switch (orientation) {
    case 2: *sx = w - 1 - x; *sy = y; break;
    case 3: *sx = w - 1 - x; *sy = h - 1 - y; break;
    case 4: *sx = x;         *sy = h - 1 - y; break;
    case 5: *sx = y;         *sy = x; break;
    case 6: *sx = y;         *sy = h - 1 - x; break;
    case 7: *sx = w - 1 - y; *sy = h - 1 - x; break;
    case 8: *sx = w - 1 - y; *sy = x; break;
    default: *sx = x; *sy = y; break;
    }
}

int image_apply_orientation(image_rgb *img, int orientation, qvl_error *err) {
    if (orientation < 1 || orientation > 8)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid EXIF orientation %d", orientation);
    if (orientation == 1) return 0;
    int w = img->width, h = img->height;
    int ow = orientation >= 5 ? h : w, oh = orientation >= 5 ? w : h;
    image_rgb rot;
    if (image_alloc(&rot, ow, oh, err) != 0) return -1;
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            source_of(orientation, x, y, w, h, &sx, &sy);
            memcpy(rot.pixels + ((size_t)y * ow + x) * 3,
                   img->pixels + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    image_free(img);
    *img = rot;
    return 0;
}
