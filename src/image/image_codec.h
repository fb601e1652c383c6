/* image_codec.h - private interface of src/image: the per-format decoders
 * that image_decode.c (the dispatcher) calls, and the helpers of image.c
 * they share. Not for use outside src/image.
 *
 * Every decoder has the contract of image_decode: the dispatcher has already
 * checked the encoded size and the magic bytes; the decoder must call
 * image_check_size with the header's dimensions before allocating pixels,
 * and on failure return -1 with err set and *out zeroed.
 */
#ifndef QVL_IMAGE_CODEC_H
#define QVL_IMAGE_CODEC_H

#include <stdbool.h>

#include "image/image.h"

int image_decode_jpeg(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                      image_rgb *out, qvl_error *err);
int image_decode_png(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                     image_rgb *out, qvl_error *err);
int image_decode_webp(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                      image_rgb *out, qvl_error *err);
int image_decode_bmp(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                     image_rgb *out, qvl_error *err);
int image_decode_gif(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                     image_rgb *out, qvl_error *err);
/* HEIC, HEIF and AVIF: one container, one library. */
int image_decode_heif(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                      image_rgb *out, qvl_error *err);

/* TIFF is the one format with pages: image_decode_tiff decodes page
 * (0-based; QVL_E_BAD_INPUT when out of range), image_tiff_page_count
 * returns the number of pages (>= 1) or -1 with err set. max_pixels also
 * bounds libtiff's own allocations. */
int image_decode_tiff(const uint8_t *bytes, size_t len, int page, uint64_t max_pixels,
                      image_rgb *out, qvl_error *err);
int image_tiff_page_count(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                          qvl_error *err);

/* PDF, the other paged format (image_pdf.c): image_pdf_sniff gives
 * "application/pdf" when "%PDF-" is within the first 1024 bytes (else NULL);
 * image_decode_pdf renders page (0-based) at an OCR-suited resolution within
 * max_pixels, band by band, stopping with QVL_E_CANCELLED once *cancel (may
 * be NULL) is set; image_pdf_page_count returns the pages (>= 1) or -1 with err
 * set. Limits on pages, page size and render size are checked before work. */
const char *image_pdf_sniff(const uint8_t *bytes, size_t len);
int image_decode_pdf(const uint8_t *bytes, size_t len, int page, uint64_t max_pixels, const atomic_bool *cancel,
                     image_rgb *out, qvl_error *err);
int image_pdf_page_count(const uint8_t *bytes, size_t len, qvl_error *err);
/* image_pdf_page_text (image.h) after the dispatcher's checks. */
int image_pdf_text(const uint8_t *bytes, size_t len, int page, char **text, qvl_error *err);

/* Refuses a zero side, a side above INT_MAX/4, or width*height above
 * max_pixels, naming the format in the message (QVL_E_TOO_LARGE or
 * QVL_E_BAD_INPUT). Returns 0 or -1. */
int image_check_size(const char *format, uint64_t width, uint64_t height,
                     uint64_t max_pixels, qvl_error *err);

/* image_probe's hook (image_decode.c): while a probe is armed on this
 * thread, image_check_size records a valid size in it and fails, so the
 * decoder stops right after its header, before any pixel buffer. Every
 * decoder already reads its header up to that check; a probe reuses that
 * path rather than keeping a second header parser per format.
 * image_probe_arm(NULL) disarms. */
typedef struct image_size_probe {
    int width, height;
    const char *format;   /* the decoder's name for it ("PNG"), a string literal */
    bool seen;
} image_size_probe;
void image_probe_arm(image_size_probe *p);

/* Composites n straight-alpha RGBA pixels onto opaque white into n RGB
 * pixels, with the integer arithmetic of Pillow's alpha_composite (so the
 * result is byte-identical to Hugging Face's convert_to_rgb). rgba and rgb
 * may not overlap unless rgb == rgba (in-place compaction is allowed).
 * Cannot fail. */
void image_rgba_over_white(const uint8_t *rgba, size_t n, uint8_t *rgb);

/* The same for premultiplied (associated) alpha, as libtiff's RGBA reader
 * and HEIF files with a 'prem' reference deliver it: c + (255 - a),
 * saturating where corrupt data has c > a. Same aliasing rule. Cannot fail. */
void image_premultiplied_over_white(const uint8_t *rgba, size_t n, uint8_t *rgb);

/* "image/avif", "image/heic" or "image/heif" when bytes start with an
 * ISO-BMFF 'ftyp' box naming a HEIF brand (the major brand first, then the
 * compatible ones), else NULL. Never reads outside bytes[0..len) nor past
 * the box. Cannot fail. */
const char *image_heif_kind(const uint8_t *bytes, size_t len);

/* Reads the orientation tag (0x0112) from a TIFF-structured EXIF block
 * (starting at the "II"/"MM" byte order mark). Returns 1..8, or 1 when the
 * block is malformed or has no valid tag. Cannot fail; never reads outside
 * tiff[0..len). */
int exif_orientation(const uint8_t *tiff, size_t len);

/* Applies an EXIF orientation (1..8) in place so the image becomes upright;
 * 5..8 swap width and height. Returns 0, or -1 with err set (QVL_E_NOMEM,
 * QVL_E_BAD_INPUT for a value outside 1..8) and img untouched. */
int image_apply_orientation(image_rgb *img, int orientation, qvl_error *err);

#endif
