/* image.c - the image_rgb buffer and the helpers every decoder shares:
 * allocation, the size check before it, alpha compositing. See image.h and
 * image_codec.h. Depends on nothing but the standard library, so the
 * decoders and the dispatcher above them never call each other back.
 */
#include "image/image_codec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int image_check_size(const char *format, uint64_t width, uint64_t height,
                     uint64_t max_pixels, qvl_error *err) {
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
