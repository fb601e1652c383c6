/* image.h - decoded images: the RGB pixel type, decoding untrusted bytes,
 * writing a PNG.
 *
 * What it promises:
 *   - image_decode turns JPEG, PNG, WebP or BMP bytes into 8-bit RGB. The
 *     format is taken from the magic bytes only, never from a file name or a
 *     declared MIME type (image_sniff lets a caller compare the two).
 *   - Untrusted input never crashes, hangs or aborts: corrupt or truncated
 *     data gives -1 and a message. Size limits are checked from the header,
 *     before any pixel buffer exists, so a small "decompression bomb" file
 *     costs no memory.
 *   - The result is what Hugging Face's processor sees after PIL's
 *     convert_to_rgb: grayscale is replicated to R=G=B, alpha is composited
 *     onto white with Pillow's integer formula (Image.alpha_composite), CMYK
 *     JPEGs are converted like Pillow does, 16-bit samples keep the high byte.
 *   - JPEG EXIF orientation (all 8 values) is applied, so a phone photo comes
 *     out upright: this matches transformers' load_image (exif_transpose),
 *     not a bare PIL Image.open. Orientation in PNG/WebP files is ignored.
 *
 * Not handled: GIF (recognised by image_sniff, refused by image_decode: it
 * would need an LZW decoder), animated WebP, RLE-compressed BMP, colour
 * profiles (ICC data is ignored, as Pillow does by default), PNG gamma.
 *
 * Memory: image_rgb.pixels is malloc'd by the decoder and owned by the
 * caller, who releases it with image_free.
 */
#ifndef QVL_IMAGE_H
#define QVL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* An 8-bit RGB image, rows top to bottom, no padding between rows:
 * pixels[(y * width + x) * 3 + c], c = 0 R, 1 G, 2 B. */
typedef struct image_rgb {
    int width;
    int height;
    uint8_t *pixels;   /* [height][width][3], malloc'd */
} image_rgb;

/* Defaults used when a limit is 0 (or lim is NULL). */
#define IMAGE_DEFAULT_MAX_BYTES  ((size_t)10 * 1024 * 1024)
#define IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)50 * 1000 * 1000)

typedef struct image_limits {
    size_t   max_bytes;    /* largest encoded file accepted; 0 = default */
    uint64_t max_pixels;   /* largest width*height accepted; 0 = default */
} image_limits;

/* Returns "image/jpeg", "image/png", "image/webp", "image/bmp" or
 * "image/gif" from the first bytes, or NULL when none matches (also for
 * len too short). Cannot fail otherwise; the string is static. */
const char *image_sniff(const uint8_t *bytes, size_t len);

/* Decodes bytes[0..len) into *out (see the promises above); lim may be NULL.
 * Returns 0, or -1 with err set and *out left zeroed. Error codes:
 * QVL_E_TOO_LARGE (over a limit), QVL_E_BAD_MEDIA (unknown or unsupported
 * format), QVL_E_BAD_INPUT (corrupt or truncated data), QVL_E_NOMEM. */
int image_decode(const uint8_t *bytes, size_t len, const image_limits *lim,
                 image_rgb *out, qvl_error *err);

/* Allocates a width x height image with undefined pixels. Returns 0, or -1
 * with err set (QVL_E_NOMEM, or QVL_E_BAD_INPUT for a non-positive or
 * overflowing size); *out is zeroed on failure. */
int image_alloc(image_rgb *out, int width, int height, qvl_error *err);

/* Frees the pixels and zeroes *img; safe on a zeroed or freed image. */
void image_free(image_rgb *img);

/* Writes img as an 8-bit RGB PNG at path (overwriting). Returns 0, or -1
 * with err set (QVL_E_IO); a partly written file may remain. */
int image_write_png(const image_rgb *img, const char *path, qvl_error *err);

#endif
