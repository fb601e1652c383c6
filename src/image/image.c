/* image.c - the image_rgb buffer and the helpers every decoder shares:
 * allocation, the size check before it, alpha compositing, the HEIF brand
 * test. See image.h and image_codec.h. Depends on nothing but the standard
 * library, so the decoders and the dispatcher above them never call each
 * other back.
 */
#include "image/image_codec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Set by image_probe for the decode it runs on this thread: the size check
 * records the header's size there and stops the decoder. */
static _Thread_local image_size_probe *probe;

void image_probe_arm(image_size_probe *p) { probe = p; }

int image_check_size(const char *format, uint64_t width, uint64_t height,
                     uint64_t max_pixels, qvl_error *err) {
    if (probe && width > 0 && height > 0 && width <= INT_MAX / 4 && height <= INT_MAX / 4) {
        probe->width = (int)width;
        probe->height = (int)height;
        probe->format = format;
        probe->seen = true;
        return qvl_fail_code(err, QVL_E_GENERIC, "size probed");
    }
    if (width == 0 || height == 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s header gives an empty image (%llux%llu)",
                             format, (unsigned long long)width, (unsigned long long)height);
    /* Sides are bounded first so width*height below cannot overflow. */
    if (width > INT_MAX / 4 || height > INT_MAX / 4 || width * height > max_pixels)
        return qvl_fail_code(err, QVL_E_TOO_LARGE,
                             "%s image is %llux%llu = %llu pixels, over the limit of %llu pixels",
                             format, (unsigned long long)width, (unsigned long long)height,
                             (unsigned long long)(width * height),
                             (unsigned long long)max_pixels);
    return 0;
}

int image_alloc(image_rgb *out, int width, int height, qvl_error *err) {
    memset(out, 0, sizeof *out);
    if (width <= 0 || height <= 0 || (size_t)width > SIZE_MAX / 3 / (size_t)height)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid image size %dx%d", width, height);
    out->pixels = malloc((size_t)width * (size_t)height * 3);
    if (!out->pixels)
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for a %dx%d image", width, height);
    out->width = width;
    out->height = height;
    return 0;
}

void image_free(image_rgb *img) {
    if (!img) return;
    free(img->pixels);
    memset(img, 0, sizeof *img);
}

/* Pillow's alpha_composite(dst = white opaque, src) keeps 7 fractional bits
 * and divides by 255 with a shift trick; with an opaque destination its
 * coefficients reduce to coef1 = a*128, coef2 = (255-a)*128. */
static uint8_t over_white(uint32_t c, uint32_t a) {
    uint32_t t = c * a * 128 + 255 * (255 - a) * 128 + (0x80 << 7);
    return (uint8_t)((((t >> 8) + t) >> 8) >> 7);
}

void image_rgba_over_white(const uint8_t *rgba, size_t n, uint8_t *rgb) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = rgba + i * 4;
        uint8_t r = s[0], g = s[1], b = s[2], a = s[3];
        uint8_t *d = rgb + i * 3;
        if (a == 0) {
            d[0] = d[1] = d[2] = 255;
        } else {
            d[0] = over_white(r, a);
            d[1] = over_white(g, a);
            d[2] = over_white(b, a);
        }
    }
}

void image_premultiplied_over_white(const uint8_t *rgba, size_t n, uint8_t *rgb) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = rgba + i * 4;
        uint8_t *d = rgb + i * 3;
        /* c + (255 - a) is exact for valid data (c <= a); corrupt data
         * (c > a) would overflow, so it saturates. */
        for (int c = 0; c < 3; c++) {
            unsigned v = (unsigned)s[c] + 255u - s[3];
            d[c] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

/* ---- HEIF brands ---------------------------------------------------------- */

static int brand_in(const uint8_t *brand, const char *const *list) {
    for (; *list; list++)
        if (memcmp(brand, *list, 4) == 0) return 1;
    return 0;
}

const char *image_heif_kind(const uint8_t *b, size_t len) {
    static const char *const av1[] = {"avif", "avis", NULL};
    static const char *const hevc[] = {"heic", "heix", "heim", "heis", "hevc", "hevx", "hevm",
                                       "hevs", NULL};
    static const char *const generic[] = {"mif1", "msf1", "mif2", NULL};
    if (!b || len < 16 || memcmp(b + 4, "ftyp", 4) != 0) return NULL;
    size_t size = (size_t)b[0] << 24 | (size_t)b[1] << 16 | (size_t)b[2] << 8 | b[3];
    if (size < 16) return NULL;
    if (size > len) size = len;
    /* The major brand decides; a generic one (mif1: "some image codec")
     * defers to the codec brands in the compatible list, which follows the
     * 4-byte minor version. */
    if (brand_in(b + 8, av1)) return "image/avif";
    if (brand_in(b + 8, hevc)) return "image/heic";
    int any_av1 = 0, any_hevc = 0, any_generic = brand_in(b + 8, generic);
    for (size_t at = 16; at + 4 <= size; at += 4) {
        any_av1 |= brand_in(b + at, av1);
        any_hevc |= brand_in(b + at, hevc);
        any_generic |= brand_in(b + at, generic);
    }
    return any_av1 ? "image/avif" : any_hevc ? "image/heic" : any_generic ? "image/heif" : NULL;
}
