/* image_decode.c - format sniffing, limits and dispatch to the per-format
 * decoders (image_jpeg.c, image_png.c, ...). See image.h for the contract.
 */
#include "image/image_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*image_decoder)(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                             image_rgb *out, qvl_error *err);

/* One row per single-image type image_sniff can return; TIFF and PDF, the
 * formats with pages, are dispatched by image_decode_page itself. */
static const struct {
    const char *mime;
    image_decoder decode;
} decoders[] = {
    {"image/jpeg", image_decode_jpeg}, {"image/png", image_decode_png},
    {"image/webp", image_decode_webp}, {"image/bmp", image_decode_bmp},
    {"image/gif", image_decode_gif},   {"image/heic", image_decode_heif},
    {"image/heif", image_decode_heif}, {"image/avif", image_decode_heif},
};

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
    /* Classic TIFF (42) and BigTIFF (43), either byte order. */
    if (len >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0 ||
                     memcmp(b, "II+\0", 4) == 0 || memcmp(b, "MM\0+", 4) == 0))
        return "image/tiff";
    const char *heif = image_heif_kind(b, len);
    if (heif) return heif;
    if (len >= 2 && b[0] == 'B' && b[1] == 'M' && bmp_header_plausible(b, len))
        return "image/bmp";
    return image_pdf_sniff(b, len);
}

/* The checks every entry point shares: data present, within max_bytes, a
 * known format. Returns 0 with *type set, or -1 with err set. */
static int check_input(const uint8_t *bytes, size_t len, const image_limits *lim,
                       const char **type, qvl_error *err) {
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : IMAGE_DEFAULT_MAX_BYTES;
    if (!bytes || len == 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "image data is empty");
    if (len > max_bytes)
        return qvl_fail_code(err, QVL_E_TOO_LARGE,
                             "image file is %zu bytes, over the limit of %zu bytes", len, max_bytes);
    *type = image_sniff(bytes, len);
    if (!*type)
        return qvl_fail_code(err, QVL_E_BAD_MEDIA,
                             "not a supported image: the data is not JPEG, PNG, WebP, HEIC, AVIF, "
                             "TIFF, GIF, BMP or PDF");
    return 0;
}

static uint64_t max_pixels_of(const image_limits *lim) {
    return lim && lim->max_pixels ? lim->max_pixels : IMAGE_DEFAULT_MAX_PIXELS;
}

int image_page_count(const uint8_t *bytes, size_t len, const image_limits *lim, qvl_error *err) {
    const char *type;
    if (check_input(bytes, len, lim, &type, err) != 0) return -1;
    if (strcmp(type, "image/tiff") == 0)
        return image_tiff_page_count(bytes, len, max_pixels_of(lim), err);
    if (strcmp(type, "application/pdf") == 0) return image_pdf_page_count(bytes, len, err);
    return 1;
}

int image_decode_page(const uint8_t *bytes, size_t len, int page, const image_limits *lim,
                      image_rgb *out, qvl_error *err) {
    const char *type;
    memset(out, 0, sizeof *out);
    if (check_input(bytes, len, lim, &type, err) != 0) return -1;
    int rc = -1;
    if (strcmp(type, "image/tiff") == 0) {
        rc = image_decode_tiff(bytes, len, page, max_pixels_of(lim), out, err);
    } else if (strcmp(type, "application/pdf") == 0) {
        rc = image_decode_pdf(bytes, len, page, max_pixels_of(lim), lim ? lim->cancel : NULL, out, err);
    } else if (page != 0) {
        return qvl_fail_code(err, QVL_E_BAD_INPUT,
                             "page %d does not exist: only a TIFF or a PDF has more than page 0 (this is %s)",
                             page, type);
    } else {
        for (size_t i = 0; i < sizeof decoders / sizeof decoders[0]; i++)
            if (strcmp(type, decoders[i].mime) == 0)
                rc = decoders[i].decode(bytes, len, max_pixels_of(lim), out, err);
    }
    if (rc != 0) image_free(out);
    return rc;
}

int image_probe(const uint8_t *bytes, size_t len, int page, const image_limits *lim, int *width, int *height,
                qvl_error *err) {
    image_size_probe p = {0};
    image_rgb none;
    qvl_error e = {0};
    image_probe_arm(&p);
    image_decode_page(bytes, len, page, lim, &none, &e);
    image_probe_arm(NULL);
    image_free(&none);
    if (!p.seen) {
        if (err) *err = e;
        return -1;
    }
    /* Past the header the decode would still refuse this size. */
    uint64_t max = max_pixels_of(lim);
    if ((uint64_t)p.width * (uint64_t)p.height > max)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "%s image is %dx%d = %llu pixels, over the limit of %llu pixels",
                             p.format, p.width, p.height, (unsigned long long)p.width * p.height,
                             (unsigned long long)max);
    *width = p.width;
    *height = p.height;
    return 0;
}

int image_decode(const uint8_t *bytes, size_t len, const image_limits *lim,
                 image_rgb *out, qvl_error *err) {
    return image_decode_page(bytes, len, 0, lim, out, err);
}

int image_pdf_page_text(const uint8_t *bytes, size_t len, int page, char **text, qvl_error *err) {
    const char *type;
    *text = NULL;
    if (check_input(bytes, len, NULL, &type, err) != 0) return -1;
    if (strcmp(type, "application/pdf") != 0)
        return qvl_fail_code(err, QVL_E_BAD_MEDIA, "only a PDF has a text layer (this is %s)", type);
    return image_pdf_text(bytes, len, page, text, err);
}

int image_pages_parse(const char *spec, int n_pages, int *first, int *last, qvl_error *err) {
    *first = 0;
    *last = n_pages - 1;
    if (!spec || !*spec || !strcmp(spec, "all")) return 0;
    int a = 0, b = 0, used = 0;
    if (sscanf(spec, "%d-%d%n", &a, &b, &used) == 2 && spec[used] == 0) {
    } else if (sscanf(spec, "%d%n", &a, &used) == 1 && spec[used] == 0) {
        b = a;
    } else {
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "bad pages '%.40s': expected a page (\"2\"), a range "
                             "(\"1-3\") or \"all\"", spec);
    }
    if (a < 1 || b < a)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "bad pages '%.40s': pages count from 1, a range goes up", spec);
    if (b > n_pages)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "pages '%.40s': the document has %d page%s", spec, n_pages,
                             n_pages == 1 ? "" : "s");
    *first = a - 1;
    *last = b - 1;
    return 0;
}
