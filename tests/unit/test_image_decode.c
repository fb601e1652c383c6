/* test_image_decode.c - decoding every format and flavour image_decode
 * promises, EXIF orientation, and the PNG writer. Inputs are either the
 * shared test images or files encoded here with the reference libraries
 * (libjpeg, libpng, libwebp) or written byte by byte (BMP, EXIF). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include "base/mapped_file.h"
#include "check.h"
#include "image/image.h"
#include "image_files.h"

/* ---- encoders used to make inputs ---------------------------------------- */

typedef struct membuf { uint8_t *data; size_t len; } membuf;

static void membuf_write(png_structp png, png_bytep d, png_size_t n) {
    membuf *m = png_get_io_ptr(png);
    m->data = realloc(m->data, m->len + n);
    memcpy(m->data + m->len, d, n);
    m->len += n;
}

static void membuf_flush(png_structp png) { (void)png; }

/* PNG with the given libpng colour type / depth; rows are packed samples.
 * palette/trns may be NULL. */
static membuf make_png(int w, int h, int color_type, int depth, int interlace,
                       const uint8_t *samples, size_t row_bytes,
                       const png_color *palette, int n_palette,
                       const uint8_t *trns, int n_trns, const png_color_16 *trns_color) {
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_set_write_fn(png, &m, membuf_write, membuf_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type, interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, n_palette);
    if (trns || trns_color) png_set_tRNS(png, info, trns, n_trns, trns_color);
    png_bytep *rows = malloc(sizeof *rows * (size_t)h);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)(samples + (size_t)y * row_bytes);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return m;
}

static int decode(const uint8_t *b, size_t n, image_rgb *img, qvl_error *err) {
    return image_decode(b, n, NULL, img, err);
}

static const uint8_t *px(const image_rgb *img, int x, int y) {
    return img->pixels + ((size_t)y * img->width + x) * 3;
}

static int near(const uint8_t *p, int r, int g, int b, int tol) {
    return abs(p[0] - r) <= tol && abs(p[1] - g) <= tol && abs(p[2] - b) <= tol;
}

/* ---- shared test images ---------------------------------------------------- */

static void test_shared_images(void) {
    static const struct { const char *name; int w, h; int gray; } files[] = {
        {"img_256x256.png", 256, 256, 0}, {"img_300x200.png", 300, 200, 0},
        {"img_320x256.png", 320, 256, 0}, {"img_512x384.png", 512, 384, 0},
        {"real/astronaut.png", 512, 512, 0}, {"real/chelsea.png", 451, 300, 0},
        {"real/coffee.png", 600, 400, 0},    {"real/logo.png", 500, 500, 0},
        {"real/page.png", 384, 191, 1},      {"real/rocket.jpg", 640, 427, 0},
        {"real/text.png", 448, 172, 1},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/images/%s", testdata_dir(), files[i].name);
        mapped_file mf = {0};
        qvl_error err = {0};
        image_rgb img = {0};
        CHECK_MSG(mapped_file_open(&mf, path, &err) == 0, "%s", err.msg);
        int rc = decode(mf.data, mf.size, &img, &err);
        CHECK_MSG(rc == 0, "%s: %s", files[i].name, err.msg);
        CHECK_EQ_INT(img.width, files[i].w);
        CHECK_EQ_INT(img.height, files[i].h);
        const char *want = strstr(files[i].name, ".jpg") ? "image/jpeg" : "image/png";
        CHECK_STR(image_sniff(mf.data, mf.size), want);
        if (rc == 0 && files[i].gray) {
            int same = 1;
            for (size_t k = 0; k < (size_t)img.width * img.height; k++)
                same &= img.pixels[k * 3] == img.pixels[k * 3 + 1] &&
                        img.pixels[k * 3] == img.pixels[k * 3 + 2];
            CHECK_MSG(same, "%s: gray not replicated", files[i].name);
        }
        image_free(&img);
        mapped_file_close(&mf);
    }
}

static void test_sniff(void) {
    static const uint8_t riff[] = "RIFF\x10\0\0\0WEBPVP8 ";
    static const uint8_t bmp[18] = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0};
    CHECK_STR(image_sniff(riff, 16), "image/webp");
    CHECK_STR(image_sniff((const uint8_t *)"GIF89a....", 10), "image/gif");
    CHECK_STR(image_sniff(bmp, sizeof bmp), "image/bmp");
    CHECK(image_sniff((const uint8_t *)"BMP is a format", 15) == NULL);
    CHECK(image_sniff((const uint8_t *)"\xff\xd8", 2) == NULL);
    CHECK(image_sniff((const uint8_t *)"<html>", 6) == NULL);
    CHECK(image_sniff(NULL, 0) == NULL);
    /* A GIF screen with no image in it is corrupt, not unsupported. */
    qvl_error err = {0};
    image_rgb img;
    CHECK(decode((const uint8_t *)"GIF89a\1\0\1\0\0\0\0;", 14, &img, &err) == -1);
    CHECK_MSG(err.code == QVL_E_BAD_INPUT && strstr(err.msg, "GIF"), "%s", err.msg);
    CHECK(img.pixels == NULL);
}

/* ---- EXIF orientation ------------------------------------------------------- */

enum side { TOP, BOTTOM, LEFT, RIGHT };

/* EXIF 2.3 table: where the stored row 0 and column 0 belong when upright. */
static const enum side exif_row0[9] = {0, TOP, TOP, BOTTOM, BOTTOM, LEFT, RIGHT, RIGHT, LEFT};
static const enum side exif_col0[9] = {0, LEFT, RIGHT, RIGHT, LEFT, TOP, TOP, BOTTOM, BOTTOM};

static enum side opposite(enum side s) {
    return s == TOP ? BOTTOM : s == BOTTOM ? TOP : s == LEFT ? RIGHT : LEFT;
}

/* Centre of the 16x16 corner block lying where sides a and b meet. */
static void corner(enum side a, enum side b, int w, int h, int *x, int *y) {
    enum side v = (a == TOP || a == BOTTOM) ? a : b, hz = (a == LEFT || a == RIGHT) ? a : b;
    *y = v == TOP ? 8 : h - 8;
    *x = hz == LEFT ? 8 : w - 8;
}

static void test_exif(void) {
    const int w = 64, h = 32;
    uint8_t *stored = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = stored + ((size_t)y * w + x) * 3;
            p[0] = p[1] = p[2] = 128;
            if (y < 16 && x < 16) { p[0] = 255; p[1] = 0; p[2] = 0; }        /* TL red */
            if (y < 16 && x >= w - 16) { p[0] = 0; p[1] = 255; p[2] = 0; }   /* TR green */
            if (y >= h - 16 && x < 16) { p[0] = 0; p[1] = 0; p[2] = 255; }   /* BL blue */
        }
    for (int o = 1; o <= 8; o++) {
        uint8_t app1[EXIF_APP1_LEN];
        exif_app1(app1, o);
        size_t n;
        uint8_t *jpg = make_jpeg(stored, w, h, 3, app1, sizeof app1, &n);
        image_rgb img = {0};
        qvl_error err = {0};
        CHECK_MSG(decode(jpg, n, &img, &err) == 0, "orientation %d: %s", o, err.msg);
        int uw = o >= 5 ? h : w, uh = o >= 5 ? w : h;
        CHECK_EQ_INT(img.width, uw);
        CHECK_EQ_INT(img.height, uh);
        if (img.width == uw && img.height == uh) {
            int x, y;
            corner(exif_row0[o], exif_col0[o], uw, uh, &x, &y);
            CHECK_MSG(near(px(&img, x, y), 255, 0, 0, 12), "orientation %d: red not at %d,%d", o, x, y);
            corner(exif_row0[o], opposite(exif_col0[o]), uw, uh, &x, &y);
            CHECK_MSG(near(px(&img, x, y), 0, 255, 0, 12), "orientation %d: green not at %d,%d", o, x, y);
            corner(opposite(exif_row0[o]), exif_col0[o], uw, uh, &x, &y);
            CHECK_MSG(near(px(&img, x, y), 0, 0, 255, 12), "orientation %d: blue not at %d,%d", o, x, y);
        }
        image_free(&img);
        free(jpg);
    }
    /* A malformed EXIF block (IFD offset past the end) is ignored, not fatal. */
    uint8_t bad[14] = {'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0, 0x2a, 0x7f, 0xff, 0xff, 0xff};
    size_t n;
    uint8_t *jpg = make_jpeg(stored, w, h, 3, bad, sizeof bad, &n);
    image_rgb img = {0};
    CHECK(decode(jpg, n, &img, NULL) == 0);
    CHECK(img.width == w && img.height == h);
    image_free(&img);
    free(jpg);
    free(stored);
}

/* ---- JPEG colour spaces ------------------------------------------------------ */

static void test_jpeg_gray_cmyk(void) {
    uint8_t gray[16 * 16];
    memset(gray, 90, sizeof gray);
    size_t n;
    uint8_t *jpg = make_jpeg(gray, 16, 16, 1, NULL, 0, &n);
    image_rgb img = {0};
    CHECK(decode(jpg, n, &img, NULL) == 0);
    CHECK(img.pixels && near(px(&img, 5, 5), 90, 90, 90, 1));
    image_free(&img);
    free(jpg);

    /* libjpeg writes an Adobe marker for CMYK, so readers take the samples
     * as inverted (Photoshop convention): stored 0 = full ink. Stored
     * (0,255,255,255) = pure cyan -> RGB (0,255,255); stored
     * (255,255,255,0) = full black -> (0,0,0). */
    uint8_t cmyk[16 * 32 * 4];
    for (int i = 0; i < 16 * 32; i++) {
        uint8_t *p = cmyk + i * 4;
        int top = i < 16 * 16;
        p[0] = top ? 0 : 255;
        p[1] = p[2] = 255;
        p[3] = top ? 255 : 0;
    }
    jpg = make_jpeg(cmyk, 16, 32, 4, NULL, 0, &n);
    qvl_error err = {0};
    CHECK_MSG(decode(jpg, n, &img, &err) == 0, "%s", err.msg);
    CHECK(img.pixels && near(px(&img, 8, 4), 0, 255, 255, 4));
    CHECK(img.pixels && near(px(&img, 8, 28), 0, 0, 0, 4));
    image_free(&img);
    free(jpg);
}

/* ---- PNG flavours -------------------------------------------------------------- */

static void test_png_flavours(void) {
    image_rgb img = {0};
    qvl_error err = {0};
    /* Palette, 4-bit, with tRNS: index 0 opaque red, 1 fully transparent,
     * 2 blue at alpha 128 (over white: 255*127/255 = 127 for R and G). */
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    uint8_t trns[3] = {255, 0, 128};
    uint8_t idx[2] = {0x01, 0x20};  /* row: pixels 0,1,2,0 */
    membuf m = make_png(4, 1, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, idx, 2,
                        pal, 3, trns, 3, NULL);
    CHECK_MSG(decode(m.data, m.len, &img, &err) == 0, "%s", err.msg);
    if (img.pixels) {
        CHECK(near(px(&img, 0, 0), 255, 0, 0, 0));
        CHECK(near(px(&img, 1, 0), 255, 255, 255, 0));
        CHECK(near(px(&img, 2, 0), 127, 127, 255, 0));
        CHECK(near(px(&img, 3, 0), 255, 0, 0, 0));
    }
    image_free(&img);
    free(m.data);

    /* 16-bit gray: the high byte is kept (0x1234 -> 0x12). */
    uint8_t g16[4] = {0x12, 0x34, 0xff, 0x01};
    m = make_png(2, 1, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, g16, 4, NULL, 0, NULL, 0, NULL);
    CHECK(decode(m.data, m.len, &img, NULL) == 0);
    if (img.pixels) {
        CHECK(near(px(&img, 0, 0), 0x12, 0x12, 0x12, 0));
        CHECK(near(px(&img, 1, 0), 0xff, 0xff, 0xff, 0));
    }
    image_free(&img);
    free(m.data);

    /* Gray + alpha: (0, alpha 255) black, (0, alpha 0) white. */
    uint8_t ga[4] = {0, 255, 0, 0};
    m = make_png(2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, ga, 4, NULL, 0, NULL, 0, NULL);
    CHECK(decode(m.data, m.len, &img, NULL) == 0);
    if (img.pixels) {
        CHECK(near(px(&img, 0, 0), 0, 0, 0, 0));
        CHECK(near(px(&img, 1, 0), 255, 255, 255, 0));
    }
    image_free(&img);
    free(m.data);

    /* RGB with a tRNS colour key: the keyed colour becomes white. */
    uint8_t rgbk[6] = {10, 20, 30, 40, 50, 60};
    png_color_16 key = {.red = 10, .green = 20, .blue = 30};
    m = make_png(2, 1, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, rgbk, 6, NULL, 0, NULL, 0, &key);
    CHECK(decode(m.data, m.len, &img, NULL) == 0);
    if (img.pixels) {
        CHECK(near(px(&img, 0, 0), 255, 255, 255, 0));
        CHECK(near(px(&img, 1, 0), 40, 50, 60, 0));
    }
    image_free(&img);
    free(m.data);

    /* Adam7-interlaced RGB round-trips exactly. */
    enum { W = 37, H = 29 };
    static uint8_t rgb[W * H * 3];
    for (size_t k = 0; k < sizeof rgb; k++) rgb[k] = (uint8_t)(k * 31 + k / 7);
    m = make_png(W, H, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, rgb, W * 3, NULL, 0, NULL, 0, NULL);
    CHECK(decode(m.data, m.len, &img, NULL) == 0);
    CHECK(img.pixels && img.width == W && img.height == H && memcmp(img.pixels, rgb, sizeof rgb) == 0);

    /* ... and so does our writer. */
    char path[] = "/tmp/qvl_test_image_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0 && img.pixels) {
        close(fd);
        CHECK_MSG(image_write_png(&img, path, &err) == 0, "%s", err.msg);
        mapped_file mf = {0};
        image_rgb back = {0};
        CHECK(mapped_file_open(&mf, path, NULL) == 0);
        CHECK(decode(mf.data, mf.size, &back, NULL) == 0);
        CHECK(back.pixels && back.width == W && memcmp(back.pixels, rgb, sizeof rgb) == 0);
        image_free(&back);
        mapped_file_close(&mf);
        unlink(path);
    }
    CHECK(image_write_png(&img, "/nonexistent-dir/x.png", &err) == -1);
    CHECK(err.code == QVL_E_IO);
    image_free(&img);
    free(m.data);
}

/* ---- WebP and BMP --------------------------------------------------------------- */

static void test_webp(void) {
    enum { W = 19, H = 11 };
    uint8_t rgb[W * H * 3], rgba[W * H * 4];
    for (int i = 0; i < W * H; i++) {
        rgb[i * 3] = (uint8_t)(i * 3);
        rgb[i * 3 + 1] = (uint8_t)(i * 5);
        rgb[i * 3 + 2] = (uint8_t)(i * 11);
        memcpy(rgba + i * 4, rgb + i * 3, 3);
        rgba[i * 4 + 3] = i % 3 == 0 ? 255 : i % 3 == 1 ? 0 : 128;
    }
    uint8_t *enc = NULL;
    size_t n = WebPEncodeLosslessRGB(rgb, W, H, W * 3, &enc);
    CHECK(n > 0);
    image_rgb img = {0};
    qvl_error err = {0};
    CHECK_STR(image_sniff(enc, n), "image/webp");
    CHECK_MSG(decode(enc, n, &img, &err) == 0, "%s", err.msg);
    CHECK(img.pixels && img.width == W && img.height == H && memcmp(img.pixels, rgb, sizeof rgb) == 0);
    image_free(&img);
    WebPFree(enc);

    n = WebPEncodeLosslessRGBA(rgba, W, H, W * 4, &enc);
    CHECK(decode(enc, n, &img, NULL) == 0);
    int ok = img.pixels != NULL;
    for (int i = 0; ok && i < W * H; i++) {
        const uint8_t *p = img.pixels + i * 3;
        if (i % 3 == 0) ok &= near(p, rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2], 0);
        else if (i % 3 == 1) ok &= near(p, 255, 255, 255, 0);
        else ok &= p[0] >= rgb[i * 3] / 2 + 127 && p[0] <= rgb[i * 3] / 2 + 128;
    }
    CHECK_MSG(ok, "WebP alpha over white");
    image_free(&img);
    WebPFree(enc);
}

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff); put16(p + 2, v >> 16); }

static void test_bmp(void) {
    /* 24-bit bottom-up 3x2: rows padded to 12 bytes; stored first row is the bottom. */
    uint8_t b[54 + 24] = {'B', 'M'};
    put32(b + 2, sizeof b);
    put32(b + 10, 54);
    put32(b + 14, 40);
    put32(b + 18, 3);
    put32(b + 22, 2);
    put16(b + 26, 1);
    put16(b + 28, 24);
    uint8_t *row_bottom = b + 54, *row_top = b + 54 + 12;
    for (int x = 0; x < 3; x++) {
        row_bottom[x * 3 + 2] = (uint8_t)(10 + x);  /* R, stored B,G,R */
        row_top[x * 3 + 0] = (uint8_t)(200 + x);    /* B */
    }
    image_rgb img = {0};
    qvl_error err = {0};
    CHECK_MSG(decode(b, sizeof b, &img, &err) == 0, "%s", err.msg);
    if (img.pixels) {
        CHECK(near(px(&img, 1, 0), 0, 0, 201, 0));
        CHECK(near(px(&img, 2, 1), 12, 0, 0, 0));
    }
    image_free(&img);
    CHECK(decode(b, sizeof b - 5, &img, &err) == -1);
    CHECK(err.code == QVL_E_BAD_INPUT);

    /* 8-bit palette, top-down (negative height), 2 colours, 2x2. */
    uint8_t p[54 + 8 + 8] = {'B', 'M'};
    put32(p + 10, 62);
    put32(p + 14, 40);
    put32(p + 18, 2);
    put32(p + 22, (uint32_t)-2);
    put16(p + 26, 1);
    put16(p + 28, 8);
    put32(p + 46, 2);
    uint8_t pal[8] = {0, 0, 255, 0, 255, 0, 0, 0};  /* 0 red, 1 blue (BGRx) */
    memcpy(p + 54, pal, 8);
    uint8_t pix[8] = {0, 1, 0, 0, 1, 1, 0, 0};
    memcpy(p + 62, pix, 8);
    CHECK_MSG(decode(p, sizeof p, &img, &err) == 0, "%s", err.msg);
    if (img.pixels) {
        CHECK(near(px(&img, 0, 0), 255, 0, 0, 0));
        CHECK(near(px(&img, 1, 0), 0, 0, 255, 0));
        CHECK(near(px(&img, 0, 1), 0, 0, 255, 0));
    }
    image_free(&img);
}

int main(void) {
    test_shared_images();
    test_sniff();
    test_exif();
    test_jpeg_gray_cmyk();
    test_png_flavours();
    test_webp();
    test_bmp();
    return check_summary();
}
