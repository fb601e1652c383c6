/* image_tiff.c - TIFF decoding through libtiff (scanners, fax, multi-page
 * documents).
 *
 * Pixels come from libtiff's RGBA interface (TIFFRGBAImage), which reads
 * every common flavour: bilevel, gray, palette, RGB, CMYK, YCbCr and CIE
 * Lab; 1 to 16 bits per sample; strips or tiles; any compression the
 * library was built with (Debian: LZW, PackBits, Deflate, JPEG, CCITT
 * G3/G4, LZMA, ZSTD, WebP, JBIG). It gives 8 bits per sample (16-bit
 * samples scaled) and premultiplied alpha, composited onto white here.
 *
 * Orientation: the RGBA interface can only flip, not transpose, so it is
 * asked for the rows as stored and the Orientation tag (same 8 values as
 * EXIF) is applied by image_apply_orientation.
 *
 * Pages: each image file directory (IFD) in the main chain is a page;
 * libtiff guards the chain against loops.
 *
 * Messages: libtiff prints errors and warnings to stderr unless a handler
 * takes them. Per-file handlers (TIFFOpenOptions, libtiff >= 4.5) keep the
 * first error for the message and drop warnings, without touching
 * libtiff's process-wide handlers, which other users (Leptonica) share.
 *
 * Limits: width*height of the page is checked before TIFFRGBAImage is
 * started, and every single allocation libtiff makes (strip and tile
 * buffers, tag arrays) is capped, so a small file claiming a huge
 * compressed strip fails instead of allocating it.
 */
#include "image/image_codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#define TIFF_MIN_ALLOC_CAP ((uint64_t)64 << 20)

typedef struct tiff_src {
    const uint8_t *bytes;
    uint64_t len, pos;
    char msg[256];      /* libtiff's first error */
} tiff_src;

static tmsize_t src_read(thandle_t h, void *buf, tmsize_t n) {
    tiff_src *s = h;
    if (n <= 0 || s->pos >= s->len) return 0;
    uint64_t k = (uint64_t)n < s->len - s->pos ? (uint64_t)n : s->len - s->pos;
    memcpy(buf, s->bytes + s->pos, (size_t)k);
    s->pos += k;
    return (tmsize_t)k;
}

static tmsize_t src_write(thandle_t h, void *buf, tmsize_t n) {
    (void)h, (void)buf, (void)n;
    return 0;   /* opened read-only: never called */
}

/* Offsets are unsigned; a backward SEEK_CUR arrives as its two's
 * complement, which the wrapping addition turns back into a subtraction. */
static toff_t src_seek(thandle_t h, toff_t off, int whence) {
    tiff_src *s = h;
    uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : s->len;
    s->pos = base + off;
    return s->pos;
}

static int src_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t src_size(thandle_t h) { return ((tiff_src *)h)->len; }

static int keep_first_error(TIFF *tif, void *user, const char *module, const char *fmt,
                            va_list ap) {
    (void)tif, (void)module;
    tiff_src *s = user;
    if (!s->msg[0]) vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    return 1;   /* handled: libtiff's global handler (stderr) is not called */
}

static int drop_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

/* Opens bytes as a TIFF reading from memory, or returns NULL with err set. */
static TIFF *tiff_open(tiff_src *s, uint64_t max_pixels, qvl_error *err) {
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory starting the TIFF decoder");
        return NULL;
    }
    TIFFOpenOptionsSetErrorHandlerExtR(opts, keep_first_error, s);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, drop_warning, s);
    /* The largest strip a page within max_pixels needs: 16-bit samples,
     * up to 8 of them per pixel (CMYK + alpha + extras); but never below
     * what libtiff's own structures and tag data (an ICC profile, XMP) may
     * need whatever the picture's size. */
    uint64_t cap = max_pixels < UINT64_MAX / 16 ? max_pixels * 16 : UINT64_MAX;
    if (cap < TIFF_MIN_ALLOC_CAP) cap = TIFF_MIN_ALLOC_CAP;
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, cap > INT64_MAX ? INT64_MAX : (tmsize_t)cap);
    /* "m": no memory mapping, every read goes through src_read. */
    TIFF *tif = TIFFClientOpenExt("image", "rm", s, src_read, src_write, src_seek, src_close,
                                  src_size, NULL, NULL, opts);
    TIFFOpenOptionsFree(opts);
    if (!tif)
        qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt TIFF: %s",
                      s->msg[0] ? s->msg : "cannot read the header");
    return tif;
}

int image_tiff_page_count(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                          qvl_error *err) {
    tiff_src s = {.bytes = bytes, .len = len};
    TIFF *tif = tiff_open(&s, max_pixels, err);
    if (!tif) return -1;
    tdir_t n = TIFFNumberOfDirectories(tif);
    TIFFClose(tif);
    if (n == 0 || n > INT32_MAX)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt TIFF: %s",
                             s.msg[0] ? s.msg : "no readable image directory");
    return (int)n;
}

/* Turns libtiff's packed ABGR words into R, G, B, A bytes in place (each
 * word is read before its own four bytes are written). */
static uint8_t *rgba_bytes(uint32_t *raster, size_t n) {
    uint8_t *rgba = (uint8_t *)raster;
    for (size_t i = 0; i < n; i++) {
        uint32_t p = raster[i];
        rgba[i * 4] = (uint8_t)TIFFGetR(p);
        rgba[i * 4 + 1] = (uint8_t)TIFFGetG(p);
        rgba[i * 4 + 2] = (uint8_t)TIFFGetB(p);
        rgba[i * 4 + 3] = (uint8_t)TIFFGetA(p);
    }
    return rgba;
}

/* Reads the current page into *out as stored (not yet oriented). Returns
 * its Orientation tag (1..8), or -1 with err set (the caller frees out). */
static int read_page(TIFF *tif, const tiff_src *s, uint64_t max_pixels, image_rgb *out,
                     qvl_error *err) {
    uint32_t w = 0, h = 0;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt TIFF: the page has no size");
    if (image_check_size("TIFF", w, h, max_pixels, err) != 0) return -1;

    char emsg[1024] = "";
    TIFFRGBAImage img;
    if (!TIFFRGBAImageOK(tif, emsg) || !TIFFRGBAImageBegin(&img, tif, 1, emsg))
        return qvl_fail_code(err, QVL_E_BAD_MEDIA, "unsupported TIFF: %s",
                             emsg[0] ? emsg : s->msg);
    int orientation = img.orientation >= 1 && img.orientation <= 8 ? img.orientation : 1;
    img.req_orientation = img.orientation = ORIENTATION_TOPLEFT;

    size_t n = (size_t)w * h;
    uint32_t *raster = malloc(n * sizeof *raster);
    int rc = orientation;
    if (!raster)
        rc = qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding a %ux%u TIFF", w, h);
    else if (image_alloc(out, (int)w, (int)h, err) != 0)
        rc = -1;
    else if (!TIFFRGBAImageGet(&img, raster, w, h))
        rc = qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt TIFF: %s",
                           s->msg[0] ? s->msg : "the pixel data cannot be decoded");
    else
        image_premultiplied_over_white(rgba_bytes(raster, n), n, out->pixels);
    TIFFRGBAImageEnd(&img);
    free(raster);
    return rc;
}

int image_decode_tiff(const uint8_t *bytes, size_t len, int page, uint64_t max_pixels,
                      image_rgb *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    tiff_src s = {.bytes = bytes, .len = len};
    TIFF *tif = tiff_open(&s, max_pixels, err);
    if (!tif) return -1;
    tdir_t pages = TIFFNumberOfDirectories(tif);
    int orientation = -1;
    if (page < 0 || (tdir_t)page >= pages)
        qvl_fail_code(err, QVL_E_BAD_INPUT, "TIFF page %d does not exist: the file has %u pages",
                      page, (unsigned)pages);
    else if (!TIFFSetDirectory(tif, (tdir_t)page))
        qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt TIFF: page %d: %s", page,
                      s.msg[0] ? s.msg : "its directory cannot be read");
    else
        orientation = read_page(tif, &s, max_pixels, out, err);
    TIFFClose(tif);
    if (orientation < 0 || image_apply_orientation(out, orientation, err) != 0) {
        image_free(out);
        return -1;
    }
    return 0;
}
