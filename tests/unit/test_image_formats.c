/* test_image_formats.c - the formats phones and scanners write: HEIC,
 * AVIF, TIFF (flavours, pages, orientation) and GIF (first frame, canvas,
 * transparency). Round trips start from PNGs of known pixels converted by
 * ImageMagick (image_files.h); what ImageMagick does not write on demand
 * (HEIF irot + EXIF, TIFF sample layouts, odd GIF layouts) is written here
 * with libheif, libtiff and giflib. Hostile inputs: test_image_hostile.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gif_lib.h>
#include <libheif/heif.h>
#include <tiffio.h>

#include "check.h"
#include "image/image.h"
#include "image_files.h"

/* libheif 1.15's x265 encoder (used here to write test files, never by
 * qvl) leaks about 1 KB per image; LeakSanitizer reads this hook. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libx265.so\n"; }

static const uint8_t *px(const image_rgb *img, int x, int y) {
    return img->pixels + ((size_t)y * img->width + x) * 3;
}

static int near(const uint8_t *p, int r, int g, int b, int tol) {
    return abs(p[0] - r) <= tol && abs(p[1] - g) <= tol && abs(p[2] - b) <= tol;
}

static image_rgb new_image(int w, int h) {
    image_rgb img;
    if (image_alloc(&img, w, h, NULL) != 0) abort();
    return img;
}

/* 200 distinct colours in a pattern (exact through a GIF palette), and a
 * smooth picture for the lossy codecs; `seed` makes different pages. */
static image_rgb pattern(int w, int h, int seed) {
    image_rgb img = new_image(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned c = (unsigned)(x + 3 * y + seed) % 200;
            uint8_t *p = img.pixels + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(c * 37);
            p[1] = (uint8_t)(c * 91 + 7);
            p[2] = (uint8_t)(c * 13 + 100);
        }
    return img;
}

static image_rgb smooth(int w, int h) {
    image_rgb img = new_image(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.pixels + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w - 1));
            p[1] = (uint8_t)(y * 255 / (h - 1));
            p[2] = (uint8_t)(x < w / 2 ? 60 : 200);
        }
    return img;
}

/* Mean and largest absolute sample difference; -1 for different sizes. */
static double mean_diff(const image_rgb *a, const image_rgb *b, int *max) {
    *max = -1;
    if (!a->pixels || !b->pixels || a->width != b->width || a->height != b->height) return -1;
    size_t n = (size_t)a->width * a->height * 3;
    double sum = 0;
    *max = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs(a->pixels[i] - b->pixels[i]);
        sum += d;
        if (d > *max) *max = d;
    }
    return sum / (double)n;
}

/* ---- round trips through ImageMagick ---------------------------------------- */

static void test_round_trips(void) {
    static const struct {
        const char *ext, *opts, *mime;
        int lossy;
        double mean_tol;
        int max_tol;
    } cases[] = {
        {"tif", "-compress none", "image/tiff", 0, 0, 0},
        {"tif", "-compress lzw", "image/tiff", 0, 0, 0},
        {"tif", "-compress zip", "image/tiff", 0, 0, 0},
        {"tif", "-define tiff:endian=msb -compress none", "image/tiff", 0, 0, 0},
        {"tif", "-compress jpeg -quality 95", "image/tiff", 1, 1.0, 8},
        {"gif", "", "image/gif", 0, 0, 0},
        {"heic", "-quality 95", "image/heic", 1, 3.0, 16},
        {"avif", "-quality 95", "image/avif", 1, 3.0, 16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        image_rgb src = cases[i].lossy ? smooth(64, 48) : pattern(40, 24, 0), img = {0};
        size_t n = 0;
        uint8_t *file = magick_convert(&src, 1, cases[i].opts, cases[i].ext, &n);
        CHECK_MSG(file != NULL, "%s %s", cases[i].ext, cases[i].opts);
        if (file) {
            qvl_error err = {0};
            CHECK_STR(image_sniff(file, n), cases[i].mime);
            CHECK_MSG(image_decode(file, n, NULL, &img, &err) == 0, "%s %s: %s", cases[i].ext,
                      cases[i].opts, err.msg);
            int max;
            double mean = mean_diff(&img, &src, &max);
            CHECK_MSG(mean >= 0 && mean <= cases[i].mean_tol && max <= cases[i].max_tol,
                      "%s %s: mean diff %.3f, max %d", cases[i].ext, cases[i].opts, mean, max);
        }
        image_free(&img);
        image_free(&src);
        free(file);
    }
}

/* A scanner's multi-page TIFF: 3 pages of different sizes. */
static void test_tiff_pages(void) {
    image_rgb pages[3] = {pattern(40, 24, 0), pattern(17, 31, 50), pattern(8, 8, 99)};
    size_t n = 0;
    uint8_t *file = magick_convert(pages, 3, "-compress lzw", "tif", &n);
    CHECK(file != NULL);
    qvl_error err = {0};
    image_rgb img = {0};
    int max;
    if (file) {
        CHECK_EQ_INT(image_page_count(file, n, NULL, &err), 3);
        for (int p = 0; p < 3; p++) {
            CHECK_MSG(image_decode_page(file, n, p, NULL, &img, &err) == 0, "page %d: %s", p, err.msg);
            CHECK_MSG(mean_diff(&img, &pages[p], &max) == 0, "page %d differs (max %d)", p, max);
            image_free(&img);
        }
        CHECK(image_decode(file, n, NULL, &img, &err) == 0);
        CHECK_MSG(mean_diff(&img, &pages[0], &max) == 0, "image_decode is not page 0");
        image_free(&img);
        int bad[] = {3, -1, 1000};
        for (int i = 0; i < 3; i++) {
            err = (qvl_error){0};
            CHECK(image_decode_page(file, n, bad[i], NULL, &img, &err) == -1);
            CHECK_MSG(err.code == QVL_E_BAD_INPUT && img.pixels == NULL, "page %d: %s", bad[i], err.msg);
        }
    }
    free(file);
    /* Every other format has exactly page 0. */
    size_t gn = 0;
    uint8_t *gif = magick_convert(pages, 1, "", "gif", &gn);
    if (gif) {
        CHECK_EQ_INT(image_page_count(gif, gn, NULL, &err), 1);
        CHECK(image_decode_page(gif, gn, 1, NULL, &img, &err) == -1 && err.code == QVL_E_BAD_INPUT);
    }
    free(gif);
    CHECK(image_page_count((const uint8_t *)"<html>", 6, NULL, &err) == -1 &&
          err.code == QVL_E_BAD_MEDIA);
    for (int p = 0; p < 3; p++) image_free(&pages[p]);
}

/* ---- TIFF sample layouts, written with libtiff ---------------------------------- */

typedef struct tiff_spec {
    uint32_t w, h;
    uint16_t spp, bps, photometric, orientation, extra;   /* extra: EXTRASAMPLE_* or 0 */
    const uint16_t *colormap;                            /* 3 * 2^bps entries, or NULL */
    const void *rows;                                    /* packed rows, h of them */
} tiff_spec;

static uint8_t *write_tiff(const tiff_spec *t, size_t *len) {
    char path[] = "/tmp/qvl-test-tiff-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    close(fd);
    TIFF *tif = TIFFOpen(path, "w");
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, t->w);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, t->h);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, t->spp);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, t->bps);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, t->photometric);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_ORIENTATION, t->orientation ? t->orientation : ORIENTATION_TOPLEFT);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, t->h);
    if (t->photometric == PHOTOMETRIC_SEPARATED) TIFFSetField(tif, TIFFTAG_INKSET, INKSET_CMYK);
    if (t->extra) {
        uint16_t extra = t->extra;
        TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &extra);
    }
    if (t->colormap) {
        size_t k = (size_t)1 << t->bps;
        TIFFSetField(tif, TIFFTAG_COLORMAP, t->colormap, t->colormap + k, t->colormap + 2 * k);
    }
    size_t row = ((size_t)t->w * t->spp * t->bps + 7) / 8;
    for (uint32_t y = 0; y < t->h; y++)
        TIFFWriteScanline(tif, (uint8_t *)t->rows + y * row, y, 0);
    TIFFClose(tif);
    uint8_t *bytes = (uint8_t *)slurp(path, len);
    unlink(path);
    return bytes;
}

static int decode_tiff(const tiff_spec *t, image_rgb *img) {
    size_t n = 0;
    uint8_t *file = write_tiff(t, &n);
    qvl_error err = {0};
    int rc = file ? image_decode(file, n, NULL, img, &err) : -1;
    CHECK_MSG(rc == 0, "TIFF photometric %u, %u x %u bits: %s", t->photometric, t->spp, t->bps,
              err.msg);
    free(file);
    return rc;
}

static void test_tiff_flavours(void) {
    image_rgb img = {0};
    /* Orientation 6 (row 0 is the right side): stored 3x2 "ABC/DEF" is
     * upright 2x3 "DA/EB/FC". */
    const uint8_t abc[2][9] = {{1, 0, 0, 2, 0, 0, 3, 0, 0}, {4, 0, 0, 5, 0, 0, 6, 0, 0}};
    tiff_spec t = {3, 2, 3, 8, PHOTOMETRIC_RGB, ORIENTATION_RIGHTTOP, 0, NULL, abc};
    if (decode_tiff(&t, &img) == 0) {
        CHECK(img.width == 2 && img.height == 3);
        static const int want[3][2] = {{4, 1}, {5, 2}, {6, 3}};
        for (int y = 0; y < 3 && img.height == 3; y++)
            for (int x = 0; x < 2; x++)
                CHECK_MSG(px(&img, x, y)[0] == want[y][x], "orientation 6: (%d,%d) is %d", x, y,
                          px(&img, x, y)[0]);
    }
    image_free(&img);
    /* Orientation 3 (180 degrees) keeps the size. */
    t.orientation = ORIENTATION_BOTRIGHT;
    if (decode_tiff(&t, &img) == 0)
        CHECK(img.width == 3 && px(&img, 0, 0)[0] == 6 && px(&img, 2, 1)[0] == 1);
    image_free(&img);

    /* 16-bit RGB: scaled to 8 bits (0x1234 -> 0x12, within rounding). */
    const uint16_t rgb16[6] = {0x1234, 0xffff, 0x0000, 0x8000, 0x00ff, 0xfe00};
    t = (tiff_spec){2, 1, 3, 16, PHOTOMETRIC_RGB, 0, 0, NULL, rgb16};
    if (decode_tiff(&t, &img) == 0)
        CHECK(near(px(&img, 0, 0), 0x12, 0xff, 0, 1) && near(px(&img, 1, 0), 0x80, 0, 0xfe, 1));
    image_free(&img);

    /* 4-bit palette with a 16-bit colour map: index 1 red, 2 blue. */
    uint16_t cmap[3 * 16] = {0};
    cmap[1] = 0xffff;
    cmap[32 + 2] = 0xffff;
    const uint8_t idx[1] = {0x12};
    t = (tiff_spec){2, 1, 1, 4, PHOTOMETRIC_PALETTE, 0, 0, cmap, idx};
    if (decode_tiff(&t, &img) == 0)
        CHECK(near(px(&img, 0, 0), 255, 0, 0, 0) && near(px(&img, 1, 0), 0, 0, 255, 0));
    image_free(&img);

    /* Bilevel fax style (min-is-white): bit 1 is black. */
    const uint8_t bits[1] = {0x40};
    t = (tiff_spec){3, 1, 1, 1, PHOTOMETRIC_MINISWHITE, 0, 0, NULL, bits};
    if (decode_tiff(&t, &img) == 0)
        CHECK(near(px(&img, 0, 0), 255, 255, 255, 0) && near(px(&img, 1, 0), 0, 0, 0, 0));
    image_free(&img);

    /* 8-bit gray is replicated. */
    const uint8_t gray[2] = {17, 200};
    t = (tiff_spec){2, 1, 1, 8, PHOTOMETRIC_MINISBLACK, 0, 0, NULL, gray};
    if (decode_tiff(&t, &img) == 0) CHECK(near(px(&img, 1, 0), 200, 200, 200, 0));
    image_free(&img);

    /* CMYK: full cyan -> (0,255,255), full black -> (0,0,0). */
    const uint8_t cmyk[8] = {255, 0, 0, 0, 0, 0, 0, 255};
    t = (tiff_spec){2, 1, 4, 8, PHOTOMETRIC_SEPARATED, 0, 0, NULL, cmyk};
    if (decode_tiff(&t, &img) == 0)
        CHECK(near(px(&img, 0, 0), 0, 255, 255, 1) && near(px(&img, 1, 0), 0, 0, 0, 1));
    image_free(&img);

    /* Unassociated alpha over white: opaque keeps its colour, clear is
     * white, half is Pillow's 227 for 200 at alpha 128 (within 1). */
    const uint8_t rgba[12] = {200, 100, 50, 255, 200, 100, 50, 0, 200, 100, 50, 128};
    t = (tiff_spec){3, 1, 4, 8, PHOTOMETRIC_RGB, 0, EXTRASAMPLE_UNASSALPHA, NULL, rgba};
    if (decode_tiff(&t, &img) == 0) {
        CHECK(near(px(&img, 0, 0), 200, 100, 50, 0));
        CHECK(near(px(&img, 1, 0), 255, 255, 255, 0));
        CHECK_MSG(near(px(&img, 2, 0), 227, 177, 152, 1), "%d %d %d", px(&img, 2, 0)[0],
                  px(&img, 2, 0)[1], px(&img, 2, 0)[2]);
    }
    image_free(&img);
}

/* ---- GIF layouts, written with giflib ---------------------------------------------- */

typedef struct membuf {
    uint8_t *data;
    size_t len;
} membuf;

static void membuf_append(membuf *m, const void *d, size_t n) {
    m->data = realloc(m->data, m->len + n);
    memcpy(m->data + m->len, d, n);
    m->len += n;
}

static int gif_put(GifFileType *gif, const GifByteType *d, int n) {
    membuf_append(gif->UserData, d, (size_t)n);
    return n;
}

typedef struct gif_frame {
    int left, top, w, h, interlace, transparent;   /* transparent: index or -1 */
    const GifColorType *local;                     /* 4-colour local map or NULL */
    const uint8_t *index;                          /* w*h indices, rows top to bottom */
} gif_frame;

/* A GIF with a sw x sh screen, a 4-colour global map (or none) and frames. */
static membuf make_gif(int sw, int sh, const GifColorType *global, const gif_frame *f, int nf) {
    membuf m = {0};
    int e;
    GifFileType *gif = EGifOpen(&m, gif_put, &e);
    ColorMapObject *gmap = global ? GifMakeMapObject(4, global) : NULL;
    EGifSetGifVersion(gif, true);
    EGifPutScreenDesc(gif, sw, sh, 8, 0, gmap);
    for (int i = 0; i < nf; i++) {
        if (f[i].transparent >= 0) {
            GraphicsControlBlock gcb = {.DisposalMode = DISPOSAL_UNSPECIFIED,
                                        .TransparentColor = f[i].transparent};
            GifByteType ext[4];
            size_t n = EGifGCBToExtension(&gcb, ext);
            EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, (int)n, ext);
        }
        ColorMapObject *lmap = f[i].local ? GifMakeMapObject(4, f[i].local) : NULL;
        EGifPutImageDesc(gif, f[i].left, f[i].top, f[i].w, f[i].h, f[i].interlace, lmap);
        /* Interlaced frames are written in pass order (rows 0,8,.. 4,.. 2,.. 1,..). */
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        for (int p = 0; p < (f[i].interlace ? 4 : 1); p++)
            for (int y = f[i].interlace ? start[p] : 0; y < f[i].h; y += f[i].interlace ? step[p] : 1)
                EGifPutLine(gif, (GifPixelType *)f[i].index + (size_t)y * f[i].w, f[i].w);
        GifFreeMapObject(lmap);
    }
    EGifCloseFile(gif, &e);
    GifFreeMapObject(gmap);
    return m;
}

static const GifColorType rgbk[4] = {{10, 20, 30}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};

static int decode_gif(membuf m, image_rgb *img) {
    qvl_error err = {0};
    CHECK_STR(image_sniff(m.data, m.len), "image/gif");
    int rc = image_decode(m.data, m.len, NULL, img, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    free(m.data);
    return rc;
}

static void test_gif_layouts(void) {
    image_rgb img = {0};
    uint8_t ones[64];
    memset(ones, 1, sizeof ones);

    /* A 5x4 frame at (2,1) on a 4x3 screen: the canvas grows to 7x5, and
     * what the frame leaves uncovered is colour 0. */
    gif_frame big = {2, 1, 5, 4, 0, -1, NULL, ones};
    if (decode_gif(make_gif(4, 3, rgbk, &big, 1), &img) == 0) {
        CHECK_MSG(img.width == 7 && img.height == 5, "canvas %dx%d", img.width, img.height);
        CHECK(near(px(&img, 0, 0), 10, 20, 30, 0) && near(px(&img, 1, 4), 10, 20, 30, 0));
        CHECK(near(px(&img, 2, 1), 255, 0, 0, 0) && near(px(&img, 6, 4), 255, 0, 0, 0));
    }
    image_free(&img);

    /* Transparency: index 2 is clear, so it and the uncovered canvas are
     * white; a local map overrides the global one. */
    static const GifColorType local[4] = {{1, 1, 1}, {2, 2, 2}, {3, 3, 3}, {4, 4, 4}};
    const uint8_t idx[4] = {2, 3, 2, 1};
    gif_frame clear = {1, 0, 2, 2, 0, 2, local, idx};
    if (decode_gif(make_gif(3, 2, rgbk, &clear, 1), &img) == 0) {
        CHECK(img.width == 3 && img.height == 2);
        CHECK(near(px(&img, 0, 0), 255, 255, 255, 0) && near(px(&img, 1, 0), 255, 255, 255, 0));
        CHECK(near(px(&img, 2, 0), 4, 4, 4, 0) && near(px(&img, 2, 1), 2, 2, 2, 0));
    }
    image_free(&img);

    /* Interlaced 1x11 column: row y has colour y % 4, back in row order. */
    uint8_t col[11];
    for (int y = 0; y < 11; y++) col[y] = (uint8_t)(y % 4);
    gif_frame inter = {0, 0, 1, 11, 1, -1, NULL, col};
    if (decode_gif(make_gif(1, 11, rgbk, &inter, 1), &img) == 0) {
        int ok = img.height == 11;
        for (int y = 0; ok && y < 11; y++)
            ok = px(&img, 0, y)[0] == rgbk[y % 4].Red && px(&img, 0, y)[1] == rgbk[y % 4].Green;
        CHECK_MSG(ok, "interlaced rows out of order");
    }
    image_free(&img);

    /* An animation gives its first frame. */
    uint8_t threes[4] = {3, 3, 3, 3};
    gif_frame anim[2] = {{0, 0, 2, 2, 0, -1, NULL, threes}, {0, 0, 2, 2, 0, -1, NULL, ones}};
    if (decode_gif(make_gif(2, 2, rgbk, anim, 2), &img) == 0)
        CHECK(near(px(&img, 1, 1), 0, 0, 255, 0));
    image_free(&img);

    /* No colour map at all (giflib will not write one): a gray ramp. 2x1
     * pixels of index 3, LZW with 2-bit codes: clear, 3, 3, end in 3-bit
     * codes, packed LSB first into 0xdc 0x0a. */
    static const uint8_t bare[] = "GIF89a\x02\0\x01\0\0\0\0"
                                  ",\0\0\0\0\x02\0\x01\0\0" "\x02\x02\xdc\x0a\0;";
    membuf copy = {0};
    membuf_append(&copy, bare, sizeof bare - 1);
    if (decode_gif(copy, &img) == 0)
        CHECK(img.width == 2 && near(px(&img, 1, 0), 3, 3, 3, 0));
    image_free(&img);
}

/* ---- HEIF orientation and alpha, written with libheif ------------------------------ */

static struct heif_error heif_put(struct heif_context *ctx, const void *d, size_t n, void *user) {
    (void)ctx;
    membuf_append(user, d, n);
    return (struct heif_error){heif_error_Ok, heif_suberror_Unspecified, "ok"};
}

/* Encodes w x h RGBA (alpha 255 when rgba[3] is ignored: has_alpha 0)
 * with the given irot/imir orientation and, when exif_orientation > 0, an
 * EXIF block stating that orientation. */
static membuf make_heif(enum heif_compression_format codec, const uint8_t *rgba, int w, int h,
                        int has_alpha, enum heif_orientation orientation, int exif_orientation) {
    membuf m = {0};
    struct heif_context *ctx = heif_context_alloc();
    struct heif_encoder *enc = NULL;
    struct heif_image *img = NULL;
    if (heif_context_get_encoder_for_format(ctx, codec, &enc).code != heif_error_Ok) {
        heif_context_free(ctx);
        return m;
    }
    heif_encoder_set_lossy_quality(enc, 95);
    enum heif_chroma chroma = has_alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB;
    heif_image_create(w, h, heif_colorspace_RGB, chroma, &img);
    heif_image_add_plane(img, heif_channel_interleaved, w, h, 8);
    int stride;
    uint8_t *plane = heif_image_get_plane(img, heif_channel_interleaved, &stride);
    int c = has_alpha ? 4 : 3;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            memcpy(plane + (size_t)y * stride + x * c, rgba + ((size_t)y * w + x) * 4, (size_t)c);
    struct heif_encoding_options *opt = heif_encoding_options_alloc();
    opt->image_orientation = orientation;
    struct heif_image_handle *handle = NULL;
    heif_context_encode_image(ctx, img, enc, opt, &handle);
    if (exif_orientation > 0) {
        /* Big-endian TIFF header, IFD0 with one SHORT entry 0x0112. */
        uint8_t exif[8 + 2 + 12 + 4] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3,
                                        0, 0, 0, 1, 0, (uint8_t)exif_orientation};
        heif_context_add_exif_metadata(ctx, handle, exif, sizeof exif);
    }
    struct heif_writer writer = {.writer_api_version = 1, .write = heif_put};
    heif_context_write(ctx, &writer, &m);
    heif_image_handle_release(handle);
    heif_encoding_options_free(opt);
    heif_image_release(img);
    heif_encoder_release(enc);
    heif_context_free(ctx);
    return m;
}

static void test_heif(void) {
    /* 64x32, gray with three 16x16 corner blocks: TL red, TR green, BL blue. */
    enum { W = 64, H = 32 };
    static uint8_t rgba[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgba + ((size_t)y * W + x) * 4;
            p[0] = p[1] = p[2] = 128;
            if (y < 16 && x < 16) { p[0] = 255; p[1] = 0; p[2] = 0; }
            if (y < 16 && x >= W - 16) { p[0] = 0; p[1] = 255; p[2] = 0; }
            if (y >= H - 16 && x < 16) { p[0] = 0; p[1] = 0; p[2] = 255; }
            p[3] = x < W / 2 ? 255 : 0;   /* right half clear (alpha case only) */
        }
    static const struct { enum heif_compression_format codec; const char *mime; } codecs[] = {
        {heif_compression_HEVC, "image/heic"}, {heif_compression_AV1, "image/avif"}};
    for (int c = 0; c < 2; c++) {
        const char *mime = codecs[c].mime;
        /* irot/imir for orientation 6 plus an EXIF block saying 6: turned
         * once, 90 degrees clockwise (red top-right, blue top-left, green
         * bottom-right), not twice. */
        membuf m = make_heif(codecs[c].codec, rgba, W, H, 0, heif_orientation_rotate_90_cw, 6);
        image_rgb img = {0};
        qvl_error err = {0};
        CHECK_MSG(m.data != NULL, "%s: no encoder", mime);
        if (m.data) {
            CHECK_STR(image_sniff(m.data, m.len), mime);
            CHECK_MSG(image_decode(m.data, m.len, NULL, &img, &err) == 0, "%s: %s", mime, err.msg);
            CHECK_MSG(img.width == H && img.height == W, "%s rotated: %dx%d", mime, img.width, img.height);
            if (img.width == H && img.height == W) {
                CHECK_MSG(near(px(&img, H - 8, 8), 255, 0, 0, 40), "%s: red not top-right", mime);
                CHECK_MSG(near(px(&img, 8, 8), 0, 0, 255, 40), "%s: blue not top-left", mime);
                CHECK_MSG(near(px(&img, H - 8, W - 8), 0, 255, 0, 40), "%s: green not bottom-right", mime);
            }
        }
        image_free(&img);
        free(m.data);

        /* EXIF orientation alone does not turn a HEIF image. */
        m = make_heif(codecs[c].codec, rgba, W, H, 0, heif_orientation_normal, 6);
        if (m.data && image_decode(m.data, m.len, NULL, &img, &err) == 0) {
            CHECK_MSG(img.width == W && img.height == H, "%s turned by EXIF", mime);
            CHECK(near(px(&img, 8, 8), 255, 0, 0, 40));
        } else {
            CHECK_MSG(0, "%s: %s", mime, err.msg);
        }
        image_free(&img);
        free(m.data);

        /* Alpha: the clear right half comes out white. */
        m = make_heif(codecs[c].codec, rgba, W, H, 1, heif_orientation_normal, 0);
        if (m.data && image_decode(m.data, m.len, NULL, &img, &err) == 0) {
            CHECK_MSG(near(px(&img, 8, 8), 255, 0, 0, 40), "%s alpha: red lost", mime);
            CHECK_MSG(near(px(&img, W - 8, 8), 255, 255, 255, 24), "%s alpha: clear is %d %d %d",
                      mime, px(&img, W - 8, 8)[0], px(&img, W - 8, 8)[1], px(&img, W - 8, 8)[2]);
        } else {
            CHECK_MSG(0, "%s alpha: %s", mime, err.msg);
        }
        image_free(&img);
        free(m.data);
    }
}

/* ---- sniffing ------------------------------------------------------------------------- */

static void test_sniff(void) {
    static const struct { const char *bytes; size_t len; const char *want; } cases[] = {
        {"II*\0\x08\0\0\0", 8, "image/tiff"},
        {"MM\0*\0\0\0\x08", 8, "image/tiff"},
        {"II+\0\x08\0\0\0", 8, "image/tiff"},
        {"MM\0+\0\x08\0\0", 8, "image/tiff"},
        {"\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24, "image/heic"},
        {"\0\0\0\x18" "ftypmif1\0\0\0\0mif1heic", 24, "image/heic"},
        {"\0\0\0\x18" "ftypmif1\0\0\0\0miafavif", 24, "image/avif"},
        {"\0\0\0\x10" "ftypavis\0\0\0\0", 16, "image/avif"},
        {"\0\0\0\x14" "ftypmsf1\0\0\0\0msf1", 20, "image/heif"},
        /* A compatible brand past the box's end is not read. */
        {"\0\0\0\x14" "ftypmif1\0\0\0\0mif1avif", 24, "image/heif"},
        {"\0\0\0\x18" "ftypisom\0\0\0\0isommp42", 24, NULL},   /* an MP4 video */
        {"\0\0\0\x08" "ftypheic\0\0\0\0", 16, NULL},           /* box too short */
        {"\0\0\0\x18" "ftypheic", 12, NULL},                   /* data too short */
        {"II*", 3, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = image_sniff((const uint8_t *)cases[i].bytes, cases[i].len);
        CHECK_MSG(cases[i].want ? got && strcmp(got, cases[i].want) == 0 : got == NULL,
                  "case %zu: %s", i, got ? got : "NULL");
    }
}

int main(void) {
    test_sniff();
    test_round_trips();
    test_tiff_pages();
    test_tiff_flavours();
    test_gif_layouts();
    test_heif();
    return check_summary();
}
