/* image.h - decoded images: the RGB pixel type, decoding untrusted bytes,
 * writing a PNG.
 *
 * What it promises:
 *   - image_decode turns JPEG, PNG, WebP, BMP, GIF, TIFF, HEIC/HEIF or AVIF
 *     bytes into 8-bit RGB. The format is taken from the magic bytes only
 *     (HEIF and AVIF: the brands of the leading ISO-BMFF 'ftyp' box), never
 *     from a file name or a declared MIME type (image_sniff lets a caller
 *     compare the two).
 *   - Untrusted input never crashes, hangs or aborts, and the libraries
 *     print nothing: corrupt or truncated data gives -1 and a message naming
 *     the format. Size limits are checked from the header, before any pixel
 *     buffer exists, so a small "decompression bomb" file costs no memory.
 *   - The result is what Hugging Face's processor sees after PIL's
 *     convert_to_rgb: grayscale is replicated to R=G=B, alpha is composited
 *     onto white with Pillow's integer formula (Image.alpha_composite), CMYK
 *     JPEGs are converted like Pillow does, 16-bit PNG samples keep the high
 *     byte. TIFF and HEIF go through their libraries' RGBA conversions
 *     (libtiff scales 16-bit samples to 8 and premultiplies alpha, so TIFF
 *     alpha may differ from Pillow by 1).
 *   - Orientation comes out upright, as transformers' load_image
 *     (exif_transpose) gives it: the JPEG EXIF orientation and the TIFF
 *     Orientation tag (all 8 values) are applied; HEIF/AVIF are turned by
 *     their own irot/imir boxes (libheif applies them, with the clean
 *     aperture crop), and the EXIF orientation they also carry is ignored, as
 *     the HEIF standard says, so nothing is turned twice. Orientation in
 *     PNG/WebP files is ignored.
 *   - GIF: the first frame, on a canvas that is the logical screen grown to
 *     hold the frame (as Pillow does); canvas outside the frame is the
 *     transparent colour (white) when the frame has one, else palette
 *     colour 0. HEIF/AVIF: the primary image (not thumbnails or the other
 *     images of a collection); 10/12-bit images are reduced to 8 bits.
 *   - Pages: image_decode gives the first page of a multi-page TIFF or of a
 *     PDF; image_page_count and image_decode_page reach the others. Every
 *     other format has exactly one page.
 *   - PDF (found by "%PDF-" in its first 1024 bytes, image_sniff:
 *     "application/pdf"): a page is rendered on white at 200 dpi, less when
 *     that would pass max_pixels or 16 MP, in bands of rows so that
 *     lim->cancel stops it part-way; more than 1000 pages, a page over
 *     200 inches a side, or a user password are refused before any work;
 *     scripts and forms are never run (see image_pdf.c). image_pdf_page_text
 *     gives a page's text layer.
 *
 * Not handled: animation (a GIF gives its first frame, a HEIF/AVIF sequence
 * its primary still image and fails without one; animated WebP is
 * refused), RLE-compressed BMP, colour
 * profiles (ICC data is ignored, as Pillow does by default), PNG gamma,
 * TIFFs libtiff's RGBA interface cannot read (floating-point or over
 * 16-bit samples, some exotic photometrics). HEIF grid tiles are bounded
 * per side by libheif only (32768), not by max_pixels.
 *
 * Memory: image_rgb.pixels is malloc'd by the decoder and owned by the
 * caller, who releases it with image_free.
 */
#ifndef QVL_IMAGE_H
#define QVL_IMAGE_H

#include <stdatomic.h>
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

/* A PDF page renders to at most this many pixels, whatever max_pixels says. */
#define IMAGE_PDF_MAX_RENDER_PIXELS ((uint64_t)16 * 1000 * 1000)

/* Defaults used when a limit is 0 (or lim is NULL). */
#define IMAGE_DEFAULT_MAX_BYTES  ((size_t)10 * 1024 * 1024)
#define IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)50 * 1000 * 1000)

typedef struct image_limits {
    size_t   max_bytes;    /* largest encoded file accepted; 0 = default */
    uint64_t max_pixels;   /* largest width*height accepted; 0 = default */
    const atomic_bool *cancel;   /* NULL, or set by another thread: a PDF page's rendering stops (QVL_E_CANCELLED)
                                    between bands of rows */
} image_limits;

/* Returns "image/jpeg", "image/png", "image/webp", "image/gif",
 * "image/tiff", "image/heic" (HEVC brands), "image/avif" (AV1 brands),
 * "image/heif" (only the generic mif1/msf1 brands), "image/bmp" or
 * "application/pdf" from the
 * first bytes, or NULL when none matches (also for len too short). Cannot
 * fail otherwise; the string is static. */
const char *image_sniff(const uint8_t *bytes, size_t len);

/* Decodes bytes[0..len) into *out (see the promises above); lim may be NULL.
 * Returns 0, or -1 with err set and *out left zeroed. Error codes:
 * QVL_E_TOO_LARGE (over a limit), QVL_E_BAD_MEDIA (unknown or unsupported
 * format or feature), QVL_E_BAD_INPUT (corrupt or truncated data),
 * QVL_E_NOMEM. Same as image_decode_page(bytes, len, 0, lim, out, err). */
int image_decode(const uint8_t *bytes, size_t len, const image_limits *lim,
                 image_rgb *out, qvl_error *err);

/* The number of pages of an image: the directories of a TIFF, 1 for every
 * other format. Reads the headers only, not the pixels. Returns >= 1, or
 * -1 with err set (the codes of image_decode). */
int image_page_count(const uint8_t *bytes, size_t len, const image_limits *lim, qvl_error *err);

/* Decodes page `page` (0-based, below image_page_count) like image_decode,
 * with the same limits, orientation and errors; a page out of range is
 * QVL_E_BAD_INPUT. */
int image_decode_page(const uint8_t *bytes, size_t len, int page, const image_limits *lim,
                      image_rgb *out, qvl_error *err);

/* The pixel size image_decode_page would give page `page`, from the
 * headers only (a PDF page: its render size at the resolution decoding
 * would use), before orientation (EXIF 5..8 swap the sides later). For
 * sizing work before it starts: no pixel buffer is made. Returns 0, or -1
 * with err set as image_decode_page would fail on the headers or limits. */
int image_probe(const uint8_t *bytes, size_t len, int page, const image_limits *lim, int *width, int *height,
                qvl_error *err);

/* The text layer of PDF page `page` (0-based) into *text (malloc'd, UTF-8,
 * lines separated by '\n'; "" for a scanned page, which has none). Returns
 * 0, or -1 with err set (the codes of image_decode; QVL_E_BAD_MEDIA when
 * bytes are not a PDF) and *text NULL. */
int image_pdf_page_text(const uint8_t *bytes, size_t len, int page, char **text, qvl_error *err);

/* Parses a page selection for a document of n_pages pages: "2", "1-3",
 * "all" or NULL/"" (all). Pages are 1-based in the text and 0-based in
 * *first..*last (inclusive). Returns 0, or -1 with err set (QVL_E_BAD_INPUT:
 * not of that form, or past the last page, naming it). */
int image_pages_parse(const char *spec, int n_pages, int *first, int *last, qvl_error *err);

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
