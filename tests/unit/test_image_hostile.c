/* test_image_hostile.c - image_decode on hostile input: decompression bombs,
 * size limits, truncated and corrupt files, garbage. Every case must end
 * in a clean error (or, for bit flips, possibly a clean success) - never a
 * crash, hang, sanitizer report or library message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <jpeglib.h>
#include <webp/encode.h>

#include "base/mapped_file.h"
#include "check.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "image_files.h"

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Decodes and checks the failure contract: -1, a message, the wanted code
 * (or any code when want < 0), no pixels. */
/* The PNG signature and an IHDR chunk claiming w x h 8-bit RGB at f (33
 * bytes). Returns the end. */
static uint8_t *png_head(uint8_t *f, uint32_t w, uint32_t h) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    memcpy(f, sig, 8);
    uint8_t *p = f + 8;
    be32(p, 13);
    memcpy(p + 4, "IHDR", 4);
    be32(p + 8, w);
    be32(p + 12, h);
    p[16] = 8; p[17] = 2; p[18] = p[19] = p[20] = 0;
    be32(p + 21, crc32_png(p + 4, 17));
    return p + 25;
}

static void expect_fail(const uint8_t *b, size_t n, const image_limits *lim, int want,
                        const char *what) {
    image_rgb img = {.width = 7, .pixels = (uint8_t *)1};
    qvl_error err = {0};
    int rc = image_decode(b, n, lim, &img, &err);
    CHECK_MSG(rc == -1, "%s: decoded", what);
    CHECK_MSG(err.msg[0] != 0, "%s: no message", what);
    CHECK_MSG(img.pixels == NULL && img.width == 0, "%s: output not zeroed", what);
    if (want >= 0) CHECK_MSG(err.code == want, "%s: code %d, message \"%s\"", what, err.code, err.msg);
    if (rc == 0) image_free(&img);
}

/* The process's peak resident memory in MB. A bomb refused from its
 * headers leaves it where it was; one whose pixels were allocated and
 * touched would raise it by gigabytes. (Not timed: this machine is shared.) */
static double peak_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static void test_png_bomb(void) {
    /* Signature, IHDR claiming 100000 x 100000 RGB, a token IDAT, IEND. */
    uint8_t f[8 + 25 + 12 + 8 + 12] = {0};
    uint8_t *p = png_head(f, 100000, 100000);
    be32(p, 8);
    memcpy(p + 4, "IDAT\x78\x9c\x03\x00\x00\x00\x00\x01", 12);
    be32(p + 16, crc32_png(p + 4, 12));
    p += 20;
    memcpy(p + 4, "IEND", 4);
    be32(p + 8, crc32_png(p + 4, 4));
    double m0 = peak_mb();
    expect_fail(f, sizeof f, NULL, QVL_E_TOO_LARGE, "PNG 100000x100000");
    CHECK_MSG(peak_mb() - m0 < 100, "the bomb took %.0f MB", peak_mb() - m0);
}

/* A small PNG whose tEXt chunk claims 1.7 GB (fuzz_image's finding: libpng
 * allocated the claim before reading a byte of it) is refused as corrupt
 * from the chunk lengths alone. */
static void test_png_chunk_claim(void) {
    uint8_t f[8 + 25 + 8 + 16] = {0};
    uint8_t *p = png_head(f, 8, 6);
    be32(p, 1768318501u);
    memcpy(p + 4, "tEXt", 4);
    memcpy(p + 8, "Comment\0short", 14);
    image_rgb img;
    qvl_error err = {0};
    CHECK(image_decode(f, sizeof f, NULL, &img, &err) == -1 && err.code == QVL_E_BAD_INPUT);
    CHECK_MSG(strstr(err.msg, "claims 1768318501 bytes") != NULL, "%s", err.msg);
}

/* A w x h JPEG of a fixed stripe pattern (see encode_jpeg). */
static uint8_t *small_jpeg(int w, int h, bool progressive, size_t *len) {
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!px) return NULL;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) px[i] = (uint8_t)(i % ((size_t)w * 3) * 13);
    uint8_t *jpg = encode_jpeg(px, w, h, 3, progressive, NULL, 0, len);
    free(px);
    return jpg;
}

static void test_limits(void) {
    size_t n;
    uint8_t *jpg = small_jpeg(64, 48, false, &n);
    /* Patch the SOF0 frame header to claim 60000 x 60000. */
    for (size_t i = 0; i + 9 < n; i++)
        if (jpg[i] == 0xff && jpg[i + 1] == 0xc0) {
            jpg[i + 5] = 60000 >> 8; jpg[i + 6] = 60000 & 0xff;
            jpg[i + 7] = 60000 >> 8; jpg[i + 8] = 60000 & 0xff;
            break;
        }
    double m0 = peak_mb();
    expect_fail(jpg, n, NULL, QVL_E_TOO_LARGE, "JPEG 60000x60000");
    CHECK_MSG(peak_mb() - m0 < 100, "the JPEG bomb took %.0f MB", peak_mb() - m0);
    free(jpg);

    jpg = small_jpeg(64, 48, false, &n);
    image_limits tiny_pixels = {.max_pixels = 64 * 48 - 1}, tiny_bytes = {.max_bytes = n - 1};
    expect_fail(jpg, n, &tiny_pixels, QVL_E_TOO_LARGE, "JPEG over max_pixels");
    expect_fail(jpg, n, &tiny_bytes, QVL_E_TOO_LARGE, "JPEG over max_bytes");
    image_limits exact = {.max_pixels = 64 * 48, .max_bytes = n};
    image_rgb img = {0};
    CHECK(image_decode(jpg, n, &exact, &img, NULL) == 0);
    image_free(&img);
    free(jpg);

    uint8_t *webp = NULL;
    uint8_t rgb[32 * 32 * 3] = {0};
    size_t wn = WebPEncodeLosslessRGB(rgb, 32, 32, 32 * 3, &webp);
    image_limits small = {.max_pixels = 1000};
    expect_fail(webp, wn, &small, QVL_E_TOO_LARGE, "WebP over max_pixels");
    WebPFree(webp);

    /* BMP header claiming 50000 x 50000 in a 60-byte file. */
    uint8_t bmp[60] = {'B', 'M'};
    bmp[10] = 54; bmp[14] = 40;
    bmp[18] = 0x50; bmp[19] = 0xc3; bmp[22] = 0x50; bmp[23] = 0xc3;  /* 50000 */
    bmp[26] = 1; bmp[28] = 24;
    expect_fail(bmp, sizeof bmp, NULL, QVL_E_TOO_LARGE, "BMP 50000x50000");
}

/* Truncates a valid file at several points; each prefix must be refused. */
static void truncations(const uint8_t *b, size_t n, const char *name) {
    size_t cuts[] = {1, 2, 3, 8, 16, 33, 100, n / 3, n / 2, n - n / 10, n - 16};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        if (cuts[i] >= n) continue;
        char what[96];
        snprintf(what, sizeof what, "%s cut at %zu of %zu", name, cuts[i], n);
        expect_fail(b, cuts[i], NULL, -1, what);
    }
}

/* Flips bytes in b[from..to) (from past the signature): any outcome but a
 * crash is acceptable, and the output must match the return code. */
static void corruptions(const uint8_t *b, size_t n, size_t from, size_t to, const char *name) {
    uint8_t *c = malloc(n);
    unsigned seed = 12345;
    if (to > n) to = n;
    for (int round = 0; round < 12; round++) {
        memcpy(c, b, n);
        for (int k = 0; k < 8; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = from + (seed >> 8) % (to - from);
            c[at] ^= (uint8_t)(1 + (seed >> 3) % 255);
        }
        image_rgb img = {0};
        qvl_error err = {0};
        int rc = image_decode(c, n, NULL, &img, &err);
        CHECK_MSG((rc == 0) == (img.pixels != NULL), "%s round %d: rc %d", name, round, rc);
        CHECK_MSG(rc == 0 || err.msg[0], "%s round %d: no message", name, round);
        image_free(&img);
    }
    free(c);
}

static void test_files(void) {
    const char *names[] = {"images/real/rocket.jpg", "images/img_256x256.png"};
    for (int i = 0; i < 2; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", testdata_dir(), names[i]);
        mapped_file mf = {0};
        CHECK_MSG(mapped_file_open(&mf, path, NULL) == 0, "%s", path);
        if (!mf.data) continue;
        truncations(mf.data, mf.size, names[i]);
        corruptions(mf.data, mf.size, 8, mf.size, names[i]);
        mapped_file_close(&mf);
    }
    size_t n;
    uint8_t *prog = small_jpeg(96, 64, true, &n);
    truncations(prog, n, "progressive JPEG");
    corruptions(prog, n, 8, n, "progressive JPEG");
    free(prog);

    uint8_t rgb[48 * 40 * 3];
    for (size_t k = 0; k < sizeof rgb; k++) rgb[k] = (uint8_t)(k * 7 + k / 100);
    uint8_t *webp = NULL;
    n = WebPEncodeRGB(rgb, 48, 40, 48 * 3, 80, &webp);
    truncations(webp, n, "lossy WebP");
    corruptions(webp, n, 8, n, "lossy WebP");
    WebPFree(webp);
    n = WebPEncodeLosslessRGB(rgb, 48, 40, 48 * 3, &webp);
    truncations(webp, n, "lossless WebP");
    WebPFree(webp);
}

/* ---- HEIC, AVIF, TIFF, GIF ------------------------------------------------ */

static void le16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, v & 0xffff); le16(p + 2, v >> 16); }

/* A little-endian TIFF claiming w x h 8-bit gray in one uncompressed strip
 * of 16 bytes: header, 9-entry IFD at 8, the strip at 122. */
static void bomb_tiff(uint8_t f[138], uint32_t w, uint32_t h) {
    static const uint16_t tags[9] = {256, 257, 258, 259, 262, 273, 277, 278, 279};
    const uint32_t values[9] = {w, h, 8, 1, 1, 122, 1, h, 16};
    memset(f, 0, 138);
    memcpy(f, "II*\0", 4);
    le32(f + 4, 8);
    le16(f + 8, 9);
    for (int i = 0; i < 9; i++) {
        uint8_t *e = f + 10 + i * 12;
        int is_short = tags[i] == 258 || tags[i] == 259 || tags[i] == 262 || tags[i] == 277;
        le16(e, tags[i]);
        le16(e + 2, is_short ? 3 : 4);
        le32(e + 4, 1);
        if (is_short) le16(e + 8, values[i]);
        else le32(e + 8, values[i]);
    }
}

/* Sets every 'ispe' (image spatial extent) box of a HEIF file to w x h. */
static void patch_ispe(uint8_t *b, size_t n, uint32_t w, uint32_t h) {
    for (size_t i = 0; i + 16 <= n; i++)
        if (memcmp(b + i, "ispe", 4) == 0) {
            be32(b + i + 8, w);
            be32(b + i + 12, h);
        }
}

static void test_new_format_bombs(void) {
    uint8_t tiff[138];
    bomb_tiff(tiff, 100000, 100000);
    double m0 = peak_mb();
    expect_fail(tiff, sizeof tiff, NULL, QVL_E_TOO_LARGE, "TIFF 100000x100000");
    CHECK_EQ_INT(image_page_count(tiff, sizeof tiff, NULL, NULL), 1);   /* headers only */
    bomb_tiff(tiff, 4, 4);
    image_rgb img = {0};
    qvl_error err = {0};
    CHECK_MSG(image_decode(tiff, sizeof tiff, NULL, &img, &err) == 0, "TIFF 4x4: %s", err.msg);
    image_free(&img);
    image_limits small = {.max_pixels = 15};
    expect_fail(tiff, sizeof tiff, &small, QVL_E_TOO_LARGE, "TIFF over max_pixels");

    /* GIF sides are 16-bit: a 65535 x 65535 screen, then frames reaching
     * far past a tiny screen (the canvas would grow to hold them). */
    static const uint8_t gif_screen[] = "GIF89a\xff\xff\xff\xff\0\0\0"
                                        ",\0\0\0\0\x01\0\x01\0\0" "\x02\x02\x44\x01\0;";
    expect_fail(gif_screen, sizeof gif_screen - 1, NULL, QVL_E_TOO_LARGE, "GIF 65535x65535 screen");
    static const uint8_t gif_frame[] = "GIF89a\x0a\0\x0a\0\0\0\0"
                                       ",\xff\xff\xff\xff\xff\xff\xff\xff\0" "\x02\x02\x44\x01\0;";
    expect_fail(gif_frame, sizeof gif_frame - 1, NULL, QVL_E_TOO_LARGE, "GIF frame past the screen");
    static const uint8_t gif_far[] = "GIF89a\x01\0\x01\0\0\0\0"
                                     ",\x60\xea\x60\xea\x01\0\x01\0\0" "\x02\x02\x44\x01\0;";
    expect_fail(gif_far, sizeof gif_far - 1, NULL, QVL_E_TOO_LARGE, "GIF 1x1 frame at 60000,60000");

    /* HEIF/AVIF: a real file whose 'ispe' claims 100000 x 100000 (over
     * libheif's own side limit) or 30000 x 30000 (under it, over ours). */
    image_rgb src = {0};
    CHECK(image_alloc(&src, 32, 32, NULL) == 0);
    memset(src.pixels, 90, 32 * 32 * 3);
    const char *exts[] = {"heic", "avif"};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        uint8_t *b = magick_convert(&src, 1, "", exts[i], &n);
        CHECK_MSG(b != NULL, "%s", exts[i]);
        if (!b) continue;
        image_limits tiny = {.max_pixels = 32 * 32 - 1};
        expect_fail(b, n, &tiny, QVL_E_TOO_LARGE, exts[i]);
        patch_ispe(b, n, 100000, 100000);
        expect_fail(b, n, NULL, QVL_E_TOO_LARGE, exts[i]);
        patch_ispe(b, n, 30000, 30000);
        expect_fail(b, n, NULL, QVL_E_TOO_LARGE, exts[i]);
        free(b);
    }
    image_free(&src);
    CHECK_MSG(peak_mb() - m0 < 100, "new-format bombs took %.0f MB", peak_mb() - m0);
}

/* Files in the new formats, made from one picture by ImageMagick. */
typedef struct hostile_file {
    const char *name, *ext, *opts;
    size_t header;    /* how far the header reaches, for header corruption */
    size_t tail;      /* optional metadata at the end, which a cut may lose
                       * while the picture still decodes (ImageMagick ends a
                       * TIFF with colorimetry tags, as libtiff and Pillow
                       * both skip when they are missing) */
    uint8_t *bytes;
    size_t len;
} hostile_file;

static hostile_file new_format_files[] = {
    {"TIFF LZW", "tif", "-compress lzw", 64, 64, NULL, 0},
    {"TIFF big-endian JPEG", "tif", "-define tiff:endian=msb -compress jpeg", 64, 64, NULL, 0},
    {"GIF", "gif", "", 64, 0, NULL, 0},
    {"HEIC", "heic", "", 400, 0, NULL, 0},
    {"AVIF", "avif", "", 300, 0, NULL, 0},
};
enum { N_NEW_FORMAT_FILES = sizeof new_format_files / sizeof new_format_files[0] };

static void hostile_new_format_files(void) {
    for (int i = 0; i < N_NEW_FORMAT_FILES; i++) {
        const hostile_file *f = &new_format_files[i];
        if (!f->bytes) continue;
        truncations(f->bytes, f->len - f->tail, f->name);
        corruptions(f->bytes, f->len, 4, f->header, f->name);
        corruptions(f->bytes, f->len, 4, f->len, f->name);
    }
}

/* Runs fn with stderr sent to a temporary file; returns what was written
 * there (malloc'd, "" when fn was silent). */
static char *stderr_of(void (*fn)(void)) {
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    char *text = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(tmp);
    if (n > 0 && fread(text, 1, (size_t)n, tmp) != (size_t)n) text[0] = 0;
    fclose(tmp);
    return text;
}

static void test_new_format_files(void) {
    image_rgb src = {0};
    CHECK(image_alloc(&src, 48, 40, NULL) == 0);
    for (size_t k = 0; k < (size_t)48 * 40 * 3; k++) src.pixels[k] = (uint8_t)(k * 7 + k / 100);
    for (int i = 0; i < N_NEW_FORMAT_FILES; i++) {
        hostile_file *f = &new_format_files[i];
        f->bytes = magick_convert(&src, 1, f->opts, f->ext, &f->len);
        CHECK_MSG(f->bytes != NULL, "%s", f->name);
    }
    image_free(&src);
    /* First with stderr as it is (a sanitizer report stays visible), then
     * again to prove the libraries print nothing. */
    hostile_new_format_files();
    char *noise = stderr_of(hostile_new_format_files);
    CHECK_MSG(noise[0] == 0, "decoding hostile files wrote to stderr:\n%s", noise);
    free(noise);
    for (int i = 0; i < N_NEW_FORMAT_FILES; i++) free(new_format_files[i].bytes);
}

static void test_garbage(void) {
    uint8_t junk[4096];
    unsigned seed = 99;
    for (size_t i = 0; i < sizeof junk; i++) {
        seed = seed * 1103515245u + 12345u;
        junk[i] = (uint8_t)(seed >> 16);
    }
    expect_fail(junk, sizeof junk, NULL, QVL_E_BAD_MEDIA, "random bytes");
    expect_fail((const uint8_t *)"", 0, NULL, QVL_E_BAD_INPUT, "empty");
    expect_fail(NULL, 10, NULL, QVL_E_BAD_INPUT, "NULL");
    expect_fail((const uint8_t *)"<html><body>not an image</body></html>", 38, NULL,
                QVL_E_BAD_MEDIA, "HTML");
    /* Right magic, garbage body. */
    static const uint8_t magics[][24] = {
        {0xff, 0xd8, 0xff, 0xe0}, {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a},
        {'R', 'I', 'F', 'F', 0xf0, 0x0f, 0, 0, 'W', 'E', 'B', 'P'},
        {'I', 'I', '*', 0}, {'M', 'M', 0, '*'}, {'G', 'I', 'F', '8', '9', 'a'},
        {0, 0, 0, 24, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c', 0, 0, 0, 0, 'm', 'i', 'f', '1', 'h', 'e', 'i', 'c'},
        {0, 0, 0, 24, 'f', 't', 'y', 'p', 'a', 'v', 'i', 'f', 0, 0, 0, 0, 'm', 'i', 'f', '1', 'a', 'v', 'i', 'f'},
    };
    static const size_t magic_len[] = {4, 8, 12, 4, 4, 6, 24, 24};
    const char *what[] = {"JPEG magic + junk", "PNG magic + junk", "WebP magic + junk",
                          "TIFF II magic + junk", "TIFF MM magic + junk", "GIF magic + junk",
                          "HEIC ftyp + junk", "AVIF ftyp + junk"};
    for (int m = 0; m < 8; m++) {
        uint8_t f[4096];
        memcpy(f, junk, sizeof f);
        memcpy(f, magics[m], magic_len[m]);
        expect_fail(f, sizeof f, NULL, QVL_E_BAD_INPUT, what[m]);
    }
    /* A JPEG with only the start marker, and one with tables but no frame. */
    expect_fail((const uint8_t *)"\xff\xd8\xff\xd9", 4, NULL, QVL_E_BAD_INPUT, "JPEG SOI+EOI");
    /* BMP magic with an unsupported compression (RLE8). */
    uint8_t bmp[80] = {'B', 'M'};
    bmp[10] = 54; bmp[14] = 40; bmp[18] = 2; bmp[22] = 2; bmp[26] = 1; bmp[28] = 8; bmp[30] = 1;
    expect_fail(bmp, sizeof bmp, NULL, QVL_E_BAD_MEDIA, "BMP RLE8");
}

/* Odd shapes: a PNG claiming 0 x 0, and a valid 1 x 100000 strip, which
 * decodes but cannot be resized for the model (aspect ratio over 200). */
static void test_odd_shapes(void) {
    uint8_t f[8 + 25 + 12] = {0};
    uint8_t *p = png_head(f, 0, 0);
    memcpy(p + 4, "IEND", 4);
    be32(p + 8, crc32_png(p + 4, 4));
    expect_fail(f, sizeof f, NULL, -1, "PNG 0x0");

    image_rgb strip, back = {0};
    qvl_error err = {0};
    char path[] = "/tmp/qvl-strip-XXXXXX.png";
    int fd = mkstemps(path, 4);
    CHECK(fd >= 0);
    close(fd);
    CHECK(image_alloc(&strip, 1, 100000, &err) == 0);
    memset(strip.pixels, 128, (size_t)100000 * 3);
    CHECK(image_write_png(&strip, path, &err) == 0);
    size_t n = 0;
    uint8_t *buf = (uint8_t *)slurp(path, &n);
    unlink(path);
    CHECK(buf && image_decode(buf, n, NULL, &back, &err) == 0 && back.width == 1 && back.height == 100000);
    free(buf);
    image_patches pt;
    CHECK(image_preprocess(&back, NULL, &pt, &err) != 0);
    CHECK_MSG(strstr(err.msg, "aspect ratio") != NULL, "%s", err.msg);
    image_free(&strip);
    image_free(&back);
}

int main(void) {
    test_png_bomb();
    test_png_chunk_claim();
    test_odd_shapes();
    test_limits();
    test_files();
    test_new_format_bombs();
    test_new_format_files();
    test_garbage();
    return check_summary();
}
